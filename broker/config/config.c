/*
 * config.c: the broker's settings from defaults, a JSON config file and the
 * command line (docs/protocol.md sections 9 and 10).
 *
 * Owns: the defaults, the order of loading and the checks across fields.
 * The option table (options.c) describes every flag and config key once;
 * args.c reads the command line, file.c the JSON file, env.c the
 * WSBROKER_<KEY> variables. Loading goes: defaults, then a first walk over
 * argv for --help, --version and --config, then the file, then the
 * environment, then every flag in order (so flags win over the environment
 * and the file wherever they appear), then checks across fields. Nothing here writes to stderr: an
 * error goes back to the caller as one line in `err`.
 */
#include "config/config.h"

#include <string.h>
#include <strings.h>

#include "config/args.h"
#include "config/env.h"
#include "config/file.h"
#include "config/options.h"

#define DEFAULT_AUTH_GRACE 5

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
    enum config_result early = config_args_scan(cfg, argc, argv, &config_file);
    if (early != CONFIG_RUN)
        return early;
    if (config_file != NULL && config_file_read(cfg, config_file, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_env_apply(cfg, err, errlen) != 0)
        return CONFIG_ERROR;
    if (config_args_apply(cfg, argc, argv, err, errlen) != 0)
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
    memset(cfg, 0, sizeof(*cfg));
}
