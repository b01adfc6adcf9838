/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c: libFuzzer target for the JSON config file.
 *
 * Writes the input to a file in a private temporary directory and runs
 * config_load as `wsbroker --config FILE`. The result must be CONFIG_RUN
 * with every setting within the limits of docs/protocol.md section 9 and
 * config.c's option table, or CONFIG_ERROR with one line in err (starting
 * "wsbroker: ", no control character) and the config already freed. Leaks
 * are caught by ASan (config_free must release every string).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "fuzz_common.h"

#define FUZZ_MAX_MESSAGE (256L * 1024 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The temporary directory and the config file in it, made once per process. */
static char fuzz_dir[4096];
static char fuzz_file[4200];

static void remove_temp_files(void)
{
    unlink(fuzz_file);
    rmdir(fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/wsb-fuzz-config-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    fuzz_require(mkdtemp(fuzz_dir) != NULL, "cannot create a temporary directory");
    snprintf(fuzz_file, sizeof(fuzz_file), "%s/config.json", fuzz_dir);
    atexit(remove_temp_files);
    return 0;
}

static void write_input(const uint8_t *data, size_t size)
{
    FILE *f = fopen(fuzz_file, "wb");
    fuzz_require(f != NULL, "cannot create the config file");
    fuzz_require(fwrite(data, 1, size, f) == size, "cannot write the config file");
    fuzz_require(fclose(f) == 0, "cannot close the config file");
}

static bool is_all_zero(const struct config *cfg)
{
    static const struct config zero;
    return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

static bool is_one_of(const char *value, const char *const *choices)
{
    for (size_t i = 0; value != NULL && choices[i] != NULL; i++) {
        if (strcmp(value, choices[i]) == 0)
            return true;
    }
    return false;
}

static bool is_unset_or_nonempty(const char *value)
{
    return value == NULL || value[0] != '\0';
}

static void check_list(const struct config_list *list)
{
    fuzz_require(list->count <= CONFIG_MAX_LIST, "list longer than CONFIG_MAX_LIST");
    for (size_t i = 0; i < list->count; i++)
        fuzz_require(list->items[i] != NULL && list->items[i][0] != '\0',
                     "list item missing or empty");
}

static void check_run(const struct config *cfg)
{
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    static const char *const durabilities[] = {"full", "os", NULL};
    fuzz_require(cfg->config_file != NULL && strcmp(cfg->config_file, fuzz_file) == 0,
                 "config_file is not the file given");
    fuzz_require(cfg->bind != NULL && cfg->bind[0] != '\0', "bind missing");
    fuzz_require(cfg->db != NULL && cfg->db[0] != '\0', "db missing");
    fuzz_require(cfg->www != NULL && cfg->www[0] != '\0', "www missing");
    fuzz_require(cfg->port >= 1 && cfg->port <= 65535, "port out of range");
    fuzz_require(cfg->max_message >= 1 && cfg->max_message <= FUZZ_MAX_MESSAGE,
                 "max_message out of range");
    fuzz_require(cfg->max_backlog >= 1 && cfg->max_rate >= 0, "max_backlog or max_rate");
    fuzz_require(cfg->retain >= 1 && cfg->retain_age >= 1, "retain or retain_age out of range");
    fuzz_require(cfg->heartbeat >= 1 && cfg->heartbeat <= 3600, "heartbeat out of range");
    fuzz_require(cfg->auth_grace >= 0 && cfg->auth_grace <= 3600, "auth_grace out of range");
    fuzz_require(cfg->max_subscriptions >= 1, "max_subscriptions out of range");
    fuzz_require(is_one_of(cfg->log_level, levels), "log_level not a level");
    fuzz_require(is_one_of(cfg->durability, durabilities), "durability not a mode");
    fuzz_require(is_unset_or_nonempty(cfg->auth_secret) && is_unset_or_nonempty(cfg->tls_cert) &&
                     is_unset_or_nonempty(cfg->tls_key) && is_unset_or_nonempty(cfg->redis),
                 "an optional string is set but empty");
    check_list(&cfg->anonymous);
    check_list(&cfg->api_key);
    check_list(&cfg->allow_origin);
}

static void check_error(const struct config *cfg, const char *err, size_t errlen)
{
    size_t len = strnlen(err, errlen);
    fuzz_require(len < errlen, "err not terminated");
    fuzz_require(strncmp(err, "wsbroker: ", 10) == 0 && len > 10, "err without a message");
    for (size_t i = 0; i < len; i++)
        fuzz_require((unsigned char)err[i] >= 0x20 && err[i] != 0x7f,
                     "err holds a newline or control character");
    fuzz_require(is_all_zero(cfg), "config not freed on CONFIG_ERROR");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_input(data, size);
    char *argv[] = {"wsbroker", "--config", fuzz_file, NULL};
    struct config cfg;
    char err[512];
    enum config_result result =
        config_load(&cfg, 3, argv, "/usr/share/wsbroker/www", err, sizeof(err));
    fuzz_require(result == CONFIG_RUN || result == CONFIG_ERROR,
                 "config_load returned neither CONFIG_RUN nor CONFIG_ERROR");
    if (result == CONFIG_RUN) {
        fuzz_require(err[0] == '\0', "err set on CONFIG_RUN");
        check_run(&cfg);
    } else {
        check_error(&cfg, err, sizeof(err));
    }
    config_free(&cfg);
    fuzz_require(is_all_zero(&cfg), "config_free left something behind");
    config_free(&cfg);
    return 0;
}
