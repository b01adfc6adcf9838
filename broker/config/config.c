/*
 * config.c: the broker's settings from defaults, a JSON config file and the
 * command line (docs/protocol.md sections 9 and 10).
 *
 * Owns: the option table, which describes every flag and config key once
 * (name, type, limits, help line), so the flag parser, the file parser, the
 * --help text and config_free cannot drift apart. Loading goes: defaults,
 * then a first walk over argv for --help, --version and --config, then the
 * file, then every flag in order (so flags win over the file wherever they
 * appear), then checks across fields. Nothing here writes to stderr: an
 * error goes back to the caller as one line in `err`.
 */
#include "config/config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WSB_VERSION
#define WSB_VERSION "0.1.0"
#endif

#define DEFAULT_AUTH_GRACE 5
#define MAX_MESSAGE_LIMIT (256L * 1024 * 1024)
#define SUBJECT_MAX 1024

enum option_kind {
    OPTION_STRING, /* char *, non-empty, one of `choices` when set */
    OPTION_INT,    /* int within [min, max] */
    OPTION_LONG,   /* long within [min, max] */
    OPTION_LIST,   /* struct config_list of non-empty strings; the flag is repeatable */
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

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const durabilities[] = {"full", "os", NULL};

static const struct option_spec options[] = {
    {.flag = "config",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, config_file),
     .metavar = "FILE",
     .help = "JSON config file, keys are the flag names with _ for -; flags win over it"},
    {.flag = "bind",
     .key = "bind",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, bind),
     .metavar = "ADDR",
     .help = "address to listen on"},
    {.flag = "port",
     .key = "port",
     .kind = OPTION_INT,
     .offset = offsetof(struct config, port),
     .min = 1,
     .max = 65535,
     .metavar = "N",
     .help = "TCP port for WebSocket and HTTP"},
    {.flag = "db",
     .key = "db",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, db),
     .metavar = "PATH",
     .help = "SQLite database, created on first start; :memory: keeps nothing on disk"},
    {.flag = "www",
     .key = "www",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, www),
     .metavar = "DIR",
     .help = "web root for static files"},
    {.flag = "max-message",
     .key = "max_message",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, max_message),
     .min = 1,
     .max = MAX_MESSAGE_LIMIT,
     .metavar = "BYTES",
     .help = "largest message, after decompression"},
    {.flag = "max-backlog",
     .key = "max_backlog",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, max_backlog),
     .min = 1,
     .max = LONG_MAX,
     .metavar = "BYTES",
     .help = "unsent bytes a connection may hold before it is closed with 4000"},
    {.flag = "max-rate",
     .key = "max_rate",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, max_rate),
     .min = 0,
     .max = LONG_MAX,
     .metavar = "MSGS_PER_S",
     .help = "inbound frames per second per connection, 0 = unlimited"},
    {.flag = "retain",
     .key = "retain",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, retain),
     .min = 1,
     .max = LONG_MAX,
     .metavar = "N",
     .help = "messages kept per topic"},
    {.flag = "retain-age",
     .key = "retain_age",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, retain_age),
     .min = 1,
     .max = LONG_MAX,
     .metavar = "SECONDS",
     .help = "age after which a topic's messages are dropped"},
    {.flag = "auth-secret",
     .key = "auth_secret",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, auth_secret),
     .metavar = "SECRET",
     .help = "HS256 secret of client JWTs; turns auth on"},
    {.flag = "api-key",
     .key = "api_key",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, api_key),
     .metavar = "KEY",
     .help = "API key that allows everything; turns auth on"},
    {.flag = "anonymous",
     .key = "anonymous",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, anonymous),
     .metavar = "PATTERN",
     .help = "pattern anonymous clients may use (repeatable)"},
    {.flag = "allow-origin",
     .key = "allow_origin",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, allow_origin),
     .metavar = "ORIGIN",
     .help = "allowed Origin header (repeatable); none given: any origin"},
    {.flag = "tls-cert",
     .key = "tls_cert",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, tls_cert),
     .metavar = "FILE",
     .help = "TLS certificate (PEM), with --tls-key"},
    {.flag = "tls-key",
     .key = "tls_key",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, tls_key),
     .metavar = "FILE",
     .help = "TLS private key (PEM), with --tls-cert"},
    {.flag = "redis",
     .key = "redis",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, redis),
     .metavar = "URL",
     .help = "Redis URL, for several brokers acting as one"},
    {.flag = "log-level",
     .key = "log_level",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, log_level),
     .choices = log_levels,
     .metavar = "LEVEL",
     .help = "error, warn, info or debug"},
    {.flag = "heartbeat",
     .key = "heartbeat",
     .kind = OPTION_INT,
     .offset = offsetof(struct config, heartbeat),
     .min = 1,
     .max = 3600,
     .metavar = "SECONDS",
     .help = "ping a connection silent this long; close it after 3 times that"},
    {.flag = "auth-grace",
     .key = "auth_grace",
     .kind = OPTION_INT,
     .offset = offsetof(struct config, auth_grace),
     .min = 0,
     .max = 3600,
     .metavar = "SECONDS",
     .help = "time for a fresh auth after a token expires, then close with 4003"},
    {.flag = "durability",
     .key = "durability",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, durability),
     .choices = durabilities,
     .metavar = "MODE",
     .help = "full: fsync before ack; os: survive kill -9, not power loss"},
    {.flag = "max-subscriptions",
     .key = "max_subscriptions",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, max_subscriptions),
     .min = 1,
     .max = LONG_MAX,
     .metavar = "N",
     .help = "subscriptions per connection"},
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))

/* ---------------------------------------------------------------- errors */

/* Writes "wsbroker: <message>" into err as one line (control characters,
 * which a value or the JSON parser could bring in, become '?'). Returns -1
 * so callers can `return config_fail(...)`. */
static int config_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen == 0)
        return -1;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "wsbroker: %s", message);
    for (char *c = err; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    }
    return -1;
}

/* ---------------------------------------------------------- field access */

static char **option_string(struct config *cfg, const struct option_spec *spec)
{
    return (char **)((char *)cfg + spec->offset);
}

static struct config_list *option_list(struct config *cfg, const struct option_spec *spec)
{
    return (struct config_list *)((char *)cfg + spec->offset);
}

static void option_store_number(struct config *cfg, const struct option_spec *spec, long number)
{
    if (spec->kind == OPTION_INT)
        *(int *)((char *)cfg + spec->offset) = (int)number;
    else
        *(long *)((char *)cfg + spec->offset) = number;
}

static long option_load_number(const struct config *cfg, const struct option_spec *spec)
{
    if (spec->kind == OPTION_INT)
        return *(const int *)((const char *)cfg + spec->offset);
    return *(const long *)((const char *)cfg + spec->offset);
}

static void config_list_clear(struct config_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i]);
        list->items[i] = NULL;
    }
    list->count = 0;
}

/* Replaces *slot with a copy of value (value may be NULL). */
static int config_set_string(char **slot, const char *value)
{
    char *copy = NULL;
    if (value != NULL && (copy = strdup(value)) == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

/* ------------------------------------------------------------ the table */

static const struct option_spec *option_find_flag(const char *name, size_t name_len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strlen(options[i].flag) == name_len && memcmp(options[i].flag, name, name_len) == 0)
            return &options[i];
    }
    return NULL;
}

static const struct option_spec *option_find_key(const char *key)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (options[i].key != NULL && strcmp(options[i].key, key) == 0)
            return &options[i];
    }
    return NULL;
}

static bool option_is_config_file(const struct option_spec *spec)
{
    return spec->offset == offsetof(struct config, config_file);
}

/* "1..65535" or ">= 1". */
static void option_describe_range(const struct option_spec *spec, char *buf, size_t size)
{
    if (spec->max == LONG_MAX)
        snprintf(buf, size, ">= %ld", spec->min);
    else
        snprintf(buf, size, "%ld..%ld", spec->min, spec->max);
}

/* "error|warn|info|debug". */
static void option_describe_choices(const struct option_spec *spec, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; spec->choices[i] != NULL && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? "|" : "", spec->choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static bool option_allows(const struct option_spec *spec, const char *value)
{
    if (spec->choices == NULL)
        return true;
    for (size_t i = 0; spec->choices[i] != NULL; i++) {
        if (strcmp(spec->choices[i], value) == 0)
            return true;
    }
    return false;
}

/* ------------------------------------------------------- storing values */

/* `subject` names the setting in errors: "--port" or "FILE: port". */
static int option_store_string(struct config *cfg, const struct option_spec *spec,
                               const char *subject, const char *value, char *err, size_t errlen)
{
    if (value[0] == '\0')
        return config_fail(err, errlen, "%s: expected a non-empty value", subject);
    if (!option_allows(spec, value)) {
        char choices[128];
        option_describe_choices(spec, choices, sizeof(choices));
        return config_fail(err, errlen, "%s: expected %s, got \"%s\"", subject, choices, value);
    }
    if (config_set_string(option_string(cfg, spec), value) != 0)
        return config_fail(err, errlen, "%s: out of memory", subject);
    return 0;
}

static int option_append(struct config *cfg, const struct option_spec *spec, const char *subject,
                         const char *value, char *err, size_t errlen)
{
    struct config_list *list = option_list(cfg, spec);
    if (value[0] == '\0')
        return config_fail(err, errlen, "%s: expected a non-empty value", subject);
    if (list->count >= CONFIG_MAX_LIST)
        return config_fail(err, errlen, "%s: at most %d values", subject, CONFIG_MAX_LIST);
    char *copy = strdup(value);
    if (copy == NULL)
        return config_fail(err, errlen, "%s: out of memory", subject);
    list->items[list->count++] = copy;
    return 0;
}

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

static const char *json_kind_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown type";
}

static int option_apply_json_list(struct config *cfg, const struct option_spec *spec,
                                  const char *subject, const json_t *value, char *err,
                                  size_t errlen)
{
    if (!json_is_array(value))
        return config_fail(err, errlen, "%s: expected an array of strings, got %s", subject,
                           json_kind_name(value));
    config_list_clear(option_list(cfg, spec));
    size_t index;
    const json_t *item;
    json_array_foreach(value, index, item)
    {
        if (!json_is_string(item))
            return config_fail(err, errlen, "%s[%zu]: expected a string, got %s", subject, index,
                               json_kind_name(item));
        if (option_append(cfg, spec, subject, json_string_value(item), err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int option_apply_json_number(struct config *cfg, const struct option_spec *spec,
                                    const char *subject, const json_t *value, char *err,
                                    size_t errlen)
{
    char range[64];
    option_describe_range(spec, range, sizeof(range));
    if (!json_is_integer(value))
        return config_fail(err, errlen, "%s: expected an integer %s, got %s", subject, range,
                           json_kind_name(value));
    json_int_t number = json_integer_value(value);
    if (number < spec->min || number > spec->max)
        return config_fail(err, errlen, "%s: expected an integer %s, got %" JSON_INTEGER_FORMAT,
                           subject, range, number);
    option_store_number(cfg, spec, (long)number);
    return 0;
}

static int option_apply_json(struct config *cfg, const struct option_spec *spec, const char *path,
                             const json_t *value, char *err, size_t errlen)
{
    char subject[SUBJECT_MAX];
    snprintf(subject, sizeof(subject), "%s: %s", path, spec->key);
    switch (spec->kind) {
    case OPTION_STRING:
        if (!json_is_string(value))
            return config_fail(err, errlen, "%s: expected a string, got %s", subject,
                               json_kind_name(value));
        return option_store_string(cfg, spec, subject, json_string_value(value), err, errlen);
    case OPTION_LIST:
        return option_apply_json_list(cfg, spec, subject, value, err, errlen);
    case OPTION_INT:
    case OPTION_LONG:
        return option_apply_json_number(cfg, spec, subject, value, err, errlen);
    }
    return config_fail(err, errlen, "%s: unhandled option kind", subject);
}

/* ------------------------------------------------------------- defaults */

static int config_set_defaults(struct config *cfg, const char *www_default, char *err,
                               size_t errlen)
{
    cfg->port = 8080;
    cfg->max_message = 1048576;
    cfg->max_backlog = 8388608;
    cfg->max_rate = 0;
    cfg->retain = 1000;
    cfg->retain_age = 86400;
    cfg->heartbeat = 25;
    cfg->auth_grace = DEFAULT_AUTH_GRACE;
    cfg->max_subscriptions = 1024;
    if (config_set_string(&cfg->bind, "0.0.0.0") != 0 ||
        config_set_string(&cfg->db, "wsbroker.db") != 0 ||
        config_set_string(&cfg->www, www_default) != 0 ||
        config_set_string(&cfg->log_level, "info") != 0 ||
        config_set_string(&cfg->durability, "full") != 0)
        return config_fail(err, errlen, "out of memory");
    return 0;
}

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
    }
}

/* Prints every flag with its default, taken from `cfg` as it holds the
 * defaults, so the text cannot disagree with config_set_defaults. */
static void config_print_help(const struct config *cfg)
{
    printf("Usage: wsbroker [OPTION]...\n"
           "A durable publish/subscribe message broker over WebSocket.\n\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *spec = &options[i];
        char left[64];
        char value[256];
        snprintf(left, sizeof(left), "--%s %s", spec->flag, spec->metavar);
        option_format_value(cfg, spec, value, sizeof(value));
        printf("  %-24s %s (default: %s)\n", left, spec->help, value);
    }
    printf("  %-24s %s\n", "--version", "print the version and exit");
    printf("  %-24s %s\n", "--help", "print this help and exit");
    printf("\nEvery flag is also written --flag=VALUE. A bad flag or config file exits with "
           "status 2.\n");
    fflush(stdout);
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
    if (arg->kind == ARG_OPTION && equals == NULL && *index + 1 < argc &&
        strncmp(argv[*index + 1], "--", 2) != 0)
        arg->value = argv[++*index];
}

/* First walk: --help and --version end loading at once (wherever they are,
 * even after a bad flag); --config names the file to read before the other
 * flags. Errors are left to the second walk. */
static enum config_result config_scan_args(const struct config *cfg, int argc, char **argv,
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
    if (arg->value == NULL)
        return config_fail(err, errlen, "--%s: missing value", arg->spec->flag);
    size_t index = (size_t)(arg->spec - options);
    bool replace_list = !list_replaced[index];
    list_replaced[index] = true;
    return option_apply_text(cfg, arg->spec, arg->value, replace_list, err, errlen);
}

/* Second walk: every flag in order; the last of a repeated scalar wins. */
static int config_apply_args(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
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

/* ------------------------------------------------------------ the file */

static int config_apply_object(struct config *cfg, const char *path, const json_t *root, char *err,
                               size_t errlen)
{
    if (!json_is_object(root))
        return config_fail(err, errlen, "%s: expected a JSON object, got %s", path,
                           json_kind_name(root));
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)root, key, value)
    {
        const struct option_spec *spec = option_find_key(key);
        if (spec == NULL)
            return config_fail(err, errlen, "%s: unknown key \"%s\"", path, key);
        if (option_apply_json(cfg, spec, path, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int config_read_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return config_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    json_error_t json_error;
    json_t *root = json_loadf(file, JSON_REJECT_DUPLICATES, &json_error);
    int read_errno = ferror(file) ? (errno != 0 ? errno : EIO) : 0;
    fclose(file);
    if (read_errno != 0) {
        json_decref(root);
        return config_fail(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
    }
    if (root == NULL)
        return config_fail(err, errlen, "%s:%d:%d: invalid JSON: %s", path, json_error.line,
                           json_error.column, json_error.text);
    int rc = config_apply_object(cfg, path, root, err, errlen);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------ checks */

static int config_check(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->tls_cert != NULL && cfg->tls_key == NULL)
        return config_fail(err, errlen, "--tls-cert: needs --tls-key");
    if (cfg->tls_key != NULL && cfg->tls_cert == NULL)
        return config_fail(err, errlen, "--tls-key: needs --tls-cert");
    return 0;
}

/* Auth, TLS and Redis are parsed and validated but not wired up yet: refuse
 * to start rather than run silently without them. Delete this function and
 * its one call when they land. auth_grace counts as set when it differs from
 * its default (setting it to 5 changes nothing). */
static int config_reject_unsupported(const struct config *cfg, char *err, size_t errlen)
{
    const char *flag = NULL;
    if (cfg->auth_secret != NULL)
        flag = "auth-secret";
    else if (cfg->api_key != NULL)
        flag = "api-key";
    else if (cfg->anonymous.count > 0)
        flag = "anonymous";
    else if (cfg->tls_cert != NULL)
        flag = "tls-cert";
    else if (cfg->tls_key != NULL)
        flag = "tls-key";
    else if (cfg->redis != NULL)
        flag = "redis";
    else if (cfg->auth_grace != DEFAULT_AUTH_GRACE)
        flag = "auth-grace";
    if (flag == NULL)
        return 0;
    return config_fail(err, errlen, "--%s: not supported yet", flag);
}

/* ------------------------------------------------------------ public */

static enum config_result config_load_all(struct config *cfg, int argc, char **argv,
                                          const char *www_default, char *err, size_t errlen)
{
    const char *config_file = NULL;
    if (config_set_defaults(cfg, www_default, err, errlen) != 0)
        return CONFIG_ERROR;
    enum config_result early = config_scan_args(cfg, argc, argv, &config_file);
    if (early != CONFIG_RUN)
        return early;
    if (config_file != NULL && config_read_file(cfg, config_file, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_apply_args(cfg, argc, argv, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_check(cfg, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_reject_unsupported(cfg, err, errlen) != 0)
        return CONFIG_ERROR;
    return CONFIG_RUN;
}

enum config_result config_load(struct config *cfg, int argc, char **argv, const char *www_default,
                               char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    if (errlen > 0)
        err[0] = '\0';
    enum config_result result = config_load_all(cfg, argc, argv, www_default, err, errlen);
    if (result != CONFIG_RUN)
        config_free(cfg);
    return result;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (options[i].kind == OPTION_STRING)
            config_set_string(option_string(cfg, &options[i]), NULL);
        else if (options[i].kind == OPTION_LIST)
            config_list_clear(option_list(cfg, &options[i]));
    }
    memset(cfg, 0, sizeof(*cfg));
}
