/* SPDX-License-Identifier: MIT */
/*
 * args.c: the flags on the command line and the --help text (see args.h).
 */
#include "config/args.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/options.h"

#ifndef WSB_VERSION
#define WSB_VERSION "0.1.0"
#endif

/* ------------------------------------------------------------ --help */

static void option_format_value(const struct config *cfg, const struct option_spec *spec, char *buf,
                                size_t size)
{
    const char *field = (const char *)cfg + spec->offset;
    switch (spec->kind) {
    case OPTION_STRING: {
        const char *text = *(char *const *)field;
        snprintf(buf, size, "%s", text != NULL ? text : "none");
        return;
    }
    case OPTION_LIST: {
        const struct config_list *list = (const struct config_list *)field;
        snprintf(buf, size, "%s", list->count > 0 ? list->items[0] : "none");
        if (list->count > 1)
            snprintf(buf, size, "%s and %zu more", list->items[0], list->count - 1);
        return;
    }
    case OPTION_INT:
    case OPTION_LONG:
        snprintf(buf, size, "%ld", option_load_number(cfg, spec));
        return;
    case OPTION_BOOL:
        snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false");
        return;
    }
}

/* Prints every flag with its default, taken from `cfg` as it holds the
 * defaults, so the text cannot disagree with config_set_defaults. */
static void config_print_help(const struct config *cfg)
{
    printf("Usage: wsbroker [OPTION]...\n"
           "A durable publish/subscribe message broker over WebSocket.\n\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *spec = &option_table[i];
        char left[64];
        char value[256];
        snprintf(left, sizeof(left), "--%s %s", spec->flag, spec->metavar);
        option_format_value(cfg, spec, value, sizeof(value));
        printf("  %-32s %s (default: %s)\n", left, spec->help, value);
    }
    printf("  %-32s %s\n", "--version", "print the version and exit");
    printf("  %-32s %s\n", "--help", "print this help and exit");
    printf("\nEvery flag is also written --flag=VALUE. A bad flag or config file exits with "
           "status 2.\n");
    fflush(stdout);
}

/* ------------------------------------------------------------ values */

/* A decimal integer and nothing else: no spaces, no "12abc", no overflow. */
static int parse_long(const char *text, long *out)
{
    if (text[0] != '-' && (text[0] < '0' || text[0] > '9'))
        return -1;
    errno = 0;
    char *end;
    long number = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = number;
    return 0;
}

/* Applies a flag's value. The first use of a repeatable flag replaces what
 * the file gave (`replace_list`); later uses append. */
static int option_apply_text(struct config *cfg, const struct option_spec *spec, const char *value,
                             bool replace_list, char *err, size_t errlen)
{
    char subject[SUBJECT_MAX];
    snprintf(subject, sizeof(subject), "--%s", spec->flag);
    switch (spec->kind) {
    case OPTION_STRING:
        return option_store_string(cfg, spec, subject, value, err, errlen);
    case OPTION_BOOL:
        return option_store_bool(cfg, spec, subject, value, err, errlen);
    case OPTION_LIST:
        if (replace_list)
            config_list_clear(option_list(cfg, spec));
        return option_append(cfg, spec, subject, value, err, errlen);
    case OPTION_INT:
    case OPTION_LONG: {
        long number;
        if (parse_long(value, &number) != 0 || number < spec->min || number > spec->max) {
            char range[64];
            option_describe_range(spec, range, sizeof(range));
            return config_fail(err, errlen, "%s: expected an integer %s, got \"%s\"", subject,
                               range, value);
        }
        option_store_number(cfg, spec, number);
        return 0;
    }
    }
    return config_fail(err, errlen, "%s: unhandled option kind", subject);
}

/* ------------------------------------------------------------ argv */

enum arg_kind { ARG_POSITIONAL, ARG_UNKNOWN, ARG_HELP, ARG_VERSION, ARG_OPTION };

struct arg {
    enum arg_kind kind;
    const char *text;               /* the argv element as given */
    const struct option_spec *spec; /* ARG_OPTION */
    const char *value;              /* after '=', or the next element; NULL: none */
};

static bool name_is(const char *name, size_t name_len, const char *word)
{
    return strlen(word) == name_len && memcmp(name, word, name_len) == 0;
}

/* Reads argv[*index] and, for `--flag VALUE`, the value after it (advancing
 * *index). A next element starting with "--" is a flag, not a value, so
 * `--db --port 1` says "--db: missing value". Both walks over argv use this
 * one function so they agree on what is a value. */
static void arg_read(int argc, char **argv, int *index, struct arg *arg)
{
    const char *text = argv[*index];
    memset(arg, 0, sizeof(*arg));
    arg->text = text;
    if (text[0] != '-' || strcmp(text, "-") == 0 || strcmp(text, "--") == 0) {
        arg->kind = ARG_POSITIONAL;
        return;
    }
    if (text[1] != '-') {
        arg->kind = ARG_UNKNOWN;
        return;
    }
    const char *name = text + 2;
    const char *equals = strchr(name, '=');
    size_t name_len = equals != NULL ? (size_t)(equals - name) : strlen(name);
    arg->value = equals != NULL ? equals + 1 : NULL;
    if (name_is(name, name_len, "help")) {
        arg->kind = ARG_HELP;
        return;
    }
    if (name_is(name, name_len, "version")) {
        arg->kind = ARG_VERSION;
        return;
    }
    arg->spec = option_find_flag(name, name_len);
    arg->kind = arg->spec != NULL ? ARG_OPTION : ARG_UNKNOWN;
    if (arg->kind == ARG_OPTION && arg->spec->kind != OPTION_BOOL && equals == NULL &&
        *index + 1 < argc && strncmp(argv[*index + 1], "--", 2) != 0)
        arg->value = argv[++*index];
}

enum config_result config_args_scan(const struct config *cfg, int argc, char **argv,
                                    const char **config_file)
{
    for (int i = 1; i < argc; i++) {
        struct arg arg;
        arg_read(argc, argv, &i, &arg);
        if (arg.kind == ARG_HELP && arg.value == NULL) {
            config_print_help(cfg);
            return CONFIG_EXIT_OK;
        }
        if (arg.kind == ARG_VERSION && arg.value == NULL) {
            printf("wsbroker %s\n", WSB_VERSION);
            fflush(stdout);
            return CONFIG_EXIT_OK;
        }
        if (arg.kind == ARG_OPTION && option_is_config_file(arg.spec) && arg.value != NULL &&
            arg.value[0] != '\0')
            *config_file = arg.value;
    }
    return CONFIG_RUN;
}

static int config_apply_arg(struct config *cfg, const struct arg *arg, bool *list_replaced,
                            char *err, size_t errlen)
{
    switch (arg->kind) {
    case ARG_POSITIONAL:
        return config_fail(err, errlen, "unexpected argument \"%s\"", arg->text);
    case ARG_UNKNOWN:
        return config_fail(err, errlen, "unknown flag \"%.*s\"", (int)strcspn(arg->text, "="),
                           arg->text);
    case ARG_HELP:
    case ARG_VERSION:
        /* Without a value the first walk has already returned. */
        return config_fail(err, errlen, "%.*s: takes no value", (int)strcspn(arg->text, "="),
                           arg->text);
    case ARG_OPTION:
        break;
    }
    if (arg->value == NULL && arg->spec->kind != OPTION_BOOL)
        return config_fail(err, errlen, "--%s: missing value", arg->spec->flag);
    size_t index = (size_t)(arg->spec - option_table);
    bool replace_list = !list_replaced[index];
    list_replaced[index] = true;
    return option_apply_text(cfg, arg->spec, arg->value, replace_list, err, errlen);
}

int config_args_apply(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    bool list_replaced[OPTION_COUNT] = {false};
    for (int i = 1; i < argc; i++) {
        struct arg arg;
        arg_read(argc, argv, &i, &arg);
        if (config_apply_arg(cfg, &arg, list_replaced, err, errlen) != 0)
            return -1;
    }
    return 0;
}
