/* SPDX-License-Identifier: MIT */
/*
 * config.c: the broker's settings from defaults, a JSON config file and the
 * command line (docs/protocol.md sections 9 and 10).
 *
 * Owns: the defaults, the order of loading, the auth files and the checks
 * across fields. The option table (options.c) describes every flag and
 * config key once; args.c reads the command line, file.c the JSON file,
 * env.c the WSBROKER_<KEY> variables. Loading goes: defaults, then a first
 * walk over argv for --help, --version and --config, then the file, then
 * the environment, then every flag in order (so flags win over the
 * environment and the file wherever they appear), then the files the auth
 * options name (docs/auth.md: read here so that an unreadable one is a
 * configuration error like any other), then checks across fields. Nothing
 * here writes to stderr: an error goes back to the caller as one line in
 * `err`.
 */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/topic.h"
#include "config/args.h"
#include "config/env.h"
#include "config/file.h"
#include "config/options.h"

#define DEFAULT_AUTH_GRACE 5
/* Largest secret, key or key list file read: such files are a few lines. */
#define AUTH_FILE_MAX (1024 * 1024)

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
    cfg->http_body_budget = 64L * 1024 * 1024;
    cfg->http_body_budget_per_ip = 16L * 1024 * 1024;
    cfg->http_body_timeout = 30;
    if (config_set_string(&cfg->bind, "0.0.0.0") != 0 ||
        config_set_string(&cfg->db, "wsbroker.db") != 0 ||
        config_set_string(&cfg->www, www_default) != 0 ||
        config_set_string(&cfg->log_level, "info") != 0 ||
        config_set_string(&cfg->durability, "full") != 0 ||
        config_set_string(&cfg->log_format, "text") != 0)
        return config_fail(err, errlen, "out of memory");
    return 0;
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

/* The rule texts of the flags and the file, parsed once for the broker. */
static int config_parse_topic_rules(struct config *cfg, char *err, size_t errlen)
{
    char why[512];
    if (topic_rules_parse(&cfg->topic_rules, cfg->topic_rule.items, cfg->topic_rule.count, why,
                          sizeof(why)) != 0)
        return config_fail(err, errlen, "--topic-rule %s", why);
    return 0;
}

/* ------------------------------------------------------------ auth files */

/* Reads the whole of `path` (at most AUTH_FILE_MAX bytes, no NUL byte) into
 * a malloc'd string. `flag` names the setting in errors. */
static int config_read_text(const char *flag, const char *path, char **out, char *err,
                            size_t errlen)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return config_fail(err, errlen, "--%s: %s: cannot read: %s", flag, path, strerror(errno));
    char *text = malloc(AUTH_FILE_MAX + 1);
    size_t len = text != NULL ? fread(text, 1, AUTH_FILE_MAX + 1, file) : 0;
    int read_errno = ferror(file) ? (errno != 0 ? errno : EIO) : 0;
    fclose(file);
    int rc = 0;
    if (text == NULL)
        rc = config_fail(err, errlen, "--%s: out of memory", flag);
    else if (read_errno != 0)
        rc =
            config_fail(err, errlen, "--%s: %s: cannot read: %s", flag, path, strerror(read_errno));
    else if (len > AUTH_FILE_MAX)
        rc = config_fail(err, errlen, "--%s: %s: larger than %d bytes", flag, path, AUTH_FILE_MAX);
    else if (memchr(text, '\0', len) != NULL)
        rc = config_fail(err, errlen, "--%s: %s: holds a NUL byte", flag, path);
    if (rc != 0) {
        free(text);
        return rc;
    }
    text[len] = '\0';
    *out = text;
    return 0;
}

/* --auth-secret-file: the file's text, less one trailing "\n" or "\r\n",
 * becomes auth_secret. */
static int config_read_secret_file(struct config *cfg, char *err, size_t errlen)
{
    if (cfg->auth_secret != NULL)
        return config_fail(err, errlen, "--auth-secret-file: not with --auth-secret");
    char *secret;
    if (config_read_text("auth-secret-file", cfg->auth_secret_file, &secret, err, errlen) != 0)
        return -1;
    size_t len = strlen(secret);
    if (len > 0 && secret[len - 1] == '\n')
        secret[--len] = '\0';
    if (len > 0 && secret[len - 1] == '\r')
        secret[--len] = '\0';
    cfg->auth_secret = secret;
    return 0;
}

/* --api-key-file: each line that is not blank or a '#' comment is a key,
 * added to those of --api-key. */
static int config_read_api_key_file(struct config *cfg, char *err, size_t errlen)
{
    char *text;
    if (config_read_text("api-key-file", cfg->api_key_file, &text, err, errlen) != 0)
        return -1;
    const struct option_spec *spec = option_find_key("api_key");
    int rc = 0;
    for (char *line = text; rc == 0 && *line != '\0';) {
        size_t len = strcspn(line, "\n");
        char *next = line[len] == '\n' ? line + len + 1 : line + len;
        line[len] = '\0';
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        if (line[0] != '\0' && line[0] != '#')
            rc = option_append(cfg, spec, "--api-key-file", line, err, errlen);
        line = next;
    }
    free(text);
    return rc;
}

static int config_read_auth_files(struct config *cfg, char *err, size_t errlen)
{
    if (cfg->auth_secret_file != NULL && config_read_secret_file(cfg, err, errlen) != 0)
        return -1;
    if (cfg->api_key_file != NULL && config_read_api_key_file(cfg, err, errlen) != 0)
        return -1;
    if (cfg->auth_public_key != NULL &&
        config_read_text("auth-public-key", cfg->auth_public_key, &cfg->auth_public_key_pem, err,
                         errlen) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------ public */

static enum config_result config_load_all(struct config *cfg, int argc, char **argv,
                                          const char *www_default, char *err, size_t errlen)
{
    const char *config_file = NULL;
    if (config_set_defaults(cfg, www_default, err, errlen) != 0)
        return CONFIG_ERROR;
    enum config_result early = config_args_scan(cfg, argc, argv, &config_file);
    if (early != CONFIG_RUN)
        return early;
    if (config_file != NULL && config_file_read(cfg, config_file, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_env_apply(cfg, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_args_apply(cfg, argc, argv, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_check(cfg, err, errlen) != 0 || config_parse_topic_rules(cfg, err, errlen) != 0 ||
        config_read_auth_files(cfg, err, errlen) != 0)
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

bool config_auth_configured(const struct config *cfg)
{
    return cfg->auth_secret != NULL || cfg->auth_public_key != NULL || cfg->api_key.count > 0;
}

/* Whether `list` holds "*" or an item equal to the `len` bytes at `text`
 * (any case when `ignore_case`). */
static bool config_list_has(const struct config_list *list, const char *text, size_t len,
                            bool ignore_case)
{
    for (size_t i = 0; i < list->count; i++) {
        const char *item = list->items[i];
        if (strcmp(item, "*") == 0)
            return true;
        if (strlen(item) != len)
            continue;
        if (ignore_case ? strncasecmp(item, text, len) == 0 : memcmp(item, text, len) == 0)
            return true;
    }
    return false;
}

bool config_origin_allowed(const struct config *cfg, const char *origin, int origin_len)
{
    const struct config_list *allowed = &cfg->allow_origin;
    if (allowed->count == 0 || origin_len == 0)
        return true;
    if (origin_len < 0)
        return config_list_has(allowed, "", 0, false); /* only "*" lets it in */
    return config_list_has(allowed, origin, (size_t)origin_len, false);
}

/* The length of the name in a Host value: "[::1]:80" -> "[::1]", "a:80" -> "a". */
static size_t config_host_name_len(const char *host, size_t len)
{
    const char *end = host[0] == '[' ? memchr(host, ']', len) : memchr(host, ':', len);
    if (end == NULL)
        return len;
    return (size_t)(end - host) + (host[0] == '[' ? 1 : 0);
}

bool config_host_allowed(const struct config *cfg, const char *host, int host_len)
{
    const struct config_list *allowed = &cfg->allow_host;
    if (allowed->count == 0)
        return true;
    if (host_len <= 0)
        return config_list_has(allowed, "", 0, true); /* only "*" lets it in */
    size_t len = (size_t)host_len;
    return config_list_has(allowed, host, len, true) ||
           config_list_has(allowed, host, config_host_name_len(host, len), true);
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (option_table[i].kind == OPTION_STRING)
            config_set_string(option_string(cfg, &option_table[i]), NULL);
        else if (option_table[i].kind == OPTION_LIST)
            config_list_clear(option_list(cfg, &option_table[i]));
    }
    topic_rules_free(&cfg->topic_rules);
    free(cfg->auth_public_key_pem);
    memset(cfg, 0, sizeof(*cfg));
}
