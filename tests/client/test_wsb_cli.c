/* SPDX-License-Identifier: MIT */
/*
 * test_wsb_cli.c: the `wsb` command line tool against the real broker.
 *
 * Runs the binary (WSB_BIN) as a user or a script would: its stdout lines,
 * its stderr messages and its exit statuses (0 ok, 1 refused or bad input,
 * 2 usage, 3 broker unreachable) are the contract checked here.
 */
#include "cli_run.h"
#include "fake_broker.h"
#include "libwsb_fixture.h"

#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(test_pub_one_message)
{
    struct run r;
    char topic[64];
    topic_name(topic, sizeof(topic), "cli.one");
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", shared_broker.url, topic, "{\"px\":1.5}", NULL),
                     0);
    ck_assert_int_eq(count_lines(r.out), 1);
    ck_assert_int_gt(line_int(r.out, 0, "seq"), 0);
    ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(test_pub_stdin_lines_with_key_twice)
{
    struct run r1, r2;
    char topic[64];
    const char *input = "{\"a\":1}\n\n{\"a\":2}\n\"three\"\n";
    topic_name(topic, sizeof(topic), "cli.lines");
    ck_assert_int_eq(
        wsb(&r1, input, "pub", "--url", shared_broker.url, "--key", "batch", topic, NULL), 0);
    ck_assert_int_eq(count_lines(r1.out), 3);
    ck_assert_int_eq(line_int(r1.out, 0, "line"), 1);
    ck_assert_int_eq(line_int(r1.out, 1, "line"), 3); /* the blank line 2 is skipped */
    ck_assert_int_eq(line_int(r1.out, 2, "line"), 4);
    /* The same input again: keys batch:1, batch:3, batch:4 were seen. */
    ck_assert_int_eq(
        wsb(&r2, input, "pub", "--url", shared_broker.url, "--key", "batch", topic, NULL), 0);
    ck_assert_int_eq(count_lines(r2.out), 3);
    for (int i = 0; i < 3; i++) {
        json_t *v = line_json(r2.out, i);
        ck_assert(json_is_true(json_object_get(v, "duplicate")));
        ck_assert_int_eq(json_integer_value(json_object_get(v, "seq")), line_int(r1.out, i, "seq"));
        json_decref(v);
    }
    struct run h;
    ck_assert_int_eq(wsb(&h, NULL, "history", "--url", shared_broker.url, topic, NULL), 0);
    ck_assert_int_eq(count_lines(h.out), 3);
}
END_TEST

START_TEST(test_pub_errors_and_exit_codes)
{
    struct run r;
    char url[64], topic[64];
    topic_name(topic, sizeof(topic), "cli.err");
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", shared_broker.url, topic, "{nope", NULL), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "not valid JSON"));
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", shared_broker.url, "a..b", "1", NULL), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "invalid_topic"));
    /* A bad stdin line stops the input; what came before is published. */
    ck_assert_int_eq(wsb(&r, "1\nnot json\n3\n", "pub", "--url", shared_broker.url, topic, NULL),
                     1);
    ck_assert_int_eq(count_lines(r.out), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "line 2"));
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws", harness_free_port());
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", url, topic, "1", NULL), 3);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot connect"));
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", "http://x", topic, "1", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "pub", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--bogus", "t", "1", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "sub", "--url", shared_broker.url, NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "sub", "--since", "1", "--last", "2", "t", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "sub", "--count", "0", "t", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "history", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "frobnicate", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, NULL), 2);
}
END_TEST

START_TEST(test_help)
{
    struct run r;
    const char *cmds[] = {"pub", "sub", "history", "bench"};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(wsb(&r, NULL, cmds[i], "--help", NULL), 0);
        char want[64];
        snprintf(want, sizeof(want), "Usage: wsb %s", cmds[i]);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s --help: %s", cmds[i], r.out);
    }
    ck_assert_int_eq(wsb(&r, NULL, "--help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "history"));
}
END_TEST

START_TEST(test_sub_since_count_and_overlap)
{
    struct run p, s;
    char topic[64], pattern[64], since[32];
    topic_name(topic, sizeof(topic), "cli.sub");
    snprintf(pattern, sizeof(pattern), "cli.*");
    ck_assert_int_eq(wsb(&p, "1\n2\n3\n", "pub", "--url", shared_broker.url, topic, NULL), 0);
    snprintf(since, sizeof(since), "%lld", (long long)line_int(p.out, 0, "seq") - 1);
    /* Both patterns match: every message is still printed once. */
    ck_assert_int_eq(wsb(&s, NULL, "sub", "--url", shared_broker.url, "--since", since, "--count",
                         "3", topic, pattern, NULL),
                     0);
    ck_assert_int_eq(count_lines(s.out), 3);
    for (int i = 0; i < 3; i++) {
        json_t *v = line_json(s.out, i);
        ck_assert_str_eq(json_string_value(json_object_get(v, "topic")), topic);
        ck_assert_int_eq(json_integer_value(json_object_get(v, "seq")), line_int(p.out, i, "seq"));
        ck_assert_int_eq(json_integer_value(json_object_get(v, "data")), i + 1);
        ck_assert(json_integer_value(json_object_get(v, "ts")) > 1600000000000LL);
        json_decref(v);
    }
}
END_TEST

START_TEST(test_sub_live)
{
    struct run s, p;
    char topic[64];
    const char *args[] = {"sub", "--url", shared_broker.url, "--count", "1", NULL, NULL};
    topic_name(topic, sizeof(topic), "cli.live");
    args[5] = topic;
    run_start(&s, args);
    run_feed(&s, NULL);
    /* Publish until the subscriber has one and exits (it may not be
     * subscribed yet when the first ones go out). */
    long long deadline = harness_now_ms() + 10000;
    int exited = 0;
    while (!exited && harness_now_ms() < deadline) {
        ck_assert_int_eq(wsb(&p, NULL, "pub", "--url", shared_broker.url, topic, "\"ping\"", NULL),
                         0);
        exited = waitpid(s.pid, &s.status, WNOHANG) == s.pid;
    }
    ck_assert(exited);
    ck_assert_int_eq(WEXITSTATUS(s.status), 0);
    s.pid = 0;
    drain(&s.out_fd, s.out, sizeof(s.out), &s.out_len);
    ck_assert_int_eq(count_lines(s.out), 1);
    json_t *v = line_json(s.out, 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "data")), "ping");
    json_decref(v);
}
END_TEST

START_TEST(test_binary_and_history)
{
    struct run p, h, s;
    char topic[64];
    topic_name(topic, sizeof(topic), "cli.bin");
    ck_assert_int_eq(
        wsb(&p, "\x01\x02hello\xff", "pub", "--url", shared_broker.url, "--binary", topic, NULL),
        0);
    ck_assert_int_eq(wsb(&h, NULL, "history", "--url", shared_broker.url, topic, NULL), 0);
    ck_assert_int_eq(count_lines(h.out), 1);
    json_t *v = line_json(h.out, 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "encoding")), "base64");
    ck_assert_str_eq(json_string_value(json_object_get(v, "data")), "AQJoZWxsb/8=");
    json_decref(v);
    ck_assert_int_eq(wsb(&s, NULL, "sub", "--url", shared_broker.url, "--last", "1", "--count", "1",
                         topic, NULL),
                     0);
    ck_assert_str_eq(s.out, h.out);
}
END_TEST

START_TEST(test_history_since_limit)
{
    struct run p, h;
    char topic[64], since[32];
    topic_name(topic, sizeof(topic), "cli.hist");
    ck_assert_int_eq(wsb(&p, "1\n2\n3\n4\n5\n", "pub", "--url", shared_broker.url, topic, NULL), 0);
    snprintf(since, sizeof(since), "%lld", (long long)line_int(p.out, 1, "seq"));
    ck_assert_int_eq(
        wsb(&h, NULL, "history", "--url", shared_broker.url, topic, "--since", since, NULL), 0);
    ck_assert_int_eq(count_lines(h.out), 3);
    ck_assert_int_eq(line_int(h.out, 0, "data"), 3);
    ck_assert_int_eq(
        wsb(&h, NULL, "history", "--url", shared_broker.url, topic, "--limit", "2", NULL), 0);
    ck_assert_int_eq(count_lines(h.out), 2);
    ck_assert_ptr_nonnull(strstr(h.err, "--since"));
    ck_assert_int_eq(wsb(&h, NULL, "history", "--url", shared_broker.url, "a..b", NULL), 1);
}
END_TEST

START_TEST(test_sub_output_works_with_jq)
{
    char cmd[1024], topic[64], out[256] = "";
    struct run p;
    if (system("command -v jq >/dev/null 2>&1") != 0)
        return; /* no jq on this machine */
    topic_name(topic, sizeof(topic), "cli.jq");
    ck_assert_int_eq(
        wsb(&p, NULL, "pub", "--url", shared_broker.url, topic, "{\"px\":189.2}", NULL), 0);
    snprintf(cmd, sizeof(cmd), "'%s' sub --url %s --last 1 --count 1 %s | jq -c .data.px",
             harness_wsb_bin(), shared_broker.url, topic);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(out, sizeof(out), f));
    ck_assert_int_eq(pclose(f), 0);
    ck_assert_str_eq(out, "189.2\n");
}
END_TEST

/* The JSON result of a bench run; caller decrefs. */
static json_t *bench_json(struct run *r)
{
    json_error_t err;
    json_t *v = json_loads(r->out, 0, &err);
    ck_assert_msg(v != NULL, "bench output is not JSON: %s", r->out);
    return v;
}

START_TEST(test_bench_fanout_and_throughput)
{
    struct run r;
    char topic[64];
    topic_name(topic, sizeof(topic), "cli.bench");
    ck_assert_int_eq(wsb(&r, NULL, "bench", "fanout", "--url", shared_broker.url, "--duration",
                         "1.2", "--subscribers", "3", "--publishers", "2", "--topic", topic,
                         "--json", NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(r.err, "sent")); /* live progress on stderr */
    json_t *v = bench_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "broker_pid")), shared_broker.pid);
    json_t *phase = json_array_get(json_object_get(v, "phases"), 0);
    json_int_t acked = json_integer_value(json_object_get(phase, "acked"));
    ck_assert_int_gt(acked, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(phase, "expected")), acked * 3);
    ck_assert_int_eq(json_integer_value(json_object_get(phase, "delivered")), acked * 3);
    ck_assert_int_eq(json_integer_value(json_object_get(phase, "dups")), 0);
    json_t *lat = json_object_get(phase, "latency_us");
    ck_assert_int_eq(json_integer_value(json_object_get(lat, "count")), acked * 3);
    ck_assert(json_real_value(json_object_get(phase, "broker_cpu")) > 0);
    json_decref(v);

    ck_assert_int_eq(wsb(&r, NULL, "bench", "throughput", "--url", shared_broker.url, "--duration",
                         "0.3", "--topic", topic, "--json", NULL),
                     0);
    v = bench_json(&r);
    json_t *phases = json_object_get(v, "phases");
    ck_assert_uint_eq(json_array_size(phases), 2); /* without and with key */
    for (size_t i = 0; i < 2; i++) {
        phase = json_array_get(phases, i);
        ck_assert_int_gt(json_integer_value(json_object_get(phase, "acked")), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(phase, "refused")), 0);
    }
    json_decref(v);
    /* One topic per publisher (the compare.sh durable scenario). */
    ck_assert_int_eq(wsb(&r, NULL, "bench", "throughput", "--url", shared_broker.url, "--duration",
                         "0.3", "--publishers", "3", "--pattern", "--no-key", "--topic", topic,
                         "--json", NULL),
                     0);
    v = bench_json(&r);
    ck_assert(json_is_true(json_object_get(v, "pattern")));
    phases = json_object_get(v, "phases");
    ck_assert_uint_eq(json_array_size(phases), 1);
    ck_assert_int_gt(json_integer_value(json_object_get(json_array_get(phases, 0), "acked")), 0);
    json_decref(v);
    /* The table form. */
    ck_assert_int_eq(wsb(&r, NULL, "bench", "latency", "--url", shared_broker.url, "--duration",
                         "0.5", "--rate", "200", "--topic", topic, NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(r.out, "latency p99.9"));
}
END_TEST

START_TEST(test_bench_connections)
{
    struct run r;
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)shared_broker.pid);
    ck_assert_int_eq(wsb(&r, NULL, "bench", "connections", "--url", shared_broker.url,
                         "--connections", "200", "--subscribe", "--duration", "0.2", "--broker-pid",
                         pid, "--json", NULL),
                     0);
    json_t *v = bench_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "welcomed")), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "subscribed")), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "failed")), 0);
    ck_assert(json_integer_value(json_object_get(v, "broker_rss_after_kb")) > 0);
    json_decref(v);
    /* Spread over two loopback source addresses (bound before connect). */
    ck_assert_int_eq(wsb(&r, NULL, "bench", "connections", "--url", shared_broker.url,
                         "--connections", "50", "--source-addrs", "2", "--duration", "0.1",
                         "--json", NULL),
                     0);
    v = bench_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "welcomed")), 50);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "source_addrs")), 2);
    json_decref(v);
    ck_assert_int_eq(wsb(&r, NULL, "bench", "nonsense", NULL), 2);
    ck_assert_int_eq(wsb(&r, NULL, "bench", "fanout", "--rate", "-1", NULL), 2);
}
END_TEST

/* Several broker URLs (here the same broker twice): fanout spreads the
 * subscribers round robin and reports each URL's deliveries and CPU;
 * reconnect resumes the dropped subscribers on the second URL. */
START_TEST(test_bench_several_urls)
{
    struct run r;
    char topic[64], urls[256];
    topic_name(topic, sizeof(topic), "cli.nodes");
    snprintf(urls, sizeof(urls), "%s,%s", shared_broker.url, shared_broker.url);
    ck_assert_int_eq(wsb(&r, NULL, "bench", "fanout", "--url", urls, "--duration", "0.5",
                         "--subscribers", "3", "--rate", "200", "--aux-pid", "1", "--topic", topic,
                         "--json", NULL),
                     0);
    json_t *v = bench_json(&r);
    json_t *phase = json_array_get(json_object_get(v, "phases"), 0);
    json_int_t acked = json_integer_value(json_object_get(phase, "acked"));
    ck_assert_int_gt(acked, 0);
    json_t *nodes = json_object_get(phase, "nodes");
    ck_assert_uint_eq(json_array_size(nodes), 2);
    json_t *first = json_array_get(nodes, 0), *second = json_array_get(nodes, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "delivered")), acked * 2);
    ck_assert_int_eq(json_integer_value(json_object_get(second, "delivered")), acked);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "acked")), acked);
    ck_assert_int_eq(json_integer_value(json_object_get(second, "pid")), shared_broker.pid);
    json_t *total = json_object_get(phase, "nodes_total");
    ck_assert_int_eq(json_integer_value(json_object_get(total, "delivered")), acked * 3);
    ck_assert(json_is_number(json_object_get(phase, "aux_cpu_s")));
    json_decref(v);

    ck_assert_int_eq(wsb(&r, NULL, "bench", "reconnect", "--url", shared_broker.url, "--url",
                         shared_broker.url, "--subscribers", "5", "--warmup", "0.3", "--duration",
                         "0.5", "--topic", topic, "--json", NULL),
                     0);
    v = bench_json(&r);
    ck_assert(json_is_true(json_object_get(v, "failover")));
    ck_assert_int_eq(json_integer_value(json_object_get(v, "resumed")), 5);
    nodes = json_object_get(v, "storm_nodes");
    ck_assert_uint_eq(json_array_size(nodes), 2);
    /* Only the control stays on the first URL after the drop. */
    json_int_t resumed_deliveries =
        json_integer_value(json_object_get(json_array_get(nodes, 1), "delivered"));
    ck_assert_int_gt(resumed_deliveries, 0);
    json_decref(v);
    ck_assert_int_eq(wsb(&r, NULL, "bench", "connections", "--url", urls, NULL), 2);
}
END_TEST

/* Every subscriber dropped mid-stream resumes with since: no gap, no
 * duplicate, everything recovered. */
START_TEST(test_bench_reconnect)
{
    struct run r;
    char topic[64];
    topic_name(topic, sizeof(topic), "cli.reconnect");
    ck_assert_int_eq(wsb(&r, NULL, "bench", "reconnect", "--url", shared_broker.url,
                         "--subscribers", "20", "--warmup", "0.6", "--duration", "1", "--topic",
                         topic, "--json", NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(r.err, "resumed")); /* progress after the drop */
    json_t *v = bench_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "subscribers")), 20);
    ck_assert_int_gt(json_integer_value(json_object_get(v, "drop_seq")), 0);
    ck_assert_int_gt(json_integer_value(json_object_get(v, "published")), 100);
    const char *counts[] = {"welcomed", "subscribed", "resumed"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(v, counts[i])), 20);
    const char *zeros[] = {"gaps", "dups", "missing", "not_recovered", "closed_by_broker"};
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(v, zeros[i])), 0);
    ck_assert(json_is_true(json_object_get(v, "recovered_all")));
    ck_assert(json_is_number(json_object_get(v, "all_resumed_s")));
    json_t *resume = json_object_get(v, "resume_us");
    ck_assert_int_eq(json_integer_value(json_object_get(resume, "count")), 20);
    json_t *control = json_object_get(v, "control_before_us");
    ck_assert_int_gt(json_integer_value(json_object_get(control, "count")), 0);
    json_decref(v);
    /* One publisher and a rate are what the scenario measures. */
    ck_assert_int_eq(wsb(&r, NULL, "bench", "reconnect", "--rate", "0", NULL), 2);
}
END_TEST

/* ---- tokens and TLS ---- */

/* The token `wsb pub` presented to the fake broker, from the upgrade
 * path of its latest connection. */
static const char *presented_token(struct fake_broker *f, char *path, size_t len)
{
    fake_broker_path(f, fake_broker_conns(f) - 1, path, len);
    const char *t = strstr(path, "token=");
    return t ? t + strlen("token=") : "";
}

START_TEST(test_token_sources)
{
    struct fake_broker f = {0};
    struct run r;
    char file[64], empty[64], path[512];
    ck_assert_int_eq(fake_broker_start(&f), 0);
    snprintf(file, sizeof(file), "/tmp/wsb-token-%d", (int)getpid());
    snprintf(empty, sizeof(empty), "/tmp/wsb-token-empty-%d", (int)getpid());
    FILE *fp = fopen(file, "w");
    fputs("from-file\n", fp);
    fclose(fp);
    fclose(fopen(empty, "w"));

    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", f.url, "--token-file", file, "t", "1", NULL), 0);
    ck_assert_str_eq(presented_token(&f, path, sizeof(path)), "from-file");
    setenv("WSB_TOKEN", "from-env", 1);
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", f.url, "t", "1", NULL), 0);
    ck_assert_str_eq(presented_token(&f, path, sizeof(path)), "from-env");
    /* A flag wins over the environment. */
    ck_assert_int_eq(wsb(&r, NULL, "history", "--url", f.url, "--token", "flag", "t", NULL), 0);
    ck_assert_str_eq(presented_token(&f, path, sizeof(path)), "flag");
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", f.url, "--token-file", file, "t", "1", NULL), 0);
    ck_assert_str_eq(presented_token(&f, path, sizeof(path)), "from-file");
    unsetenv("WSB_TOKEN");

    int conns = fake_broker_conns(&f);
    ck_assert_int_eq(
        wsb(&r, NULL, "pub", "--url", f.url, "--token", "a", "--token-file", file, "t", "1", NULL),
        2);
    ck_assert_ptr_nonnull(strstr(r.err, "exclude each other"));
    ck_assert_int_eq(wsb(&r, NULL, "sub", "--url", f.url, "--token-file", empty, "t", NULL), 2);
    ck_assert_ptr_nonnull(strstr(r.err, "empty"));
    ck_assert_int_eq(
        wsb(&r, NULL, "pub", "--url", f.url, "--token-file", "/nonexistent/t", "t", "1", NULL), 2);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot read the token file"));
    ck_assert_int_eq(fake_broker_conns(&f), conns); /* none of these connected */
    unlink(file);
    unlink(empty);
    fake_broker_stop(&f);
}
END_TEST

START_TEST(test_tls_options)
{
    struct broker b = {.tls = 1};
    struct run r;
    char wrong_host[128];
    if (broker_start_or_skip(&b, "test_tls_options"))
        return;
    snprintf(wrong_host, sizeof(wrong_host), "wss://127.0.0.1:%d/ws", b.port);
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", b.url, "--cacert", b.cert, "t", "1", NULL), 0);
    ck_assert_int_eq(wsb(&r, NULL, "history", "--url", wrong_host, "--cacert", b.cert, "--timeout",
                         "3", "t", NULL),
                     3);
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", wrong_host, "--insecure", "t", "2", NULL), 0);
    broker_cleanup(&b);
}
END_TEST

/* Several --url values, or a comma-separated list: brokers that serve as
 * one. A refused first URL is skipped; every URL refused is exit 3. */
START_TEST(test_url_list_skips_a_refused_broker)
{
    struct run r;
    char dead[64], dead2[64], list[192], topic[64];
    topic_name(topic, sizeof(topic), "cli.urls");
    snprintf(dead, sizeof(dead), "ws://127.0.0.1:%d/ws", harness_free_port());
    snprintf(dead2, sizeof(dead2), "ws://127.0.0.1:%d/ws", harness_free_port());
    snprintf(list, sizeof(list), "%s,%s", dead, shared_broker.url);
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", list, topic, "1", NULL), 0);
    ck_assert_int_eq(count_lines(r.out), 1);
    ck_assert_int_eq(
        wsb(&r, NULL, "pub", "--url", dead, "--url", shared_broker.url, topic, "2", NULL), 0);
    ck_assert_int_eq(wsb(&r, NULL, "history", "--url", list, topic, NULL), 0);
    ck_assert_int_eq(count_lines(r.out), 2);
    snprintf(list, sizeof(list), "%s,%s", dead, dead2);
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", list, topic, "3", NULL), 3);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot connect"));
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", ",", topic, "3", NULL), 2);
    snprintf(list, sizeof(list), "%s,http://x", shared_broker.url);
    ck_assert_int_eq(wsb(&r, NULL, "pub", "--url", list, topic, "3", NULL), 2);
}
END_TEST

/* `wsb sub` on two nodes of one store (two proxies in front of the shared
 * broker): the first dies, the subscription goes on on the second with no
 * message lost or printed twice. */
START_TEST(test_sub_fails_over_to_the_next_url)
{
    struct proxy node_a, node_b;
    struct run s;
    char topic[64], since[32];
    uint64_t seqs[4];
    topic_name(topic, sizeof(topic), "cli.failover");
    ck_assert_int_eq(proxy_start(&node_a, shared_broker.port), 0);
    ck_assert_int_eq(proxy_start(&node_b, shared_broker.port), 0);
    wsb_client *pub = shared_client();
    seqs[0] = publish_text(pub, topic, "0");
    seqs[1] = publish_text(pub, topic, "1");
    snprintf(since, sizeof(since), "%llu", (unsigned long long)seqs[0] - 1);
    const char *args[] = {"sub", "--url",   node_a.url, "--url", node_b.url, "--since",
                          since, "--count", "4",        topic,   NULL};
    run_start(&s, args);
    run_feed(&s, NULL);
    ck_assert_msg(run_wait_lines(&s, 2, 10000), "stdout: %s", s.out);
    proxy_stop(&node_a);
    seqs[2] = publish_text(pub, topic, "2");
    seqs[3] = publish_text(pub, topic, "3");
    ck_assert_int_eq(run_wait(&s, 20000), 0);
    ck_assert_int_eq(s.status, 0);
    ck_assert_int_eq(count_lines(s.out), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(line_int(s.out, i, "seq"), (json_int_t)seqs[i]);
    ck_assert_msg(strstr(s.err, node_b.url) != NULL, "stderr: %s", s.err);
    wsb_client_free(pub);
    proxy_stop(&node_b);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("wsb");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pub_one_message);
    tcase_add_test(tc, test_pub_stdin_lines_with_key_twice);
    tcase_add_test(tc, test_pub_errors_and_exit_codes);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_token_sources);
    tcase_add_test(tc, test_tls_options);
    tcase_add_test(tc, test_sub_since_count_and_overlap);
    tcase_add_test(tc, test_sub_live);
    tcase_add_test(tc, test_url_list_skips_a_refused_broker);
    tcase_add_test(tc, test_sub_fails_over_to_the_next_url);
    tcase_add_test(tc, test_binary_and_history);
    tcase_add_test(tc, test_history_since_limit);
    tcase_add_test(tc, test_sub_output_works_with_jq);
    tcase_add_test(tc, test_bench_fanout_and_throughput);
    tcase_add_test(tc, test_bench_connections);
    tcase_add_test(tc, test_bench_reconnect);
    tcase_add_test(tc, test_bench_several_urls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!harness_wsb_bin()) {
        fprintf(stderr, "WSB_BIN is not set: run through ctest\n");
        return 1;
    }
    return fixture_run_suite(cli_suite(), 1);
}
