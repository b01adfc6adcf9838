/* SPDX-License-Identifier: MIT */
/*
 * config_fixture.c: what the config's unit tests share (config_fixture.h):
 * a temporary directory per test, files written in it, config_load run the
 * way main.c runs it, and the checks of an error or of stdout.
 */
#include "config_fixture.h"

#include "auth/credentials.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ARGS 160

char tmp_dir[64];
char err[512];

void config_fixture_setup(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

void config_fixture_teardown(void)
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

TCase *config_fixture_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, config_fixture_setup, config_fixture_teardown);
    return tc;
}

void write_file(char *path, size_t size, const char *name, const char *content)
{
    int n = snprintf(path, size, "%s/%s", tmp_dir, name);
    ck_assert(n > 0 && (size_t)n < size);
    FILE *file = fopen(path, "w");
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(fputs(content, file) >= 0, 1);
    ck_assert_int_eq(fclose(file), 0);
}

enum config_result load(struct config *cfg, const char *const *args)
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

void assert_config_empty(struct config *cfg)
{
    ck_assert_ptr_null(cfg->bind);
    ck_assert_ptr_null(cfg->db);
    ck_assert_ptr_null(cfg->www);
    ck_assert_ptr_null(cfg->log_level);
    ck_assert_ptr_null(cfg->durability);
    ck_assert_uint_eq(cfg->allow_origin.count, 0);
    config_free(cfg); /* still safe */
}

void assert_load_error(const char *const *args, const char *expected)
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

enum config_result load_capturing_stdout(struct config *cfg, const char *const *args, char *out,
                                         size_t outlen)
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

void assert_every_flag_set(const struct config *cfg)
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
