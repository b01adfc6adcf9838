/* SPDX-License-Identifier: MIT */
/*
 * wsb.c: the `wsb` command line tool: the subcommand dispatch and what the
 * subcommands share (options, connecting, printing a message, signals).
 * pub is in cli_pub.c, sub and history in cli_sub.c (docs/protocol.md
 * section 9), backup in cli_backup.c, bench in bench.c; all but backup on
 * libwsb.
 *
 * Output is made for pipes: `sub` and `history` print one message object
 * per line (a binary body as base64 with "encoding":"base64"), `pub` one
 * ack object per message. Diagnostics go to stderr. Exit statuses are in
 * cli.h.
 */
#include "cli.h"
#include "common/base64.h"
#include "common/jquote.h"
#include "wsb.h"
#include "wsb_util.h"

#include <errno.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set by SIGINT/SIGTERM: the only global state of the tool. */
static volatile sig_atomic_t interrupted;

bool cli_interrupted(void)
{
    return interrupted != 0;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cli_parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

/* Handles a shared option; 1 when it was one, 0 when not, -1 on a bad
 * value. */
static int cli_common_option(struct cli_common *co, int opt, const char *arg)
{
    unsigned long long n;
    switch (opt) {
    case OPT_URL:
        if (co->n_url_args >= CLI_MAX_URL_ARGS)
            return -1;
        if (!co->url_flag)
            co->url = arg;
        co->url_args[co->n_url_args++] = arg;
        co->url_flag = true;
        return 1;
    case OPT_TOKEN:
        co->token = arg;
        return 1;
    case OPT_TOKEN_FILE:
        co->token_file = arg;
        return 1;
    case OPT_CACERT:
        co->cacert = arg;
        return 1;
    case OPT_INSECURE:
        co->insecure = 1;
        return 1;
    case OPT_TIMEOUT:
        if (cli_parse_u64(arg, &n) < 0 || n == 0 || n > 86400)
            return -1;
        co->timeout_s = (int)n;
        return 1;
    case 'v':
        co->verbose = 1;
        return 1;
    default:
        return 0;
    }
}

/* WSB_URL, for a URL no flag gave (containers and scripts set it once for
 * every command). WSB_TOKEN is read with the other token sources, in
 * cli_creds.c. */
static void cli_common_environment(struct cli_common *co)
{
    const char *url = getenv("WSB_URL");
    if (url && url[0] && !co->url_flag) {
        co->url = url;
        co->url_args[0] = url;
        co->n_url_args = 1;
    }
}

/* The long options every connecting subcommand takes. */
static const struct option common_options[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
};

#define N_COMMON (sizeof(common_options) / sizeof(common_options[0]))
#define MAX_OPTIONS 32

/* all = the common options, then opts (NULL-terminated), then the end. */
static void options_join(const struct option *opts, struct option *all)
{
    size_t n = N_COMMON;
    memcpy(all, common_options, sizeof(common_options));
    for (; opts->name && n < MAX_OPTIONS; opts++)
        all[n++] = *opts;
    memset(&all[n], 0, sizeof(all[n]));
}

int cli_next_option(int argc, char **argv, const char *shortopts, const struct option *opts,
                    struct cli_common *co, const char *usage)
{
    struct option all[MAX_OPTIONS + 1];
    options_join(opts, all);
    for (;;) {
        int opt = getopt_long(argc, argv, shortopts, all, NULL);
        if (opt == -1)
            cli_common_environment(co);
        int handled = opt == -1 ? 0 : cli_common_option(co, opt, optarg);
        if (handled > 0)
            continue;
        if (handled < 0) {
            fprintf(stderr, "wsb %s: bad value for %s\n", argv[0],
                    opt == OPT_URL ? "--url (given too often)" : "--timeout");
            return CLI_OPT_USAGE;
        }
        if (opt == 'h') {
            fputs(usage, stdout);
            return CLI_OPT_HELP;
        }
        if (opt == '?') {
            fputs(usage, stderr);
            return CLI_OPT_USAGE;
        }
        return opt;
    }
}

static void on_event(wsb_client *c, const struct wsb_event *e, void *user)
{
    (void)c;
    const struct cli_common *co = user;
    switch (e->type) {
    case WSB_EVENT_DISCONNECTED:
        fprintf(stderr, "wsb: connection lost: %s; reconnecting in %d ms\n", e->message,
                e->retry_ms);
        break;
    case WSB_EVENT_CONNECTED:
        if (e->reconnects || co->verbose)
            fprintf(stderr, "wsb: connected to %s (epoch %s, seq %llu)\n", e->url, e->epoch,
                    (unsigned long long)e->seq);
        break;
    case WSB_EVENT_GAP:
        fprintf(stderr, "wsb: warning: %s resumed with a gap (recovered: false)\n", e->topic);
        break;
    case WSB_EVENT_ERROR:
        fprintf(stderr, "wsb: broker error: %s: %s\n", e->code ? e->code : "?", e->message);
        break;
    case WSB_EVENT_GAVE_UP:
        fprintf(stderr, "wsb: giving up: %s\n", e->message);
        break;
    case WSB_EVENT_TOKEN_EXPIRED:
        fprintf(stderr, "wsb: the token expired: %s\n", e->message);
        break;
    }
}

/* Splits the --url values at commas into urls (at most CLI_MAX_URLS),
 * pointing into a joined copy the caller frees. The number of URLs, or -1
 * with the reason in err. */
static int cli_split_urls(const struct cli_common *co, char **copy, const char **urls, char *err,
                          size_t errlen)
{
    size_t total = 1;
    for (int i = 0; i < co->n_url_args; i++)
        total += strlen(co->url_args[i]) + 1;
    char *joined = calloc(1, total);
    *copy = joined;
    if (!joined) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < co->n_url_args; i++) {
        strcat(joined, co->url_args[i]);
        strcat(joined, ",");
    }
    int n = 0;
    char *save = NULL;
    for (char *u = strtok_r(joined, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (n == CLI_MAX_URLS) {
            snprintf(err, errlen, "more than %d broker URLs", CLI_MAX_URLS);
            return -1;
        }
        urls[n++] = u;
    }
    if (n == 0)
        snprintf(err, errlen, "--url is empty");
    return n > 0 ? n : -1;
}

/* Creates the client and connects; prints why not and returns NULL with
 * the exit status in *rc (usage for a bad URL or token, connect
 * otherwise). */
wsb_client *cli_connect(struct cli_common *co, int max_reconnects, int *rc)
{
    char err[256] = "";
    char *token, *url_copy = NULL;
    const char *urls[CLI_MAX_URLS];
    int n_urls = 0;
    *rc = CLI_USAGE;
    if (co->n_url_args > 0 &&
        (n_urls = cli_split_urls(co, &url_copy, urls, err, sizeof(err))) < 0) {
        fprintf(stderr, "wsb: %s\n", err);
        free(url_copy);
        return NULL;
    }
    if (cli_token_resolve(co->token, co->token_file, &token, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsb: %s\n", err[0] ? err : "out of memory");
        free(url_copy);
        return NULL;
    }
    struct wsb_options o = {
        .url = co->url,
        .urls = urls,
        .n_urls = (size_t)n_urls,
        .token = token,
        .timeout_ms = co->timeout_s * 1000,
        .reconnect_max_ms = 2000,
        .max_reconnects = max_reconnects,
        .ca_file = co->cacert,
        .tls_insecure = co->insecure || getenv("WSB_TLS_INSECURE") != NULL,
        .on_event = on_event,
        .user = co,
        .token_fn = co->token_file ? cli_token_from_file : NULL,
        .token_arg = (void *)co->token_file,
    };
    lws_set_log_level(co->verbose ? LLL_ERR | LLL_WARN : 0, NULL);
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    free(token); /* the client keeps its own copies */
    free(url_copy);
    if (!c) {
        fprintf(stderr, "wsb: %s\n", err);
        return NULL;
    }
    *rc = CLI_CONNECT;
    int status = wsb_client_connect(c);
    if (status != WSB_OK) {
        wsb_client_last_error(c, err, sizeof(err));
        if (err[0])
            fprintf(stderr, "wsb: %s\n", err);
        else
            fprintf(stderr, "wsb: cannot connect to %s: %s\n", co->url, wsb_strerror(status));
        wsb_client_free(c);
        return NULL;
    }
    return c;
}

/* Copies the JSON text in[0..len) to out without whitespace outside
 * strings, so that a message prints on one line; out needs len + 1 bytes.
 * Returns the new length. */
static size_t json_minify(const char *in, size_t len, char *out)
{
    size_t n = 0;
    int in_string = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (in_string) {
            out[n++] = ch;
            if (ch == '\\' && i + 1 < len)
                out[n++] = in[++i];
            else if (ch == '"')
                in_string = 0;
        } else if (ch == '"') {
            in_string = 1;
            out[n++] = ch;
        } else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            out[n++] = ch;
        }
    }
    out[n] = '\0';
    return n;
}

/* Writes a message as one JSON object line. */
void cli_print_message(FILE *out, const struct wsb_message *m)
{
    char quoted[600];

    jquote_string(m->topic, quoted, sizeof(quoted));
    fprintf(out, "{\"topic\":%s,\"seq\":%llu,\"ts\":%lld", quoted, (unsigned long long)m->seq,
            (long long)m->ts);
    if (m->from) {
        jquote_string(m->from, quoted, sizeof(quoted));
        fprintf(out, ",\"from\":%s", quoted);
    }
    if (m->conflated)
        fprintf(out, ",\"conflated\":%llu", (unsigned long long)m->conflated);
    if (m->binary) {
        char *b64 = malloc(base64_encoded_size(m->len));
        if (b64) {
            base64_encode((const unsigned char *)m->data, m->len, b64);
            fprintf(out, ",\"data\":\"%s\",\"encoding\":\"base64\"}\n", b64);
            free(b64);
        }
        return;
    }
    fputs(",\"data\":", out);
    if (memchr(m->data, '\n', m->len) || memchr(m->data, '\r', m->len)) {
        char *flat = malloc(m->len + 1);
        if (flat) {
            size_t n = json_minify(m->data, m->len, flat);
            fwrite(flat, 1, n, out);
            free(flat);
        }
    } else {
        fwrite(m->data, 1, m->len, out);
    }
    fputs("}\n", out);
}

/* ---- main ---- */

static const char main_usage[] =
    "Usage: wsb COMMAND [OPTION]... \n"
    "The command line client of wsbroker.\n"
    "\n"
    "  pub      publish messages (from the command line or stdin)\n"
    "  sub      subscribe and print messages, one JSON object per line\n"
    "  history  print stored messages\n"
    "  backup   have the broker write a copy of its store (POST /api/backup)\n"
    "  bench    load generator: fan-out, throughput, latency, connections, reconnect\n"
    "\n"
    "Run `wsb COMMAND --help` for the options of each. --url defaults to $WSB_URL,\n"
    "else " WSB_DEFAULT_URL "; --token to $WSB_TOKEN. --url given again, or\n"
    "URL,URL,..., names brokers that serve as one: the client fails over between them.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_usage, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(main_usage, stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("wsb %s\n", WSB_LIB_VERSION);
        return CLI_OK;
    }
    if (strcmp(cmd, "pub") == 0)
        return cli_pub(argc - 1, argv + 1);
    if (strcmp(cmd, "sub") == 0)
        return cli_sub(argc - 1, argv + 1);
    if (strcmp(cmd, "history") == 0)
        return cli_history(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cli_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return cli_backup(argc - 1, argv + 1);
    fprintf(stderr, "wsb: unknown command '%s'\n", cmd);
    fputs(main_usage, stderr);
    return CLI_USAGE;
}
