/*
 * wsb.c: the `wsb` command line tool: pub, sub, history (docs/protocol.md
 * section 9) on libwsb; `bench` lives in bench.c.
 *
 * Output is made for pipes: `sub` and `history` print one message object
 * per line (a binary body as base64 with "encoding":"base64"), `pub` one
 * ack object per message. Diagnostics go to stderr. Exit statuses are in
 * cli.h.
 */
#include "cli.h"
#include "common/base64.h"
#include "common/clock.h"
#include "common/jquote.h"
#include "wsb.h"
#include "wsb_util.h"

#include <errno.h>
#include <getopt.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUB_WINDOW 256 /* publishes in flight when reading stdin */

/* Set by SIGINT/SIGTERM: the only global state of the tool. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void install_signals(void)
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

/* Options every subcommand shares. */
struct common {
    const char *url;
    const char *token;
    int timeout_s;
    int verbose;
};

enum {
    OPT_URL = 1000,
    OPT_TOKEN,
    OPT_TIMEOUT,
    OPT_SINCE,
    OPT_LAST,
    OPT_COUNT,
    OPT_LIMIT,
    OPT_KEY,
    OPT_NO_ECHO,
    OPT_BINARY,
    OPT_QUIET,
    OPT_INSECURE,
    OPT_PRESENCE
};

/* Handles a shared option; 1 when it was one, -1 on a bad value. */
static int common_option(struct common *co, int opt, const char *arg)
{
    unsigned long long n;
    switch (opt) {
    case OPT_URL:
        co->url = arg;
        return 1;
    case OPT_TOKEN:
        co->token = arg;
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

static void on_event(wsb_client *c, const struct wsb_event *e, void *user)
{
    (void)c;
    const struct common *co = user;
    switch (e->type) {
    case WSB_EVENT_DISCONNECTED:
        fprintf(stderr, "wsb: connection lost: %s; reconnecting in %d ms\n", e->message,
                e->retry_ms);
        break;
    case WSB_EVENT_CONNECTED:
        if (e->reconnects || co->verbose)
            fprintf(stderr, "wsb: connected (epoch %s, seq %llu)\n", e->epoch,
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
    }
}

/* Creates the client and connects; prints why not and returns NULL with
 * the exit status in *rc (usage for a bad URL, connect otherwise). */
static wsb_client *connect_client(struct common *co, int max_reconnects, int *rc)
{
    char err[256] = "";
    struct wsb_options o = {
        .url = co->url,
        .token = co->token,
        .timeout_ms = co->timeout_s * 1000,
        .reconnect_max_ms = 2000,
        .max_reconnects = max_reconnects,
        .tls_insecure = getenv("WSB_TLS_INSECURE") != NULL,
        .on_event = on_event,
        .user = co,
    };
    lws_set_log_level(co->verbose ? LLL_ERR | LLL_WARN : 0, NULL);
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    *rc = CLI_USAGE;
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

/* Writes a message as one JSON object line. */
static void print_message(FILE *out, const struct wsb_message *m)
{
    char quoted[600];

    jquote_string(m->topic, quoted, sizeof(quoted));
    fprintf(out, "{\"topic\":%s,\"seq\":%llu,\"ts\":%lld", quoted, (unsigned long long)m->seq,
            (long long)m->ts);
    if (m->from) {
        jquote_string(m->from, quoted, sizeof(quoted));
        fprintf(out, ",\"from\":%s", quoted);
    }
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
            size_t n = wsb_json_minify(m->data, m->len, flat);
            fwrite(flat, 1, n, out);
            free(flat);
        }
    } else {
        fwrite(m->data, 1, m->len, out);
    }
    fputs("}\n", out);
}

/* ---- wsb pub ---- */

static const char pub_usage[] =
    "Usage: wsb pub [--url URL] [--token T] [--key K] [--no-echo] [--quiet] TOPIC [JSON]\n"
    "       wsb pub [--url URL] [--token T] --binary TOPIC < FILE\n"
    "Publish JSON to TOPIC and print the ack ({\"seq\":N}) of each message.\n"
    "Without JSON, every line of stdin is one message (blank lines are skipped) and\n"
    "each ack carries its line number. With --key K, a single message gets key K and\n"
    "stdin line N gets key K:N, so running the same input again publishes nothing twice.\n"
    "\n"
    "  --url URL        broker WebSocket URL (default " WSB_DEFAULT_URL ")\n"
    "  --token T        JWT or API key\n"
    "  --key K          idempotency key\n"
    "  --binary         publish all of stdin as one binary message\n"
    "  --no-echo        do not deliver to this connection (irrelevant for one-shot use)\n"
    "  --timeout S      seconds to wait for the broker (default 10)\n"
    "  -q, --quiet      do not print acks\n"
    "  -v, --verbose    more diagnostics on stderr\n"
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
        if (r->status == WSB_EBROKER)
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
    while (st->inflight > limit - 1 && !interrupted) {
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

    while (!interrupted && getline(&line, &cap, stdin) >= 0) {
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
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"key", required_argument, NULL, OPT_KEY},
                                         {"no-echo", no_argument, NULL, OPT_NO_ECHO},
                                         {"binary", no_argument, NULL, OPT_BINARY},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct common co = {.url = WSB_DEFAULT_URL, .timeout_s = 10};
    const char *key = NULL;
    int no_echo = 0, binary = 0, quiet = 0, opt;

    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int handled = common_option(&co, opt, optarg);
        if (handled > 0)
            continue;
        if (handled < 0) {
            fprintf(stderr, "wsb pub: bad value for --%s\n", "timeout");
            return CLI_USAGE;
        }
        switch (opt) {
        case OPT_KEY:
            key = optarg;
            break;
        case OPT_NO_ECHO:
            no_echo = 1;
            break;
        case OPT_BINARY:
            binary = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            fputs(pub_usage, stdout);
            return CLI_OK;
        default:
            fputs(pub_usage, stderr);
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
    if (key && strlen(key) > 400) {
        fprintf(stderr, "wsb pub: --key too long\n");
        return CLI_USAGE;
    }

    install_signals();
    int rc;
    wsb_client *c = connect_client(&co, 30, &rc);
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

    struct wsb_publish p = {.topic = topic, .json = json, .key = key, .no_echo = no_echo};
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

/* ---- wsb sub ---- */

static const char sub_usage[] =
    "Usage: wsb sub [--url URL] [--token T] [--since S | --last N] [--count N] PATTERN...\n"
    "Subscribe to topic names or patterns ('*' one segment, '>' the rest) and print\n"
    "every message as one JSON object per line: {\"topic\",\"seq\",\"ts\",\"data\"} (binary\n"
    "bodies as base64 with \"encoding\":\"base64\"). A message matching several\n"
    "patterns is printed once. Reconnects by itself and resumes without loss.\n"
    "\n"
    "  --url URL        broker WebSocket URL (default " WSB_DEFAULT_URL ")\n"
    "  --token T        JWT or API key\n"
    "  --since S        first replay every stored match with seq > S\n"
    "  --last N         first replay the newest N stored matches of each pattern\n"
    "  --count N        exit after printing N messages\n"
    "  --presence       join the topic (a name) and report join/leave on stderr\n"
    "  --timeout S      seconds to wait for the first connection (default 10)\n"
    "  -v, --verbose    more diagnostics on stderr\n"
    "Exit status: 0 on --count reached or interrupt, 1 subscription refused,\n"
    "2 usage error, 3 broker unreachable.\n";

struct sub_state {
    unsigned long long count; /* 0 = unlimited */
    unsigned long long printed;
    uint64_t last_seq;
    int refused;
    int output_closed;
};

static void sub_on_message(wsb_client *c, const struct wsb_message *m, void *arg)
{
    (void)c;
    struct sub_state *st = arg;
    /* The library calls every matching subscription in a row: print once. */
    if (m->seq == st->last_seq || (st->count && st->printed >= st->count))
        return;
    st->last_seq = m->seq;
    print_message(stdout, m);
    st->printed++;
}

static void sub_on_ack(wsb_client *c, const struct wsb_reply *r, void *arg)
{
    (void)c;
    struct sub_state *st = arg;
    if (r->status == WSB_OK)
        return;
    fprintf(stderr, "wsb: subscribe %s refused: %s: %s\n", r->topic ? r->topic : "",
            r->code ? r->code : wsb_strerror(r->status), r->message);
    st->refused = 1;
}

static void sub_on_presence(wsb_client *c, const struct wsb_presence_event *e, void *arg)
{
    (void)c;
    (void)arg;
    fprintf(stderr, "wsb: %s %s %s (user %s)\n", e->client, e->joined ? "joined" : "left", e->topic,
            e->user ? e->user : "anonymous");
}

static int sub_run(wsb_client *c, struct sub_state *st)
{
    while (!interrupted && !st->refused && !(st->count && st->printed >= st->count)) {
        wsb_client_service(c, 250);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            st->output_closed = 1;
            break;
        }
    }
    fflush(stdout);
    return st->refused ? CLI_FAIL : CLI_OK;
}

int cli_sub(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"last", required_argument, NULL, OPT_LAST},
                                         {"count", required_argument, NULL, OPT_COUNT},
                                         {"presence", no_argument, NULL, OPT_PRESENCE},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct common co = {.url = WSB_DEFAULT_URL, .timeout_s = 10};
    struct wsb_sub_options so = {.start = WSB_START_NOW};
    struct sub_state st = {0};
    unsigned long long n;
    int opt;

    while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        int handled = common_option(&co, opt, optarg);
        if (handled > 0)
            continue;
        if (handled < 0) {
            fprintf(stderr, "wsb sub: bad value for --timeout\n");
            return CLI_USAGE;
        }
        switch (opt) {
        case OPT_SINCE:
        case OPT_LAST:
            if (so.start != WSB_START_NOW || cli_parse_u64(optarg, &n) < 0 ||
                (opt == OPT_LAST && (n == 0 || n > 1000000))) {
                fprintf(stderr, "wsb sub: give one of --since S or --last N (N >= 1)\n");
                return CLI_USAGE;
            }
            so.start = opt == OPT_SINCE ? WSB_START_SINCE : WSB_START_LAST;
            so.since = n;
            so.last = (unsigned)n;
            break;
        case OPT_COUNT:
            if (cli_parse_u64(optarg, &st.count) < 0 || st.count == 0) {
                fprintf(stderr, "wsb sub: --count needs a positive number\n");
                return CLI_USAGE;
            }
            break;
        case OPT_PRESENCE:
            so.presence = 1;
            break;
        case 'h':
            fputs(sub_usage, stdout);
            return CLI_OK;
        default:
            fputs(sub_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(sub_usage, stderr);
        return CLI_USAGE;
    }
    install_signals();
    int rc;
    wsb_client *c = connect_client(&co, 0, &rc);
    if (!c)
        return rc;
    so.on_message = sub_on_message;
    so.on_ack = sub_on_ack;
    so.on_presence = sub_on_presence;
    so.arg = &st;
    rc = CLI_OK;
    for (int i = optind; i < argc && rc == CLI_OK; i++) {
        struct wsb_reply *reply = NULL;
        int status = wsb_subscribe_sync(c, argv[i], &so, &reply);
        if (status == WSB_EINVAL && !reply) {
            fprintf(stderr, "wsb sub: %s given twice\n", argv[i]);
            rc = CLI_USAGE;
        } else if (status != WSB_OK) {
            if (status != WSB_EBROKER)
                fprintf(stderr, "wsb: subscribe %s: %s\n", argv[i],
                        reply ? reply->message : wsb_strerror(status));
            rc = status == WSB_EBROKER ? CLI_FAIL : CLI_CONNECT;
        }
        wsb_reply_free(reply);
    }
    if (rc == CLI_OK)
        rc = sub_run(c, &st);
    wsb_client_free(c);
    return rc;
}

/* ---- wsb history ---- */

static const char history_usage[] =
    "Usage: wsb history [--url URL] [--token T] TOPIC [--since S] [--limit L]\n"
    "Print the stored messages of TOPIC (a name or pattern), oldest first, one JSON\n"
    "object per line. Without --since, starts at the oldest retained message.\n"
    "\n"
    "  --url URL        broker WebSocket URL (default " WSB_DEFAULT_URL ")\n"
    "  --token T        JWT or API key\n"
    "  --since S        only messages with seq > S\n"
    "  --limit L        at most L messages (default 100)\n"
    "  --timeout S      seconds to wait for the broker (default 10)\n"
    "  -v, --verbose    more diagnostics on stderr\n"
    "Exit status: 0 done, 1 refused by the broker, 2 usage error, 3 broker unreachable.\n";

/* Fetches pages of at most 1000 until `limit` messages or the end. */
static int history_print(wsb_client *c, const char *topic, struct wsb_history_options *ho,
                         unsigned long long limit)
{
    unsigned long long printed = 0;
    int more = 1;

    while (more && printed < limit && !interrupted) {
        struct wsb_reply *r = NULL;
        unsigned long long want = limit - printed;
        ho->limit = (unsigned)(want > 1000 ? 1000 : want);
        int status = wsb_history_sync(c, topic, ho, &r);
        if (status != WSB_OK) {
            fprintf(stderr, "wsb: history %s: %s%s%s\n", topic, r && r->code ? r->code : "",
                    r && r->code ? ": " : "", r ? r->message : wsb_strerror(status));
            wsb_reply_free(r);
            return status == WSB_EBROKER ? CLI_FAIL : CLI_CONNECT;
        }
        if (!r->recovered && printed == 0)
            fprintf(stderr, "wsb: note: older messages of %s were dropped by retention\n", topic);
        for (size_t i = 0; i < r->n_messages; i++)
            print_message(stdout, &r->messages[i]);
        printed += r->n_messages;
        more = r->more && r->n_messages > 0;
        if (r->n_messages) {
            ho->has_since = 1;
            ho->since = r->messages[r->n_messages - 1].seq;
        }
        wsb_reply_free(r);
    }
    if (more && printed >= limit)
        fprintf(stderr, "wsb: more messages follow: use --since %llu\n",
                (unsigned long long)ho->since);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

int cli_history(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, OPT_URL},
                                         {"token", required_argument, NULL, OPT_TOKEN},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct common co = {.url = WSB_DEFAULT_URL, .timeout_s = 10};
    struct wsb_history_options ho = {0};
    unsigned long long limit = 100, n;
    int opt;

    while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        int handled = common_option(&co, opt, optarg);
        if (handled > 0)
            continue;
        if (handled < 0) {
            fprintf(stderr, "wsb history: bad value for --timeout\n");
            return CLI_USAGE;
        }
        switch (opt) {
        case OPT_SINCE:
            if (cli_parse_u64(optarg, &n) < 0) {
                fprintf(stderr, "wsb history: --since needs a seq\n");
                return CLI_USAGE;
            }
            ho.has_since = 1;
            ho.since = n;
            break;
        case OPT_LIMIT:
            if (cli_parse_u64(optarg, &limit) < 0 || limit == 0) {
                fprintf(stderr, "wsb history: --limit needs a positive number\n");
                return CLI_USAGE;
            }
            break;
        case 'h':
            fputs(history_usage, stdout);
            return CLI_OK;
        default:
            fputs(history_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (argc - optind != 1) {
        fputs(history_usage, stderr);
        return CLI_USAGE;
    }
    install_signals();
    int rc;
    wsb_client *c = connect_client(&co, 5, &rc);
    if (!c)
        return rc;
    rc = history_print(c, argv[optind], &ho, limit);
    wsb_client_free(c);
    return rc;
}

/* ---- main ---- */

static const char main_usage[] =
    "Usage: wsb COMMAND [OPTION]... \n"
    "The command line client of wsbroker.\n"
    "\n"
    "  pub      publish messages (from the command line or stdin)\n"
    "  sub      subscribe and print messages, one JSON object per line\n"
    "  history  print stored messages\n"
    "  bench    load generator: fan-out, throughput, latency, connections, reconnect\n"
    "\n"
    "Run `wsb COMMAND --help` for the options of each. --url defaults to\n" WSB_DEFAULT_URL ".\n";

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
    fprintf(stderr, "wsb: unknown command '%s'\n", cmd);
    fputs(main_usage, stderr);
    return CLI_USAGE;
}
