/* SPDX-License-Identifier: MIT */
/*
 * args.h: the command line, private to config/.
 *
 * Two walks over argv share one reader (so they agree on what is a value):
 * the first finds --help, --version and --config before anything else is
 * read; the second applies every flag in order, after the file, so flags
 * win over the file wherever they appear.
 */
#ifndef WSB_CONFIG_ARGS_H
#define WSB_CONFIG_ARGS_H

#include "config/config.h"

/* First walk. --help and --version print to stdout and return
 * CONFIG_EXIT_OK (`cfg` holds the defaults, which --help shows); else
 * CONFIG_RUN with *config_file set when --config names a file. Errors are
 * left to the second walk. */
enum config_result config_args_scan(const struct config *cfg, int argc, char **argv,
                                    const char **config_file);

/* Second walk: every flag in order; the last of a repeated scalar wins.
 * Returns 0 or -1 with `err` set. */
int config_args_apply(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

#endif
