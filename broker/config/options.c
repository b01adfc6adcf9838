/* SPDX-License-Identifier: MIT */
/*
 * options.c: the option table and typed access to the fields it describes
 * (see options.h).
 */
#include "config/options.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE_LIMIT (256L * 1024 * 1024)

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const durabilities[] = {"full", "os", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

const struct option_spec option_table[] = {
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
     .help = "inbound frames per second per connection, and HTTP publishes per second per "
             "client address (429); 0 = unlimited"},
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
     .help = "HS256 secret of client JWTs, at least 32 bytes; turns auth on"},
    {.flag = "api-key",
     .key = "api_key",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, api_key),
     .metavar = "KEY",
     .help = "API key that allows everything (repeatable); turns auth on"},
    {.flag = "anonymous",
     .key = "anonymous",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, anonymous),
     .metavar = "PATTERN",
     .help = "pattern clients without credential may subscribe to, read history, presence and "
             "SSE of (repeatable)"},
    {.flag = "allow-origin",
     .key = "allow_origin",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, allow_origin),
     .metavar = "ORIGIN",
     .help = "allowed Origin header (repeatable); none given: any origin; a POST or "
             "WebSocket upgrade from another origin gets 403"},
    {.flag = "allow-host",
     .key = "allow_host",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, allow_host),
     .metavar = "HOST",
     .help = "Host header served, with or without :port (repeatable); none given: any; "
             "another Host gets 421"},
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
    {.flag = "http-body-budget",
     .key = "http_body_budget",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, http_body_budget),
     .min = 1,
     .max = LONG_MAX,
     .metavar = "BYTES",
     .help = "request body bytes all HTTP clients may hold at once; a POST beyond it gets 503"},
    {.flag = "http-body-budget-per-ip",
     .key = "http_body_budget_per_ip",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, http_body_budget_per_ip),
     .min = 1,
     .max = LONG_MAX,
     .metavar = "BYTES",
     .help = "request body bytes one client address may hold at once; beyond it 429"},
    {.flag = "http-body-timeout",
     .key = "http_body_timeout",
     .kind = OPTION_INT,
     .offset = offsetof(struct config, http_body_timeout),
     .min = 1,
     .max = 3600,
     .metavar = "SECONDS",
     .help = "time a whole request body may take after its headers, then the connection is closed"},
    {.flag = "max-db-size",
     .key = "max_db_size",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, max_db_size),
     .min = 0,
     .max = LONG_MAX,
     .metavar = "BYTES",
     .help = "store size from which publishes are refused, 0 = no bound"},
    {.flag = "max-topics",
     .key = "max_topics",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, max_topics),
     .min = 0,
     .max = LONG_MAX,
     .metavar = "N",
     .help = "topics holding messages; new ones past it are refused, 0 = no bound"},
    {.flag = "topic-rule",
     .key = "topic_rules",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, topic_rule),
     .metavar = "RULE",
     .help = "'PATTERN [retain=N] [retain_age=S] [conflate=BOOL]': settings for names "
             "PATTERN matches (repeatable; the first match wins; keys left out take the "
             "global values)"},
    {.flag = "auth-secret-file",
     .key = "auth_secret_file",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, auth_secret_file),
     .metavar = "FILE",
     .help = "file holding the HS256 secret (one trailing newline ignored), instead of "
             "--auth-secret"},
    {.flag = "auth-public-key",
     .key = "auth_public_key",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, auth_public_key),
     .metavar = "FILE",
     .help = "PEM public key of client JWTs: RS256 for RSA, ES256 for P-256; turns auth on"},
    {.flag = "api-key-file",
     .key = "api_key_file",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, api_key_file),
     .metavar = "FILE",
     .help = "file of API keys, one per line (blank lines and # comments ignored)"},
    {.flag = "anonymous-publish",
     .key = "anonymous_publish",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, anonymous_publish),
     .metavar = "PATTERN",
     .help = "pattern clients without credential may publish to (repeatable)"},
    {.flag = "user-pattern",
     .key = "user_pattern",
     .kind = OPTION_LIST,
     .offset = offsetof(struct config, user_pattern),
     .metavar = "PATTERN",
     .help = "pattern every JWT user may subscribe to, {sub} standing for the user "
             "(repeatable)"},
    {.flag = "public-metrics",
     .key = "public_metrics",
     .kind = OPTION_BOOL,
     .offset = offsetof(struct config, public_metrics),
     .metavar = "",
     .help = "serve /metrics and /api/stats without an API key when auth is on"},
    {.flag = "max-conns-per-ip",
     .key = "max_conns_per_ip",
     .kind = OPTION_LONG,
     .offset = offsetof(struct config, max_conns_per_ip),
     .min = 0,
     .max = LONG_MAX,
     .metavar = "N",
     .help = "WebSocket and SSE connections from one address; more get 503, 0 = no bound"},
    {.flag = "backup-dir",
     .key = "backup_dir",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, backup_dir),
     .metavar = "DIR",
     .help = "directory POST /api/backup (wsb backup) may write copies of the store into; "
             "none: backups refused"},
    {.flag = "log-format",
     .key = "log_format",
     .kind = OPTION_STRING,
     .offset = offsetof(struct config, log_format),
     .choices = log_formats,
     .metavar = "FORMAT",
     .help = "text, or json: one object per line with ts, level and msg"},
};

_Static_assert(sizeof(option_table) / sizeof(option_table[0]) == OPTION_COUNT,
               "OPTION_COUNT must match the table");

/* ---------------------------------------------------------------- errors */

int config_fail(char *err, size_t errlen, const char *fmt, ...)
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

char **option_string(struct config *cfg, const struct option_spec *spec)
{
    return (char **)((char *)cfg + spec->offset);
}

struct config_list *option_list(struct config *cfg, const struct option_spec *spec)
{
    return (struct config_list *)((char *)cfg + spec->offset);
}

bool *option_bool(struct config *cfg, const struct option_spec *spec)
{
    return (bool *)((char *)cfg + spec->offset);
}

void option_store_number(struct config *cfg, const struct option_spec *spec, long number)
{
    if (spec->kind == OPTION_INT)
        *(int *)((char *)cfg + spec->offset) = (int)number;
    else
        *(long *)((char *)cfg + spec->offset) = number;
}

long option_load_number(const struct config *cfg, const struct option_spec *spec)
{
    if (spec->kind == OPTION_INT)
        return *(const int *)((const char *)cfg + spec->offset);
    return *(const long *)((const char *)cfg + spec->offset);
}

void config_list_clear(struct config_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i]);
        list->items[i] = NULL;
    }
    list->count = 0;
}

int config_set_string(char **slot, const char *value)
{
    char *copy = NULL;
    if (value != NULL && (copy = strdup(value)) == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

/* ------------------------------------------------------------ the table */

const struct option_spec *option_find_flag(const char *name, size_t name_len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strlen(option_table[i].flag) == name_len &&
            memcmp(option_table[i].flag, name, name_len) == 0)
            return &option_table[i];
    }
    return NULL;
}

const struct option_spec *option_find_key(const char *key)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (option_table[i].key != NULL && strcmp(option_table[i].key, key) == 0)
            return &option_table[i];
    }
    return NULL;
}

bool option_is_config_file(const struct option_spec *spec)
{
    return spec->offset == offsetof(struct config, config_file);
}

void option_describe_range(const struct option_spec *spec, char *buf, size_t size)
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

int option_store_string(struct config *cfg, const struct option_spec *spec, const char *subject,
                        const char *value, char *err, size_t errlen)
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

int option_store_bool(struct config *cfg, const struct option_spec *spec, const char *subject,
                      const char *value, char *err, size_t errlen)
{
    if (value == NULL || strcmp(value, "true") == 0)
        *option_bool(cfg, spec) = true;
    else if (strcmp(value, "false") == 0)
        *option_bool(cfg, spec) = false;
    else
        return config_fail(err, errlen, "%s: expected true or false, got \"%s\"", subject, value);
    return 0;
}

int option_append(struct config *cfg, const struct option_spec *spec, const char *subject,
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
