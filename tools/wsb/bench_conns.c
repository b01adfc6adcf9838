/* SPDX-License-Identifier: MIT */
/*
 * bench_conns.c: the connections scenario of `wsb bench`: N idle
 * connections (each with a subscription of its own with --subscribe),
 * held for a while; the broker's resident memory per connection from
 * /proc. Past one source address's ephemeral ports (~28k) they come from
 * 127.0.0.2, ... too (bench_net.c).
 */
#include "bench.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct conn_result {
    double open_seconds;
    uint64_t welcomed, failed, subscribed;
    long rss_before_kb, rss_after_kb, bench_rss_before_kb, bench_rss_after_kb;
    double bench_cpu, broker_cpu;
};

static void print_setup(const struct bench *b)
{
    const struct bench_config *c = &b->cfg;
    printf("%d connections%s, held %.1f s", c->connections,
           c->subscribe_idle ? " each with a subscription" : "", c->duration);
    if (b->n_src > 1)
        printf(", from %s..%s", b->src_addrs[0], b->src_addrs[b->n_src - 1]);
    printf("\n");
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
    bench_print_header(b);
    print_setup(b);
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

int bench_conns_run(struct bench *b, int key_mode)
{
    (void)key_mode;
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
