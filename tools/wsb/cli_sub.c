/* SPDX-License-Identifier: MIT */
/*
 * cli_sub.c: `wsb sub` (subscribe and print each message as one JSON
 * object line) and `wsb history` (print stored messages, a page of at most
 * 1000 at a time).
 */
#include "cli.h"
#include "wsb_util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sub_usage[] =
    "Usage: wsb sub [--url URL] [--token-file F] [--since S | --last N] [--count N]\n"
    "               [--conflate] PATTERN...\n"
    "Subscribe to topic names or patterns ('*' one segment, '>' the rest) and print\n"
    "every message as one JSON object per line: {\"topic\",\"seq\",\"ts\",\"data\"} (binary\n"
    "bodies as base64 with \"encoding\":\"base64\"). A message matching several\n"
    "patterns is printed once. Reconnects by itself and resumes without loss.\n"
    "\n"
    "  --since S        first replay every stored match with seq > S\n"
    "  --last N         first replay the newest N stored matches of each pattern\n"
    "  --count N        exit after printing N messages\n"
    "  --presence       join the topic (a name) and report join/leave on stderr\n"
    "  --conflate       while behind, only the newest message per topic; a message\n"
    "                   that replaced others prints \"conflated\":N\n" CLI_COMMON_USAGE
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
    cli_print_message(stdout, m);
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
    while (!cli_interrupted() && !st->refused && !(st->count && st->printed >= st->count)) {
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
    static const struct option opts[] = {{"since", required_argument, NULL, OPT_SINCE},
                                         {"last", required_argument, NULL, OPT_LAST},
                                         {"count", required_argument, NULL, OPT_COUNT},
                                         {"presence", no_argument, NULL, OPT_PRESENCE},
                                         {"conflate", no_argument, NULL, OPT_CONFLATE},
                                         {NULL, 0, NULL, 0}};
    struct cli_common co = {.url = WSB_DEFAULT_URL, .timeout_s = 10};
    struct wsb_sub_options so = {.start = WSB_START_NOW};
    struct sub_state st = {0};
    unsigned long long n;
    int opt;

    while ((opt = cli_next_option(argc, argv, "vh", opts, &co, sub_usage)) != -1) {
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
        case OPT_CONFLATE:
            so.conflate = WSB_CONFLATE;
            break;
        case CLI_OPT_HELP:
            return CLI_OK;
        default:
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(sub_usage, stderr);
        return CLI_USAGE;
    }
    cli_install_signals();
    int rc;
    wsb_client *c = cli_connect(&co, 0, &rc);
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
    "Usage: wsb history [--url URL] [--token-file F] TOPIC [--since S] [--limit L]\n"
    "Print the stored messages of TOPIC (a name or pattern), oldest first, one JSON\n"
    "object per line. Without --since, starts at the oldest retained message.\n"
    "\n"
    "  --since S        only messages with seq > S\n"
    "  --limit L        at most L messages (default 100)\n" CLI_COMMON_USAGE
    "Exit status: 0 done, 1 refused by the broker, 2 usage error, 3 broker unreachable.\n";

/* Fetches pages of at most 1000 until `limit` messages or the end. */
static int history_print(wsb_client *c, const char *topic, struct wsb_history_options *ho,
                         unsigned long long limit)
{
    unsigned long long printed = 0;
    int more = 1;

    while (more && printed < limit && !cli_interrupted()) {
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
            cli_print_message(stdout, &r->messages[i]);
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
    static const struct option opts[] = {{"since", required_argument, NULL, OPT_SINCE},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {NULL, 0, NULL, 0}};
    struct cli_common co = {.url = WSB_DEFAULT_URL, .timeout_s = 10};
    struct wsb_history_options ho = {0};
    unsigned long long limit = 100, n;
    int opt;

    while ((opt = cli_next_option(argc, argv, "vh", opts, &co, history_usage)) != -1) {
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
        case CLI_OPT_HELP:
            return CLI_OK;
        default:
            return CLI_USAGE;
        }
    }
    if (argc - optind != 1) {
        fputs(history_usage, stderr);
        return CLI_USAGE;
    }
    cli_install_signals();
    int rc;
    wsb_client *c = cli_connect(&co, 5, &rc);
    if (!c)
        return rc;
    rc = history_print(c, argv[optind], &ho, limit);
    wsb_client_free(c);
    return rc;
}
