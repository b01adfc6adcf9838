/* SPDX-License-Identifier: MIT */
/*
 * test_libwsb_threads.c: libwsb with threads and several clients.
 *
 * The service thread, publishing from many threads at once, several clients
 * in one process, and closing a client and connecting it again.
 *
 * Needs WSBROKER_BIN (set by ctest). Most tests share one broker
 * (libwsb_fixture.h); the ones that kill or reconfigure a broker start
 * their own.
 */
#include "libwsb_fixture.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- the service thread and several clients ---- */

START_TEST(test_service_thread)
{
    char topic[64];
    struct collector col;
    collector_init(&col);
    topic_name(topic, sizeof(topic), "thr");
    char err[256];
    struct wsb_options o = {.url = shared_broker.url, .timeout_ms = 5000};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_start_thread(c), WSB_OK);
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK); /* through the thread */
    ck_assert_int_eq(wsb_client_is_connected(c), 1);
    ck_assert_int_eq(wsb_client_start_thread(c), WSB_EINVAL);
    ck_assert_int_eq(wsb_client_service(c, 10), WSB_EBUSY);
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(c, topic, &so, NULL), WSB_OK);
    uint64_t seqs[50];
    for (int i = 0; i < 50; i++) {
        struct wsb_publish p = {.topic = topic, .json = "[true]"};
        ck_assert_int_eq(wsb_publish_sync(c, &p, &seqs[i], NULL), WSB_OK);
    }
    long long deadline = harness_now_ms() + 5000;
    while (collector_count(&col) < 50 && harness_now_ms() < deadline)
        usleep(2000);
    ck_assert_uint_eq(collector_count(&col), 50);
    for (int i = 0; i < 50; i++)
        ck_assert_uint_eq(col.m[i].seq, seqs[i]);
    ck_assert_int_eq(wsb_unsubscribe_sync(c, topic, NULL), WSB_OK);
    wsb_client_stop_thread(c);
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK); /* back to service mode */
    wsb_client_free(c);
    collector_free(&col);
}
END_TEST

struct thread_pub {
    wsb_client *c;
    const char *topic;
    int ok;
};

static void *publish_from_thread(void *arg)
{
    struct thread_pub *tp = arg;
    for (int i = 0; i < 100; i++) {
        struct wsb_publish p = {.topic = tp->topic, .json = "{}"};
        if (wsb_publish_sync(tp->c, &p, NULL, NULL) == WSB_OK)
            tp->ok++;
    }
    return NULL;
}

START_TEST(test_publish_from_many_threads)
{
    char topic[64];
    pthread_t th[4];
    struct thread_pub tp[4];
    topic_name(topic, sizeof(topic), "mt");
    wsb_client *c = shared_client();
    ck_assert_int_eq(wsb_client_start_thread(c), WSB_OK);
    for (int i = 0; i < 4; i++) {
        tp[i] = (struct thread_pub){.c = c, .topic = topic};
        pthread_create(&th[i], NULL, publish_from_thread, &tp[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(tp[i].ok, 100);
    }
    struct wsb_history_options ho = {.limit = 1000};
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_history_sync(c, topic, &ho, &r), WSB_OK);
    ck_assert_uint_eq(r->n_messages, 400);
    wsb_reply_free(r);
    wsb_client_free(c); /* stops the thread itself */
}
END_TEST

START_TEST(test_several_clients)
{
    char topic[64];
    enum { N = 8 };
    wsb_client *cs[N];
    struct collector cols[N];
    topic_name(topic, sizeof(topic), "many");
    for (int i = 0; i < N; i++) {
        collector_init(&cols[i]);
        cs[i] = shared_client();
        struct wsb_sub_options so = collect_opts(&cols[i]);
        ck_assert_int_eq(wsb_subscribe_sync(cs[i], topic, &so, NULL), WSB_OK);
    }
    uint64_t seq = publish_text(cs[0], topic, "\"all\"");
    long long deadline = harness_now_ms() + 5000;
    int done = 0;
    while (!done && harness_now_ms() < deadline) {
        done = 1;
        for (int i = 0; i < N; i++) {
            wsb_client_service(cs[i], 1);
            done &= collector_count(&cols[i]) == 1;
        }
    }
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(collector_count(&cols[i]), 1);
        ck_assert_uint_eq(cols[i].m[0].seq, seq);
        wsb_client_free(cs[i]);
        collector_free(&cols[i]);
    }
}
END_TEST

START_TEST(test_close_and_connect_again)
{
    char topic[64];
    struct collector col;
    struct ack_count a = {0};
    collector_init(&col);
    topic_name(topic, sizeof(topic), "reopen");
    wsb_client *c = shared_client();
    wsb_client *other = shared_client();
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(c, topic, &so, NULL), WSB_OK);
    uint64_t s1 = publish_text(other, topic, "1");
    ck_assert(pump_count(c, NULL, &col, 1, 5000));
    wsb_client_close(c);
    ck_assert_int_eq(wsb_client_is_connected(c), 0);
    ck_assert_int_eq(wsb_publish_json(c, topic, "\"while closed\"", on_pub_ack, &a), WSB_OK);
    wsb_client_close(c);
    ck_assert_int_eq(a.errors, 1); /* closing fails what was pending */
    uint64_t s2 = publish_text(other, topic, "2");
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    /* The subscription is still there and resumes after s1. */
    ck_assert(pump_count(c, NULL, &col, 2, 5000));
    ck_assert_uint_eq(col.m[0].seq, s1);
    ck_assert_uint_eq(col.m[1].seq, s2);
    ck_assert_int_eq(col.resumed_acks, 1);
    wsb_client_free(c);
    wsb_client_free(other);
    collector_free(&col);
}
END_TEST

static Suite *libwsb_threads_suite(void)
{
    Suite *s = suite_create("libwsb_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_service_thread);
    tcase_add_test(tc, test_publish_from_many_threads);
    tcase_add_test(tc, test_several_clients);
    tcase_add_test(tc, test_close_and_connect_again);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(libwsb_threads_suite(), 1);
}
