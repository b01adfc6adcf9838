/* SPDX-License-Identifier: MIT */
/*
 * file.h: the JSON config file, private to config/.
 *
 * One object whose keys are the long flags with '_' for '-'; a repeatable
 * flag is an array of strings. An unknown key, a value of the wrong type or
 * out of bounds, or a repeated key is an error.
 */
#ifndef WSB_CONFIG_FILE_H
#define WSB_CONFIG_FILE_H

#include <stddef.h>

#include "config/config.h"

/* Reads `path` into `cfg`. Returns 0 or -1 with `err` set. */
int config_file_read(struct config *cfg, const char *path, char *err, size_t errlen);

#endif
