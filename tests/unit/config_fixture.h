/* SPDX-License-Identifier: MIT */
/*
 * config_fixture.h: what the config's unit tests (test_config.c,
 * test_config_errors.c, test_config_file.c, test_config_auth.c) share: a
 * fresh mkdtemp directory per test for the config files they write,
 * config_load run on an argument list followed by the auth options' checks
 * across fields (as main.c does), and the checks of an error message or of
 * what --help printed.
 *
 * Check runs each test in a process of its own, so `tmp_dir` and `err` are
 * per test.
 */
#ifndef WSB_TEST_CONFIG_FIXTURE_H
#define WSB_TEST_CONFIG_FIXTURE_H

#include "config/config.h"

#include <check.h>
#include <stddef.h>

#define WWW_DEFAULT "/srv/wsbroker/www"
/* An HS256 secret of the shortest length accepted. */
#define SECRET_32 "0123456789abcdef0123456789abcdef"

/* What assert_load_error expects of a configuration that is valid. */
#define CONFIG_LOADS NULL

/* Arguments and the error they give (CONFIG_LOADS: none), for loop tests. */
struct error_case {
    const char *args[8];
    const char *message;
};

/* The test's temporary directory, and the error of the last load(). */
extern char tmp_dir[64];
extern char err[512];

/* Check's setup and teardown: makes tmp_dir; removes it and its files. */
void config_fixture_setup(void);
void config_fixture_teardown(void);

/* A test case with that setup and teardown. */
TCase *config_fixture_tcase(const char *name);

/* Writes tmp_dir/name and puts its path in `path`. */
void write_file(char *path, size_t size, const char *name, const char *content);

/* Runs config_load on "wsbroker" followed by `args` (NULL-terminated). */
enum config_result load(struct config *cfg, const char *const *args);

/* After an error or --help/--version the config holds nothing. */
void assert_config_empty(struct config *cfg);

/* Asserts that `args` fail with exactly `expected` (one line), or load. */
void assert_load_error(const char *const *args, const char *expected);

/* Asserts the values test_every_flag and test_file_every_key set: one of
 * each setting, none of them its default. */
void assert_every_flag_set(const struct config *cfg);

/* Runs load() with stdout sent to a file, whose content ends up in `out`. */
enum config_result load_capturing_stdout(struct config *cfg, const char *const *args, char *out,
                                         size_t outlen);

#endif
