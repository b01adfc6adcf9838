/* SPDX-License-Identifier: MIT */
/*
 * main.c: argv -> config -> store -> server -> exit status.
 *
 * Exit status: 0 after an orderly shutdown (or --help/--version), 2 when the
 * broker cannot start (bad flag or config, unusable database, port in use),
 * with one line on stderr and nothing left half-started.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/credentials.h"
#include "config/config.h"
#include "util/log.h"
#include "util/notify.h"
#include "net/server.h"
#include "store/store.h"

static bool has_index(const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/index.html", dir);
    return access(path, R_OK) == 0;
}

/* The web root when --www is not given: share/wsbroker/www beside the
 * binary's own prefix (an installed or unpacked package, wherever it sits),
 * else the source tree's (a build tree), else the configured prefix's. */
static const char *default_www(void)
{
    static char beside[PATH_MAX + 32];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(beside, sizeof(beside), "%s/../share/wsbroker/www", exe);
            if (has_index(beside))
                return beside;
        }
    }
    if (has_index(WSB_DEFAULT_WWW))
        return WSB_DEFAULT_WWW;
    return WSB_INSTALLED_WWW;
}

static int fail(const char *line)
{
    fprintf(stderr, "%s\n", line);
    return 2;
}

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512] = "";
    enum config_result cr = config_load(&cfg, argc, argv, default_www(), err, sizeof(err));
    if (cr != CONFIG_RUN) {
        config_free(&cfg);
        return cr == CONFIG_EXIT_OK ? 0 : fail(err);
    }
    if (credentials_check_config(&cfg, err, sizeof(err)) != 0) {
        config_free(&cfg);
        return fail(err);
    }
    enum log_level level;
    log_level_parse(cfg.log_level, &level);
    log_set_level(level);
    enum log_format format;
    log_format_parse(cfg.log_format, &format);
    log_set_format(format);

    struct server *srv = server_new(&cfg);
    if (!srv || server_listen(srv, err, sizeof(err)) < 0) {
        server_free(srv);
        config_free(&cfg);
        return fail(err[0] ? err : "wsbroker: out of memory");
    }
    struct store_config scfg = {
        .path = cfg.db,
        .retain_count = cfg.retain,
        .retain_age_s = cfg.retain_age,
        .rules = &cfg.topic_rules,
        .dedupe_window_ms = 5 * 60 * 1000,
        .durability = strcmp(cfg.durability, "os") == 0 ? STORE_DURABLE_OS : STORE_DURABLE_FULL,
        .max_db_bytes = (uint64_t)cfg.max_db_size,
        .max_topics = cfg.max_topics,
        .wake = server_wake,
        .wake_arg = srv,
        .redis_url = cfg.redis,
        .loop = server_uv_loop(srv),
    };
    if (cfg.redis && strcmp(cfg.db, "wsbroker.db") != 0)
        log_warn("--db %s is not used with --redis: the messages are in Redis", cfg.db);
    if (cfg.redis && cfg.max_db_size > 0)
        log_warn("--max-db-size is not used with --redis: bound Redis's memory with maxmemory "
                 "(and maxmemory-policy noeviction)");
    struct store *store = NULL;
    if (store_open(&store, &scfg, err, sizeof(err)) < 0) {
        server_free(srv);
        config_free(&cfg);
        return fail(err[0] ? err : "wsbroker: out of memory");
    }
    if (server_start(srv, store, err, sizeof(err)) < 0) {
        server_free(srv);
        store_close(store);
        config_free(&cfg);
        return fail(err);
    }
    notify_ready();
    server_run(srv); /* says STOPPING=1 itself, before draining */
    store_close(store); /* before the loop goes: the Redis engine runs on it */
    server_free(srv);
    log_info("stopped");
    config_free(&cfg);
    return 0;
}
