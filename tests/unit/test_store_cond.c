/* SPDX-License-Identifier: MIT */
/*
 * test_store_cond.c: conditional publish (expect_last, judged in submission
 * order inside the commit) and per-topic retention rules.
 *
 * On real SQLite files in a temporary directory (store_fixture.h).
 */
#include "store_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/topic_rules.h"

/* ---- Conditional publish and topic rules (issue 16) ------------------------ */

/* A publish of one message with expect_last (not submitted). */
static struct store_req *pub_expect(const char *topic, const char *key, uint64_t expect_last)
{
    struct store_req *req = pub_json(topic, "1", key);
    req->pubs[0].has_expect_last = true;
    req->pubs[0].expect_last = expect_last;
    return req;
}

/* Runs a conditional publish; returns its seq, or 0 with *last set on a conflict. */
static uint64_t publish_expect(const char *topic, const char *key, uint64_t expect_last,
                               uint64_t *last, bool *duplicate)
{
    struct store_req *req = run(pub_expect(topic, key, expect_last));
    ck_assert(req->status == STORE_OK || req->status == STORE_CONFLICT);
    uint64_t seq = req->status == STORE_OK ? req->pubs[0].msg.seq : 0;
    if (last)
        *last = req->status == STORE_CONFLICT ? req->conflict_last : 0;
    if (duplicate)
        *duplicate = req->pubs[0].duplicate;
    store_req_free(req);
    return seq;
}

START_TEST(test_expect_last_single)
{
    open_store();
    uint64_t last = 99;
    ck_assert_uint_eq(publish_expect("doc.1", NULL, 5, &last, NULL), 0);
    ck_assert_uint_eq(last, 0);
    uint64_t a = publish_expect("doc.1", NULL, 0, NULL, NULL);
    ck_assert_uint_eq(a, 1);
    publish("other", "1", NULL, NULL);
    ck_assert_uint_eq(publish_expect("doc.1", NULL, 0, &last, NULL), 0);
    ck_assert_uint_eq(last, a);
    uint64_t b = publish_expect("doc.1", "k1", a, NULL, NULL);
    ck_assert_uint_gt(b, a);
    /* A retry of the same key is a duplicate, whatever its condition says. */
    bool duplicate = false;
    ck_assert_uint_eq(publish_expect("doc.1", "k1", a, NULL, &duplicate), b);
    ck_assert(duplicate);
    struct store_req *req = history("doc.1", 0, 10);
    expect_seqs(req, 2, (uint64_t[]){a, b});
    store_req_free(req);

    /* The newest seq is known again after a reopen. */
    reopen_store();
    ck_assert_uint_eq(publish_expect("doc.1", NULL, a, &last, NULL), 0);
    ck_assert_uint_eq(last, b);
    ck_assert_uint_gt(publish_expect("doc.1", NULL, b, NULL, NULL), b);
}
END_TEST

/* Racing publishers in one group commit: the first wins, the rest see it. */
START_TEST(test_expect_last_in_one_batch)
{
    open_store();
    uint64_t a = publish("doc.2", "1", NULL, NULL);
    struct store_req *reqs[8];
    for (int i = 0; i < 8; i++) {
        reqs[i] = pub_expect("doc.2", NULL, a);
        store_submit(fx.st, reqs[i]);
    }
    struct store_req *done[8];
    wait_done(done, 8);
    ck_assert_int_eq(reqs[0]->status, STORE_OK);
    for (int i = 1; i < 8; i++) {
        ck_assert_int_eq(reqs[i]->status, STORE_CONFLICT);
        ck_assert_uint_eq(reqs[i]->conflict_last, reqs[0]->pubs[0].msg.seq);
    }
    for (int i = 0; i < 8; i++)
        store_req_free(reqs[i]);
}
END_TEST

/* One conflict in a multi-publish request stores none of it. */
START_TEST(test_expect_last_batch_all_or_nothing)
{
    open_store();
    uint64_t a = publish("doc.3", "1", NULL, NULL);
    struct store_req *req = calloc(1, sizeof(*req));
    req->op = STORE_PUBLISH;
    req->n_pubs = 3;
    req->pubs = calloc(3, sizeof(*req->pubs));
    for (int i = 0; i < 3; i++) {
        req->pubs[i].msg.topic = strdup("doc.3");
        req->pubs[i].msg.data = (unsigned char *)strdup("2");
        req->pubs[i].msg.data_len = 1;
    }
    /* The second expects the first of the batch: holds; the third expects
     * what was newest before the batch: conflicts. */
    req->pubs[1].has_expect_last = true;
    req->pubs[1].expect_last = a + 1;
    req->pubs[2].has_expect_last = true;
    req->pubs[2].expect_last = a;
    req = run(req);
    ck_assert_int_eq(req->status, STORE_CONFLICT);
    ck_assert_uint_eq(req->conflict_last, a + 2);
    store_req_free(req);
    struct store_req *h = history("doc.3", 0, 10);
    expect_seqs(h, 1, (uint64_t[]){a});
    store_req_free(h);
    ck_assert_uint_eq(publish_expect("doc.3", NULL, a, NULL, NULL), a + 1);
}
END_TEST

static struct topic_rules test_rules;

static void rules_set(const char *const *texts, size_t n)
{
    char why[256];
    ck_assert_int_eq(topic_rules_parse(&test_rules, (char *const *)texts, n, why, sizeof(why)), 0);
    fx.cfg.rules = &test_rules;
}

START_TEST(test_rules_count_retention)
{
    rules_set((const char *[]){"tick.> retain=1", "chat.* retain=3", "void.> retain=0"}, 3);
    fx.cfg.retain_count = 5;
    open_store();
    uint64_t seqs[8];
    for (int i = 0; i < 8; i++) {
        seqs[i] = publish("tick.a", "1", NULL, NULL);
        publish("chat.a", "1", NULL, NULL);
        publish("other", "1", NULL, NULL);
    }
    uint64_t v = publish("void.x", "1", NULL, NULL);
    ck_assert_uint_gt(v, seqs[7]);
    struct store_req *req = history("tick.a", 0, 100);
    expect_seqs(req, 1, (uint64_t[]){seqs[7]});
    store_req_free(req);
    req = history("chat.a", 0, 100);
    ck_assert_uint_eq(req->n_msgs, 3);
    store_req_free(req);
    req = history("other", 0, 100);
    ck_assert_uint_eq(req->n_msgs, 5);
    store_req_free(req);
    req = history("void.x", 0, 100);
    ck_assert_uint_eq(req->n_msgs, 0);
    store_req_free(req);

    /* recovered: false exactly when the rule dropped a match after since. */
    req = replay("tick.a", seqs[5], 0, 0);
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("tick.a", seqs[6], 0, 0);
    ck_assert(req->recovered);
    store_req_free(req);
    req = replay("void.x", v - 1, 0, 0);
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("other", seqs[7], 0, 0);
    ck_assert(req->recovered);
    store_req_free(req);

    /* retain=0 keeps nothing: its newest is always 0, and the seq it took
     * is never given again. */
    uint64_t last = 1;
    ck_assert_uint_gt(publish_expect("void.x", NULL, 0, &last, NULL), v);
    reopen_store();
    ck_assert_uint_gt(publish("void.y", "1", NULL, NULL), v + 1);
    req = history("tick.a", 0, 100);
    expect_seqs(req, 1, (uint64_t[]){seqs[7]});
    store_req_free(req);
}
END_TEST

START_TEST(test_rules_age_retention)
{
    rules_set((const char *[]){"fast.> retain_age=1"}, 1);
    open_store();
    uint64_t slow = publish("slow.a", "1", NULL, NULL);
    publish("fast.a", "1", NULL, NULL);
    uint64_t fast_b = publish("fast.b", "1", NULL, NULL);
    publish("fast.b", "2", NULL, NULL);
    wait_until_empty("fast.a");
    wait_until_empty("fast.b");
    struct store_req *req = history("slow.a", 0, 10);
    expect_seqs(req, 1, (uint64_t[]){slow});
    store_req_free(req);
    req = replay("slow.a", 0, 0, 0);
    ck_assert_uint_eq(req->n_msgs, 1);
    store_req_free(req);
    /* An expect_last on a topic that age emptied: it holds none. */
    uint64_t last = 1;
    ck_assert_uint_eq(publish_expect("fast.b", NULL, fast_b, &last, NULL), 0);
    ck_assert_uint_eq(last, 0);
}
END_TEST

static Suite *store_cond_suite(void)
{
    Suite *s = suite_create("store_cond");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_expect_last_single);
    tcase_add_test(tc, test_expect_last_in_one_batch);
    tcase_add_test(tc, test_expect_last_batch_all_or_nothing);
    tcase_add_test(tc, test_rules_count_retention);
    tcase_add_test(tc, test_rules_age_retention);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_cond_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
