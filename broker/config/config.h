/* SPDX-License-Identifier: MIT */
/*
 * config.h: the broker's settings.
 *
 * Owns: `struct config`, its defaults (docs/protocol.md section 9), the command
 * line, the JSON config file (same keys as the long flags, '_' for '-';
 * repeatable flags are arrays) and validation. Flags win over the file.
 */
#ifndef WSB_CONFIG_H
#define WSB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/topic_rules.h"

#define CONFIG_MAX_LIST 64

struct config_list {
    char *items[CONFIG_MAX_LIST];
    size_t count;
};

struct config {
    char *config_file; /* --config, NULL when none */
    char *bind;        /* "0.0.0.0" */
    int port;          /* 8080 (1..65535) */
    char *db;          /* "wsbroker.db", or ":memory:" */
    char *www;         /* the shipped demo web root */
    long max_message;  /* 1048576 bytes */
    long max_backlog;  /* 8388608 bytes */
    long max_rate;     /* inbound frames/s per connection, HTTP publishes/s per address; 0 = off */
    long retain;       /* 1000 messages per topic */
    long retain_age;   /* 86400 seconds */
    char *auth_secret; /* NULL: no JWT auth */
    struct config_list api_key;      /* keys that allow everything (docs/auth.md) */
    struct config_list anonymous;    /* patterns anonymous clients may use */
    struct config_list allow_origin; /* empty: any origin */
    char *tls_cert;
    char *tls_key;
    char *redis;
    char *log_level; /* "info" */
    /* Keys beyond docs/protocol.md section 9 (also flags): */
    int heartbeat;          /* --heartbeat SECONDS, 25 */
    int auth_grace;         /* --auth-grace SECONDS, 5 */
    char *durability;       /* --durability full|os, "full" */
    long max_subscriptions; /* --max-subscriptions N per connection, 1024 */
    /* HTTP hardening (docs/limits.md): */
    struct config_list allow_host; /* --allow-host HOST...; empty: any Host */
    long http_body_budget;         /* request body bytes held at once, all clients: 64 MiB */
    long http_body_budget_per_ip;  /* the same for one client address: 16 MiB */
    int http_body_timeout;         /* seconds for a whole request body: 30 */
    long max_db_size;       /* --max-db-size BYTES the store may use, 0 = no bound */
    long max_topics;        /* --max-topics N holding messages, 0 = no bound */

    /* Per-pattern settings (docs/protocol.md section 11): */
    struct config_list topic_rule;  /* --topic-rule texts (file objects as text) */
    struct topic_rules topic_rules; /* parsed from topic_rule by config_load */
    /* Auth and abuse limits (docs/auth.md): */
    char *auth_secret_file;               /* read at load into auth_secret */
    char *auth_public_key;                /* PEM file: RS256 or ES256 by its key type */
    char *auth_public_key_pem;            /* its text, read at load; not an option */
    char *api_key_file;                   /* one key per line, read at load into api_key */
    struct config_list anonymous_publish; /* names anonymous clients may publish to */
    struct config_list user_pattern;      /* granted to every JWT user, "{sub}" replaced */
    bool public_metrics;                  /* /metrics and /api/stats without an API key */
    long max_conns_per_ip;                /* WebSocket and SSE connections, 0 = no bound */
    /* Operations (docs/operations.md): */
    char *backup_dir; /* --backup-dir DIR for POST /api/backup; NULL: refused */
    char *log_format; /* --log-format text|json, "text" */
};

enum config_result {
    CONFIG_RUN = 0,     /* start the broker */
    CONFIG_EXIT_OK = 1, /* --help or --version was printed: exit 0 */
    CONFIG_ERROR = 2,   /* err holds one line: print it, exit 2 */
};

/* Fills `cfg` with the defaults, then the config file (if --config is
 * given), then the flags. `www_default` is the web root used when none is
 * configured (copied; may be NULL). --help and --version print to stdout
 * and win over anything else on the command line; nothing goes to stderr.
 *
 * On CONFIG_RUN the caller owns `cfg` and releases it with config_free().
 * On CONFIG_ERROR and CONFIG_EXIT_OK `cfg` has already been freed (all
 * zero; config_free() on it is harmless). On CONFIG_ERROR `err` holds one
 * line without a newline, e.g.
 * "wsbroker: --port: expected an integer 1..65535, got \"abc\"". */
enum config_result config_load(struct config *cfg, int argc, char **argv, const char *www_default,
                               char *err, size_t errlen);

/* Whether auth is configured (docs/protocol.md section 10, Auth): a JWT
 * secret or public key, or an API key. Without it everything is allowed. */
bool config_auth_configured(const struct config *cfg);

/* Whether --allow-origin lets a request with this Origin header in: any
 * origin when the list is empty or holds "*", else one equal to an item.
 * `origin_len` is what lws_hdr_copy() returned for the header, so that
 * every caller reads it the same way: 0 when there is none (not a
 * browser: allowed), -1 when it did not fit the caller's buffer (present
 * and not an allowed origin: refused), else the length of `origin`. */
bool config_origin_allowed(const struct config *cfg, const char *origin, int origin_len);

/* Whether --allow-host lets a request with this Host header in (DNS
 * rebinding): any Host when the list is empty, else one equal to an item,
 * ignoring case, either whole or without its ":port". `host_len` as for
 * config_origin_allowed, except that a missing Host is refused. */
bool config_host_allowed(const struct config *cfg, const char *host, int host_len);

/* Frees every string the config owns and zeroes it; calling it twice is
 * harmless. */
void config_free(struct config *cfg);

#endif
