/* SPDX-License-Identifier: MIT */
/*
 * env.c: settings from WSBROKER_<KEY> variables (see env.h).
 *
 * Owns: the names of the variables and the splitting of a list value. The
 * variables are found by walking the option table (options.c), so a new
 * key has its variable without a line here. A value goes through the flag
 * reader (args.c) as `--flag=VALUE`, one per item of a list, so that it is
 * checked and means exactly what the same text means on the command line;
 * only the subject of an error changes, from the flag to the variable.
 */
#include "config/env.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/args.h"
#include "config/options.h"

#define ENV_NAME_MAX 64

int config_env_name(const char *key, char *name, size_t size)
{
    size_t prefix = strlen(CONFIG_ENV_PREFIX);
    if (prefix + strlen(key) + 1 > size)
        return -1;
    memcpy(name, CONFIG_ENV_PREFIX, prefix);
    for (size_t i = 0; key[i]; i++)
        name[prefix++] = (char)toupper((unsigned char)key[i]);
    name[prefix] = '\0';
    return 0;
}

/* Rewrites "wsbroker: --flag: why" in err as "wsbroker: NAME: why". */
static void env_name_subject(const struct option_spec *spec, const char *name, char *err,
                             size_t errlen)
{
    char flag_subject[SUBJECT_MAX];
    snprintf(flag_subject, sizeof(flag_subject), "wsbroker: --%s", spec->flag);
    size_t skip = strncmp(err, flag_subject, strlen(flag_subject)) == 0 ? strlen(flag_subject)
                                                                        : strlen("wsbroker:");
    char why[1024];
    snprintf(why, sizeof(why), "%s", err + skip);
    snprintf(err, errlen, "wsbroker: %s%s", name, why);
}

/* The value as `--flag=ITEM` arguments after a program name: one for a
 * scalar, one per comma-separated item of a list (spaces around an item
 * dropped). Returns the argument count, or -1 out of memory; *args is
 * freed by the caller. */
static int env_to_args(const struct option_spec *spec, const char *value, char ***args)
{
    size_t items = 1;
    for (const char *c = value; spec->kind == OPTION_LIST && *c; c++)
        items += *c == ',';
    char **argv = calloc(items + 2, sizeof(*argv)); /* the name, the items, NULL */
    if (!argv)
        return -1;
    *args = argv;
    argv[0] = "wsbroker";
    int argc = 1;
    const char *item = value;
    for (size_t i = 0; i < items; i++) {
        size_t len = spec->kind == OPTION_LIST ? strcspn(item, ",") : strlen(item);
        const char *next = item + len + (item[len] == ',');
        while (spec->kind == OPTION_LIST && len > 0 && isspace((unsigned char)*item)) {
            item++;
            len--;
        }
        while (spec->kind == OPTION_LIST && len > 0 && isspace((unsigned char)item[len - 1]))
            len--;
        size_t size = strlen(spec->flag) + len + 4;
        if (!(argv[argc] = malloc(size)))
            return -1;
        snprintf(argv[argc++], size, "--%s=%.*s", spec->flag, (int)len, item);
        item = next;
    }
    return argc;
}

/* Applies one variable's value to the option `spec`. */
static int env_apply_one(struct config *cfg, const struct option_spec *spec, const char *name,
                         const char *value, char *err, size_t errlen)
{
    char **args = NULL;
    int argc = env_to_args(spec, value, &args);
    int rc = argc < 0 ? config_fail(err, errlen, "%s: out of memory", name)
                      : config_args_apply(cfg, argc, args, err, errlen);
    if (rc != 0 && argc >= 0)
        env_name_subject(spec, name, err, errlen);
    for (int i = 1; args && args[i]; i++)
        free(args[i]);
    free(args);
    return rc;
}

int config_env_apply(struct config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *spec = &option_table[i];
        char name[ENV_NAME_MAX];
        if (spec->key == NULL || config_env_name(spec->key, name, sizeof(name)) != 0)
            continue;
        const char *value = getenv(name);
        if (value != NULL && env_apply_one(cfg, spec, name, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}
