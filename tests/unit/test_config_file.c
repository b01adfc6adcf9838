/* SPDX-License-Identifier: MIT */
/*
 * test_config_file.c: unit tests of the settings that do not come from
 * flags: the JSON config file (every key, arrays, its errors), flags winning
 * over the file, and WSBROKER_<KEY> from the environment (config/env.c)
 * between the two.
 */
#include "check_run.h"
#include "config_fixture.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static Suite *config_file_suite(void)
{
    Suite *suite = suite_create("config_file");

    TCase *tc = config_fixture_tcase("file");
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

    tc = config_fixture_tcase("env");
    tcase_add_test(tc, test_env_sets_keys_and_lists);
    tcase_add_test(tc, test_env_order);
    tcase_add_test(tc, test_env_bad_value_names_the_variable);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return check_run(config_file_suite());
}
