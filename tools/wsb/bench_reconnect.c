/* SPDX-License-Identifier: MIT */
/*
 * bench_reconnect.c: the `reconnect` scenario of `wsb bench`, a mass
 * reconnect with `since`.
 *
 * S subscribers and one control subscriber subscribe to one topic; one
 * publisher publishes at a fixed rate for the whole run, each payload
 * carrying its counter n (1, 2, 3, ...). After the warm-up every subscriber
 * except the control is closed at once without a close frame (FIN, or RST
 * with --reset) and opened again, subscribing with `since` = the last seq
 * it got and the `epoch` of the first welcome, while publishing goes on.
 * With two broker URLs (nodes of one Redis) everything starts on the
 * first and the dropped subscribers resume on the second: the cost of a
 * resume after a failover, each node's CPU reported apart.
 *
 * Measured: per subscriber the time from the drop until its welcome, its
 * subscribe ack and its resume (the ack came and it holds every seq up to
 * the newest seq acked to the publisher at the drop); over the whole run
 * the gaps (an n skipped) and duplicates (an n seen twice) of every
 * subscriber, `recovered` of each resume, what is missing at the end; the
 * control subscriber's publish-to-deliver latency before and during the
 * storm (whether live fan-out stalled); the publisher's ack latency; CPU
 * of the bench and the broker.
 * Owns that state (struct brc) and the hooks (bench.h) through which the
 * network layer reports to it.
 */
#include "bench.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

#define REOPEN_BATCH 500 /* connects per loop turn: the loop stays responsive */

struct brc_client {
    int64_t welcome_us, ack_us, resumed_us; /* after the drop; 0 = not yet */
};

struct brc {
    int subscribers; /* dropped and reopened; the control is one more */
    struct brc_client *cl;
    uint64_t pub_seq, pub_n;   /* the newest acked publish */
    uint64_t drop_seq, drop_n; /* ... at the drop */
    int dropped;
    int64_t drop_us, reopened_us, storm_end_us;
    int reopen_next;
    int welcomed, acked, resumed, not_recovered;
    uint64_t replayed, gaps, dups, missing, foreign;
    struct hist welcome_h, ack_h, resume_h;
    struct hist control_before, control_storm, control_after;
    uint64_t control_sec_max; /* for the progress line */
    int64_t last_turn_us, max_turn_us;
    struct sample s_start, s_drop, s_storm_end, s_end;
};

/* ---- hooks, called by the network layer ---- */

static struct brc_client *client_of(struct bench *b, struct bconn *c)
{
    return &b->rc->cl[c - b->conns];
}

static void note_first(struct bench *b, const char *text)
{
    if (!b->st.first_error[0])
        snprintf(b->st.first_error, sizeof(b->st.first_error), "%s", text);
}

static void brc_on_welcome(struct bench *b, struct bconn *c)
{
    struct brc *rc = b->rc;
    struct brc_client *cl = client_of(b, c);
    if (!c->resume || cl->welcome_us)
        return;
    cl->welcome_us = clock_mono_us();
    rc->welcomed++;
    hist_add(&rc->welcome_h, (uint64_t)(cl->welcome_us - rc->drop_us));
}

static void check_resumed(struct bench *b, struct bconn *c)
{
    struct brc *rc = b->rc;
    struct brc_client *cl = client_of(b, c);
    if (!c->resume || !cl->ack_us || cl->resumed_us || c->last_seq < rc->drop_seq)
        return;
    cl->resumed_us = clock_mono_us();
    rc->resumed++;
    hist_add(&rc->resume_h, (uint64_t)(cl->resumed_us - rc->drop_us));
    if (rc->resumed == rc->subscribers)
        rc->storm_end_us = cl->resumed_us;
}

static void brc_on_subscribed(struct bench *b, struct bconn *c, int recovered, uint64_t replayed,
                              uint64_t seq)
{
    struct brc *rc = b->rc;
    if (!c->resume) {
        /* Live from here on: the since of a subscriber that got nothing. */
        if (seq > c->last_seq)
            c->last_seq = seq;
        return;
    }
    struct brc_client *cl = client_of(b, c);
    cl->ack_us = clock_mono_us();
    rc->acked++;
    hist_add(&rc->ack_h, (uint64_t)(cl->ack_us - rc->drop_us));
    rc->not_recovered += !recovered;
    rc->replayed += replayed;
    check_resumed(b, c);
}

static void brc_on_published(struct bench *b, uint64_t n, uint64_t seq)
{
    struct brc *rc = b->rc;
    if (seq > rc->pub_seq)
        rc->pub_seq = seq;
    if (n > rc->pub_n)
        rc->pub_n = n;
}

static void count_order(struct bench *b, struct bconn *c, uint64_t seq, uint64_t n)
{
    struct brc *rc = b->rc;
    char text[160];
    if (n <= c->last_n) {
        rc->dups++;
        snprintf(text, sizeof(text), "duplicate: subscriber %d got n %llu (seq %llu) after n %llu",
                 c->index, (unsigned long long)n, (unsigned long long)seq,
                 (unsigned long long)c->last_n);
        note_first(b, text);
        return;
    }
    if (n > c->last_n + 1) {
        rc->gaps += n - c->last_n - 1;
        snprintf(text, sizeof(text),
                 "gap: subscriber %d got n %llu (seq %llu) after n %llu (seq %llu)%s", c->index,
                 (unsigned long long)n, (unsigned long long)seq, (unsigned long long)c->last_n,
                 (unsigned long long)c->last_seq, c->resume ? ", after its resume" : "");
        note_first(b, text);
    }
    c->last_n = n;
}

static void brc_on_message(struct bench *b, struct bconn *c, uint64_t seq, uint64_t n, int64_t t_us)
{
    struct brc *rc = b->rc;
    if (!n) {
        rc->foreign++; /* not from this run's publisher */
        return;
    }
    count_order(b, c, seq, n);
    if (seq > c->last_seq)
        c->last_seq = seq;
    if (!c->control) {
        check_resumed(b, c);
        return;
    }
    int64_t now = clock_wall_us();
    uint64_t lat = t_us && now >= t_us ? (uint64_t)(now - t_us) : 0;
    struct hist *h = !rc->dropped        ? &rc->control_before
                     : !rc->storm_end_us ? &rc->control_storm
                                         : &rc->control_after;
    hist_add(h, lat);
    if (lat > rc->control_sec_max)
        rc->control_sec_max = lat;
}

/* ---- setup ---- */

static const struct bench_hooks brc_hooks = {
    .on_welcome = brc_on_welcome,
    .on_subscribed = brc_on_subscribed,
    .on_published = brc_on_published,
    .on_message = brc_on_message,
};

int brc_prepare(struct bench *b)
{
    struct brc *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return -1;
    rc->subscribers = b->cfg.subscribers;
    b->cfg.subscribers++; /* the control: the last subscriber connection */
    rc->cl = calloc((size_t)b->cfg.subscribers + (size_t)b->cfg.publishers, sizeof(*rc->cl));
    if (!rc->cl) {
        free(rc);
        return -1;
    }
    b->rc = rc;
    b->hooks = &brc_hooks;
    return 0;
}

void brc_free(struct bench *b)
{
    if (!b->rc)
        return;
    free(b->rc->cl);
    free(b->rc);
    b->rc = NULL;
}

/* ---- the run ---- */

/* One turn of the loop: reopen the next batch, pace, service. */
static void turn(struct bench *b)
{
    struct brc *rc = b->rc;
    if (rc->dropped && rc->reopen_next < rc->subscribers) {
        for (int n = 0; n < REOPEN_BATCH && rc->reopen_next < rc->subscribers; n++)
            bnet_reopen(b, &b->conns[rc->reopen_next++]);
        if (rc->reopen_next == rc->subscribers)
            rc->reopened_us = clock_mono_us();
    }
    bnet_pace(b);
    bnet_service(b, 1);
    int64_t now = clock_mono_us();
    if (rc->dropped && !rc->storm_end_us && now - rc->last_turn_us > rc->max_turn_us)
        rc->max_turn_us = now - rc->last_turn_us;
    rc->last_turn_us = now;
}

static void progress(struct bench *b, struct sample *prev)
{
    struct brc *rc = b->rc;
    struct sample now;
    bench_sample_take(b, &now);
    double dt = (double)(now.us - prev->us) / 1e6;
    const char *stage = !rc->dropped ? "warm-up" : rc->storm_end_us ? "live" : "storm";
    fprintf(stderr, "[%6.1fs] %-7s sent %5.0f/s  delivered %9.0f/s",
            (double)(now.us - rc->s_start.us) / 1e6, stage, (double)(now.sent - prev->sent) / dt,
            (double)(now.delivered - prev->delivered) / dt);
    if (rc->dropped)
        fprintf(stderr, "  welcomed %d subscribed %d resumed %d/%d", rc->welcomed, rc->acked,
                rc->resumed, rc->subscribers);
    fprintf(stderr, "  control max %.1f ms  cpu bench %5.1f%%",
            (double)rc->control_sec_max / 1000.0,
            bench_cpu_percent(prev->self_ticks, now.self_ticks, dt));
    double broker = bench_cpu_percent(prev->broker_ticks, now.broker_ticks, dt);
    if (broker >= 0)
        fprintf(stderr, " broker %5.1f%%", broker);
    fputc('\n', stderr);
    rc->control_sec_max = 0;
    *prev = now;
}

/* Closes every subscriber but the control at once; turn() reopens them. */
static void drop_all(struct bench *b)
{
    struct brc *rc = b->rc;
    rc->drop_seq = rc->pub_seq;
    rc->drop_n = rc->pub_n;
    bench_sample_take(b, &rc->s_drop);
    rc->drop_us = rc->s_drop.us;
    rc->last_turn_us = rc->drop_us;
    for (int i = 0; i < rc->subscribers; i++) {
        bnet_drop(b, &b->conns[i]);
        b->conns[i].node = b->cfg.n_urls - 1; /* the failover target, or the same */
    }
    /* With libuv the sockets are closed in the next turn of the loop: let
     * it run once, so that the new ones do not need twice the fds. */
    rc->dropped = 1;
    bnet_service(b, 0);
}

/* Everyone resumed, every publish answered and every subscriber holds the
 * newest acked message. */
static int finished(const struct bench *b)
{
    const struct brc *rc = b->rc;
    if (rc->resumed < rc->subscribers || bnet_inflight(b) != 0)
        return 0;
    for (int i = 0; i <= rc->subscribers; i++)
        if (b->conns[i].last_n < rc->pub_n)
            return 0;
    return 1;
}

static void count_missing(struct bench *b)
{
    struct brc *rc = b->rc;
    for (int i = 0; i <= rc->subscribers; i++)
        if (b->conns[i].last_n < rc->pub_n)
            rc->missing += rc->pub_n - b->conns[i].last_n;
}

static void run_warmup(struct bench *b, struct sample *prev)
{
    int64_t end = b->rc->s_start.us + (int64_t)(b->cfg.warmup * 1e6);
    while (clock_mono_us() < end) {
        turn(b);
        if (clock_mono_us() - prev->us >= 1000000)
            progress(b, prev);
    }
}

static void run_storm(struct bench *b, struct sample *prev)
{
    struct brc *rc = b->rc;
    int64_t pub_end = rc->drop_us + (int64_t)(b->cfg.duration * 1e6);
    int64_t drain = (int64_t)(b->cfg.drain * 1e6);
    int64_t next_check = 0;
    for (;;) {
        turn(b);
        int64_t t = clock_mono_us();
        /* The tail gets its drain after publishing and after the storm. */
        int64_t end = (rc->storm_end_us > pub_end ? rc->storm_end_us : pub_end) + drain;
        /* CPU ticks are 10 ms: measure the storm over at least a second. */
        if (rc->storm_end_us && !rc->s_storm_end.us && t - rc->drop_us >= 1000000)
            bench_sample_take(b, &rc->s_storm_end);
        if (b->publishing && t >= pub_end)
            bnet_stop_publishing(b);
        if (t >= end)
            break;
        if (!b->publishing && t >= next_check) {
            if (finished(b))
                break;
            next_check = t + 10000;
        }
        if (t - prev->us >= 1000000)
            progress(b, prev);
    }
}

/* ---- the report ---- */

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static void row_hist(const char *name, const struct hist *h)
{
    if (!h->count) {
        printf("%-42s %s\n", name, "-");
        return;
    }
    printf("%-42s %9.1f %9.1f %9.1f ms\n", name, ms(hist_percentile(h, 0.5)),
           ms(hist_percentile(h, 0.99)), ms(h->max));
}

static void cpu_pair(const struct sample *a, const struct sample *z, double *bench, double *broker)
{
    double secs = (double)(z->us - a->us) / 1e6;
    *bench = bench_cpu_percent(a->self_ticks, z->self_ticks, secs);
    *broker = bench_cpu_percent(a->broker_ticks, z->broker_ticks, secs);
}

static const struct sample *storm_end_sample(const struct brc *rc)
{
    return rc->s_storm_end.us ? &rc->s_storm_end : &rc->s_end;
}

static void print_header(const struct bench *b)
{
    const struct bench_config *c = &b->cfg;
    bench_print_header(b);
    printf("%d subscribers + 1 control on %s, %.0f msg/s, %d B padding; drop (%s) after "
           "%.1f s, then %.1f s more publishing\n",
           b->rc->subscribers, c->topic, c->rate, c->size, c->reset ? "RST" : "FIN", c->warmup,
           c->duration);
    if (c->n_urls > 1)
        printf("failover: dropped on %s, resumed on %s\n", c->url_texts[0], c->url_texts[1]);
}

static void print_counts(const struct bench *b)
{
    const struct brc *rc = b->rc;
    printf("%-42s %9llu\n", "published (acked)", (unsigned long long)b->st.acked);
    printf("%-42s %9llu\n", "refused", (unsigned long long)b->st.ack_errors);
    printf("%-42s %9llu (n %llu)\n", "newest seq acked at the drop",
           (unsigned long long)rc->drop_seq, (unsigned long long)rc->drop_n);
    printf("%-42s %9d\n", "welcomed again", rc->welcomed);
    printf("%-42s %9d\n", "subscribed again", rc->acked);
    printf("%-42s %9d of %d\n", "resumed", rc->resumed, rc->subscribers);
    if (rc->storm_end_us)
        printf("%-42s %9.3f s\n", "all resumed after",
               (double)(rc->storm_end_us - rc->drop_us) / 1e6);
    else
        printf("%-42s %9s\n", "all resumed after", "never");
    printf("%-42s %9.3f s\n", "all reconnects issued after",
           rc->reopened_us ? (double)(rc->reopened_us - rc->drop_us) / 1e6 : -1.0);
}

static void print_quality(const struct bench *b)
{
    const struct brc *rc = b->rc;
    printf("%-42s %9s (%d false)\n", "recovered", rc->not_recovered ? "not all" : "all",
           rc->not_recovered);
    printf("%-42s %9llu\n", "replayed messages", (unsigned long long)rc->replayed);
    printf("%-42s %9llu\n", "gaps (messages skipped)", (unsigned long long)rc->gaps);
    printf("%-42s %9llu\n", "duplicates", (unsigned long long)rc->dups);
    printf("%-42s %9llu\n", "missing at the end", (unsigned long long)rc->missing);
    if (rc->foreign)
        printf("%-42s %9llu\n", "messages from other publishers", (unsigned long long)rc->foreign);
    printf("%-42s %9llu\n", "closed by the broker", (unsigned long long)b->st.broker_closed);
    printf("%-42s %9llu\n", "failed connects", (unsigned long long)b->st.connect_failed);
}

static void print_table(const struct bench *b)
{
    const struct brc *rc = b->rc;
    double cb, ck;
    print_header(b);
    print_counts(b);
    printf("%-42s %9s %9s %9s\n", "after the drop", "p50", "p99", "max");
    row_hist("  welcome", &rc->welcome_h);
    row_hist("  subscribe ack", &rc->ack_h);
    row_hist("  resumed", &rc->resume_h);
    printf("%-42s %9s %9s %9s\n", "control publish-to-deliver", "p50", "p99", "max");
    row_hist("  before the drop", &rc->control_before);
    row_hist("  from the drop until all resumed", &rc->control_storm);
    row_hist("  after that", &rc->control_after);
    row_hist("publish to ack (whole run)", &b->st.ack_latency);
    print_quality(b);
    printf("%-42s %9.1f ms\n", "bench: longest loop turn in the storm",
           ms((uint64_t)rc->max_turn_us));
    cpu_pair(&rc->s_drop, storm_end_sample(rc), &cb, &ck);
    printf("%-42s %7.1f %% %7.1f %%\n", "cpu drop..resumed (>=1 s): bench, broker", cb, ck);
    cpu_pair(&rc->s_start, &rc->s_end, &cb, &ck);
    printf("%-42s %7.1f %% %7.1f %%\n", "cpu over the run: bench, broker", cb, ck);
    if (b->cfg.broker_pid > 0)
        printf("%-42s %9.1f MiB\n", "broker rss", proc_rss_kb(b->cfg.broker_pid) / 1024.0);
    struct node_cost nc[BENCH_MAX_NODES];
    bnodes_cost(b, &rc->s_drop, storm_end_sample(rc), nc);
    bnodes_print_table(b, "drop..resumed", nc, bnodes_aux_cpu_s(&rc->s_drop, storm_end_sample(rc)));
    bnodes_cost(b, &rc->s_start, &rc->s_end, nc);
    bnodes_print_table(b, "whole run", nc, bnodes_aux_cpu_s(&rc->s_start, &rc->s_end));
    if (b->st.first_error[0])
        printf("first error: %s\n", b->st.first_error);
}

static void json_hist(const char *name, const struct hist *h)
{
    printf(",\"%s\":{\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu}", name,
           (unsigned long long)h->count, (unsigned long long)hist_percentile(h, 0.5),
           (unsigned long long)hist_percentile(h, 0.99), (unsigned long long)h->max);
}

static void json_counts(const struct bench *b)
{
    const struct brc *rc = b->rc;
    printf(",\"published\":%llu,\"refused\":%llu,\"drop_seq\":%llu,\"drop_n\":%llu,"
           "\"welcomed\":%d,\"subscribed\":%d,\"resumed\":%d,\"all_resumed_s\":",
           (unsigned long long)b->st.acked, (unsigned long long)b->st.ack_errors,
           (unsigned long long)rc->drop_seq, (unsigned long long)rc->drop_n, rc->welcomed,
           rc->acked, rc->resumed);
    if (rc->storm_end_us)
        printf("%.3f", (double)(rc->storm_end_us - rc->drop_us) / 1e6);
    else
        printf("null");
    printf(",\"recovered_all\":%s,\"not_recovered\":%d,\"replayed\":%llu,\"gaps\":%llu,"
           "\"dups\":%llu,\"missing\":%llu,\"foreign\":%llu,\"closed_by_broker\":%llu,"
           "\"connect_failed\":%llu,\"bench_max_turn_us\":%lld",
           rc->not_recovered ? "false" : "true", rc->not_recovered,
           (unsigned long long)rc->replayed, (unsigned long long)rc->gaps,
           (unsigned long long)rc->dups, (unsigned long long)rc->missing,
           (unsigned long long)rc->foreign, (unsigned long long)b->st.broker_closed,
           (unsigned long long)b->st.connect_failed, (long long)rc->max_turn_us);
}

/* Each node's cost over the storm (storm_ prefix) and over the run. */
static void print_json_nodes(const struct bench *b)
{
    const struct brc *rc = b->rc;
    struct node_cost nc[BENCH_MAX_NODES];
    printf(",\"failover\":%s", b->cfg.n_urls > 1 ? "true" : "false");
    bnodes_cost(b, &rc->s_drop, storm_end_sample(rc), nc);
    bnodes_print_json(b, "storm_", nc, bnodes_aux_cpu_s(&rc->s_drop, storm_end_sample(rc)));
    bnodes_cost(b, &rc->s_start, &rc->s_end, nc);
    bnodes_print_json(b, "", nc, bnodes_aux_cpu_s(&rc->s_start, &rc->s_end));
}

static void print_json(const struct bench *b)
{
    const struct brc *rc = b->rc;
    char quoted[512];
    double sb, sk, rb, rk;
    jquote_string(b->cfg.url_text, quoted, sizeof(quoted));
    printf("{\"scenario\":\"reconnect\",\"url\":%s,\"broker_pid\":%d,\"subscribers\":%d,"
           "\"rate\":%.0f,\"size\":%d,\"warmup\":%.3f,\"duration\":%.3f,\"reset\":%s",
           quoted, (int)b->cfg.broker_pid, rc->subscribers, b->cfg.rate, b->cfg.size, b->cfg.warmup,
           b->cfg.duration, b->cfg.reset ? "true" : "false");
    json_counts(b);
    json_hist("welcome_us", &rc->welcome_h);
    json_hist("subscribed_us", &rc->ack_h);
    json_hist("resume_us", &rc->resume_h);
    json_hist("control_before_us", &rc->control_before);
    json_hist("control_storm_us", &rc->control_storm);
    json_hist("control_after_us", &rc->control_after);
    json_hist("ack_us", &b->st.ack_latency);
    cpu_pair(&rc->s_drop, storm_end_sample(rc), &sb, &sk);
    cpu_pair(&rc->s_start, &rc->s_end, &rb, &rk);
    printf(",\"storm_bench_cpu\":%.1f,\"storm_broker_cpu\":%.1f,\"bench_cpu\":%.1f,"
           "\"broker_cpu\":%.1f,\"broker_rss_kb\":%ld",
           sb, sk, rb, rk, b->cfg.broker_pid > 0 ? proc_rss_kb(b->cfg.broker_pid) : -1L);
    print_json_nodes(b);
    if (b->st.first_error[0]) {
        jquote_string(b->st.first_error, quoted, sizeof(quoted));
        printf(",\"first_error\":%s", quoted);
    }
    printf("}\n");
}

static int verdict(const struct bench *b)
{
    const struct brc *rc = b->rc;
    if (rc->gaps || rc->dups || rc->missing || rc->not_recovered || rc->resumed < rc->subscribers ||
        b->st.ack_errors || b->st.broker_closed || b->st.connect_failed)
        return CLI_FAIL;
    return CLI_OK;
}

int brc_run(struct bench *b, int key_mode)
{
    (void)key_mode;
    struct brc *rc = b->rc;
    struct sample prev;
    b->conns[rc->subscribers].control = 1;
    if (bench_run_connect(b, 60 + b->n_conns / 200.0) < 0)
        return CLI_CONNECT;
    if (b->st.connect_failed || b->st.subscribed < (uint64_t)rc->subscribers + 1) {
        fprintf(stderr, "wsb bench: %llu connection(s) failed, %llu subscribed: %s\n",
                (unsigned long long)b->st.connect_failed, (unsigned long long)b->st.subscribed,
                b->st.first_error);
        return CLI_CONNECT;
    }
    bench_sample_take(b, &rc->s_start);
    prev = rc->s_start;
    bnet_start_publishing(b, 0);
    run_warmup(b, &prev);
    drop_all(b);
    run_storm(b, &prev);
    bench_sample_take(b, &rc->s_end);
    count_missing(b);
    if (b->cfg.json)
        print_json(b);
    else
        print_table(b);
    return verdict(b);
}
