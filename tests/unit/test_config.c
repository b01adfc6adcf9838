/* SPDX-License-Identifier: MIT */
/*
 * test_config.c: unit tests of config.c, the broker's settings.
 *
 * Covers the defaults, every flag in both `--flag VALUE` and `--flag=VALUE`
 * form, repeatable flags, each class of error (exact messages), the JSON
 * config file, flags winning over the file, --help and --version, and the
 * auth/TLS/Redis settings that are refused for now. Config files are
 * written in a fresh mkdtemp directory per test.
 */
#include "auth/credentials.h"
#include "config/config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef WSB_VERSION
#define WSB_VERSION "0.1.0"
#endif

#define MAX_ARGS 160
#define WWW_DEFAULT "/srv/wsbroker/www"
/* An HS256 secret of the shortest length accepted. */
#define SECRET_32 "0123456789abcdef0123456789abcdef"

static char tmp_dir[64];
static char err[512];

static void tmp_setup(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void tmp_teardown(void)
{
    DIR *dir = opendir(tmp_dir);
    ck_assert_ptr_nonnull(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char path[PATH_MAX + 256];
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", tmp_dir, entry->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(dir);
    ck_assert_int_eq(rmdir(tmp_dir), 0);
}

/* Writes tmp_dir/name and puts its path in `path`. */
static void write_file(char *path, size_t size, const char *name, const char *content)
{
    int n = snprintf(path, size, "%s/%s", tmp_dir, name);
    ck_assert(n > 0 && (size_t)n < size);
    FILE *file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(fputs(content, file) >= 0, 1);
    ck_assert_int_eq(fclose(file), 0);
}

/* Runs config_load on "wsbroker" followed by `args` (NULL-terminated). */
static enum config_result load(struct config *cfg, const char *const *args)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "wsbroker";
    for (size_t i = 0; args[i] != NULL; i++) {
        ck_assert_int_lt(argc, MAX_ARGS + 1);
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;
    memset(err, 'x', sizeof(err) - 1);
    err[sizeof(err) - 1] = '\0';
    enum config_result r = config_load(cfg, argc, argv, WWW_DEFAULT, err, sizeof(err));
    /* main.c's next step: the auth options' checks across fields. */
    if (r == CONFIG_RUN && credentials_check_config(cfg, err, sizeof(err)) != 0) {
        config_free(cfg);
        return CONFIG_ERROR;
    }
    return r;
}

/* After an error or --help/--version the config holds nothing. */
static void assert_config_empty(struct config *cfg)
{
    ck_assert_ptr_null(cfg->bind);
    ck_assert_ptr_null(cfg->db);
    ck_assert_ptr_null(cfg->www);
    ck_assert_ptr_null(cfg->log_level);
    ck_assert_ptr_null(cfg->durability);
    ck_assert_uint_eq(cfg->allow_origin.count, 0);
    config_free(cfg); /* still safe */
}

/* What assert_load_error expects of a configuration that is valid. */
#define CONFIG_LOADS NULL

static void assert_load_error(const char *const *args, const char *expected)
{
    struct config cfg;
    if (expected == CONFIG_LOADS) {
        ck_assert_msg(load(&cfg, args) == CONFIG_RUN, "%s", err);
        config_free(&cfg);
        return;
    }
    ck_assert_int_eq(load(&cfg, args), CONFIG_ERROR);
    ck_assert_str_eq(err, expected);
    ck_assert_ptr_null(strchr(err, '\n'));
    assert_config_empty(&cfg);
}

/* Runs load() with stdout sent to a file, whose content ends up in `out`. */
static enum config_result load_capturing_stdout(struct config *cfg, const char *const *args,
                                                char *out, size_t outlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/stdout.txt", tmp_dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    ck_assert_int_ge(saved, 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDOUT_FILENO), 0);
    close(fd);
    enum config_result result = load(cfg, args);
    fflush(stdout);
    ck_assert_int_ge(dup2(saved, STDOUT_FILENO), 0);
    close(saved);

    FILE *file = fopen(path, "r");
    ck_assert_ptr_nonnull(file);
    size_t n = fread(out, 1, outlen - 1, file);
    out[n] = '\0';
    fclose(file);
    return result;
}

/* ---------------------------------------------------------------- defaults */

START_TEST(test_defaults)
{
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){NULL}), CONFIG_RUN);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_null(cfg.config_file);
    ck_assert_str_eq(cfg.bind, "0.0.0.0");
    ck_assert_int_eq(cfg.port, 8080);
    ck_assert_str_eq(cfg.db, "wsbroker.db");
    ck_assert_str_eq(cfg.www, WWW_DEFAULT);
    ck_assert_int_eq(cfg.max_message, 1048576);
    ck_assert_int_eq(cfg.max_backlog, 8388608);
    ck_assert_int_eq(cfg.max_rate, 0);
    ck_assert_int_eq(cfg.retain, 1000);
    ck_assert_int_eq(cfg.retain_age, 86400);
    ck_assert_ptr_null(cfg.auth_secret);
    ck_assert_uint_eq(cfg.api_key.count, 0);
    ck_assert_uint_eq(cfg.anonymous.count, 0);
    ck_assert_uint_eq(cfg.allow_origin.count, 0);
    ck_assert_ptr_null(cfg.tls_cert);
    ck_assert_ptr_null(cfg.tls_key);
    ck_assert_ptr_null(cfg.redis);
    ck_assert_str_eq(cfg.log_level, "info");
    ck_assert_int_eq(cfg.heartbeat, 25);
    ck_assert_int_eq(cfg.auth_grace, 5);
    ck_assert_str_eq(cfg.durability, "full");
    ck_assert_int_eq(cfg.max_subscriptions, 1024);
    ck_assert_uint_eq(cfg.allow_host.count, 0);
    ck_assert_int_eq(cfg.http_body_budget, 64L * 1024 * 1024);
    ck_assert_int_eq(cfg.http_body_budget_per_ip, 16L * 1024 * 1024);
    ck_assert_int_eq(cfg.http_body_timeout, 30);
    config_free(&cfg);
    ck_assert_ptr_null(cfg.bind);
    config_free(&cfg); /* twice is harmless */
}
END_TEST

START_TEST(test_www_default_copied)
{
    char www[] = "/opt/www";
    char *argv[] = {"wsbroker", NULL};
    struct config cfg;
    ck_assert_int_eq(config_load(&cfg, 1, argv, www, err, sizeof(err)), CONFIG_RUN);
    www[1] = 'X';
    ck_assert_str_eq(cfg.www, "/opt/www");
    config_free(&cfg);
}
END_TEST

/* ---------------------------------------------------------------- flags */

static void assert_every_flag_set(const struct config *cfg)
{
    ck_assert_str_eq(cfg->bind, "127.0.0.1");
    ck_assert_int_eq(cfg->port, 9001);
    ck_assert_str_eq(cfg->db, ":memory:");
    ck_assert_str_eq(cfg->www, "/tmp/www");
    ck_assert_int_eq(cfg->max_message, 2048);
    ck_assert_int_eq(cfg->max_backlog, 4096);
    ck_assert_int_eq(cfg->max_rate, 50);
    ck_assert_int_eq(cfg->retain, 10);
    ck_assert_int_eq(cfg->retain_age, 60);
    ck_assert_uint_eq(cfg->allow_origin.count, 1);
    ck_assert_str_eq(cfg->allow_origin.items[0], "https://a.example");
    ck_assert_str_eq(cfg->log_level, "debug");
    ck_assert_int_eq(cfg->heartbeat, 30);
    ck_assert_int_eq(cfg->auth_grace, 5);
    ck_assert_str_eq(cfg->durability, "os");
    ck_assert_int_eq(cfg->max_subscriptions, 8);
    ck_assert_uint_eq(cfg->allow_host.count, 1);
    ck_assert_str_eq(cfg->allow_host.items[0], "broker.example");
    ck_assert_int_eq(cfg->http_body_budget, 1000000);
    ck_assert_int_eq(cfg->http_body_budget_per_ip, 100000);
    ck_assert_int_eq(cfg->http_body_timeout, 7);
}

START_TEST(test_every_flag)
{
    struct config cfg;
    const char *args[] = {"--bind",
                          "127.0.0.1",
                          "--port",
                          "9001",
                          "--db",
                          ":memory:",
                          "--www",
                          "/tmp/www",
                          "--max-message",
                          "2048",
                          "--max-backlog",
                          "4096",
                          "--max-rate",
                          "50",
                          "--retain",
                          "10",
                          "--retain-age",
                          "60",
                          "--allow-origin",
                          "https://a.example",
                          "--log-level",
                          "debug",
                          "--heartbeat",
                          "30",
                          "--auth-grace",
                          "5",
                          "--durability",
                          "os",
                          "--max-subscriptions",
                          "8",
                          "--allow-host",
                          "broker.example",
                          "--http-body-budget",
                          "1000000",
                          "--http-body-budget-per-ip",
                          "100000",
                          "--http-body-timeout",
                          "7",
                          NULL};
    ck_assert_int_eq(load(&cfg, args), CONFIG_RUN);
    ck_assert_str_eq(err, "");
    assert_every_flag_set(&cfg);
    config_free(&cfg);
}
END_TEST

START_TEST(test_every_flag_equals_form)
{
    struct config cfg;
    const char *args[] = {"--bind=127.0.0.1",
                          "--port=9001",
                          "--db=:memory:",
                          "--www=/tmp/www",
                          "--max-message=2048",
                          "--max-backlog=4096",
                          "--max-rate=50",
                          "--retain=10",
                          "--retain-age=60",
                          "--allow-origin=https://a.example",
                          "--log-level=debug",
                          "--heartbeat=30",
                          "--auth-grace=5",
                          "--durability=os",
                          "--max-subscriptions=8",
                          "--allow-host=broker.example",
                          "--http-body-budget=1000000",
                          "--http-body-budget-per-ip=100000",
                          "--http-body-timeout=7",
                          NULL};
    ck_assert_int_eq(load(&cfg, args), CONFIG_RUN);
    assert_every_flag_set(&cfg);
    config_free(&cfg);
}
END_TEST

START_TEST(test_equals_form_details)
{
    struct config cfg;
    /* Only the first '=' splits; a value may start with '-' or hold '='. */
    const char *args[] = {"--db=a=b.db", "--www", "-odd-dir", NULL};
    ck_assert_int_eq(load(&cfg, args), CONFIG_RUN);
    ck_assert_str_eq(cfg.db, "a=b.db");
    ck_assert_str_eq(cfg.www, "-odd-dir");
    config_free(&cfg);
}
END_TEST

START_TEST(test_last_scalar_wins)
{
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){"--port", "1", "--port=2", "--log-level", "warn",
                                                 "--log-level", "error", NULL}),
                     CONFIG_RUN);
    ck_assert_int_eq(cfg.port, 2);
    ck_assert_str_eq(cfg.log_level, "error");
    config_free(&cfg);
}
END_TEST

struct bound_case {
    const char *args[3];
    long expected;
};

static const struct bound_case bound_cases[] = {
    {{"--port", "1"}, 1},
    {{"--port", "65535"}, 65535},
    {{"--max-message", "1"}, 1},
    {{"--max-message", "268435456"}, 268435456},
    {{"--max-backlog", "1"}, 1},
    {{"--max-backlog", "9223372036854775807"}, LONG_MAX},
    {{"--max-rate", "0"}, 0},
    {{"--retain", "1"}, 1},
    {{"--retain-age", "1"}, 1},
    {{"--heartbeat", "1"}, 1},
    {{"--heartbeat", "3600"}, 3600},
    {{"--max-subscriptions", "1"}, 1},
};

START_TEST(test_number_bounds_accepted)
{
    const struct bound_case *c = &bound_cases[_i];
    struct config cfg;
    ck_assert_int_eq(load(&cfg, c->args), CONFIG_RUN);
    long got = 0;
    if (strcmp(c->args[0], "--port") == 0)
        got = cfg.port;
    else if (strcmp(c->args[0], "--max-message") == 0)
        got = cfg.max_message;
    else if (strcmp(c->args[0], "--max-backlog") == 0)
        got = cfg.max_backlog;
    else if (strcmp(c->args[0], "--max-rate") == 0)
        got = cfg.max_rate;
    else if (strcmp(c->args[0], "--retain") == 0)
        got = cfg.retain;
    else if (strcmp(c->args[0], "--retain-age") == 0)
        got = cfg.retain_age;
    else if (strcmp(c->args[0], "--heartbeat") == 0)
        got = cfg.heartbeat;
    else if (strcmp(c->args[0], "--max-subscriptions") == 0)
        got = cfg.max_subscriptions;
    else
        ck_abort_msg("no field for %s", c->args[0]);
    ck_assert_int_eq(got, c->expected);
    config_free(&cfg);
}
END_TEST

START_TEST(test_repeatable_flags)
{
    struct config cfg;
    const char *args[] = {
        "--allow-origin", "https://a.example", "--port", "9000", "--allow-origin=https://b.example",
        "--allow-origin", "https://c.example", NULL};
    ck_assert_int_eq(load(&cfg, args), CONFIG_RUN);
    ck_assert_uint_eq(cfg.allow_origin.count, 3);
    ck_assert_str_eq(cfg.allow_origin.items[0], "https://a.example");
    ck_assert_str_eq(cfg.allow_origin.items[1], "https://b.example");
    ck_assert_str_eq(cfg.allow_origin.items[2], "https://c.example");
    config_free(&cfg);
    ck_assert_uint_eq(cfg.allow_origin.count, 0);
}
END_TEST

START_TEST(test_repeatable_flag_limit)
{
    static char values[CONFIG_MAX_LIST + 1][32];
    const char *args[2 * (CONFIG_MAX_LIST + 1) + 1];
    size_t n = 0;
    for (int i = 0; i < CONFIG_MAX_LIST + 1; i++) {
        snprintf(values[i], sizeof(values[i]), "https://%d.example", i);
        args[n++] = "--allow-origin";
        args[n++] = values[i];
    }
    args[n] = NULL;

    /* Exactly CONFIG_MAX_LIST values fit. */
    struct config cfg;
    args[2 * CONFIG_MAX_LIST] = NULL;
    ck_assert_int_eq(load(&cfg, args), CONFIG_RUN);
    ck_assert_uint_eq(cfg.allow_origin.count, CONFIG_MAX_LIST);
    ck_assert_str_eq(cfg.allow_origin.items[CONFIG_MAX_LIST - 1], values[CONFIG_MAX_LIST - 1]);
    config_free(&cfg);

    /* One more is an error, and nothing leaks (ASan). */
    args[2 * CONFIG_MAX_LIST] = "--allow-origin";
    char expected[64];
    snprintf(expected, sizeof(expected), "wsbroker: --allow-origin: at most %d values",
             CONFIG_MAX_LIST);
    assert_load_error(args, expected);
}
END_TEST

/* ---------------------------------------------------------------- errors */

struct error_case {
    const char *args[8];
    const char *message;
};

static const struct error_case error_cases[] = {
    /* unknown flags */
    {{"--bogus"}, "wsbroker: unknown flag \"--bogus\""},
    {{"--bogus=1"}, "wsbroker: unknown flag \"--bogus\""},
    {{"--max-baklog", "1"}, "wsbroker: unknown flag \"--max-baklog\""},
    {{"-p", "80"}, "wsbroker: unknown flag \"-p\""},
    {{"--Port", "80"}, "wsbroker: unknown flag \"--Port\""},
    /* missing values */
    {{"--port"}, "wsbroker: --port: missing value"},
    {{"--db", "--port", "9000"}, "wsbroker: --db: missing value"},
    {{"--allow-origin"}, "wsbroker: --allow-origin: missing value"},
    {{"--config"}, "wsbroker: --config: missing value"},
    /* values that are not integers */
    {{"--port", "abc"}, "wsbroker: --port: expected an integer 1..65535, got \"abc\""},
    {{"--port", "12abc"}, "wsbroker: --port: expected an integer 1..65535, got \"12abc\""},
    {{"--port", ""}, "wsbroker: --port: expected an integer 1..65535, got \"\""},
    {{"--port="}, "wsbroker: --port: expected an integer 1..65535, got \"\""},
    {{"--port", " 80"}, "wsbroker: --port: expected an integer 1..65535, got \" 80\""},
    {{"--port", "80.0"}, "wsbroker: --port: expected an integer 1..65535, got \"80.0\""},
    {{"--retain", "0x10"}, "wsbroker: --retain: expected an integer >= 1, got \"0x10\""},
    {{"--max-backlog", "99999999999999999999"},
     "wsbroker: --max-backlog: expected an integer >= 1, got \"99999999999999999999\""},
    {{"--max-rate", "-99999999999999999999"},
     "wsbroker: --max-rate: expected an integer >= 0, got \"-99999999999999999999\""},
    /* out of range */
    {{"--port", "0"}, "wsbroker: --port: expected an integer 1..65535, got \"0\""},
    {{"--port", "65536"}, "wsbroker: --port: expected an integer 1..65535, got \"65536\""},
    {{"--port", "-1"}, "wsbroker: --port: expected an integer 1..65535, got \"-1\""},
    {{"--max-message", "0"},
     "wsbroker: --max-message: expected an integer 1..268435456, got \"0\""},
    {{"--max-message", "268435457"},
     "wsbroker: --max-message: expected an integer 1..268435456, got \"268435457\""},
    {{"--max-backlog", "0"}, "wsbroker: --max-backlog: expected an integer >= 1, got \"0\""},
    {{"--max-rate", "-1"}, "wsbroker: --max-rate: expected an integer >= 0, got \"-1\""},
    {{"--retain", "0"}, "wsbroker: --retain: expected an integer >= 1, got \"0\""},
    {{"--retain-age", "0"}, "wsbroker: --retain-age: expected an integer >= 1, got \"0\""},
    {{"--heartbeat", "0"}, "wsbroker: --heartbeat: expected an integer 1..3600, got \"0\""},
    {{"--heartbeat", "3601"}, "wsbroker: --heartbeat: expected an integer 1..3600, got \"3601\""},
    {{"--auth-grace", "-1"}, "wsbroker: --auth-grace: expected an integer 0..3600, got \"-1\""},
    {{"--auth-grace", "soon"}, "wsbroker: --auth-grace: expected an integer 0..3600, got \"soon\""},
    {{"--max-subscriptions", "0"},
     "wsbroker: --max-subscriptions: expected an integer >= 1, got \"0\""},
    {{"--http-body-budget", "0"},
     "wsbroker: --http-body-budget: expected an integer >= 1, got \"0\""},
    {{"--http-body-timeout", "0"},
     "wsbroker: --http-body-timeout: expected an integer 1..3600, got \"0\""},
    {{"--http-body-timeout", "3601"},
     "wsbroker: --http-body-timeout: expected an integer 1..3600, got \"3601\""},
    /* bad choices and empty strings */
    {{"--log-level", "verbose"},
     "wsbroker: --log-level: expected error|warn|info|debug, got \"verbose\""},
    {{"--log-level", "INFO"},
     "wsbroker: --log-level: expected error|warn|info|debug, got \"INFO\""},
    {{"--durability", "fast"}, "wsbroker: --durability: expected full|os, got \"fast\""},
    {{"--db", ""}, "wsbroker: --db: expected a non-empty value"},
    {{"--bind="}, "wsbroker: --bind: expected a non-empty value"},
    {{"--config="}, "wsbroker: --config: expected a non-empty value"},
    {{"--allow-origin", ""}, "wsbroker: --allow-origin: expected a non-empty value"},
    {{"--allow-host", ""}, "wsbroker: --allow-host: expected a non-empty value"},
    {{"--anonymous", ""}, "wsbroker: --anonymous: expected a non-empty value"},
    {{"--auth-secret="}, "wsbroker: --auth-secret: expected a non-empty value"},
    /* positional arguments */
    {{"extra"}, "wsbroker: unexpected argument \"extra\""},
    {{"--port", "9000", "9001"}, "wsbroker: unexpected argument \"9001\""},
    {{"-"}, "wsbroker: unexpected argument \"-\""},
    {{"--"}, "wsbroker: unexpected argument \"--\""},
    /* --help and --version take no value */
    {{"--help=yes"}, "wsbroker: --help: takes no value"},
    {{"--version=1"}, "wsbroker: --version: takes no value"},
    /* TLS needs both files */
    {{"--tls-cert", "c.pem"}, "wsbroker: --tls-cert: needs --tls-key"},
    {{"--tls-key", "k.pem"}, "wsbroker: --tls-key: needs --tls-cert"},
    /* a value with a newline still gives one line */
    {{"--durability", "a\nb"}, "wsbroker: --durability: expected full|os, got \"a?b\""},
    /* the first error wins */
    {{"--port", "abc", "--bogus"}, "wsbroker: --port: expected an integer 1..65535, got \"abc\""},
};

START_TEST(test_errors)
{
    assert_load_error(error_cases[_i].args, error_cases[_i].message);
}
END_TEST

START_TEST(test_error_after_allocations_does_not_leak)
{
    /* Strings and list items are allocated before the error: ASan checks. */
    assert_load_error((const char *[]){"--bind", "::1", "--allow-origin", "a", "--allow-origin",
                                       "b", "--db", "x.db", "--port", "nope", NULL},
                      "wsbroker: --port: expected an integer 1..65535, got \"nope\"");
}
END_TEST

START_TEST(test_small_err_buffer)
{
    char *argv[] = {"wsbroker", "--bogus", NULL};
    char small[12];
    struct config cfg;
    ck_assert_int_eq(config_load(&cfg, 2, argv, WWW_DEFAULT, small, sizeof(small)), CONFIG_ERROR);
    ck_assert_str_eq(small, "wsbroker: u");
    ck_assert_int_eq(config_load(&cfg, 2, argv, WWW_DEFAULT, NULL, 0), CONFIG_ERROR);
}
END_TEST

/* ---------------------------------------------------------------- unsupported */

static const struct error_case unsupported_cases[] = {
    {{"--auth-secret", SECRET_32}, CONFIG_LOADS},
    {{"--api-key=k"}, CONFIG_LOADS},
    {{"--api-key", "k", "--anonymous", "public.>", "--anonymous", "chat.*"}, CONFIG_LOADS},
    {{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, CONFIG_LOADS},
    {{"--redis", "redis://localhost"}, "wsbroker: --redis: not supported yet"},
    {{"--auth-grace", "10"}, CONFIG_LOADS},
    {{"--auth-grace", "0"}, CONFIG_LOADS},
};

START_TEST(test_unsupported_flags)
{
    assert_load_error(unsupported_cases[_i].args, unsupported_cases[_i].message);
}
END_TEST

START_TEST(test_unsupported_keys)
{
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"auth_secret\": \"" SECRET_32 "\"}", CONFIG_LOADS},
        {"{\"api_key\": [\"k\"]}", CONFIG_LOADS},
        {"{\"api_key\": [\"k\"], \"anonymous\": [\"public.>\"]}", CONFIG_LOADS},
        {"{\"tls_cert\": \"c\", \"tls_key\": \"k\"}", CONFIG_LOADS},
        {"{\"redis\": \"redis://x\"}", "wsbroker: --redis: not supported yet"},
        {"{\"auth_grace\": 30}", CONFIG_LOADS},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[PATH_MAX];
        write_file(path, sizeof(path), "unsupported.json", cases[i].json);
        assert_load_error((const char *[]){"--config", path, NULL}, cases[i].message);
    }
}
END_TEST

/* ---------------------------------------------------------------- the file */

START_TEST(test_file_every_key)
{
    char path[PATH_MAX];
    write_file(path, sizeof(path), "all.json",
               "{\n"
               "  \"bind\": \"127.0.0.1\",\n"
               "  \"port\": 9001,\n"
               "  \"db\": \":memory:\",\n"
               "  \"www\": \"/tmp/www\",\n"
               "  \"max_message\": 2048,\n"
               "  \"max_backlog\": 4096,\n"
               "  \"max_rate\": 50,\n"
               "  \"retain\": 10,\n"
               "  \"retain_age\": 60,\n"
               "  \"allow_origin\": [\"https://a.example\"],\n"
               "  \"anonymous\": [],\n"
               "  \"log_level\": \"debug\",\n"
               "  \"heartbeat\": 30,\n"
               "  \"auth_grace\": 5,\n"
               "  \"durability\": \"os\",\n"
               "  \"max_subscriptions\": 8,\n"
               "  \"allow_host\": [\"broker.example\"],\n"
               "  \"http_body_budget\": 1000000,\n"
               "  \"http_body_budget_per_ip\": 100000,\n"
               "  \"http_body_timeout\": 7\n"
               "}\n");
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){"--config", path, NULL}), CONFIG_RUN);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(cfg.config_file, path);
    assert_every_flag_set(&cfg);
    ck_assert_uint_eq(cfg.anonymous.count, 0);
    config_free(&cfg);
}
END_TEST

START_TEST(test_file_arrays)
{
    char path[PATH_MAX];
    write_file(path, sizeof(path), "arrays.json",
               "{\"allow_origin\": [\"https://a.example\", \"https://b.example\"]}");
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){"--config", path, NULL}), CONFIG_RUN);
    ck_assert_uint_eq(cfg.allow_origin.count, 2);
    ck_assert_str_eq(cfg.allow_origin.items[0], "https://a.example");
    ck_assert_str_eq(cfg.allow_origin.items[1], "https://b.example");
    config_free(&cfg);
}
END_TEST

START_TEST(test_file_empty_object_keeps_defaults)
{
    char path[PATH_MAX];
    write_file(path, sizeof(path), "empty.json", "{}\n");
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){"--config", path, NULL}), CONFIG_RUN);
    ck_assert_int_eq(cfg.port, 8080);
    ck_assert_str_eq(cfg.bind, "0.0.0.0");
    ck_assert_str_eq(cfg.www, WWW_DEFAULT);
    config_free(&cfg);
}
END_TEST

struct file_error_case {
    const char *json;
    const char *message; /* after "wsbroker: PATH" */
};

static const struct file_error_case file_error_cases[] = {
    {"{\"max_baklog\": 1}", ": unknown key \"max_baklog\""},
    {"{\"max-backlog\": 1}", ": unknown key \"max-backlog\""},
    {"{\"config\": \"other.json\"}", ": unknown key \"config\""},
    {"{\"port\": \"8080\"}", ": port: expected an integer 1..65535, got a string"},
    {"{\"port\": 8080.0}", ": port: expected an integer 1..65535, got a real number"},
    {"{\"port\": 0}", ": port: expected an integer 1..65535, got 0"},
    {"{\"port\": 70000}", ": port: expected an integer 1..65535, got 70000"},
    {"{\"max_backlog\": -5}", ": max_backlog: expected an integer >= 1, got -5"},
    {"{\"max_message\": 268435457}",
     ": max_message: expected an integer 1..268435456, got 268435457"},
    {"{\"heartbeat\": true}", ": heartbeat: expected an integer 1..3600, got a boolean"},
    {"{\"retain\": [1]}", ": retain: expected an integer >= 1, got an array"},
    {"{\"bind\": 1}", ": bind: expected a string, got an integer"},
    {"{\"bind\": \"\"}", ": bind: expected a non-empty value"},
    {"{\"db\": {}}", ": db: expected a string, got an object"},
    {"{\"durability\": null}", ": durability: expected a string, got null"},
    {"{\"durability\": \"never\"}", ": durability: expected full|os, got \"never\""},
    {"{\"log_level\": \"loud\"}", ": log_level: expected error|warn|info|debug, got \"loud\""},
    {"{\"allow_origin\": \"https://a.example\"}",
     ": allow_origin: expected an array of strings, got a string"},
    {"{\"allow_origin\": [\"https://a.example\", 2]}",
     ": allow_origin[1]: expected a string, got an integer"},
    {"{\"allow_origin\": [\"\"]}", ": allow_origin: expected a non-empty value"},
    {"{\"anonymous\": [null]}", ": anonymous[0]: expected a string, got null"},
    {"[\"port\", 8080]", ": expected a JSON object, got an array"},
};

START_TEST(test_file_errors)
{
    const struct file_error_case *c = &file_error_cases[_i];
    char path[PATH_MAX];
    char expected[PATH_MAX + 256];
    write_file(path, sizeof(path), "bad.json", c->json);
    snprintf(expected, sizeof(expected), "wsbroker: %s%s", path, c->message);
    assert_load_error((const char *[]){"--config", path, NULL}, expected);
}
END_TEST

static const char *const invalid_json_cases[] = {
    "{\"port\": 8080",
    "",
    "port = 8080\n",
    "{\"port\": 1, \"port\": 2}",
    "{\"port\": 99999999999999999999}",
    "{\"port\": 1} trailing",
    "{\"db\": \"a\\u0000b\"}",
};

START_TEST(test_file_invalid_json)
{
    char path[PATH_MAX];
    char prefix[PATH_MAX + 32];
    write_file(path, sizeof(path), "invalid.json", invalid_json_cases[_i]);
    snprintf(prefix, sizeof(prefix), "wsbroker: %s:", path);
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){"--config", path, NULL}), CONFIG_ERROR);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "got: %s", err);
    ck_assert_msg(strstr(err, ": invalid JSON: ") != NULL, "got: %s", err);
    ck_assert_ptr_null(strchr(err, '\n'));
    assert_config_empty(&cfg);
}
END_TEST

START_TEST(test_file_missing)
{
    char path[PATH_MAX + 32];
    char expected[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/missing.json", tmp_dir);
    snprintf(expected, sizeof(expected), "wsbroker: %s: cannot read: No such file or directory",
             path);
    assert_load_error((const char *[]){"--config", path, NULL}, expected);
}
END_TEST

START_TEST(test_file_is_directory)
{
    char path[PATH_MAX + 32];
    char expected[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/dir.json", tmp_dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(expected, sizeof(expected), "wsbroker: %s: cannot read: Is a directory", path);
    assert_load_error((const char *[]){"--config", path, NULL}, expected);
}
END_TEST

START_TEST(test_file_error_wins_over_flag_error)
{
    /* The file is read before the flags are applied. */
    char path[PATH_MAX];
    char expected[PATH_MAX + 64];
    write_file(path, sizeof(path), "bad.json", "{\"nope\": 1}");
    snprintf(expected, sizeof(expected), "wsbroker: %s: unknown key \"nope\"", path);
    assert_load_error((const char *[]){"--port", "abc", "--config", path, NULL}, expected);
}
END_TEST

/* ---------------------------------------------------------------- precedence */

START_TEST(test_flags_win_over_file)
{
    char path[PATH_MAX];
    write_file(path, sizeof(path), "base.json",
               "{\"port\": 1234, \"db\": \"file.db\", \"log_level\": \"warn\", "
               "\"allow_origin\": [\"https://file-a.example\", \"https://file-b.example\"]}");
    struct config cfg;

    /* Flag before --config. */
    ck_assert_int_eq(load(&cfg, (const char *[]){"--port", "9000", "--config", path, NULL}),
                     CONFIG_RUN);
    ck_assert_int_eq(cfg.port, 9000);
    ck_assert_str_eq(cfg.db, "file.db");
    ck_assert_str_eq(cfg.log_level, "warn");
    ck_assert_uint_eq(cfg.allow_origin.count, 2);
    config_free(&cfg);

    /* Flags after --config=, and a repeatable flag replaces the file's list. */
    char config_arg[PATH_MAX + 16];
    snprintf(config_arg, sizeof(config_arg), "--config=%s", path);
    ck_assert_int_eq(load(&cfg, (const char *[]){config_arg, "--log-level", "debug",
                                                 "--allow-origin", "https://flag-a.example",
                                                 "--allow-origin", "https://flag-b.example", NULL}),
                     CONFIG_RUN);
    ck_assert_int_eq(cfg.port, 1234);
    ck_assert_str_eq(cfg.log_level, "debug");
    ck_assert_uint_eq(cfg.allow_origin.count, 2);
    ck_assert_str_eq(cfg.allow_origin.items[0], "https://flag-a.example");
    ck_assert_str_eq(cfg.allow_origin.items[1], "https://flag-b.example");
    ck_assert_str_eq(cfg.config_file, path);
    config_free(&cfg);
}
END_TEST

START_TEST(test_last_config_flag_wins)
{
    char first[PATH_MAX];
    char second[PATH_MAX];
    write_file(first, sizeof(first), "first.json", "{\"nope\": 1}");
    write_file(second, sizeof(second), "second.json", "{\"port\": 4321}");
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){"--config", first, "--config", second, NULL}),
                     CONFIG_RUN);
    ck_assert_int_eq(cfg.port, 4321);
    ck_assert_str_eq(cfg.config_file, second);
    config_free(&cfg);
}
END_TEST

/* ---------------------------------------------------------------- --help, --version */

START_TEST(test_version)
{
    char out[256];
    struct config cfg;
    ck_assert_int_eq(
        load_capturing_stdout(&cfg, (const char *[]){"--version", NULL}, out, sizeof(out)),
        CONFIG_EXIT_OK);
    ck_assert_str_eq(out, "wsbroker " WSB_VERSION "\n");
    ck_assert_str_eq(err, "");
    assert_config_empty(&cfg);
}
END_TEST

START_TEST(test_help)
{
    static const char *const expected[] = {
        "Usage: wsbroker",
        "--config FILE",
        "--bind ADDR",
        "(default: 0.0.0.0)",
        "--port N",
        "(default: 8080)",
        "--db PATH",
        "(default: wsbroker.db)",
        "--www DIR",
        "(default: " WWW_DEFAULT ")",
        "--max-message BYTES",
        "(default: 1048576)",
        "--max-backlog BYTES",
        "(default: 8388608)",
        "--max-rate MSGS_PER_S",
        "--retain N",
        "(default: 1000)",
        "--retain-age SECONDS",
        "(default: 86400)",
        "--auth-secret SECRET",
        "--api-key KEY",
        "--anonymous PATTERN",
        "--allow-origin ORIGIN",
        "--tls-cert FILE",
        "--tls-key FILE",
        "--redis URL",
        "--log-level LEVEL",
        "(default: info)",
        "--heartbeat SECONDS",
        "(default: 25)",
        "--auth-grace SECONDS",
        "(default: 5)",
        "--durability MODE",
        "(default: full)",
        "--max-subscriptions N",
        "(default: 1024)",
        "--allow-host HOST",
        "--http-body-budget BYTES",
        "(default: 67108864)",
        "--http-body-budget-per-ip BYTES",
        "(default: 16777216)",
        "--http-body-timeout SECONDS",
        "(default: 30)",
        "--version",
        "--help",
    };
    char out[8192];
    struct config cfg;
    ck_assert_int_eq(
        load_capturing_stdout(&cfg, (const char *[]){"--help", NULL}, out, sizeof(out)),
        CONFIG_EXIT_OK);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        ck_assert_msg(strstr(out, expected[i]) != NULL, "help lacks \"%s\"", expected[i]);
    assert_config_empty(&cfg);
}
END_TEST

START_TEST(test_help_wins_over_bad_flags)
{
    char out[8192];
    struct config cfg;
    ck_assert_int_eq(load_capturing_stdout(&cfg,
                                           (const char *[]){"--port", "abc", "--bogus", "--config",
                                                            "/nonexistent/x.json", "--help", NULL},
                                           out, sizeof(out)),
                     CONFIG_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(out, "Usage: wsbroker"));
    assert_config_empty(&cfg);
    ck_assert_int_eq(
        load_capturing_stdout(&cfg, (const char *[]){"extra", "--version", NULL}, out, sizeof(out)),
        CONFIG_EXIT_OK);
    ck_assert_str_eq(out, "wsbroker " WSB_VERSION "\n");
}
END_TEST

START_TEST(test_help_as_a_value_is_a_flag)
{
    /* "--api-key --help": --help is not taken as the key. */
    char out[8192];
    struct config cfg;
    ck_assert_int_eq(load_capturing_stdout(&cfg, (const char *[]){"--api-key", "--help", NULL}, out,
                                           sizeof(out)),
                     CONFIG_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(out, "Usage: wsbroker"));
}
END_TEST

/* The Origin and Host rules, with headers as a caller reads them with
 * lws_hdr_copy: `len` is the value's length (HEADER_TEXT: strlen), 0 for
 * no header, -1 for one that did not fit the caller's buffer. */
#define HEADER_TEXT (-2)
#define ORIGIN_A "--allow-origin", "https://a.example"
#define HOSTS                                                                                      \
    "--allow-host", "broker.example", "--allow-host", "[::1]", "--allow-host", "10.0.0.5:8443"

struct header_case {
    bool host; /* config_host_allowed, else config_origin_allowed */
    const char *args[8];
    const char *value;
    int len;
    bool allowed;
};

static const struct header_case header_cases[] = {
    /* no --allow-origin: anything */
    {false, {NULL}, "https://any.example", HEADER_TEXT, true},
    {false, {NULL}, "", -1, true},
    {false, {ORIGIN_A}, "https://a.example", HEADER_TEXT, true},
    {false, {ORIGIN_A}, "https://b.example", HEADER_TEXT, false},
    {false, {ORIGIN_A}, "https://a.example.evil", HEADER_TEXT, false},
    {false, {ORIGIN_A}, "https://A.example", HEADER_TEXT, false},
    {false, {ORIGIN_A}, "", 0, true},                    /* no Origin: not a browser */
    {false, {ORIGIN_A}, "https://a.example", -1, false}, /* did not fit: refused */
    {false, {ORIGIN_A}, "https://a.example/x", 19, false},
    {false, {ORIGIN_A, "--allow-origin", "*"}, "https://b.example", HEADER_TEXT, true},
    {false, {ORIGIN_A, "--allow-origin", "*"}, "", -1, true},
    /* no --allow-host: anything */
    {true, {NULL}, "anything.example:1234", HEADER_TEXT, true},
    {true, {NULL}, "", 0, true},
    {true, {HOSTS}, "broker.example", HEADER_TEXT, true},
    {true, {HOSTS}, "Broker.EXAMPLE:8080", HEADER_TEXT, true},
    {true, {HOSTS}, "[::1]:8080", HEADER_TEXT, true},
    {true, {HOSTS}, "[::1]", HEADER_TEXT, true},
    {true, {HOSTS}, "10.0.0.5:8443", HEADER_TEXT, true},
    {true, {HOSTS}, "10.0.0.5:8080", HEADER_TEXT, false}, /* an item with a port names it */
    {true, {HOSTS}, "10.0.0.5", HEADER_TEXT, false},
    {true, {HOSTS}, "evil.example", HEADER_TEXT, false},
    {true, {HOSTS}, "broker.example.evil", HEADER_TEXT, false},
    {true, {HOSTS}, "[::2]:8080", HEADER_TEXT, false},
    {true, {HOSTS}, "", 0, false},                /* no Host */
    {true, {HOSTS}, "broker.example", -1, false}, /* did not fit */
};

START_TEST(test_header_rules)
{
    const struct header_case *c = &header_cases[_i];
    struct config cfg;
    ck_assert_int_eq(load(&cfg, c->args), CONFIG_RUN);
    int len = c->len == HEADER_TEXT ? (int)strlen(c->value) : c->len;
    bool got = c->host ? config_host_allowed(&cfg, c->value, len)
                       : config_origin_allowed(&cfg, c->value, len);
    ck_assert_msg(got == c->allowed, "%s \"%s\" (%d): expected %s", c->host ? "Host" : "Origin",
                  c->value, len, c->allowed ? "allowed" : "refused");
    config_free(&cfg);
}
END_TEST

/* ---------------------------------------------------------------- main */

/* ---------------------------------------------------------------- auth */

static const struct error_case auth_error_cases[] = {
    {{"--auth-secret", "0123456789abcdef0123456789abcde"},
     "wsbroker: --auth-secret: the HS256 secret needs at least 32 bytes"},
    {{"--auth-secret", SECRET_32, "--auth-public-key", "/nonexistent/k.pem"},
     "wsbroker: --auth-public-key: /nonexistent/k.pem: cannot read: No such file or directory"},
    {{"--auth-public-key", "/nonexistent/k.pem"},
     "wsbroker: --auth-public-key: /nonexistent/k.pem: cannot read: No such file or directory"},
    {{"--api-key-file", "/nonexistent/keys"},
     "wsbroker: --api-key-file: /nonexistent/keys: cannot read: No such file or directory"},
    {{"--auth-secret-file", "/nonexistent/secret"},
     "wsbroker: --auth-secret-file: /nonexistent/secret: cannot read: No such file or directory"},
    {{"--api-key", "k", "--anonymous", "a..b"},
     "wsbroker: --anonymous: \"a..b\" is not a valid pattern: empty segment ('..')"},
    {{"--api-key", "k", "--anonymous-publish", ">.x"},
     "wsbroker: --anonymous-publish: \">.x\" is not a valid pattern: '>' must be the last segment"},
    {{"--api-key", "k", "--anonymous", "notify.{sub}"},
     "wsbroker: --anonymous: \"notify.{sub}\" is not a valid pattern: invalid character (allowed: "
     "A-Z a-z 0-9 _ - : @ ~)"},
    {{"--auth-secret", SECRET_32, "--user-pattern", "notify.{user}"},
     "wsbroker: --user-pattern: \"notify.{user}\" is not a valid pattern: invalid character "
     "(allowed: "
     "A-Z a-z 0-9 _ - : @ ~)"},
    {{"--api-key", "k", "--user-pattern", "notify.{sub}.>"},
     "wsbroker: --user-pattern: needs --auth-secret or --auth-public-key"},
    {{"--anonymous", "public.>"},
     "wsbroker: --anonymous: needs auth (--auth-secret, --auth-public-key or --api-key); without "
     "it everything is allowed"},
    {{"--anonymous-publish", "public.>"},
     "wsbroker: --anonymous-publish: needs auth (--auth-secret, --auth-public-key or --api-key); "
     "without it everything is allowed"},
    {{"--public-metrics=yes"}, "wsbroker: --public-metrics: expected true or false, got \"yes\""},
    {{"--max-conns-per-ip", "-1"},
     "wsbroker: --max-conns-per-ip: expected an integer >= 0, got \"-1\""},
    {{"--api-key-file="}, "wsbroker: --api-key-file: expected a non-empty value"},
    /* valid */
    {{"--auth-secret", SECRET_32, "--user-pattern", "notify.{sub}.>", "--anonymous-publish",
      "guestbook"},
     CONFIG_LOADS},
    {{"--api-key", "k1", "--api-key", "k2"}, CONFIG_LOADS},
    {{"--public-metrics"}, CONFIG_LOADS},
    {{"--public-metrics=true"}, CONFIG_LOADS},
    {{"--max-conns-per-ip", "10"}, CONFIG_LOADS},
};

START_TEST(test_auth_errors)
{
    assert_load_error(auth_error_cases[_i].args, auth_error_cases[_i].message);
}
END_TEST

START_TEST(test_auth_defaults_and_off_values)
{
    struct config cfg;
    ck_assert_int_eq(
        load(&cfg, (const char *[]){"--public-metrics=false", "--max-conns-per-ip", "0", NULL}),
        CONFIG_RUN);
    ck_assert(!cfg.public_metrics);
    ck_assert_int_eq(cfg.max_conns_per_ip, 0);
    ck_assert_ptr_null(cfg.auth_public_key);
    ck_assert_ptr_null(cfg.auth_public_key_pem);
    ck_assert_uint_eq(cfg.anonymous_publish.count, 0);
    ck_assert_uint_eq(cfg.user_pattern.count, 0);
    ck_assert(!config_auth_configured(&cfg));
    config_free(&cfg);
}
END_TEST

/* Writes a secret file and loads it: `ok` when it passes the checks. */
static void assert_secret_file(const char *content, bool ok)
{
    char path[PATH_MAX];
    write_file(path, sizeof(path), "secret", content);
    assert_load_error((const char *[]){"--auth-secret-file", path, NULL},
                      ok ? CONFIG_LOADS
                         : "wsbroker: --auth-secret-file: the HS256 secret needs at least 32 "
                           "bytes");
}

START_TEST(test_auth_secret_file)
{
    /* one trailing newline (or CRLF) is not part of the secret */
    assert_secret_file(SECRET_32, true);
    assert_secret_file(SECRET_32 "\n", true);
    assert_secret_file("0123456789abcdef0123456789abcde\n", false);
    assert_secret_file("0123456789abcdef0123456789abcde\r\n", false);
    assert_secret_file("0123456789abcdef0123456789abcde\n\n", true); /* only one */
    assert_secret_file("", false);

    char path[PATH_MAX];
    write_file(path, sizeof(path), "secret", SECRET_32);
    assert_load_error(
        (const char *[]){"--auth-secret", SECRET_32, "--auth-secret-file", path, NULL},
        "wsbroker: --auth-secret-file: not with --auth-secret");
}
END_TEST

START_TEST(test_auth_secret_and_public_key)
{
    char path[PATH_MAX];
    write_file(path, sizeof(path), "key.pem", "-----BEGIN PUBLIC KEY-----\n");
    assert_load_error((const char *[]){"--auth-secret", SECRET_32, "--auth-public-key", path, NULL},
                      "wsbroker: --auth-public-key: not with --auth-secret");
    /* the PEM itself is parsed by credentials_load (test_grants.c) */
    assert_load_error(
        (const char *[]){"--auth-public-key", path, "--user-pattern", "u.{sub}", NULL},
        CONFIG_LOADS);
}
END_TEST

START_TEST(test_auth_api_key_file)
{
    char path[PATH_MAX];
    char keys[4096] = "# API keys\n\n";
    for (int i = 0; i < CONFIG_MAX_LIST; i++)
        snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "key-%d\r\n", i);
    write_file(path, sizeof(path), "keys", keys);
    assert_load_error((const char *[]){"--api-key-file", path, NULL}, CONFIG_LOADS);
    /* with the flag's keys, the list is bounded */
    assert_load_error((const char *[]){"--api-key", "one-more", "--api-key-file", path, NULL},
                      "wsbroker: --api-key-file: at most 64 values");
    write_file(path, sizeof(path), "keys", "# nothing but comments\n\n");
    assert_load_error((const char *[]){"--api-key-file", path, "--anonymous", "a", NULL},
                      "wsbroker: --anonymous: needs auth (--auth-secret, --auth-public-key or "
                      "--api-key); without it everything is allowed");
}
END_TEST

START_TEST(test_auth_file_keys)
{
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"public_metrics\": false, \"max_conns_per_ip\": 0}", NULL},
        {"{\"public_metrics\": true}", CONFIG_LOADS},
        {"{\"public_metrics\": \"yes\"}", "public_metrics: expected true or false, got a string"},
        {"{\"api_key\": [\"a\", \"b\"], \"anonymous\": [\"p.>\"], \"anonymous_publish\": "
         "[\"p.x\"]}",
         CONFIG_LOADS},
        {"{\"auth_secret\": \"" SECRET_32 "\", \"user_pattern\": [\"u.{sub}.>\"]}", CONFIG_LOADS},
        {"{\"max_conns_per_ip\": 5}", CONFIG_LOADS},
        {"{\"auth_public_key\": \"/nonexistent/k.pem\"}",
         "--auth-public-key: /nonexistent/k.pem: cannot read: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[PATH_MAX];
        write_file(path, sizeof(path), "auth.json", cases[i].json);
        struct config cfg;
        enum config_result result = load(&cfg, (const char *[]){"--config", path, NULL});
        if (cases[i].message == NULL) {
            ck_assert_msg(result == CONFIG_RUN, "%s: %s", cases[i].json, err);
            config_free(&cfg);
            continue;
        }
        ck_assert_int_eq(result, CONFIG_ERROR);
        ck_assert_msg(strstr(err, cases[i].message) != NULL, "%s: %s", cases[i].json, err);
    }
}
END_TEST

START_TEST(test_auth_help)
{
    static const char *const expected[] = {
        "--auth-secret-file FILE",     "--auth-public-key FILE", "--api-key-file FILE",
        "--anonymous-publish PATTERN", "--user-pattern PATTERN", "--public-metrics",
        "--max-conns-per-ip N",
    };
    char out[8192];
    struct config cfg;
    ck_assert_int_eq(
        load_capturing_stdout(&cfg, (const char *[]){"--help", NULL}, out, sizeof(out)),
        CONFIG_EXIT_OK);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        ck_assert_msg(strstr(out, expected[i]) != NULL, "help lacks \"%s\"", expected[i]);
}
END_TEST

static void add_auth_tests(Suite *suite)
{
    TCase *tc = tcase_create("auth");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_loop_test(tc, test_auth_errors, 0,
                        sizeof(auth_error_cases) / sizeof(auth_error_cases[0]));
    tcase_add_test(tc, test_auth_defaults_and_off_values);
    tcase_add_test(tc, test_auth_secret_file);
    tcase_add_test(tc, test_auth_secret_and_public_key);
    tcase_add_test(tc, test_auth_api_key_file);
    tcase_add_test(tc, test_auth_file_keys);
    tcase_add_test(tc, test_auth_help);
    suite_add_tcase(suite, tc);
}

static Suite *config_suite(void)
{
    Suite *suite = suite_create("config");

    TCase *tc = tcase_create("flags");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_www_default_copied);
    tcase_add_test(tc, test_every_flag);
    tcase_add_test(tc, test_every_flag_equals_form);
    tcase_add_test(tc, test_equals_form_details);
    tcase_add_test(tc, test_last_scalar_wins);
    tcase_add_loop_test(tc, test_number_bounds_accepted, 0,
                        sizeof(bound_cases) / sizeof(bound_cases[0]));
    tcase_add_test(tc, test_repeatable_flags);
    tcase_add_test(tc, test_repeatable_flag_limit);
    tcase_add_loop_test(tc, test_header_rules, 0, sizeof(header_cases) / sizeof(header_cases[0]));
    suite_add_tcase(suite, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_loop_test(tc, test_errors, 0, sizeof(error_cases) / sizeof(error_cases[0]));
    tcase_add_test(tc, test_error_after_allocations_does_not_leak);
    tcase_add_test(tc, test_small_err_buffer);
    tcase_add_loop_test(tc, test_unsupported_flags, 0,
                        sizeof(unsupported_cases) / sizeof(unsupported_cases[0]));
    tcase_add_test(tc, test_unsupported_keys);
    suite_add_tcase(suite, tc);

    tc = tcase_create("file");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_file_every_key);
    tcase_add_test(tc, test_file_arrays);
    tcase_add_test(tc, test_file_empty_object_keeps_defaults);
    tcase_add_loop_test(tc, test_file_errors, 0,
                        sizeof(file_error_cases) / sizeof(file_error_cases[0]));
    tcase_add_loop_test(tc, test_file_invalid_json, 0,
                        sizeof(invalid_json_cases) / sizeof(invalid_json_cases[0]));
    tcase_add_test(tc, test_file_missing);
    tcase_add_test(tc, test_file_is_directory);
    tcase_add_test(tc, test_file_error_wins_over_flag_error);
    tcase_add_test(tc, test_flags_win_over_file);
    tcase_add_test(tc, test_last_config_flag_wins);
    suite_add_tcase(suite, tc);

    tc = tcase_create("help");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_help_wins_over_bad_flags);
    tcase_add_test(tc, test_help_as_a_value_is_a_flag);
    suite_add_tcase(suite, tc);

    add_auth_tests(suite);
    return suite;
}

/* ---- WSBROKER_<KEY> from the environment (config/env.c) ---- */

START_TEST(test_env_sets_keys_and_lists)
{
    setenv("WSBROKER_MAX_BACKLOG", "4096", 1);
    setenv("WSBROKER_ALLOW_ORIGIN", " https://a.example ,https://b.example", 1);
    setenv("WSBROKER_LOG_FORMAT", "json", 1);
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){NULL}), CONFIG_RUN);
    unsetenv("WSBROKER_MAX_BACKLOG");
    unsetenv("WSBROKER_ALLOW_ORIGIN");
    unsetenv("WSBROKER_LOG_FORMAT");
    ck_assert_int_eq(cfg.max_backlog, 4096);
    ck_assert_uint_eq(cfg.allow_origin.count, 2);
    ck_assert_str_eq(cfg.allow_origin.items[0], "https://a.example");
    ck_assert_str_eq(cfg.allow_origin.items[1], "https://b.example");
    ck_assert_str_eq(cfg.log_format, "json");
    config_free(&cfg);
}
END_TEST

START_TEST(test_env_order)
{
    char path[PATH_MAX];
    write_file(path, sizeof(path), "env.json", "{\"port\": 1234, \"retain\": 7, \"db\": \"f.db\"}");
    setenv("WSBROKER_PORT", "2345", 1);
    setenv("WSBROKER_RETAIN", "8", 1);
    struct config cfg;
    enum config_result rc = load(&cfg, (const char *[]){"--config", path, "--retain", "9", NULL});
    unsetenv("WSBROKER_PORT");
    unsetenv("WSBROKER_RETAIN");
    ck_assert_int_eq(rc, CONFIG_RUN);
    ck_assert_int_eq(cfg.port, 2345); /* the environment over the file */
    ck_assert_int_eq(cfg.retain, 9);  /* the flag over the environment */
    ck_assert_str_eq(cfg.db, "f.db"); /* the file over the default */
    config_free(&cfg);
}
END_TEST

START_TEST(test_env_bad_value_names_the_variable)
{
    setenv("WSBROKER_PORT", "70000", 1);
    assert_load_error((const char *[]){NULL},
                      "wsbroker: WSBROKER_PORT: expected an integer 1..65535, got \"70000\"");
    unsetenv("WSBROKER_PORT");
    setenv("WSBROKER_DURABILITY", "sometimes", 1);
    struct config cfg;
    ck_assert_int_eq(load(&cfg, (const char *[]){NULL}), CONFIG_ERROR);
    unsetenv("WSBROKER_DURABILITY");
    ck_assert_msg(strncmp(err, "wsbroker: WSBROKER_DURABILITY: ", 31) == 0, "err: %s", err);
}
END_TEST

/* The environment's tests, as one more case of the suite: main adds it. */
static TCase *config_env_case(void)
{
    TCase *tc = tcase_create("env");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_env_sets_keys_and_lists);
    tcase_add_test(tc, test_env_order);
    tcase_add_test(tc, test_env_bad_value_names_the_variable);
    return tc;
}

int main(void)
{
    Suite *suite = config_suite();
    suite_add_tcase(suite, config_env_case());
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0;
}
