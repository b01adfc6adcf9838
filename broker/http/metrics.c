/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: renders the counters of core.c and store.c (see metrics.h),
 * and the process figures every Prometheus client exports.
 *
 * Names follow Prometheus's conventions: base units (seconds, bytes), a
 * counter ends in _total, and no gauge shares a counter's family name
 * (`wsbroker_connections` is open connections, so the accepted ones are
 * `wsbroker_connections_accepted_total`). The process_* figures come from
 * /proc/self at each scrape; where /proc cannot be read they are left out.
 */
#include "http/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/config.h"
#include "http/reply.h"

#ifndef WSB_VERSION
#define WSB_VERSION "0.0.0"
#endif

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metric {
    const char *name;
    const char *type;
    const char *help;
    uint64_t value;
};

/* "topic_rules":[{"pattern":P,"retain":N,"retain_age":S,"conflate":B},...]
 * with the keys each rule gives (the others take the global values). */
static void append_topic_rules(struct sbuf *out, const struct topic_rules *rules)
{
    sbuf_add_str(out, ",\"topic_rules\":[");
    for (size_t i = 0; rules && i < rules->count; i++) {
        const struct topic_rule *rule = &rules->items[i];
        sbuf_add_str(out, i ? ",{\"pattern\":" : "{\"pattern\":");
        sbuf_add_json_string(out, rule->pattern);
        if (rule->retain != TOPIC_RULE_UNSET) {
            sbuf_add_str(out, ",\"retain\":");
            sbuf_add_u64(out, (uint64_t)rule->retain);
        }
        if (rule->retain_age != TOPIC_RULE_UNSET) {
            sbuf_add_str(out, ",\"retain_age\":");
            sbuf_add_u64(out, (uint64_t)rule->retain_age);
        }
        if (rule->conflate != TOPIC_RULE_UNSET)
            sbuf_add_str(out, rule->conflate ? ",\"conflate\":true" : ",\"conflate\":false");
        sbuf_add_str(out, "}");
    }
    sbuf_add_str(out, "]");
}

/* One "name":value member of a JSON object, the first without a comma. */
struct stat_field {
    const char *name;
    uint64_t value;
};

static void append_fields(struct sbuf *out, const struct stat_field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sbuf_add_str(out, i ? ",\"" : "\"");
        sbuf_add_str(out, fields[i].name);
        sbuf_add_str(out, "\":");
        sbuf_add_u64(out, fields[i].value);
    }
}

/* Which engine runs; for a shared one, this node's link to it. */
static void append_engine(struct sbuf *out, const struct store_stats *st)
{
    sbuf_add_str(out, ",\"engine\":");
    sbuf_add_json_string(out, st->engine);
    if (!st->shared)
        return;
    char text[256];
    snprintf(text, sizeof(text),
             ",\"redis\":{\"node\":\"%s\",\"connected\":%s,\"rtt_us\":%llu,"
             "\"delivered_seq\":%llu,\"gap_repairs\":%llu}",
             st->node, st->connected ? "true" : "false", (unsigned long long)st->rtt_us,
             (unsigned long long)st->delivered_seq, (unsigned long long)st->gap_repairs);
    sbuf_add_str(out, text);
}

void metrics_render_stats(const struct core *core, const struct store *store,
                          const struct topic_rules *rules, struct sbuf *out)
{
    const struct core_counters *c = core_get_counters(core);
    struct store_stats st;
    store_get_stats(store, &st);
    const struct stat_field gauges[] = {
        {"connections", core_session_count(core)},
        {"subscriptions", core_subscription_count(core)},
        {"topics", core_topic_count(core)},
        {"seq", core_last_seq(core)},
    };
    const struct stat_field counters[] = {
        {"connections_total", c->connections_total},
        {"messages_published", c->messages_published},
        {"messages_delivered", c->messages_delivered},
        {"messages_dropped", c->messages_dropped},
        {"messages_conflated", c->messages_conflated},
        {"publish_duplicates", c->publish_duplicates},
        {"slow_consumer_disconnects", c->slow_consumer_closes},
        {"rate_limited", c->rate_limited},
        {"errors", c->errors},
        {"accept_pauses", c->accept_pauses},
        {"store_commits", st.commits},
        {"store_trimmed", st.trimmed},
        {"store_db_bytes", st.db_bytes},
        {"store_live_topics", st.live_topics},
        {"store_refused_full", st.refused_full},
    };
    sbuf_add_str(out, "{");
    append_fields(out, gauges, sizeof(gauges) / sizeof(gauges[0]));
    sbuf_add_str(out, ",\"epoch\":");
    sbuf_add_json_string(out, store_epoch(store));
    sbuf_add_str(out,
                 store_healthy(store) ? ",\"store_healthy\":true" : ",\"store_healthy\":false");
    append_engine(out, &st);
    append_topic_rules(out, rules);
    sbuf_add_str(out, ",\"counters\":{");
    append_fields(out, counters, sizeof(counters) / sizeof(counters[0]));
    sbuf_add_str(out, "}}");
}

/* The engine's metrics: which runs, and a shared one's link. */
static void engine_metrics(struct sbuf *out, const struct store_stats *st)
{
    char text[640];
    snprintf(text, sizeof(text),
             "# HELP wsbroker_store_engine_info The store engine that runs.\n"
             "# TYPE wsbroker_store_engine_info gauge\n"
             "wsbroker_store_engine_info{engine=\"%s\"} 1\n",
             st->engine);
    sbuf_add_str(out, text);
    if (!st->shared)
        return;
    snprintf(text, sizeof(text),
             "# HELP wsbroker_redis_connected 1 while the link to Redis is up.\n"
             "# TYPE wsbroker_redis_connected gauge\n"
             "wsbroker_redis_connected %d\n"
             "# HELP wsbroker_redis_rtt_seconds The last round trip to Redis (the epoch poll).\n"
             "# TYPE wsbroker_redis_rtt_seconds gauge\n"
             "wsbroker_redis_rtt_seconds %.6f\n"
             "# HELP wsbroker_redis_gap_repairs_total Messages read back from the feed that "
             "pub/sub lost.\n"
             "# TYPE wsbroker_redis_gap_repairs_total counter\n"
             "wsbroker_redis_gap_repairs_total %llu\n",
             st->connected ? 1 : 0, (double)st->rtt_us / 1e6,
             (unsigned long long)st->gap_repairs);
    sbuf_add_str(out, text);
}

/* One family of one sample: HELP, TYPE, and the value as `value_text`. */
static void metric_family(struct sbuf *out, const char *name, const char *type, const char *help,
                          const char *value_text)
{
    char line[512];
    snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, type,
             name, value_text);
    sbuf_add_str(out, line);
}

static void metric_line(struct sbuf *out, const struct metric *m)
{
    char value[24];
    snprintf(value, sizeof(value), "%llu", (unsigned long long)m->value);
    metric_family(out, m->name, m->type, m->help, value);
}

static void commit_histogram(struct sbuf *out, const struct store_stats *st)
{
    sbuf_add_str(out, "# HELP wsbroker_store_commit_seconds Time of one store COMMIT "
                      "(group commit, including fsync).\n"
                      "# TYPE wsbroker_store_commit_seconds histogram\n");
    uint64_t cumulative = 0;
    char line[160];
    for (size_t b = 0; b < STORE_COMMIT_BUCKETS; b++) {
        cumulative += st->commit_buckets[b];
        if (b + 1 < STORE_COMMIT_BUCKETS)
            snprintf(line, sizeof(line), "wsbroker_store_commit_seconds_bucket{le=\"%g\"} %llu\n",
                     (double)store_commit_bucket_us[b] / 1e6, (unsigned long long)cumulative);
        else
            snprintf(line, sizeof(line), "wsbroker_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
                     (unsigned long long)cumulative);
        sbuf_add_str(out, line);
    }
    snprintf(line, sizeof(line),
             "wsbroker_store_commit_seconds_sum %.6f\nwsbroker_store_commit_seconds_count %llu\n",
             (double)st->commit_us_total / 1e6, (unsigned long long)st->commits);
    sbuf_add_str(out, line);
}

/* --- process_*, from /proc/self ------------------------------------------- */

/* The system's boot time (seconds since the epoch), from /proc/stat. */
static long long process_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    char line[256];
    long long btime = -1;
    while (f && btime < 0 && fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lld", &btime) != 1)
            btime = -1;
    if (f)
        fclose(f);
    return btime;
}

/* Open descriptors: the entries of /proc/self/fd, less the one reading it. */
static long long process_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    long long n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n - 1;
}

/* A figure that may have a fraction (seconds). */
static void process_line(struct sbuf *out, const char *name, const char *type, const char *help,
                         double value)
{
    char text[32];
    snprintf(text, sizeof(text), "%.15g", value);
    metric_family(out, name, type, help, text);
}

/* CPU time, start time and memory from /proc/self/stat (fields 14, 15, 22,
 * 23 and 24 of proc(5)), and the descriptors. */
static void process_metrics(struct sbuf *out)
{
    char stat[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    size_t len = f ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
    if (f)
        fclose(f);
    stat[len] = '\0';
    const char *after_name = strrchr(stat, ')'); /* the name may hold spaces */
    unsigned long long utime, stime, start, vsize, rss;
    double tick = (double)sysconf(_SC_CLK_TCK);
    long long boot = process_boot_time(), fds = process_open_fds();
    if (!after_name || tick <= 0 || boot < 0 || fds < 0 ||
        sscanf(after_name + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %llu",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return;
    struct rlimit nofile;
    process_line(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.",
                 (double)(utime + stime) / tick);
    process_line(out, "process_start_time_seconds", "gauge",
                 "Start time of the process since the Unix epoch.",
                 (double)boot + (double)start / tick);
    process_line(out, "process_resident_memory_bytes", "gauge", "Resident memory size.",
                 (double)rss * (double)sysconf(_SC_PAGESIZE));
    process_line(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size.",
                 (double)vsize);
    process_line(out, "process_open_fds", "gauge", "Open file descriptors.", (double)fds);
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
        process_line(out, "process_max_fds", "gauge", "Limit of open file descriptors.",
                     (double)nofile.rlim_cur);
}

void metrics_render_prometheus(const struct core *core, const struct store *store, struct sbuf *out)
{
    const struct core_counters *c = core_get_counters(core);
    struct store_stats st;
    store_get_stats(store, &st);
    const struct metric metrics[] = {
        {"wsbroker_connections", "gauge", "Open WebSocket and SSE connections.",
         core_session_count(core)},
        {"wsbroker_subscriptions", "gauge", "Subscriptions held.", core_subscription_count(core)},
        {"wsbroker_topics", "gauge", "Distinct subscribed names and patterns.",
         core_topic_count(core)},
        {"wsbroker_last_seq", "gauge", "Newest seq delivered.", core_last_seq(core)},
        {"wsbroker_store_healthy", "gauge", "1 while the store can be written.",
         store_healthy(store) ? 1 : 0},
        {"wsbroker_store_db_bytes", "gauge", "Bytes of the store's pages in use.", st.db_bytes},
        {"wsbroker_store_live_topics", "gauge", "Topics holding at least one message.",
         st.live_topics},
        {"wsbroker_connections_accepted_total", "counter", "Connections accepted.",
         c->connections_total},
        {"wsbroker_messages_published_total", "counter", "Messages stored and fanned out.",
         c->messages_published},
        {"wsbroker_messages_delivered_total", "counter", "Messages queued to subscribers.",
         c->messages_delivered},
        {"wsbroker_messages_dropped_total", "counter",
         "Messages dropped from the queues of cut-off slow consumers.", c->messages_dropped},
        {"wsbroker_messages_conflated_total", "counter",
         "Queued messages a newer one of their topic replaced (conflated subscriptions).",
         c->messages_conflated},
        {"wsbroker_publish_duplicates_total", "counter",
         "Publishes answered from the dedupe window.", c->publish_duplicates},
        {"wsbroker_slow_consumer_disconnects_total", "counter",
         "Connections closed with 4000 (backlog over the limit).", c->slow_consumer_closes},
        {"wsbroker_rate_limited_total", "counter", "Frames refused by the rate limit.",
         c->rate_limited},
        {"wsbroker_errors_total", "counter", "Error replies sent.", c->errors},
        {"wsbroker_accept_pauses_total", "counter",
         "Times accepting paused 100 ms for want of file descriptors.", c->accept_pauses},
        {"wsbroker_store_commits_total", "counter", "Store transactions committed.", st.commits},
        {"wsbroker_store_messages_trimmed_total", "counter", "Messages removed by retention.",
         st.trimmed},
        {"wsbroker_store_refused_full_total", "counter",
         "Publishes refused at --max-db-size or --max-topics.", st.refused_full},
    };
    sbuf_add_str(out, "# HELP wsbroker_build_info The broker's version.\n"
                      "# TYPE wsbroker_build_info gauge\n"
                      "wsbroker_build_info{version=\"" WSB_VERSION "\"} 1\n");
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
        metric_line(out, &metrics[i]);
    commit_histogram(out, &st);
    engine_metrics(out, &st);
    process_metrics(out);
}

int metrics_serve(const struct http_ctx *ctx, struct lws *wsi, bool prometheus)
{
    struct sbuf b;
    sbuf_init(&b);
    if (prometheus)
        metrics_render_prometheus(ctx->core, ctx->store, &b);
    else
        metrics_render_stats(ctx->core, ctx->store, &ctx->cfg->topic_rules, &b);
    int rc = sbuf_failed(&b) ? -1
                             : reply_send(wsi, ctx->cfg, HTTP_STATUS_OK,
                                          prometheus ? METRICS_CONTENT_TYPE : "application/json",
                                          b.data, b.len);
    sbuf_free(&b);
    return rc;
}
