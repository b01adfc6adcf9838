/* SPDX-License-Identifier: MIT */
/*
 * bench_publish.c: the publishing scenarios of `wsb bench`:
 *   fanout       P publishers, S subscribers on one topic (or a pattern over
 *                one topic per publisher), offered rate R or flat out;
 *                deliveries per second, loss, order, latency.
 *   throughput   durable publish acks per second, without and with `key`.
 *   latency      publish-to-deliver percentiles at a fixed rate, from a
 *                timestamp carried in the payload.
 * Each runs one or two phases (without and with key), with live progress
 * on stderr, then prints a table (or JSON) on stdout.
 */
#include "bench.h"
#include "cli.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MAX_PHASES 2

struct phase_result {
    const char *label;
    double pub_seconds; /* the publishing window */
    double seconds;     /* until the last ack or delivery */
    uint64_t sent, acked, ack_errors;
    uint64_t delivered, expected, dups;
    uint64_t broker_closed;
    struct hist latency, ack_latency;
    double bench_cpu, broker_cpu; /* percent of one core */
    long broker_rss_kb;
    struct node_cost nodes[BENCH_MAX_NODES]; /* each broker URL's share */
    double aux_cpu_s;                        /* --aux-pid, -1 unknown */
};

static void progress_line(const struct bench *b, const struct sample *prev,
                          const struct sample *now, int64_t start_us)
{
    double dt = (double)(now->us - prev->us) / 1e6;
    if (dt <= 0)
        return;
    fprintf(stderr,
            "[%6.1fs] sent %9.0f/s  acked %9.0f/s  delivered %10.0f/s  inflight %6llu"
            "  cpu bench %5.1f%%",
            (double)(now->us - start_us) / 1e6, (double)(now->sent - prev->sent) / dt,
            (double)(now->acked - prev->acked) / dt,
            (double)(now->delivered - prev->delivered) / dt, (unsigned long long)bnet_inflight(b),
            bench_cpu_percent(prev->self_ticks, now->self_ticks, dt));
    double broker = bench_cpu_percent(prev->broker_ticks, now->broker_ticks, dt);
    if (broker >= 0)
        fprintf(stderr, " broker %5.1f%%", broker);
    fputc('\n', stderr);
}

static uint64_t live_subscribers(const struct bench *b)
{
    uint64_t n = 0;
    for (int i = 0; i < b->n_conns; i++)
        n +=
            b->conns[i].role == ROLE_SUB && b->conns[i].phase == BC_SUBSCRIBED && !b->conns[i].slow;
    return n;
}

/* Every publish answered, and every subscriber has every message. */
static int drained(const struct bench *b, uint64_t acked0, uint64_t deliv0)
{
    if (bnet_inflight(b) != 0)
        return 0;
    return b->st.delivered - deliv0 >= (b->st.acked - acked0) * live_subscribers(b);
}

/* Publishes for cfg.duration, then waits for the acks and deliveries. */
static void run_phase(struct bench *b, const char *label, int use_key, struct phase_result *r)
{
    struct sample first, prev, now;
    uint64_t sent0 = b->st.sent, acked0 = b->st.acked, err0 = b->st.ack_errors;
    uint64_t deliv0 = b->st.delivered, dups0 = b->st.dups, closed0 = b->st.broker_closed;
    int64_t last_change = 0;
    uint64_t last_total = 0;

    memset(&b->st.latency, 0, sizeof(b->st.latency));
    memset(&b->st.ack_latency, 0, sizeof(b->st.ack_latency));
    bench_sample_take(b, &first);
    prev = first;
    bnet_start_publishing(b, use_key);
    int64_t pub_end = first.us + (int64_t)(b->cfg.duration * 1e6);
    int64_t drain_end = pub_end + (int64_t)(b->cfg.drain * 1e6);
    int paced = b->cfg.rate > 0;
    for (;;) {
        bnet_pace(b);
        bnet_service(b, paced ? 1 : 20);
        int64_t t = clock_mono_us();
        if (b->publishing && t >= pub_end)
            bnet_stop_publishing(b);
        uint64_t total = b->st.acked + b->st.ack_errors + b->st.delivered;
        if (total != last_total) {
            last_total = total;
            last_change = t;
        }
        if (!b->publishing && (t >= drain_end || drained(b, acked0, deliv0)))
            break;
        if (t - prev.us >= 1000000) {
            bench_sample_take(b, &now);
            progress_line(b, &prev, &now, first.us);
            prev = now;
        }
    }
    bench_sample_take(b, &now);
    r->label = label;
    r->pub_seconds = b->cfg.duration;
    r->seconds = (double)((last_change ? last_change : now.us) - first.us) / 1e6;
    r->sent = b->st.sent - sent0;
    r->acked = b->st.acked - acked0;
    r->ack_errors = b->st.ack_errors - err0;
    r->delivered = b->st.delivered - deliv0;
    r->expected = r->acked * live_subscribers(b);
    r->dups = b->st.dups - dups0;
    r->broker_closed = b->st.broker_closed - closed0;
    r->latency = b->st.latency;
    r->ack_latency = b->st.ack_latency;
    double secs = (double)(now.us - first.us) / 1e6;
    r->bench_cpu = bench_cpu_percent(first.self_ticks, now.self_ticks, secs);
    r->broker_cpu = bench_cpu_percent(first.broker_ticks, now.broker_ticks, secs);
    r->broker_rss_kb = b->cfg.broker_pid > 0 ? proc_rss_kb(b->cfg.broker_pid) : -1;
    bnodes_cost(b, &first, &now, r->nodes);
    r->aux_cpu_s = bnodes_aux_cpu_s(&first, &now);
}

/* The second line of the header: the shape of the run. */
static void print_setup(const struct bench *b)
{
    const struct bench_config *c = &b->cfg;
    printf("%d publisher(s), %d subscriber(s), %s, %s, %d B padding, window %d, %.1f s\n",
           c->publishers, c->subscribers, c->pattern ? "pattern" : "one topic",
           c->rate > 0 ? "paced" : "flat out", c->size, c->window, c->duration);
    if (c->rate > 0)
        printf("offered rate %.0f msg/s\n", c->rate);
    if (c->conflate || c->slow_fraction > 0)
        printf("%s subscriptions, %.0f%% of the subscribers not reading\n",
               c->conflate ? "conflated" : "plain", c->slow_fraction * 100);
}

static void row_u64(const char *name, const struct phase_result *r, int n, size_t off)
{
    printf("%-26s", name);
    for (int i = 0; i < n; i++)
        printf(" %16llu", (unsigned long long)*(const uint64_t *)((const char *)&r[i] + off));
    printf("\n");
}

static void row_rate(const char *name, const struct phase_result *r, int n, size_t off)
{
    printf("%-26s", name);
    for (int i = 0; i < n; i++) {
        uint64_t v = *(const uint64_t *)((const char *)&r[i] + off);
        printf(" %16.0f", r[i].seconds > 0 ? (double)v / r[i].seconds : 0.0);
    }
    printf("\n");
}

static void row_pct(const char *name, const struct phase_result *r, int n, int which_hist, double p)
{
    printf("%-26s", name);
    for (int i = 0; i < n; i++) {
        const struct hist *h = which_hist ? &r[i].ack_latency : &r[i].latency;
        if (!h->count)
            printf(" %16s", "-");
        else if (p >= 1)
            printf(" %13.3f ms", (double)h->max / 1000.0);
        else
            printf(" %13.3f ms", (double)hist_percentile(h, p) / 1000.0);
    }
    printf("\n");
}

static void row_cpu(const char *name, const struct phase_result *r, int n, int broker)
{
    printf("%-26s", name);
    for (int i = 0; i < n; i++) {
        double v = broker ? r[i].broker_cpu : r[i].bench_cpu;
        if (v < 0)
            printf(" %16s", "-");
        else
            printf(" %14.1f %%", v);
    }
    printf("\n");
}

static const double pcts[] = {0.5, 0.9, 0.99, 0.999, 1.0};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9", "max"};

static void print_table(const struct bench *b, const struct phase_result *r, int n)
{
    bench_print_header(b);
    print_setup(b);
    printf("%-26s", "");
    for (int i = 0; i < n; i++)
        printf(" %16s", r[i].label);
    printf("\n");
    row_u64("published (acked)", r, n, offsetof(struct phase_result, acked));
    row_rate("acks/s", r, n, offsetof(struct phase_result, acked));
    row_u64("refused", r, n, offsetof(struct phase_result, ack_errors));
    if (b->cfg.subscribers) {
        row_u64("delivered", r, n, offsetof(struct phase_result, delivered));
        row_u64("expected", r, n, offsetof(struct phase_result, expected));
        row_rate("deliveries/s", r, n, offsetof(struct phase_result, delivered));
        row_u64("duplicate or out of order", r, n, offsetof(struct phase_result, dups));
        for (int k = 0; k < 5; k++) {
            char name[32];
            snprintf(name, sizeof(name), "latency %s", pct_names[k]);
            row_pct(name, r, n, 0, pcts[k]);
        }
    }
    for (int k = 0; k < 5; k++) {
        char name[32];
        snprintf(name, sizeof(name), "ack latency %s", pct_names[k]);
        row_pct(name, r, n, 1, pcts[k]);
    }
    row_u64("closed by the broker", r, n, offsetof(struct phase_result, broker_closed));
    row_cpu("cpu: bench", r, n, 0);
    row_cpu("cpu: broker", r, n, 1);
    if (r[n - 1].broker_rss_kb > 0)
        printf("%-26s %13.1f MiB\n", "broker rss", (double)r[n - 1].broker_rss_kb / 1024.0);
    for (int i = 0; i < n; i++)
        bnodes_print_table(b, r[i].label, r[i].nodes, r[i].aux_cpu_s);
    if (b->st.first_error[0])
        printf("first error: %s\n", b->st.first_error);
}

static void json_hist(const char *name, const struct hist *h)
{
    printf(",\"%s\":{\"count\":%llu", name, (unsigned long long)h->count);
    for (int k = 0; k < 5; k++)
        printf(",\"%s\":%llu", pct_names[k],
               (unsigned long long)(pcts[k] >= 1 ? h->max : hist_percentile(h, pcts[k])));
    printf("}");
}

static void print_json(const struct bench *b, const struct phase_result *r, int n)
{
    const struct bench_config *c = &b->cfg;
    char quoted[512];
    jquote_string(c->url_text, quoted, sizeof(quoted));
    printf("{\"scenario\":\"%s\",\"url\":%s,\"broker_pid\":%d,\"publishers\":%d,"
           "\"subscribers\":%d,\"rate\":%.0f,\"window\":%d,\"size\":%d,\"duration\":%.3f,"
           "\"pattern\":%s,\"conflate\":%s,\"slow_fraction\":%.3f,\"phases\":[",
           c->scenario, quoted, (int)c->broker_pid, c->publishers, c->subscribers, c->rate,
           c->window, c->size, c->duration, c->pattern ? "true" : "false",
           c->conflate ? "true" : "false", c->slow_fraction);
    for (int i = 0; i < n; i++) {
        printf("%s{\"label\":\"%s\",\"seconds\":%.3f,\"sent\":%llu,\"acked\":%llu,"
               "\"refused\":%llu,\"acks_per_s\":%.1f,\"delivered\":%llu,\"expected\":%llu,"
               "\"deliveries_per_s\":%.1f,\"dups\":%llu,\"closed_by_broker\":%llu,"
               "\"bench_cpu\":%.1f,\"broker_cpu\":%.1f,\"broker_rss_kb\":%ld",
               i ? "," : "", r[i].label, r[i].seconds, (unsigned long long)r[i].sent,
               (unsigned long long)r[i].acked, (unsigned long long)r[i].ack_errors,
               r[i].seconds > 0 ? (double)r[i].acked / r[i].seconds : 0.0,
               (unsigned long long)r[i].delivered, (unsigned long long)r[i].expected,
               r[i].seconds > 0 ? (double)r[i].delivered / r[i].seconds : 0.0,
               (unsigned long long)r[i].dups, (unsigned long long)r[i].broker_closed,
               r[i].bench_cpu, r[i].broker_cpu, r[i].broker_rss_kb);
        json_hist("latency_us", &r[i].latency);
        json_hist("ack_latency_us", &r[i].ack_latency);
        bnodes_print_json(b, "", r[i].nodes, r[i].aux_cpu_s);
        printf("}");
    }
    printf("]");
    if (b->st.first_error[0]) {
        jquote_string(b->st.first_error, quoted, sizeof(quoted));
        printf(",\"first_error\":%s", quoted);
    }
    printf("}\n");
}

int bench_publish_run(struct bench *b, int key_mode)
{
    struct phase_result r[MAX_PHASES];
    int n = 0;
    memset(r, 0, sizeof(r));
    if (bench_run_connect(b, 60 + b->n_conns / 200.0) < 0)
        return CLI_CONNECT;
    if (b->st.connect_failed) {
        fprintf(stderr, "wsb bench: %llu connection(s) failed: %s\n",
                (unsigned long long)b->st.connect_failed, b->st.first_error);
        return CLI_CONNECT;
    }
    if (key_mode != 1)
        run_phase(b, "no key", 0, &r[n++]);
    if (key_mode != 0)
        run_phase(b, "with key", 1, &r[n++]);
    if (b->cfg.json)
        print_json(b, r, n);
    else
        print_table(b, r, n);
    for (int i = 0; i < n; i++)
        if (r[i].ack_errors || r[i].delivered < r[i].expected)
            return CLI_FAIL;
    return CLI_OK;
}
