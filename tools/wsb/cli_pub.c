/* SPDX-License-Identifier: MIT */
/*
 * cli_pub.c: `wsb pub`: one message from the command line, every line of
 * stdin as a message (PUB_WINDOW in flight), or all of stdin as one binary
 * message; one ack object printed per message.
 */
#include "cli.h"
#include "common/clock.h"
#include "wsb_util.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUB_WINDOW 256 /* publishes in flight when reading stdin */

static const char pub_usage[] =
    "Usage: wsb pub [--url URL] [--token-file F] [--key K] [--expect-last S] [--no-echo] "
    "[--quiet]\n"
    "               TOPIC [JSON]\n"
    "       wsb pub [--url URL] [--token-file F] --binary TOPIC < FILE\n"
    "Publish JSON to TOPIC and print the ack ({\"seq\":N}) of each message.\n"
    "Without JSON, every line of stdin is one message (blank lines are skipped) and\n"
    "each ack carries its line number. With --key K, a single message gets key K and\n"
    "stdin line N gets key K:N, so running the same input again publishes nothing twice.\n"
    "\n"
    "  --key K          idempotency key\n"
    "  --expect-last S  store only if the topic's newest seq is S (0: none); else the\n"
    "                   broker answers conflict with the newest seq (one message only)\n"
    "  --binary         publish all of stdin as one binary message\n"
    "  --no-echo        do not deliver to this connection (irrelevant for one-shot use)\n"
    "  -q, --quiet      do not print acks\n" CLI_COMMON_USAGE
    "Exit status: 0 all published, 1 a message was refused or input was bad,\n"
    "2 usage error, 3 broker unreachable.\n";

struct pub_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int inflight;
    int failed;
    int connection_lost;
    int quiet;
    int stdin_mode;
    int64_t last_progress_us;
};

struct pub_item {
    struct pub_state *st;
    long line;
};

static void pub_print_ack(struct pub_state *st, long line, const struct wsb_reply *r)
{
    if (r->status != WSB_OK) {
        if (line)
            fprintf(stderr, "wsb: line %ld: ", line);
        else
            fprintf(stderr, "wsb: ");
        if (r->status == WSB_EBROKER && strcmp(r->code, "conflict") == 0)
            fprintf(stderr, "conflict: %s (last %llu)\n", r->message, (unsigned long long)r->last);
        else if (r->status == WSB_EBROKER)
            fprintf(stderr, "%s: %s\n", r->code, r->message);
        else
            fprintf(stderr, "%s\n", r->message[0] ? r->message : wsb_strerror(r->status));
        return;
    }
    if (st->quiet)
        return;
    if (line)
        printf("{\"line\":%ld,\"seq\":%llu%s}\n", line, (unsigned long long)r->seq,
               r->duplicate ? ",\"duplicate\":true" : "");
    else
        printf("{\"seq\":%llu%s}\n", (unsigned long long)r->seq,
               r->duplicate ? ",\"duplicate\":true" : "");
}

static void pub_on_ack(wsb_client *c, const struct wsb_reply *r, void *arg)
{
    (void)c;
    struct pub_item *item = arg;
    struct pub_state *st = item->st;
    pub_print_ack(st, item->line, r);
    pthread_mutex_lock(&st->lock);
    st->inflight--;
    if (r->status != WSB_OK)
        st->failed = 1;
    if (r->status == WSB_ECONNECT || r->status == WSB_EAUTH || r->status == WSB_ECLOSED)
        st->connection_lost = 1;
    st->last_progress_us = clock_mono_us();
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    free(item);
}

/* Waits until fewer than `limit` publishes are in flight. 0, or -1 when
 * nothing moved for the timeout. */
static int pub_wait(struct pub_state *st, int limit, int timeout_s)
{
    int rc = 0;
    pthread_mutex_lock(&st->lock);
    while (st->inflight > limit - 1 && !cli_interrupted()) {
        if (clock_mono_us() - st->last_progress_us > (int64_t)timeout_s * 1000000) {
            rc = -1;
            break;
        }
        int64_t wake = clock_mono_us() + 200000;
        struct timespec ts = {.tv_sec = wake / 1000000, .tv_nsec = wake % 1000000 * 1000};
        pthread_cond_timedwait(&st->cond, &st->lock, &ts);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* Publishes one line (or the single JSON argument); 0, or -1 when the
 * input cannot be published at all. */
static int pub_one(wsb_client *c, struct pub_state *st, struct wsb_publish *p, long line)
{
    struct pub_item *item = malloc(sizeof(*item));
    if (!item)
        return -1;
    item->st = st;
    item->line = line;
    pthread_mutex_lock(&st->lock);
    st->inflight++;
    pthread_mutex_unlock(&st->lock);
    int status = wsb_publish(c, p, pub_on_ack, item);
    if (status == WSB_OK)
        return 0;
    pthread_mutex_lock(&st->lock);
    st->inflight--;
    st->failed = 1;
    pthread_mutex_unlock(&st->lock);
    free(item);
    if (line)
        fprintf(stderr, "wsb: stdin line %ld: %s\n", line,
                status == WSB_EINVAL ? "not valid JSON (a string needs quotes)"
                                     : wsb_strerror(status));
    else
        fprintf(stderr, "wsb: %s\n",
                status == WSB_EINVAL ? "not valid JSON (a string needs quotes)"
                                     : wsb_strerror(status));
    return -1;
}

static int is_blank(const char *s)
{
    return s[strspn(s, " \t\r\n")] == '\0';
}

static int pub_stdin_lines(wsb_client *c, struct pub_state *st, const char *topic, const char *key,
                           int no_echo, int timeout_s)
{
    char *line = NULL, keybuf[512];
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;

    while (!cli_interrupted() && getline(&line, &cap, stdin) >= 0) {
        lineno++;
        if (is_blank(line))
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        struct wsb_publish p = {.topic = topic, .json = line, .no_echo = no_echo};
        if (key) {
            snprintf(keybuf, sizeof(keybuf), "%s:%ld", key, lineno);
            p.key = keybuf;
        }
        if (pub_wait(st, PUB_WINDOW, timeout_s) < 0 || st->connection_lost) {
            rc = -1;
            break;
        }
        if (pub_one(c, st, &p, lineno) < 0) {
            rc = -1;
            break;
        }
    }
    free(line);
    return rc;
}

static int pub_binary_stdin(wsb_client *c, struct pub_state *st, struct wsb_publish *p)
{
    size_t len = 0, cap = 65536;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap * 2);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, stdin);
        len += n;
        if (n == 0)
            break;
    }
    if (!buf) {
        fprintf(stderr, "wsb: out of memory\n");
        return -1;
    }
    p->payload = buf;
    p->len = len;
    int rc = pub_one(c, st, p, 0);
    free(buf);
    return rc;
}

int cli_pub(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, OPT_KEY},
                                         {"expect-last", required_argument, NULL, OPT_EXPECT_LAST},
                                         {"no-echo", no_argument, NULL, OPT_NO_ECHO},
                                         {"binary", no_argument, NULL, OPT_BINARY},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {NULL, 0, NULL, 0}};
    struct cli_common co = {.url = WSB_DEFAULT_URL, .timeout_s = 10};
    const char *key = NULL;
    int no_echo = 0, binary = 0, quiet = 0, opt;
    int has_expect_last = 0;
    unsigned long long expect_last = 0;

    while ((opt = cli_next_option(argc, argv, "qvh", opts, &co, pub_usage)) != -1) {
        switch (opt) {
        case OPT_KEY:
            key = optarg;
            break;
        case OPT_NO_ECHO:
            no_echo = 1;
            break;
        case OPT_EXPECT_LAST:
            if (cli_parse_u64(optarg, &expect_last) < 0) {
                fprintf(stderr, "wsb pub: --expect-last: expected a seq >= 0\n");
                return CLI_USAGE;
            }
            has_expect_last = 1;
            break;
        case OPT_BINARY:
            binary = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case CLI_OPT_HELP:
            return CLI_OK;
        default:
            return CLI_USAGE;
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2 || (binary && npos != 1)) {
        fputs(pub_usage, stderr);
        return CLI_USAGE;
    }
    const char *topic = argv[optind];
    const char *json = npos == 2 ? argv[optind + 1] : NULL;
    if (has_expect_last && !json && !binary) {
        fprintf(stderr, "wsb pub: --expect-last takes one message: give JSON or --binary\n");
        return CLI_USAGE;
    }
    if (key && strlen(key) > 400) {
        fprintf(stderr, "wsb pub: --key too long\n");
        return CLI_USAGE;
    }

    cli_install_signals();
    int rc;
    wsb_client *c = cli_connect(&co, 30, &rc);
    if (!c)
        return rc;
    struct pub_state st = {
        .quiet = quiet, .stdin_mode = json == NULL && !binary, .last_progress_us = clock_mono_us()};
    pthread_mutex_init(&st.lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st.cond, &attr);
    pthread_condattr_destroy(&attr);
    wsb_client_start_thread(c);

    struct wsb_publish p = {.topic = topic,
                            .json = json,
                            .key = key,
                            .no_echo = no_echo,
                            .has_expect_last = has_expect_last,
                            .expect_last = expect_last};
    if (binary)
        rc = pub_binary_stdin(c, &st, &p);
    else if (json)
        rc = pub_one(c, &st, &p, 0);
    else
        rc = pub_stdin_lines(c, &st, topic, key, no_echo, co.timeout_s);
    int timed_out = pub_wait(&st, 1, co.timeout_s) < 0;
    if (timed_out)
        fprintf(stderr, "wsb: timed out waiting for %d ack(s)\n", st.inflight);
    wsb_client_stop_thread(c);
    fflush(stdout);
    wsb_client_free(c);
    pthread_cond_destroy(&st.cond);
    pthread_mutex_destroy(&st.lock);
    if (timed_out || st.connection_lost)
        return CLI_CONNECT;
    return rc < 0 || st.failed ? CLI_FAIL : CLI_OK;
}
