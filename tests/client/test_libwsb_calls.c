/* SPDX-License-Identifier: MIT */
/*
 * test_libwsb_calls.c: libwsb's basic calls against the real broker.
 *
 * Connecting (and failing to, fast), options refused at creation, publishing
 * and subscribing text and binary messages, patterns and unsubscribing,
 * publishing with a key twice, publishing asynchronously and reading the
 * history, and subscribing from a seq or to the last messages.
 *
 * Needs WSBROKER_BIN (set by ctest). Most tests share one broker
 * (libwsb_fixture.h); the ones that kill or reconfigure a broker start
 * their own.
 */
#include "libwsb_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- basic calls ---- */

START_TEST(test_connect_ping_and_free)
{
    struct events ev = {0};
    wsb_client *c = client_for(shared_broker.url, &ev);
    ck_assert_int_eq(wsb_client_is_connected(c), 1);
    ck_assert_int_eq(ev.connected, 1);
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK);
    ck_assert_uint_eq(wsb_client_pending(c), 0);
    wsb_client_free(c);
}
END_TEST

START_TEST(test_connect_refused_is_fast)
{
    char url[64], err[256];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ws", harness_free_port());
    struct wsb_options o = {.url = url, .timeout_ms = 5000};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    long long t0 = harness_now_ms();
    ck_assert_int_eq(wsb_client_connect(c), WSB_ECONNECT);
    ck_assert_int_lt(harness_now_ms() - t0, 2000);
    wsb_client_last_error(c, err, sizeof(err));
    ck_assert_msg(strstr(err, "cannot connect") != NULL, "last error: %s", err);
    ck_assert_int_eq(wsb_client_is_connected(c), 0);
    wsb_client_free(c);
}
END_TEST

START_TEST(test_bad_options)
{
    char err[256] = "";
    struct wsb_options o = {.url = "http://127.0.0.1/ws"};
    ck_assert_ptr_null(wsb_client_new(&o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "ws://") != NULL, "err: %s", err);
    o.url = "ws://:80/ws";
    ck_assert_ptr_null(wsb_client_new(&o, err, sizeof(err)));
    o.url = "ws://host:99999/ws";
    ck_assert_ptr_null(wsb_client_new(&o, err, sizeof(err)));
    for (int s = 0; s >= WSB_EAUTH; s--)
        ck_assert_str_ne(wsb_strerror(s), "unknown error");
    ck_assert_str_eq(wsb_strerror(-99), "unknown error");
}
END_TEST

START_TEST(test_publish_subscribe_text)
{
    char topic[64], other[64], pattern[64];
    struct collector col;
    collector_init(&col);
    topic_name(topic, sizeof(topic), "pst.a");
    topic_name(other, sizeof(other), "pst.b");
    snprintf(pattern, sizeof(pattern), "pst.*.p%d", (int)getpid());
    wsb_client *sub = shared_client();
    wsb_client *pub = shared_client();
    struct wsb_sub_options so = collect_opts(&col);
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_subscribe_sync(sub, pattern, &so, &r), WSB_OK);
    ck_assert_int_eq(r->status, WSB_OK);
    ck_assert_int_eq(r->replayed, 0);
    ck_assert_int_eq(r->resumed, 0);
    wsb_reply_free(r);

    const char *body = "{\"px\": 189.25, \"s\": \"caf\\u00e9 \\\"q\\\"\", \"n\": [1, 2.5e3]}";
    uint64_t s1 = publish_text(pub, topic, body);
    uint64_t s2 = publish_text(pub, other, "42");
    ck_assert_uint_gt(s2, s1);
    ck_assert(pump_count(sub, pub, &col, 2, 5000));
    ck_assert_str_eq(col.m[0].topic, topic);
    ck_assert_uint_eq(col.m[0].seq, s1);
    ck_assert_int_eq(col.m[0].binary, 0);
    ck_assert_uint_eq(col.m[0].len, strlen(col.m[0].data));
    /* Data arrives as the same JSON value (the broker may normalise spaces). */
    ck_assert_msg(strstr(col.m[0].data, "189.25") && strstr(col.m[0].data, "\\\"q\\\""), "data: %s",
                  col.m[0].data);
    ck_assert_str_eq(col.m[1].data, "42");
    ck_assert_uint_eq(col.m[1].seq, s2);
    ck_assert_int_eq(col.acks, 1);
    wsb_client_free(sub);
    wsb_client_free(pub);
    collector_free(&col);
}
END_TEST

START_TEST(test_pattern_and_unsubscribe)
{
    char base[64], t_one[96], t_deep[96], p_star[96], p_gt[96], sentinel[96];
    struct collector star, gt, sent;
    collector_init(&star);
    collector_init(&gt);
    collector_init(&sent);
    topic_name(base, sizeof(base), "pat");
    snprintf(t_one, sizeof(t_one), "%s.x", base);
    snprintf(t_deep, sizeof(t_deep), "%s.x.y", base);
    snprintf(p_star, sizeof(p_star), "%s.*", base);
    snprintf(p_gt, sizeof(p_gt), "%s.>", base);
    snprintf(sentinel, sizeof(sentinel), "%s-sentinel", base);
    wsb_client *c = shared_client();
    struct wsb_sub_options o1 = collect_opts(&star), o2 = collect_opts(&gt),
                           o3 = collect_opts(&sent);
    ck_assert_int_eq(wsb_subscribe_sync(c, p_star, &o1, NULL), WSB_OK);
    ck_assert_int_eq(wsb_subscribe_sync(c, p_gt, &o2, NULL), WSB_OK);
    ck_assert_int_eq(wsb_subscribe_sync(c, sentinel, &o3, NULL), WSB_OK);
    /* The same pattern twice is the caller's mistake. */
    ck_assert_int_eq(wsb_subscribe(c, p_star, &o1), WSB_EINVAL);

    publish_text(c, t_one, "1");
    publish_text(c, t_deep, "2");
    publish_text(c, sentinel, "3");
    ck_assert(pump_count(c, NULL, &sent, 1, 5000));
    ck_assert(pump_count(c, NULL, &gt, 2, 5000));
    ck_assert_uint_eq(collector_count(&star), 1); /* '*' is one segment */
    ck_assert_str_eq(star.m[0].topic, t_one);

    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_unsubscribe_sync(c, p_star, &r), WSB_OK);
    ck_assert_str_eq(r->topic, p_star);
    wsb_reply_free(r);
    ck_assert_int_eq(wsb_unsubscribe(c, p_star, NULL, NULL), WSB_EINVAL);
    publish_text(c, t_one, "4");
    publish_text(c, sentinel, "5");
    ck_assert(pump_count(c, NULL, &sent, 2, 5000));
    ck_assert(pump_count(c, NULL, &gt, 3, 5000));
    ck_assert_uint_eq(collector_count(&star), 1);
    /* Subscribing again after unsubscribing is fine. */
    ck_assert_int_eq(wsb_subscribe_sync(c, p_star, &o1, NULL), WSB_OK);
    wsb_client_free(c);
    collector_free(&star);
    collector_free(&gt);
    collector_free(&sent);
}
END_TEST

START_TEST(test_binary_roundtrip)
{
    char topic[64];
    unsigned char payload[3000];
    struct collector col;
    collector_init(&col);
    topic_name(topic, sizeof(topic), "bin");
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (unsigned char)(i * 7 + (i >> 8));
    payload[0] = 0;
    payload[10] = 0;
    wsb_client *c = shared_client();
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(c, topic, &so, NULL), WSB_OK);
    struct wsb_publish p = {.topic = topic, .payload = payload, .len = sizeof(payload)};
    uint64_t seq = 0;
    ck_assert_int_eq(wsb_publish_sync(c, &p, &seq, NULL), WSB_OK);
    struct wsb_publish empty = {.topic = topic, .payload = NULL, .len = 0};
    uint64_t seq2 = 0;
    ck_assert_int_eq(wsb_publish_sync(c, &empty, &seq2, NULL), WSB_OK);
    ck_assert(pump_count(c, NULL, &col, 2, 5000));
    ck_assert_int_eq(col.m[0].binary, 1);
    ck_assert_uint_eq(col.m[0].seq, seq);
    ck_assert_uint_eq(col.m[0].len, sizeof(payload));
    ck_assert_mem_eq(col.m[0].data, payload, sizeof(payload));
    ck_assert_int_eq(col.m[0].data[sizeof(payload)], 0);
    ck_assert_int_eq(col.m[1].binary, 1);
    ck_assert_uint_eq(col.m[1].len, 0);

    /* History carries it as base64; the library hands back the bytes. */
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_history_sync(c, topic, NULL, &r), WSB_OK);
    ck_assert_uint_eq(r->n_messages, 2);
    ck_assert_int_eq(r->messages[0].binary, 1);
    ck_assert_uint_eq(r->messages[0].len, sizeof(payload));
    ck_assert_mem_eq(r->messages[0].data, payload, sizeof(payload));
    wsb_reply_free(r);
    wsb_client_free(c);
    collector_free(&col);
}
END_TEST

START_TEST(test_duplicate_key)
{
    char topic[64];
    topic_name(topic, sizeof(topic), "dup");
    wsb_client *c = shared_client();
    struct wsb_publish p = {.topic = topic, .json = "{\"v\":1}", .key = "order-17"};
    struct wsb_reply *r1 = NULL, *r2 = NULL;
    uint64_t seq1 = 0, seq2 = 0;
    ck_assert_int_eq(wsb_publish_sync(c, &p, &seq1, &r1), WSB_OK);
    ck_assert_int_eq(r1->duplicate, 0);
    ck_assert_int_eq(wsb_publish_sync(c, &p, &seq2, &r2), WSB_OK);
    ck_assert_int_eq(r2->duplicate, 1);
    ck_assert_uint_eq(seq1, seq2);
    wsb_reply_free(r1);
    wsb_reply_free(r2);
    struct wsb_reply *h = NULL;
    ck_assert_int_eq(wsb_history_sync(c, topic, NULL, &h), WSB_OK);
    ck_assert_uint_eq(h->n_messages, 1);
    wsb_reply_free(h);
    wsb_client_free(c);
}
END_TEST

START_TEST(test_async_publish_and_history)
{
    char topic[64], json[64];
    struct ack_count a = {0};
    topic_name(topic, sizeof(topic), "hist");
    wsb_client *c = shared_client();
    for (int i = 0; i < 20; i++) {
        snprintf(json, sizeof(json), "{\"i\":%d}", i);
        struct wsb_publish p = {.topic = topic, .json = json};
        ck_assert_int_eq(wsb_publish(c, &p, on_pub_ack, &a), WSB_OK);
    }
    ck_assert_int_eq(wsb_publish_json(c, topic, "{\"i\":20}", on_pub_ack, &a), WSB_OK);
    long long deadline = harness_now_ms() + 5000;
    while (a.acks + a.errors < 21 && harness_now_ms() < deadline)
        wsb_client_service(c, 50);
    ck_assert_int_eq(a.acks, 21);
    ck_assert_uint_eq(wsb_client_pending(c), 0);
    for (int i = 1; i < 21; i++)
        ck_assert_uint_gt(a.seqs[i], a.seqs[i - 1]);

    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_history_sync(c, topic, NULL, &r), WSB_OK);
    ck_assert_uint_eq(r->n_messages, 21);
    ck_assert_int_eq(r->more, 0);
    ck_assert_str_eq(r->messages[0].data, "{\"i\":0}");
    ck_assert_uint_eq(r->messages[20].seq, a.seqs[20]);
    wsb_reply_free(r);

    struct wsb_history_options ho = {.has_since = 1, .since = a.seqs[15], .limit = 3};
    ck_assert_int_eq(wsb_history_sync(c, topic, &ho, &r), WSB_OK);
    ck_assert_uint_eq(r->n_messages, 3);
    ck_assert_uint_eq(r->messages[0].seq, a.seqs[16]);
    ck_assert_int_eq(r->more, 1);
    ck_assert_str_eq(r->topic, topic);
    wsb_reply_free(r);
    wsb_client_free(c);
}
END_TEST

START_TEST(test_subscribe_since_and_last)
{
    char topic[64];
    uint64_t seqs[6];
    struct collector since_col, last_col;
    collector_init(&since_col);
    collector_init(&last_col);
    topic_name(topic, sizeof(topic), "replay");
    wsb_client *c = shared_client();
    for (int i = 0; i < 6; i++)
        seqs[i] = publish_text(c, topic, i % 2 ? "\"odd\"" : "\"even\"");

    wsb_client *c2 = shared_client();
    struct wsb_sub_options so = collect_opts(&since_col);
    so.start = WSB_START_SINCE;
    so.since = seqs[2];
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_subscribe_sync(c2, topic, &so, &r), WSB_OK);
    ck_assert_int_eq(r->replayed, 3);
    ck_assert_int_eq(r->recovered, 1);
    wsb_reply_free(r);
    ck_assert(pump_count(c2, NULL, &since_col, 3, 5000));
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(since_col.m[i].seq, seqs[3 + i]);

    wsb_client *c3 = shared_client();
    struct wsb_sub_options lo = collect_opts(&last_col);
    lo.start = WSB_START_LAST;
    lo.last = 2;
    ck_assert_int_eq(wsb_subscribe_sync(c3, topic, &lo, &r), WSB_OK);
    ck_assert_int_eq(r->replayed, 2);
    wsb_reply_free(r);
    ck_assert(pump_count(c3, NULL, &last_col, 2, 5000));
    ck_assert_uint_eq(last_col.m[0].seq, seqs[4]);
    ck_assert_uint_eq(last_col.m[1].seq, seqs[5]);

    /* Live after replay, without a gap or a double. */
    uint64_t live = publish_text(c, topic, "\"live\"");
    ck_assert(pump_count(c2, c3, &since_col, 4, 5000));
    ck_assert(pump_count(c3, c2, &last_col, 3, 5000));
    ck_assert_uint_eq(since_col.m[3].seq, live);
    ck_assert_uint_eq(last_col.m[2].seq, live);
    wsb_client_free(c);
    wsb_client_free(c2);
    wsb_client_free(c3);
    collector_free(&since_col);
    collector_free(&last_col);
}
END_TEST

static Suite *libwsb_calls_suite(void)
{
    Suite *s = suite_create("libwsb_calls");
    TCase *tc = tcase_create("basic");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_connect_ping_and_free);
    tcase_add_test(tc, test_connect_refused_is_fast);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_publish_subscribe_text);
    tcase_add_test(tc, test_pattern_and_unsubscribe);
    tcase_add_test(tc, test_binary_roundtrip);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_async_publish_and_history);
    tcase_add_test(tc, test_subscribe_since_and_last);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(libwsb_calls_suite(), 1);
}
