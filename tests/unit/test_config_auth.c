/* SPDX-License-Identifier: MIT */
/*
 * test_config_auth.c: unit tests of the auth options as config.c reads
 * them and main.c checks them across fields (credentials_check_config, run
 * by the fixture's load()): their errors, the defaults and off values, the
 * secret, public key and API key files, the same keys in the config file,
 * and their lines in --help.
 */
#include "check_run.h"
#include "config_fixture.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static Suite *config_auth_suite(void)
{
    Suite *suite = suite_create("config_auth");

    TCase *tc = config_fixture_tcase("auth");
    tcase_add_loop_test(tc, test_auth_errors, 0,
                        sizeof(auth_error_cases) / sizeof(auth_error_cases[0]));
    tcase_add_test(tc, test_auth_defaults_and_off_values);
    tcase_add_test(tc, test_auth_secret_file);
    tcase_add_test(tc, test_auth_secret_and_public_key);
    tcase_add_test(tc, test_auth_api_key_file);
    tcase_add_test(tc, test_auth_file_keys);
    tcase_add_test(tc, test_auth_help);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return check_run(config_auth_suite());
}
