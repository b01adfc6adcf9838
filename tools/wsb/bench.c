/*
 * bench.c: `wsb bench`, the load generator: scenarios, command line, live
 * progress on stderr and the result table (or JSON) on stdout.
 *
 * Scenarios:
 *   fanout       P publishers, S subscribers on one topic (or a pattern over
 *                one topic per publisher), offered rate R or flat out;
 *                deliveries per second, loss, order, latency.
 *   throughput   durable publish acks per second, without and with `key`.
 *   latency      publish-to-deliver percentiles at a fixed rate, from a
 *                timestamp carried in the payload.
 *   connections  N idle connections; the broker's resident memory per
 *                connection from /proc. Past one source address's
 *                ephemeral ports (~28k) they come from 127.0.0.2, ... too.
 *   reconnect    mass reconnect with `since` (bench_reconnect.c).
 * The CPU use of the bench itself is reported next to the broker's (from
 * /proc/PID/stat), so a result is only trusted when the bench had room.
 */
#include "bench.h"
#include "cli.h"

#include <getopt.h>
#include <stddef.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
};

struct conn_result {
    double open_seconds;
    uint64_t welcomed, failed, subscribed;
    long rss_before_kb, rss_after_kb, bench_rss_before_kb, bench_rss_after_kb;
    double bench_cpu, broker_cpu;
};

static const char bench_usage[] =
    "Usage: wsb bench SCENARIO [OPTION]...\n"
    "Load generator for wsbroker. Scenarios:\n"
    "  fanout       P publishers, S subscribers on one topic, rate R or flat out\n"
    "  throughput   durable publish acks per second, without and with key\n"
    "  latency      publish-to-deliver percentiles at a fixed rate\n"
    "  connections  N idle connections; the broker's memory per connection\n"
    "  reconnect    S subscribers dropped at once mid-stream, resuming with since\n"
    "\n"
    "Options:\n"
    "  --url URL           broker (default " WSB_DEFAULT_URL ")\n"
    "  --token T           JWT or API key for every connection\n"
    "  --duration S        seconds of publishing, or of holding (default 10);\n"
    "                      reconnect: of publishing after the drop\n"
    "  --publishers P      publishing connections (default 1)\n"
    "  --subscribers S     subscribing connections (fanout 10, latency 1,\n"
    "                      reconnect 10000)\n"
    "  --rate R            offered publishes per second in total; 0 = flat out\n"
    "                      (default: fanout 0, latency 1000, reconnect 200)\n"
    "  --window W          publishes in flight per publisher (default 256, latency 4000)\n"
    "  --size BYTES        payload padding per message (default 100)\n"
    "  --topic T           topic, or topic prefix (default bench.SCENARIO)\n"
    "  --pattern           one topic per publisher (fanout: subscribers use T.>;\n"
    "                      throughput: as the compare.sh durable scenario)\n"
    "  --key / --no-key    publish with / without an idempotency key\n"
    "                      (throughput: both, one phase each, unless one is given)\n"
    "  --connections N     connections scenario: how many (default 1000)\n"
    "  --subscribe         connections scenario: each subscribes to its own topic\n"
    "  --source-addrs N    spread connections over 127.0.0.1..127.0.0.N (loopback\n"
    "                      URL only; default: as many as the ephemeral port range needs)\n"
    "  --warmup S          reconnect: seconds of publishing before the drop (default 3)\n"
    "  --reset             reconnect: drop with a TCP reset instead of a FIN\n"
    "  --drain S           seconds to wait for the tail after publishing (default 5;\n"
    "                      reconnect 10, counted from the last resume when later)\n"
    "  --broker-pid PID    the broker's pid for CPU and memory (alias --pid);\n"
    "                      default: the process listening on the URL's port\n"
    "  --insecure          accept any TLS certificate (wss://)\n"
    "  --json              print the result as one JSON object\n"
    "Progress goes to stderr once a second; the result to stdout. reconnect exits 1\n"
    "on a gap, a duplicate, a message missing at the end, a subscriber that did not\n"
    "resume or a resume with recovered:false.\n"
    "Latency is wall clock from the publisher's send to the subscriber's\n"
    "receipt (both on this machine); at a fixed rate a full window delays sends,\n"
    "so keep --window above rate x worst latency.\n";

enum {
    O_URL = 2000,
    O_TOKEN,
    O_DURATION,
    O_PUBS,
    O_SUBS,
    O_RATE,
    O_WINDOW,
    O_SIZE,
    O_TOPIC,
    O_PATTERN,
    O_KEY,
    O_NO_KEY,
    O_CONNS,
    O_SUBSCRIBE,
    O_DRAIN,
    O_PID,
    O_INSECURE,
    O_JSON,
    O_SOURCES,
    O_WARMUP,
    O_RESET
};

static const struct option bench_opts[] = {{"url", required_argument, NULL, O_URL},
                                           {"token", required_argument, NULL, O_TOKEN},
                                           {"duration", required_argument, NULL, O_DURATION},
                                           {"publishers", required_argument, NULL, O_PUBS},
                                           {"subscribers", required_argument, NULL, O_SUBS},
                                           {"rate", required_argument, NULL, O_RATE},
                                           {"window", required_argument, NULL, O_WINDOW},
                                           {"size", required_argument, NULL, O_SIZE},
                                           {"topic", required_argument, NULL, O_TOPIC},
                                           {"pattern", no_argument, NULL, O_PATTERN},
                                           {"key", no_argument, NULL, O_KEY},
                                           {"no-key", no_argument, NULL, O_NO_KEY},
                                           {"connections", required_argument, NULL, O_CONNS},
                                           {"subscribe", no_argument, NULL, O_SUBSCRIBE},
                                           {"drain", required_argument, NULL, O_DRAIN},
                                           {"broker-pid", required_argument, NULL, O_PID},
                                           {"pid", required_argument, NULL, O_PID},
                                           {"insecure", no_argument, NULL, O_INSECURE},
                                           {"json", no_argument, NULL, O_JSON},
                                           {"source-addrs", required_argument, NULL, O_SOURCES},
                                           {"warmup", required_argument, NULL, O_WARMUP},
                                           {"reset", no_argument, NULL, O_RESET},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};

/* ---- options ---- */

static const char *option_name(int val)
{
    for (const struct option *o = bench_opts; o->name; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

static int parse_double(const char *s, double *out, double min, double max)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int *out, int min, int max)
{
    double v;
    if (parse_double(s, &v, min, max) < 0 || v != (int)v)
        return -1;
    *out = (int)v;
    return 0;
}

static void scenario_defaults(struct bench_config *cfg)
{
    const char *s = cfg->scenario;
    cfg->url_text = WSB_DEFAULT_URL;
    cfg->duration = 10;
    cfg->drain = 5;
    cfg->size = 100;
    cfg->window = 256;
    cfg->publishers = 1;
    if (strcmp(s, "fanout") == 0) {
        cfg->subscribers = 10;
    } else if (strcmp(s, "latency") == 0) {
        cfg->subscribers = 1;
        cfg->rate = 1000;
        cfg->window = 4000;
    } else if (strcmp(s, "connections") == 0) {
        cfg->publishers = 0;
        cfg->connections = 1000;
        cfg->duration = 3;
    } else if (strcmp(s, "reconnect") == 0) {
        cfg->subscribers = 10000;
        cfg->rate = 200;
        cfg->warmup = 3;
        cfg->drain = 10;
    }
}

/* key_mode: -1 both phases (throughput default), 0 without, 1 with. */
static int apply_option(struct bench_config *cfg, int opt, const char *arg, int *key_mode)
{
    switch (opt) {
    case O_URL:
        cfg->url_text = arg;
        return 0;
    case O_TOKEN:
        cfg->token = arg;
        return 0;
    case O_DURATION:
        return parse_double(arg, &cfg->duration, 0.1, 86400);
    case O_PUBS:
        return parse_int(arg, &cfg->publishers, 0, 100000);
    case O_SUBS:
        return parse_int(arg, &cfg->subscribers, 0, 1000000);
    case O_RATE:
        return parse_double(arg, &cfg->rate, 0, 1e9);
    case O_WINDOW:
        return parse_int(arg, &cfg->window, 1, ACK_RING - 1);
    case O_SIZE:
        return parse_int(arg, &cfg->size, 0, 16 << 20);
    case O_TOPIC:
        cfg->topic = arg;
        return strlen(arg) < 64 && !strpbrk(arg, "\"\\*> ") ? 0 : -1;
    case O_PATTERN:
        cfg->pattern = 1;
        return 0;
    case O_KEY:
    case O_NO_KEY:
        *key_mode = opt == O_KEY;
        return 0;
    case O_CONNS:
        return parse_int(arg, &cfg->connections, 1, 1000000);
    case O_SUBSCRIBE:
        cfg->subscribe_idle = 1;
        return 0;
    case O_DRAIN:
        return parse_double(arg, &cfg->drain, 0, 3600);
    case O_PID: {
        int pid;
        if (parse_int(arg, &pid, 1, 1 << 30) < 0)
            return -1;
        cfg->broker_pid = pid;
        return 0;
    }
    case O_INSECURE:
        cfg->insecure = 1;
        return 0;
    case O_JSON:
        cfg->json = 1;
        return 0;
    case O_SOURCES:
        return parse_int(arg, &cfg->source_addrs, 1, 250);
    case O_WARMUP:
        return parse_double(arg, &cfg->warmup, 0, 3600);
    case O_RESET:
        cfg->reset = 1;
        return 0;
    default:
        return -1;
    }
}

/* ---- measuring ---- */

double bench_cpu_percent(long long t0, long long t1, double seconds)
{
    if (t0 < 0 || t1 < 0 || seconds <= 0)
        return -1;
    return (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / seconds * 100.0;
}

void bench_sample_take(const struct bench *b, struct sample *s)
{
    s->us = clock_mono_us();
    s->self_ticks = proc_cpu_ticks(getpid());
    s->broker_ticks = b->cfg.broker_pid > 0 ? proc_cpu_ticks(b->cfg.broker_pid) : -1;
    s->sent = b->st.sent;
    s->acked = b->st.acked;
    s->delivered = b->st.delivered;
}

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

/* Every connection is closed, or ready for its role. */
static int connections_settled(const struct bench *b)
{
    for (int i = 0; i < b->n_conns; i++) {
        const struct bconn *c = &b->conns[i];
        int wants_sub = c->role == ROLE_SUB || (c->role == ROLE_IDLE && b->cfg.subscribe_idle);
        if (c->phase == BC_NEW || c->phase == BC_CONNECTING)
            return 0;
        if (wants_sub && c->phase == BC_OPEN && !c->sub_refused)
            return 0;
    }
    return 1;
}

/* Opens every connection, subscribers first; waits for welcomes and
 * subscribe acks. 0, or -1 with the reason printed. */
int bench_run_connect(struct bench *b, double timeout_s)
{
    int64_t start = clock_mono_us(), next_report = start + 1000000;
    for (;;) {
        int left = bnet_connect_batch(b, 256);
        bnet_service(b, 5);
        if (!left && connections_settled(b))
            break;
        int64_t now = clock_mono_us();
        if (now > start + (int64_t)(timeout_s * 1e6)) {
            fprintf(stderr, "wsb bench: timed out opening connections (%llu of %d welcomed)\n",
                    (unsigned long long)b->st.welcomed, b->n_conns);
            return -1;
        }
        if (now >= next_report) {
            fprintf(stderr, "[connect] %llu/%d welcomed, %llu failed, %llu subscribed\n",
                    (unsigned long long)b->st.welcomed, b->n_conns,
                    (unsigned long long)b->st.connect_failed, (unsigned long long)b->st.subscribed);
            next_report = now + 1000000;
        }
    }
    return 0;
}

static uint64_t live_subscribers(const struct bench *b)
{
    uint64_t n = 0;
    for (int i = 0; i < b->n_conns; i++)
        n += b->conns[i].role == ROLE_SUB && b->conns[i].phase == BC_SUBSCRIBED;
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
}

/* ---- reporting ---- */

static void print_header(const struct bench *b)
{
    const struct bench_config *c = &b->cfg;
    printf("wsb bench %s: %s", c->scenario, c->url_text);
    if (c->broker_pid > 0)
        printf(" (broker pid %d)", (int)c->broker_pid);
    printf("\n");
    if (strcmp(c->scenario, "connections") == 0) {
        printf("%d connections%s, held %.1f s", c->connections,
               c->subscribe_idle ? " each with a subscription" : "", c->duration);
        if (b->n_src > 1)
            printf(", from %s..%s", b->src_addrs[0], b->src_addrs[b->n_src - 1]);
        printf("\n");
        return;
    }
    printf("%d publisher(s), %d subscriber(s), %s, %s, %d B padding, window %d, %.1f s\n",
           c->publishers, c->subscribers, c->pattern ? "pattern" : "one topic",
           c->rate > 0 ? "paced" : "flat out", c->size, c->window, c->duration);
    if (c->rate > 0)
        printf("offered rate %.0f msg/s\n", c->rate);
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
    print_header(b);
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
           "\"pattern\":%s,\"phases\":[",
           c->scenario, quoted, (int)c->broker_pid, c->publishers, c->subscribers, c->rate,
           c->window, c->size, c->duration, c->pattern ? "true" : "false");
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
        printf("}");
    }
    printf("]");
    if (b->st.first_error[0]) {
        jquote_string(b->st.first_error, quoted, sizeof(quoted));
        printf(",\"first_error\":%s", quoted);
    }
    printf("}\n");
}

/* ---- scenarios ---- */

static int scenario_publish(struct bench *b, int key_mode)
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

static void connections_report(const struct bench *b, const struct conn_result *cr)
{
    long delta = cr->rss_after_kb - cr->rss_before_kb;
    double per = cr->welcomed ? (double)delta * 1024.0 / (double)cr->welcomed : 0;
    double bench_per = cr->welcomed ? (double)(cr->bench_rss_after_kb - cr->bench_rss_before_kb) *
                                          1024.0 / cr->welcomed
                                    : 0;
    if (b->cfg.json) {
        printf("{\"scenario\":\"connections\",\"broker_pid\":%d,\"connections\":%d,"
               "\"welcomed\":%llu,\"failed\":%llu,\"subscribed\":%llu,\"open_seconds\":%.3f,"
               "\"broker_rss_before_kb\":%ld,\"broker_rss_after_kb\":%ld,"
               "\"broker_bytes_per_connection\":%.0f,\"bench_bytes_per_connection\":%.0f,"
               "\"bench_cpu\":%.1f,\"broker_cpu\":%.1f,\"source_addrs\":%d}\n",
               (int)b->cfg.broker_pid, b->cfg.connections, (unsigned long long)cr->welcomed,
               (unsigned long long)cr->failed, (unsigned long long)cr->subscribed, cr->open_seconds,
               cr->rss_before_kb, cr->rss_after_kb, per, bench_per, cr->bench_cpu, cr->broker_cpu,
               b->n_src > 1 ? b->n_src : 1);
        return;
    }
    print_header(b);
    printf("%-34s %12llu\n", "welcomed", (unsigned long long)cr->welcomed);
    printf("%-34s %12llu\n", "failed", (unsigned long long)cr->failed);
    if (b->cfg.subscribe_idle)
        printf("%-34s %12llu\n", "subscribed", (unsigned long long)cr->subscribed);
    printf("%-34s %12.3f s\n", "time to open all", cr->open_seconds);
    if (cr->rss_before_kb > 0) {
        printf("%-34s %12.1f MiB\n", "broker rss before", cr->rss_before_kb / 1024.0);
        printf("%-34s %12.1f MiB\n", "broker rss with connections", cr->rss_after_kb / 1024.0);
        printf("%-34s %12.0f B\n", "broker memory per connection", per);
    } else {
        printf("broker memory: unknown (give --broker-pid)\n");
    }
    printf("%-34s %12.0f B\n", "bench memory per connection", bench_per);
    printf("%-34s %12.1f %%\n", "cpu while opening: bench", cr->bench_cpu);
    if (cr->broker_cpu >= 0)
        printf("%-34s %12.1f %%\n", "cpu while opening: broker", cr->broker_cpu);
    if (b->st.first_error[0])
        printf("first error: %s\n", b->st.first_error);
}

static int scenario_connections(struct bench *b)
{
    struct conn_result cr;
    struct sample s0, s1;
    memset(&cr, 0, sizeof(cr));
    pid_t pid = b->cfg.broker_pid;
    cr.rss_before_kb = pid > 0 ? proc_rss_kb(pid) : -1;
    cr.bench_rss_before_kb = proc_rss_kb(getpid());
    bench_sample_take(b, &s0);
    int rc = bench_run_connect(b, 60 + b->n_conns / 200.0);
    bench_sample_take(b, &s1);
    cr.open_seconds = (double)(s1.us - s0.us) / 1e6;
    cr.bench_cpu = bench_cpu_percent(s0.self_ticks, s1.self_ticks, cr.open_seconds);
    cr.broker_cpu = bench_cpu_percent(s0.broker_ticks, s1.broker_ticks, cr.open_seconds);
    /* Hold them: a slow broker may still be settling its memory. */
    int64_t end = clock_mono_us() + (int64_t)(b->cfg.duration * 1e6);
    while (clock_mono_us() < end)
        bnet_service(b, 100);
    cr.welcomed = b->st.welcomed;
    cr.failed = b->st.connect_failed;
    cr.subscribed = b->st.subscribed;
    cr.rss_after_kb = pid > 0 ? proc_rss_kb(pid) : -1;
    cr.bench_rss_after_kb = proc_rss_kb(getpid());
    connections_report(b, &cr);
    if (rc < 0)
        return CLI_CONNECT;
    return cr.failed || b->st.broker_closed ? CLI_FAIL : CLI_OK;
}

static int known_scenario(const char *s)
{
    return strcmp(s, "fanout") == 0 || strcmp(s, "throughput") == 0 || strcmp(s, "latency") == 0 ||
           strcmp(s, "connections") == 0 || strcmp(s, "reconnect") == 0;
}

static void find_broker(struct bench *b)
{
    if (b->cfg.broker_pid > 0)
        return;
    const char *h = b->cfg.url.host;
    if (strcmp(h, "127.0.0.1") == 0 || strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 ||
        strcmp(h, "0.0.0.0") == 0) {
        pid_t pid = proc_find_listener(b->cfg.url.port);
        if (pid > 0)
            b->cfg.broker_pid = pid;
    }
    if (b->cfg.broker_pid <= 0)
        fprintf(stderr, "wsb bench: broker pid unknown: no broker CPU or memory "
                        "(give --broker-pid)\n");
}

int cli_bench(int argc, char **argv)
{
    struct bench *b;
    char err[512], topic[64];
    int key_mode = -1, opt;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(bench_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (!known_scenario(argv[1])) {
        fprintf(stderr, "wsb bench: unknown scenario '%s'\n", argv[1]);
        return CLI_USAGE;
    }
    b = calloc(1, sizeof(*b));
    if (!b)
        return CLI_FAIL;
    b->cfg.scenario = argv[1];
    scenario_defaults(&b->cfg);
    optind = 2;
    while ((opt = getopt_long(argc, argv, "h", bench_opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(bench_usage, stdout);
            free(b);
            return CLI_OK;
        }
        if (apply_option(&b->cfg, opt, optarg, &key_mode) < 0) {
            if (opt != '?')
                fprintf(stderr, "wsb bench: bad value for --%s: %s\n", option_name(opt),
                        optarg ? optarg : "");
            free(b);
            return CLI_USAGE;
        }
    }
    if (optind < argc || wsb_url_parse(b->cfg.url_text, &b->cfg.url, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsb bench: %s\n",
                optind < argc ? "unexpected argument (see wsb bench --help)" : err);
        free(b);
        return CLI_USAGE;
    }
    if (!b->cfg.topic) {
        snprintf(topic, sizeof(topic), "bench.%s", b->cfg.scenario);
        b->cfg.topic = topic;
    }
    int publishing = strcmp(b->cfg.scenario, "connections") != 0;
    if (publishing && b->cfg.publishers == 0) {
        fprintf(stderr, "wsb bench: %s needs at least one publisher\n", b->cfg.scenario);
        free(b);
        return CLI_USAGE;
    }
    int reconnect = strcmp(b->cfg.scenario, "reconnect") == 0;
    if (reconnect && (b->cfg.publishers != 1 || b->cfg.rate <= 0 || b->cfg.subscribers < 1)) {
        fprintf(stderr, "wsb bench: reconnect takes one publisher, a rate above 0 and "
                        "at least one subscriber\n");
        free(b);
        return CLI_USAGE;
    }
    if (strcmp(b->cfg.scenario, "throughput") == 0)
        b->cfg.subscribers = 0;
    else if (key_mode < 0)
        key_mode = 0;
    lws_set_log_level(0, NULL);
    find_broker(b);
    int rc = CLI_FAIL;
    if (reconnect && brc_prepare(b) < 0)
        fprintf(stderr, "wsb bench: out of memory\n");
    else if (bnet_init(b, err, sizeof(err)) < 0)
        fprintf(stderr, "wsb bench: %s\n", err);
    else if (reconnect)
        rc = brc_run(b);
    else
        rc = publishing ? scenario_publish(b, key_mode) : scenario_connections(b);
    fflush(stdout);
    bnet_free(b);
    brc_free(b);
    free(b);
    return rc;
}
