/* SPDX-License-Identifier: MIT */
/*
 * cli_creds.c: where the `wsb` tool's token comes from.
 *
 * Owns the order of the token sources (docs/auth.md, "Clients"): --token,
 * else --token-file, else the environment variable WSB_TOKEN. A token on
 * the command line shows in `ps` to every user of the machine, so the file
 * and the environment are the recommended ways; a flag still wins over
 * the environment, so that one command can override a shell's default.
 * A token file is read again before every reconnect and when the token
 * expires (a token_fn of libwsb), so that a long `wsb sub` keeps working
 * while another program renews the file.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the token in path into buf (size bytes): the file's text without
 * trailing white space. 0, or -1 with the reason in err. */
static int token_read_file(const char *path, char *buf, size_t size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read the token file %s", path);
        return -1;
    }
    size_t n = fread(buf, 1, size - 1, f);
    int too_long = n == size - 1 && fgetc(f) != EOF;
    fclose(f);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
        n--;
    buf[n] = '\0';
    if (too_long || n == 0) {
        snprintf(err, errlen, "the token file %s is %s", path, n == 0 ? "empty" : "too long");
        return -1;
    }
    return 0;
}

int cli_token_resolve(const char *token, const char *token_file, char **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (token && token_file) {
        snprintf(err, errlen, "--token and --token-file exclude each other");
        return -1;
    }
    if (!token && !token_file)
        token = getenv("WSB_TOKEN");
    if (token && !token[0])
        token = NULL;
    if (token && strlen(token) > WSB_TOKEN_MAX) {
        snprintf(err, errlen, "the token is longer than %d bytes", WSB_TOKEN_MAX);
        return -1;
    }
    if (token) {
        *out = strdup(token);
        return *out ? 0 : -1;
    }
    if (!token_file)
        return 0;
    char *buf = malloc(WSB_TOKEN_MAX + 1);
    if (!buf || token_read_file(token_file, buf, WSB_TOKEN_MAX + 1, err, errlen) < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

int cli_token_from_file(wsb_client *c, char *buf, size_t size, void *arg)
{
    char err[256];
    (void)c;
    if (token_read_file(arg, buf, size, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsb: %s; keeping the previous token\n", err);
        return -1;
    }
    return 0;
}
