/* SPDX-License-Identifier: MIT */
/*
 * test_config_errors.c: unit tests of what config.c refuses on the command
 * line: each class of error with its exact one-line message, an error
 * after allocations (no leak), a short error buffer, and the settings not
 * supported yet (by flag and by config file key).
 */
#include "check_run.h"
#include "config_fixture.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */

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
    {{"--redis", "redis://localhost"}, CONFIG_LOADS},
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
        {"{\"redis\": \"redis://x\"}", CONFIG_LOADS},
        {"{\"auth_grace\": 30}", CONFIG_LOADS},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[PATH_MAX];
        write_file(path, sizeof(path), "unsupported.json", cases[i].json);
        assert_load_error((const char *[]){"--config", path, NULL}, cases[i].message);
    }
}
END_TEST

static Suite *config_errors_suite(void)
{
    Suite *suite = suite_create("config_errors");

    TCase *tc = config_fixture_tcase("errors");
    tcase_add_loop_test(tc, test_errors, 0, sizeof(error_cases) / sizeof(error_cases[0]));
    tcase_add_test(tc, test_error_after_allocations_does_not_leak);
    tcase_add_test(tc, test_small_err_buffer);
    tcase_add_loop_test(tc, test_unsupported_flags, 0,
                        sizeof(unsupported_cases) / sizeof(unsupported_cases[0]));
    tcase_add_test(tc, test_unsupported_keys);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return check_run(config_errors_suite());
}
