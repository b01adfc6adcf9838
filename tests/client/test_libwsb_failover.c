/* SPDX-License-Identifier: MIT */
/*
 * test_libwsb_failover.c: libwsb given several broker URLs
 * (wsb_options.urls), as for brokers that serve as one on a shared store.
 *
 * A first URL that refuses the connection is skipped; a broker that dies
 * under an open connection is replaced by the next one, where every
 * subscription resumes with `since` and the epoch; the event and
 * wsb_client_url() say which URL is in use; the backoff grows once per
 * round of the list while each move within a round is quick. The node that
 * dies is a fake broker (fake_broker.h) or, for the no-gap-no-duplicate
 * promise, a proxy: two proxies in front of one real broker are two nodes
 * that share seqs and the epoch, as brokers on one Redis do.
 *
 * Needs WSBROKER_BIN (set by ctest) for the shared broker.
 */
#include "fake_broker.h"
#include "libwsb_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the event callback saw: counts, the URL of the last CONNECTED and
 * the retry delays of the DISCONNECTED events. */
struct url_events {
    struct events counts;
    char connected_url[128];
    int retry_ms[16];
    int n_retries;
};

static void on_url_event(wsb_client *c, const struct wsb_event *e, void *user)
{
    struct url_events *ue = user;
    on_event(c, e, &ue->counts);
    if (e->type == WSB_EVENT_CONNECTED)
        snprintf(ue->connected_url, sizeof(ue->connected_url), "%s", e->url ? e->url : "(null)");
    if (e->type == WSB_EVENT_DISCONNECTED && ue->n_retries < 16)
        ue->retry_ms[ue->n_retries++] = e->retry_ms;
}

static wsb_client *client_for_urls(const char *const *urls, size_t n, struct url_events *ue,
                                   int min_ms)
{
    char err[256] = "";
    struct wsb_options o = {.url = "ws://127.0.0.1:1/ignored-when-urls-given",
                            .urls = urls,
                            .n_urls = n,
                            .timeout_ms = 5000,
                            .reconnect_min_ms = min_ms,
                            .reconnect_max_ms = 10000,
                            .on_event = on_url_event,
                            .user = ue};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_msg(c != NULL, "wsb_client_new: %s", err);
    return c;
}

static void assert_client_url(wsb_client *c, const char *want)
{
    char got[128];
    wsb_client_url(c, got, sizeof(got));
    ck_assert_str_eq(got, want);
}

/* A URL where nothing listens: a free port. */
static void dead_url(char *buf, size_t len)
{
    snprintf(buf, len, "ws://127.0.0.1:%d/ws", harness_free_port());
}

START_TEST(test_first_url_refused_the_second_is_used)
{
    struct fake_broker second = {0};
    struct url_events ue = {0};
    char dead[64];
    dead_url(dead, sizeof(dead));
    ck_assert_int_eq(fake_broker_start(&second), 0);
    const char *urls[] = {dead, second.url};
    wsb_client *c = client_for_urls(urls, 2, &ue, 20);
    assert_client_url(c, dead); /* nothing tried yet: the first */
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    ck_assert_str_eq(ue.connected_url, second.url);
    assert_client_url(c, second.url);
    ck_assert_int_eq(fake_broker_conns(&second), 1);
    ck_assert_int_eq(ue.counts.disconnected, 1); /* the refused first attempt */
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK);
    wsb_client_free(c);
    fake_broker_stop(&second);
}
END_TEST

START_TEST(test_connect_fails_once_every_url_refused)
{
    struct url_events ue = {0};
    char dead1[64], dead2[64], err[256];
    dead_url(dead1, sizeof(dead1));
    dead_url(dead2, sizeof(dead2));
    const char *urls[] = {dead1, dead2};
    wsb_client *c = client_for_urls(urls, 2, &ue, 20);
    long long start = harness_now_ms();
    ck_assert_int_eq(wsb_client_connect(c), WSB_ECONNECT);
    ck_assert_int_lt(harness_now_ms() - start, 4000); /* reported, not timed out */
    ck_assert_int_eq(ue.counts.disconnected, 1);      /* the first; the second ends it */
    wsb_client_last_error(c, err, sizeof(err));
    ck_assert_msg(strstr(err, "cannot connect") != NULL, "last error: %s", err);
    wsb_client_free(c);
}
END_TEST

START_TEST(test_dead_broker_fails_over_and_resubscribes_with_since)
{
    struct fake_broker first = {0}, second = {0};
    struct url_events ue = {0};
    struct collector col;
    collector_init(&col);
    ck_assert_int_eq(fake_broker_start(&first), 0);
    ck_assert_int_eq(fake_broker_start(&second), 0);
    const char *urls[] = {first.url, second.url};
    /* A long minimum: the move to the second must not wait for a backoff. */
    wsb_client *c = client_for_urls(urls, 2, &ue, 400);
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    ck_assert_str_eq(ue.connected_url, first.url);
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(c, "fo.t", &so, NULL), WSB_OK);
    ck_assert(!fake_broker_saw(&first, "\"since\""));

    fake_broker_stop(&first); /* the node dies: connection closed, port refused */
    ck_assert(pump_flag(c, NULL, &ue.counts.disconnected, 5000));
    long long lost_at = harness_now_ms();
    ck_assert_int_le(ue.retry_ms[0], 400);
    while (ue.counts.connected < 2 && harness_now_ms() - lost_at < 5000)
        wsb_client_service(c, 20);
    ck_assert_int_eq(ue.counts.connected, 2);
    ck_assert_str_eq(ue.connected_url, second.url);
    assert_client_url(c, second.url);
    while (!fake_broker_saw(&second, "\"subscribe\"") && harness_now_ms() - lost_at < 5000)
        wsb_client_service(c, 20);
    ck_assert(fake_broker_saw(&second, "\"since\":"));
    ck_assert(fake_broker_saw(&second, "\"epoch\":\"e1\""));
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK);
    wsb_client_free(c);
    fake_broker_stop(&second);
    collector_free(&col);
}
END_TEST

START_TEST(test_backoff_grows_per_round_of_the_list)
{
    struct url_events ue = {0};
    char dead1[64], dead2[64];
    dead_url(dead1, sizeof(dead1));
    dead_url(dead2, sizeof(dead2));
    const char *urls[] = {dead1, dead2};
    enum { MIN_MS = 40 };
    wsb_client *c = client_for_urls(urls, 2, &ue, MIN_MS);
    ck_assert_int_eq(wsb_client_connect_async(c), WSB_OK);
    long long deadline = harness_now_ms() + 10000;
    while (ue.n_retries < 6 && harness_now_ms() < deadline)
        wsb_client_service(c, 20);
    ck_assert_int_ge(ue.n_retries, 6);
    /* Attempts 1, 3, 5 move on within a round: a jitter of at most the
     * minimum. Attempts 2, 4, 6 end rounds 1, 2, 3: the backoff step
     * MIN_MS * 2^(round-1), half fixed and half jitter. */
    for (int i = 0; i < 6; i += 2)
        ck_assert_int_le(ue.retry_ms[i], MIN_MS);
    for (int round = 1; round <= 3; round++) {
        int step = MIN_MS << (round - 1);
        ck_assert_int_ge(ue.retry_ms[2 * round - 1], step / 2);
        ck_assert_int_le(ue.retry_ms[2 * round - 1], step);
    }
    ck_assert_int_eq(ue.counts.gave_up, 0);
    wsb_client_free(c);
}
END_TEST

START_TEST(test_failover_between_nodes_of_one_store_no_gap_no_duplicate)
{
    enum { N = 200 };
    struct proxy node_a, node_b;
    struct url_events ue = {0};
    struct collector col;
    char topic[64];
    uint64_t seqs[N];
    collector_init(&col);
    topic_name(topic, sizeof(topic), "failover");
    ck_assert_int_eq(proxy_start(&node_a, shared_broker.port), 0);
    ck_assert_int_eq(proxy_start(&node_b, shared_broker.port), 0);
    const char *urls[] = {node_a.url, node_b.url};
    wsb_client *sub = client_for_urls(urls, 2, &ue, 20);
    ck_assert_int_eq(wsb_client_connect(sub), WSB_OK);
    ck_assert_str_eq(ue.connected_url, node_a.url);
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(sub, topic, &so, NULL), WSB_OK);
    wsb_client *pub = shared_client();

    for (int i = 0; i < N; i++) {
        struct wsb_publish p = {.topic = topic, .json = "0"};
        ck_assert_int_eq(wsb_publish_sync(pub, &p, &seqs[i], NULL), WSB_OK);
        wsb_client_service(sub, 0);
        if (i == N / 2)
            proxy_stop(&node_a); /* node A dies with messages still to deliver */
    }
    ck_assert(pump_count(sub, pub, &col, N, 10000));
    wsb_client_service(sub, 100);
    ck_assert_uint_eq(collector_count(&col), N);
    for (int i = 0; i < N; i++)
        ck_assert_uint_eq(col.m[i].seq, seqs[i]);
    ck_assert_int_ge(ue.counts.disconnected, 1);
    ck_assert_int_eq(ue.counts.gaps, 0);
    ck_assert_int_ge(col.resumed_acks, 1);
    ck_assert_str_eq(ue.connected_url, node_b.url);
    wsb_client_free(sub);
    wsb_client_free(pub);
    proxy_stop(&node_b);
    collector_free(&col);
}
END_TEST

START_TEST(test_bad_url_in_the_list_is_refused)
{
    char err[256] = "";
    const char *urls[] = {"ws://127.0.0.1:8080/ws", "http://127.0.0.1:8080/ws"};
    struct wsb_options o = {.urls = urls, .n_urls = 2};
    ck_assert_ptr_null(wsb_client_new(&o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "ws://") != NULL, "err: %s", err);
    const char *with_null[] = {"ws://127.0.0.1:8080/ws", NULL};
    o.urls = with_null;
    ck_assert_ptr_null(wsb_client_new(&o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "NULL") != NULL, "err: %s", err);
}
END_TEST

static Suite *libwsb_failover_suite(void)
{
    Suite *s = suite_create("libwsb_failover");
    TCase *tc = tcase_create("failover");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_first_url_refused_the_second_is_used);
    tcase_add_test(tc, test_connect_fails_once_every_url_refused);
    tcase_add_test(tc, test_dead_broker_fails_over_and_resubscribes_with_since);
    tcase_add_test(tc, test_backoff_grows_per_round_of_the_list);
    tcase_add_test(tc, test_failover_between_nodes_of_one_store_no_gap_no_duplicate);
    tcase_add_test(tc, test_bad_url_in_the_list_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(libwsb_failover_suite(), 1);
}
