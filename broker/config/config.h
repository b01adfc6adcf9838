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

#define CONFIG_MAX_LIST 64

struct config_list {
    char *items[CONFIG_MAX_LIST];
    size_t count;
};

struct config {
    char *config_file;               /* --config, NULL when none */
    char *bind;                      /* "0.0.0.0" */
    int port;                        /* 8080 (1..65535) */
    char *db;                        /* "wsbroker.db", or ":memory:" */
    char *www;                       /* the shipped demo web root */
    long max_message;                /* 1048576 bytes */
    long max_backlog;                /* 8388608 bytes */
    long max_rate;                   /* inbound frames per second per connection; 0 = unlimited */
    long retain;                     /* 1000 messages per topic */
    long retain_age;                 /* 86400 seconds */
    char *auth_secret;               /* NULL: no JWT auth */
    char *api_key;                   /* NULL: no API key */
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
    long max_db_size;       /* --max-db-size BYTES the store may use, 0 = no bound */
    long max_topics;        /* --max-topics N holding messages, 0 = no bound */
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

/* Whether --allow-origin lets `origin` in: any origin when the list is
 * empty, else one equal to an item or an item "*". */
bool config_origin_allowed(const struct config *cfg, const char *origin);

/* Frees every string the config owns and zeroes it; calling it twice is
 * harmless. */
void config_free(struct config *cfg);

#endif
