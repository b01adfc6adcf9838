/* SPDX-License-Identifier: MIT */
/*
 * test_config.c: unit tests of config.c, the broker's settings, from the
 * command line: the defaults, every flag in both `--flag VALUE` and
 * `--flag=VALUE` form, number bounds, repeatable flags, the Origin and Host
 * rules the flags set, and --help and --version.
 *
 * Errors are in test_config_errors.c, the JSON file and the environment in
 * test_config_file.c, the auth options in test_config_auth.c; all share
 * config_fixture.h.
 */
#include "check_run.h"
#include "config_fixture.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WSB_VERSION
#define WSB_VERSION "0.1.0"
#endif

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

static Suite *config_suite(void)
{
    Suite *suite = suite_create("config");

    TCase *tc = config_fixture_tcase("flags");
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

    tc = config_fixture_tcase("help");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_help_wins_over_bad_flags);
    tcase_add_test(tc, test_help_as_a_value_is_a_flag);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return check_run(config_suite());
}
