/* SPDX-License-Identifier: MIT */
/*
 * env.h: settings from the environment, private to config/.
 *
 * Every config key may also come from WSBROKER_<KEY> (the key in upper
 * case: WSBROKER_PORT, WSBROKER_MAX_BACKLOG), for containers, where the
 * environment is the usual way in. A list (WSBROKER_ALLOW_ORIGIN) is
 * comma-separated. The environment is read after the file and before the
 * flags, so flags win over it and it wins over the file.
 */
#ifndef WSB_CONFIG_ENV_H
#define WSB_CONFIG_ENV_H

#include <stddef.h>

#include "config/config.h"

/* The prefix of every variable. */
#define CONFIG_ENV_PREFIX "WSBROKER_"

/* Writes the variable of a config key ("max_backlog" ->
 * "WSBROKER_MAX_BACKLOG") into name; 0, or -1 when it does not fit. */
int config_env_name(const char *key, char *name, size_t size);

/* Applies every WSBROKER_<KEY> that is set. Returns 0, or -1 with `err`
 * set to one line naming the variable. */
int config_env_apply(struct config *cfg, char *err, size_t errlen);

#endif
