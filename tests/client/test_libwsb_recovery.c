/* SPDX-License-Identifier: MIT */
/*
 * test_libwsb_recovery.c: the promises of libwsb's reconnect logic.
 *
 * After the broker is killed with -9 and restarted on the same port and
 * database, or after the network loses the connection (and with it an ack),
 * no message is lost, none is doubled, and a publish is stored exactly once;
 * a new store (another epoch) is reported as a gap.
 *
 * Needs WSBROKER_BIN (set by ctest). Most tests share one broker
 * (libwsb_fixture.h); the ones that kill or reconfigure a broker start
 * their own.
 */
#include "libwsb_fixture.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reconnect: the broker killed and restarted ---- */

enum { KILL_N = 600, KILL_WINDOW = 40 };

struct kill_run {
    int acks[KILL_N];
    uint64_t seq[KILL_N];
    int dups;
    int errors;
    int done;
};

struct kill_item {
    struct kill_run *run;
    int i;
};

static void on_kill_ack(wsb_client *c, const struct wsb_reply *r, void *arg)
{
    (void)c;
    struct kill_item *it = arg;
    if (r->status == WSB_OK) {
        it->run->acks[it->i]++;
        it->run->seq[it->i] = r->seq;
        it->run->dups += r->duplicate;
    } else {
        it->run->errors++;
    }
    it->run->done++;
}

static int seq_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_reconnect_after_kill9_loses_nothing)
{
    struct broker b = {0};
    char topic[64];
    static struct kill_item items[KILL_N];
    struct kill_run *run = calloc(1, sizeof(*run));
    struct collector col;
    struct events sub_ev = {0}, pub_ev = {0};
    collector_init(&col);
    topic_name(topic, sizeof(topic), "kill");
    ck_assert_int_eq(broker_start(&b), 0);
    wsb_client *sub = client_for(b.url, &sub_ev);
    wsb_client *pub = client_for(b.url, &pub_ev);
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(sub, "kill.>", &so, NULL), WSB_OK);

    int next = 0, kills = 0;
    long long deadline = harness_now_ms() + 60000;
    while (run->done < KILL_N && harness_now_ms() < deadline) {
        while (next < KILL_N && next - run->done < KILL_WINDOW) {
            char json[64];
            snprintf(json, sizeof(json), "{\"i\":%d}", next);
            items[next] = (struct kill_item){.run = run, .i = next};
            struct wsb_publish p = {.topic = topic, .json = json};
            ck_assert_int_eq(wsb_publish(pub, &p, on_kill_ack, &items[next]), WSB_OK);
            next++;
        }
        if ((kills == 0 && next >= KILL_N / 3) || (kills == 1 && next >= 2 * KILL_N / 3)) {
            broker_kill(&b, SIGKILL);
            ck_assert_int_eq(broker_start(&b), 0);
            kills++;
        }
        wsb_client_service(pub, 2);
        wsb_client_service(sub, 2);
    }
    ck_assert_int_eq(kills, 2);
    ck_assert_int_eq(run->errors, 0);
    ck_assert_int_eq(run->done, KILL_N);
    for (int i = 0; i < KILL_N; i++)
        ck_assert_int_eq(run->acks[i], 1);
    ck_assert_int_ge(pub_ev.disconnected, 2);
    ck_assert_int_ge(pub_ev.connected, 3);

    /* Every acknowledged message reaches the subscriber once, in order. */
    ck_assert(pump_count(sub, pub, &col, KILL_N, 20000));
    wsb_client_service(sub, 100);
    ck_assert_uint_eq(collector_count(&col), KILL_N);
    uint64_t *acked = malloc(KILL_N * sizeof(*acked));
    for (int i = 0; i < KILL_N; i++)
        acked[i] = run->seq[i];
    qsort(acked, KILL_N, sizeof(*acked), seq_cmp);
    for (int i = 0; i < KILL_N; i++) {
        ck_assert_uint_eq(col.m[i].seq, acked[i]);
        if (i)
            ck_assert_uint_gt(acked[i], acked[i - 1]);
    }
    ck_assert_int_eq(sub_ev.gaps, 0);
    ck_assert_int_ge(col.resumed_acks, 2);

    /* And the store holds each payload exactly once. */
    static int seen[KILL_N];
    memset(seen, 0, sizeof(seen));
    struct wsb_history_options ho = {.limit = 1000};
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_history_sync(pub, topic, &ho, &r), WSB_OK);
    ck_assert_uint_eq(r->n_messages, KILL_N);
    for (size_t i = 0; i < r->n_messages; i++) {
        int v = -1;
        ck_assert_int_eq(sscanf(r->messages[i].data, "{\"i\":%d}", &v), 1);
        ck_assert(v >= 0 && v < KILL_N);
        seen[v]++;
    }
    for (int i = 0; i < KILL_N; i++)
        ck_assert_int_eq(seen[i], 1);
    wsb_reply_free(r);
    free(acked);
    free(run);
    wsb_client_free(sub);
    wsb_client_free(pub);
    collector_free(&col);
    broker_cleanup(&b);
}
END_TEST

/* ---- exactly once: an ack lost in the network ---- */

static void check_lost_ack(const char *key)
{
    char topic[64];
    struct proxy px;
    topic_name(topic, sizeof(topic), key ? "lostack.k" : "lostack.auto");
    ck_assert_int_eq(proxy_start(&px, shared_broker.port), 0);
    struct events ev = {0};
    wsb_client *c = client_for(px.url, &ev);
    atomic_store(&px.drop_ack, 1);
    struct wsb_publish p = {.topic = topic, .json = "{\"once\":true}", .key = key};
    struct wsb_reply *r = NULL;
    uint64_t seq = 0;
    ck_assert_int_eq(wsb_publish_sync(c, &p, &seq, &r), WSB_OK);
    ck_assert_int_eq(atomic_load(&px.acks_dropped), 1);
    ck_assert_int_ge(ev.disconnected, 1);
    /* The retry was recognised: same seq, flagged duplicate. */
    ck_assert_int_eq(r->duplicate, 1);
    wsb_reply_free(r);
    ck_assert_int_eq(wsb_history_sync(c, topic, NULL, &r), WSB_OK);
    ck_assert_uint_eq(r->n_messages, 1);
    ck_assert_uint_eq(r->messages[0].seq, seq);
    wsb_reply_free(r);
    wsb_client_free(c);
    proxy_stop(&px);
}

START_TEST(test_lost_ack_with_key_publishes_once)
{
    check_lost_ack("invoice-9");
}
END_TEST

START_TEST(test_lost_ack_without_key_publishes_once)
{
    check_lost_ack(NULL);
}
END_TEST

/* ---- resume after a network cut, overlapping subscriptions ---- */

START_TEST(test_resume_after_cut_with_overlapping_subscriptions)
{
    char base[64], star[96], exact[96], ta[96], tb[96];
    struct collector all, only_a;
    struct proxy px;
    struct events ev = {0};
    collector_init(&all);
    collector_init(&only_a);
    topic_name(base, sizeof(base), "ovl");
    snprintf(star, sizeof(star), "%s.*", base);
    snprintf(exact, sizeof(exact), "%s.a", base);
    snprintf(ta, sizeof(ta), "%s.a", base);
    snprintf(tb, sizeof(tb), "%s.b", base);
    ck_assert_int_eq(proxy_start(&px, shared_broker.port), 0);
    wsb_client *sub = client_for(px.url, &ev);
    wsb_client *pub = shared_client();
    struct wsb_sub_options o1 = collect_opts(&all), o2 = collect_opts(&only_a);
    ck_assert_int_eq(wsb_subscribe_sync(sub, star, &o1, NULL), WSB_OK);
    ck_assert_int_eq(wsb_subscribe_sync(sub, exact, &o2, NULL), WSB_OK);

    uint64_t seqs[300];
    int n_a = 0;
    for (int i = 0; i < 300; i++) {
        struct wsb_publish p = {.topic = i % 3 ? tb : ta, .json = "0"};
        ck_assert_int_eq(wsb_publish_sync(pub, &p, &seqs[i], NULL), WSB_OK);
        n_a += i % 3 == 0;
        wsb_client_service(sub, 0);
        if (i == 100 || i == 200)
            atomic_store(&px.cut, 1);
    }
    ck_assert(pump_count(sub, pub, &all, 300, 10000));
    ck_assert(pump_count(sub, pub, &only_a, (size_t)n_a, 10000));
    wsb_client_service(sub, 100);
    ck_assert_uint_eq(collector_count(&all), 300);
    ck_assert_uint_eq(collector_count(&only_a), (size_t)n_a);
    for (int i = 0; i < 300; i++)
        ck_assert_uint_eq(all.m[i].seq, seqs[i]);
    for (int i = 0, j = 0; i < 300; i += 3, j++)
        ck_assert_uint_eq(only_a.m[j].seq, seqs[i]);
    ck_assert_int_ge(ev.disconnected, 2);
    ck_assert_int_eq(ev.gaps, 0);
    wsb_client_free(sub);
    wsb_client_free(pub);
    proxy_stop(&px);
    collector_free(&all);
    collector_free(&only_a);
}
END_TEST

/* ---- a new store (another epoch) is reported, and taken from seq 1 ---- */

START_TEST(test_new_epoch_reports_gap)
{
    struct broker b = {0};
    struct collector col;
    struct events ev = {0};
    collector_init(&col);
    ck_assert_int_eq(broker_start(&b), 0);
    wsb_client *sub = client_for(b.url, &ev);
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(sub, "ep.t", &so, NULL), WSB_OK);
    wsb_client *pub = client_for(b.url, NULL);
    for (int i = 0; i < 5; i++)
        publish_text(pub, "ep.t", "\"old\"");
    ck_assert(pump_count(sub, pub, &col, 5, 5000));
    wsb_client_free(pub);

    broker_kill(&b, SIGKILL);
    snprintf(b.db, sizeof(b.db), "%s/y.db", b.dir); /* a new store */
    ck_assert_int_eq(broker_start(&b), 0);
    ck_assert(pump_flag(sub, NULL, &ev.gaps, 10000));
    ck_assert_int_eq(col.not_recovered, 1);
    pub = client_for(b.url, NULL);
    uint64_t s = publish_text(pub, "ep.t", "\"new\"");
    ck_assert(pump_count(sub, pub, &col, 6, 5000));
    ck_assert_uint_eq(col.m[5].seq, s); /* seq 1 of the new store is not "old" */
    ck_assert_str_eq(col.m[5].data, "\"new\"");
    wsb_client_free(pub);
    wsb_client_free(sub);
    collector_free(&col);
    broker_cleanup(&b);
}
END_TEST

static Suite *libwsb_recovery_suite(void)
{
    Suite *s = suite_create("libwsb_recovery");
    TCase *tc = tcase_create("reconnect");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_reconnect_after_kill9_loses_nothing);
    tcase_add_test(tc, test_lost_ack_with_key_publishes_once);
    tcase_add_test(tc, test_lost_ack_without_key_publishes_once);
    tcase_add_test(tc, test_resume_after_cut_with_overlapping_subscriptions);
    tcase_add_test(tc, test_new_epoch_reports_gap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(libwsb_recovery_suite(), 1);
}
