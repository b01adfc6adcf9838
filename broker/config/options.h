/* SPDX-License-Identifier: MIT */
/*
 * options.h: the option table, private to config/.
 *
 * Every flag and config key is described once (flag name, JSON key, type,
 * bounds, help line), so the flag parser (args.c), the file parser
 * (file.c), the --help text and config_free cannot drift apart. This also
 * holds the typed access to a field of `struct config` through its entry
 * and the one way errors are written.
 */
#ifndef WSB_CONFIG_OPTIONS_H
#define WSB_CONFIG_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* Entries in option_table (checked against the table at compile time). */
#define OPTION_COUNT 38
/* Room for "FILE: key" or "--flag", the subject of an error. */
#define SUBJECT_MAX 1024

enum option_kind {
    OPTION_STRING, /* char *, non-empty, one of `choices` when set */
    OPTION_INT,    /* int within [min, max] */
    OPTION_LONG,   /* long within [min, max] */
    OPTION_LIST,   /* struct config_list of non-empty strings; the flag is repeatable */
    OPTION_BOOL,   /* bool: the flag alone or =true|false; true|false in the file */
};

struct option_spec {
    const char *flag; /* "max-backlog": the long flag without "--" */
    const char *key;  /* "max_backlog": the config file key; NULL: flag only */
    enum option_kind kind;
    size_t offset;              /* of the field in struct config */
    long min, max;              /* numbers only */
    const char *const *choices; /* allowed strings, NULL-terminated; NULL: any */
    const char *metavar;        /* the value's name in --help */
    const char *help;
};

/* A constant: the table is read, never written. */
extern const struct option_spec option_table[]; /* OPTION_COUNT entries */

/* Writes "wsbroker: <message>" into err as one line (control characters,
 * which a value or the JSON parser could bring in, become '?'). Returns -1
 * so callers can `return config_fail(...)`. */
int config_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The entry of a flag (its name without "--") or of a file key; NULL when
 * there is none. */
const struct option_spec *option_find_flag(const char *name, size_t name_len);
const struct option_spec *option_find_key(const char *key);
bool option_is_config_file(const struct option_spec *spec);

/* The field of `cfg` that `spec` describes. */
char **option_string(struct config *cfg, const struct option_spec *spec);
struct config_list *option_list(struct config *cfg, const struct option_spec *spec);
void option_store_number(struct config *cfg, const struct option_spec *spec, long number);
long option_load_number(const struct config *cfg, const struct option_spec *spec);

/* The bool field of an OPTION_BOOL entry. */
bool *option_bool(struct config *cfg, const struct option_spec *spec);

/* "1..65535" or ">= 1": the range of a number in errors. */
void option_describe_range(const struct option_spec *spec, char *buf, size_t size);

/* Checked stores; `subject` names the setting in errors: "--port" or
 * "FILE: port". Each returns 0 or -1 with `err` set. option_store_bool
 * takes NULL (the flag alone) as true. */
int option_store_string(struct config *cfg, const struct option_spec *spec, const char *subject,
                        const char *value, char *err, size_t errlen);
int option_store_bool(struct config *cfg, const struct option_spec *spec, const char *subject,
                      const char *value, char *err, size_t errlen);
int option_append(struct config *cfg, const struct option_spec *spec, const char *subject,
                  const char *value, char *err, size_t errlen);

/* Frees the items of a list and empties it. */
void config_list_clear(struct config_list *list);

/* Replaces *slot with a copy of value (value may be NULL); -1 out of memory. */
int config_set_string(char **slot, const char *value);

#endif
