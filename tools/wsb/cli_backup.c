/* SPDX-License-Identifier: MIT */
/*
 * cli_backup.c: `wsb backup FILE`: has the broker write a consistent copy
 * of its store to FILE on the broker's machine (POST /api/backup,
 * docs/operations.md section 4), and prints the broker's answer.
 *
 * Why the copy is written by the broker, not streamed back: the broker
 * makes it in slices between publishes and renames it into place whole,
 * which needs the file system the store is on; and the operator bounds
 * where it may write with --backup-dir. FILE is relative to that directory
 * or an absolute path inside it.
 *
 * Why a plain socket and not libwsb: this is one HTTP/1.1 request with
 * `Connection: close`, not a WebSocket session. The broker answers once the
 * copy is complete, so the timeout is long by default.
 */
#include "cli.h"
#include "common/jquote.h"
#include "wsb_util.h"

#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKUP_TIMEOUT_S 600
#define BACKUP_REPLY_MAX 8192

static const char backup_usage[] =
    "Usage: wsb backup [OPTION]... FILE\n"
    "Has the broker write a consistent copy of its store to FILE, on the broker's\n"
    "machine, inside the directory its --backup-dir names (a relative FILE is taken\n"
    "from there). Publishes go on meanwhile; FILE must not exist. Prints the answer:\n"
    "{\"path\":...,\"seq\":...,\"bytes\":...}.\n"
    "\n"
    "  --url URL        broker URL, ws:// (default $WSB_URL, else " WSB_DEFAULT_URL ")\n"
    "  --token TOKEN    the API key (default $WSB_TOKEN)\n"
    "  --timeout S      seconds to wait for the copy (default 600)\n"
    "  -v, --verbose    print the HTTP status\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 copied, 1 refused or failed, 2 usage, 3 broker unreachable.\n";

/* Connects to host:port; the socket or -1. */
static int backup_connect(const struct wsb_url *url)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", url->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(url->host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Writes the whole request; 0 or -1. */
static int backup_send(int fd, const struct wsb_url *url, const char *token, const char *file)
{
    char quoted[4200], body[4300], request[10000];
    if (jquote_string(file, quoted, sizeof(quoted)) >= sizeof(quoted))
        return -1;
    int body_len = snprintf(body, sizeof(body), "{\"path\":%s}", quoted);
    const char *open_bracket = strchr(url->host, ':') ? "[" : "";
    const char *close_bracket = strchr(url->host, ':') ? "]" : "";
    char auth[600] = "";
    if (token &&
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token) >= (int)sizeof(auth))
        return -1;
    int n = snprintf(request, sizeof(request),
                     "POST /api/backup HTTP/1.1\r\nHost: %s%s%s:%d\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     open_bracket, url->host, close_bracket, url->port, auth, body_len, body);
    if (n < 0 || n >= (int)sizeof(request))
        return -1;
    for (int sent = 0; sent < n;) {
        ssize_t w = send(fd, request + sent, (size_t)(n - sent), MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        sent += (int)w;
    }
    return 0;
}

/* Reads the answer until the broker closes, the reply is complete (by its
 * Content-Length) or the timeout; its length, or -1. */
static int backup_receive(int fd, char *reply, size_t size, int timeout_s)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_s * 1000) <= 0 || cli_interrupted())
            return -1;
        ssize_t r = recv(fd, reply + len, size - 1 - len, 0);
        if (r < 0)
            return -1;
        len += (size_t)r;
        reply[len] = '\0';
        const char *end = strstr(reply, "\r\n\r\n");
        const char *length = strcasestr(reply, "\r\ncontent-length:");
        if (r == 0 || len == size - 1 ||
            (end && length && length < end &&
             len >= (size_t)(end + 4 - reply) + strtoul(length + 17, NULL, 10)))
            return (int)len;
    }
}

/* Prints the broker's answer; the exit status. */
static int backup_report(const char *reply, int verbose)
{
    int status = 0;
    const char *body = strstr(reply, "\r\n\r\n");
    if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1 || !body) {
        fprintf(stderr, "wsb backup: the broker's answer is not HTTP\n");
        return CLI_FAIL;
    }
    if (verbose)
        fprintf(stderr, "wsb backup: HTTP %d\n", status);
    if (status != 200) {
        fprintf(stderr, "wsb backup: refused (HTTP %d): %s\n", status, body + 4);
        return CLI_FAIL;
    }
    printf("%s\n", body + 4);
    return CLI_OK;
}

int cli_backup(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct cli_common co = {.url = WSB_DEFAULT_URL, .timeout_s = BACKUP_TIMEOUT_S};
    int opt = cli_next_option(argc, argv, "vh", opts, &co, backup_usage);
    if (opt != -1)
        return opt == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
    if (argc - optind != 1 || !argv[optind][0]) {
        fputs(backup_usage, stderr);
        return CLI_USAGE;
    }
    struct wsb_url url;
    char err[256];
    if (wsb_url_parse(co.url, &url, err, sizeof(err)) != 0) {
        fprintf(stderr, "wsb backup: %s\n", err);
        return CLI_USAGE;
    }
    if (url.tls) {
        fprintf(stderr, "wsb backup: wss:// is not supported by backup yet\n");
        return CLI_USAGE;
    }
    cli_install_signals();
    int fd = backup_connect(&url);
    if (fd < 0) {
        fprintf(stderr, "wsb backup: cannot connect to %s:%d\n", url.host, url.port);
        return CLI_CONNECT;
    }
    char reply[BACKUP_REPLY_MAX];
    int rc = CLI_CONNECT;
    if (backup_send(fd, &url, co.token, argv[optind]) != 0)
        fprintf(stderr, "wsb backup: cannot send the request\n");
    else if (backup_receive(fd, reply, sizeof(reply), co.timeout_s) < 0)
        fprintf(stderr, "wsb backup: no answer within %d s\n", co.timeout_s);
    else
        rc = backup_report(reply, co.verbose);
    close(fd);
    return rc;
}
