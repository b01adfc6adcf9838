/* SPDX-License-Identifier: MIT */
/*
 * test_store_write.c: unit tests of publishing to the store
 * (broker/store/): group commit of many requests, the multi-row INSERTs of
 * one large transaction, dedupe by key and its window, binary data kept as
 * it came.
 *
 * Same fixture and rules as test_store.c (store_fixture.h): a fresh
 * temporary directory per test, the store reached only through store.h,
 * every wait with a deadline.
 */
#include "check_run.h"
#include "store_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Group commit --------------------------------------------------------- */

#define BATCH_REQS 1000

START_TEST(test_group_commit)
{
    open_store();
    struct store_stats before;
    store_get_stats(fx.st, &before);
    static struct store_req *reqs[BATCH_REQS];
    static struct store_req *done[BATCH_REQS];
    char topic[32];
    char json[32];
    for (int i = 0; i < BATCH_REQS; i++) {
        snprintf(topic, sizeof(topic), "load.t%d", i % 7);
        snprintf(json, sizeof(json), "{\"i\":%d}", i);
        reqs[i] = pub_json(topic, json, NULL);
    }
    for (int i = 0; i < BATCH_REQS; i++)
        store_submit(fx.st, reqs[i]);
    wait_done(done, BATCH_REQS);

    for (int i = 0; i < BATCH_REQS; i++) {
        ck_assert_ptr_eq(done[i], reqs[i]); /* completion in submission order */
        ck_assert_int_eq(done[i]->status, STORE_OK);
        ck_assert(!done[i]->pubs[0].duplicate);
        if (i > 0)
            ck_assert_uint_eq(done[i]->pubs[0].msg.seq, done[i - 1]->pubs[0].msg.seq + 1);
    }
    ck_assert_uint_eq(store_last_seq(fx.st), done[BATCH_REQS - 1]->pubs[0].msg.seq);
    struct store_stats after;
    store_get_stats(fx.st, &after);
    uint64_t commits = after.commits - before.commits;
    ck_assert_uint_ge(commits, 1);
    ck_assert_msg(commits < BATCH_REQS, "%llu commits for %d messages", (unsigned long long)commits,
                  BATCH_REQS);
    ck_assert_uint_eq(after.messages_stored - before.messages_stored, BATCH_REQS);
    ck_assert_uint_gt(after.commit_us_total, before.commit_us_total);
    for (int i = 0; i < BATCH_REQS; i++)
        store_req_free(done[i]);

    /* One request holding many messages (HTTP batch publish): consecutive seqs. */
    struct store_req *batch = calloc(1, sizeof(*batch));
    batch->op = STORE_PUBLISH;
    batch->n_pubs = 50;
    batch->pubs = calloc(batch->n_pubs, sizeof(*batch->pubs));
    for (size_t i = 0; i < batch->n_pubs; i++) {
        batch->pubs[i].msg.topic = strdup("load.batch");
        batch->pubs[i].msg.data = (unsigned char *)strdup("true");
        batch->pubs[i].msg.data_len = 4;
    }
    uint64_t last = store_last_seq(fx.st);
    store_get_stats(fx.st, &before);
    run(batch);
    store_get_stats(fx.st, &after);
    ck_assert_int_eq(batch->status, STORE_OK);
    ck_assert_uint_eq(after.commits - before.commits, 1);
    for (size_t i = 0; i < batch->n_pubs; i++) {
        ck_assert_uint_eq(batch->pubs[i].msg.seq, last + 1 + i);
        ck_assert_int_gt(batch->pubs[i].msg.ts, 0);
    }
    store_req_free(batch);
}
END_TEST

/* One transaction of 150 messages goes through the multi-row INSERTs (64,
 * 16 and 4 rows per statement, then single rows): every stored row must
 * carry its own message's fields, in seq order, and a duplicate in the
 * middle of a chunk must neither take a seq nor leave a row. */
START_TEST(test_multi_row_batch)
{
    open_store();
    uint64_t first = publish("mix.pre", "0", "dup-me", NULL);
    enum { N = 150 };
    struct store_req *batch = calloc(1, sizeof(*batch));
    ck_assert_ptr_nonnull(batch);
    batch->op = STORE_PUBLISH;
    batch->n_pubs = N;
    batch->pubs = calloc(N, sizeof(*batch->pubs));
    ck_assert_ptr_nonnull(batch->pubs);
    char text[64];
    for (int i = 0; i < N; i++) {
        struct store_pub *pub = &batch->pubs[i];
        snprintf(text, sizeof(text), "mix.t%d", i % 40 == 39 ? 0 : i % 3);
        pub->msg.topic = strdup(text);
        pub->msg.is_binary = i % 5 == 0;
        int len = snprintf(text, sizeof(text), "{\"i\":%d}", i);
        pub->msg.data = (unsigned char *)strdup(text);
        pub->msg.data_len = (size_t)len;
        pub->msg.from_user = i % 2 ? strdup("bob") : NULL;
        snprintf(text, sizeof(text), "k%d", i % 40 == 39 ? 0 : i); /* 79, 119 repeat 39's */
        pub->key = i % 4 == 3 ? strdup(text) : NULL;
    }
    free(batch->pubs[70].key); /* and one repeats the key stored before the batch */
    batch->pubs[70].key = strdup("dup-me");
    free(batch->pubs[70].msg.topic);
    batch->pubs[70].msg.topic = strdup("mix.pre");
    run(batch);
    ck_assert_int_eq(batch->status, STORE_OK);

    uint64_t expect_seq = first;
    size_t stored = 0;
    for (int i = 0; i < N; i++) {
        const struct store_pub *pub = &batch->pubs[i];
        bool repeat_k0 = i % 4 == 3 && i % 40 == 39 && i != 39;
        bool dup = repeat_k0 || i == 70;
        ck_assert_msg(pub->duplicate == dup, "message %d: duplicate %d", i, pub->duplicate);
        if (i == 70) {
            ck_assert_uint_eq(pub->msg.seq, first);
        } else if (dup) {
            ck_assert_uint_eq(pub->msg.seq, batch->pubs[39].msg.seq);
        } else {
            ck_assert_uint_eq(pub->msg.seq, ++expect_seq);
            stored++;
        }
    }
    ck_assert_uint_eq(store_last_seq(fx.st), expect_seq);

    struct store_req *rows = replay("mix.>", 0, 0, 0);
    ck_assert_uint_eq(rows->n_msgs, stored + 1); /* + the one before the batch */
    size_t r = 1;
    for (int i = 0; i < N; i++) {
        const struct store_pub *pub = &batch->pubs[i];
        if (pub->duplicate)
            continue;
        const struct store_msg *row = &rows->msgs[r++];
        ck_assert_uint_eq(row->seq, pub->msg.seq);
        ck_assert_str_eq(row->topic, pub->msg.topic);
        ck_assert_int_eq(row->is_binary, pub->msg.is_binary);
        ck_assert_uint_eq(row->data_len, pub->msg.data_len);
        ck_assert_mem_eq(row->data, pub->msg.data, pub->msg.data_len);
        ck_assert_int_eq(row->ts, pub->msg.ts);
        if (pub->msg.from_user)
            ck_assert_str_eq(row->from_user, pub->msg.from_user);
        else
            ck_assert_ptr_null(row->from_user);
    }
    store_req_free(rows);
    store_req_free(batch);
}
END_TEST

/* ---- Dedupe --------------------------------------------------------------- */

START_TEST(test_dedupe)
{
    open_store();
    bool dup = true;
    uint64_t first = publish("orders.eu", "{\"n\":1}", "k1", &dup);
    ck_assert(!dup);
    uint64_t again = publish("orders.eu", "{\"n\":1}", "k1", &dup);
    ck_assert(dup);
    ck_assert_uint_eq(again, first);
    uint64_t other = publish("orders.us", "{\"n\":1}", "k1", &dup);
    ck_assert(!dup);
    ck_assert_uint_gt(other, first);
    uint64_t nokey = publish("orders.eu", "{\"n\":1}", NULL, &dup);
    ck_assert(!dup);
    ck_assert_uint_gt(nokey, other);

    /* The duplicate stored nothing. */
    struct store_req *req = history("orders.eu", 0, 100);
    expect_seqs(req, 2, (uint64_t[]){first, nokey});
    store_req_free(req);

    /* Two publishes with one key in one transaction: the second is the duplicate. */
    struct store_req *a = pub_json("orders.eu", "1", "k2");
    struct store_req *b = pub_json("orders.eu", "2", "k2");
    struct store_req *done[2];
    store_submit(fx.st, a);
    store_submit(fx.st, b);
    wait_done(done, 2);
    ck_assert(!a->pubs[0].duplicate);
    ck_assert(b->pubs[0].duplicate);
    ck_assert_uint_eq(b->pubs[0].msg.seq, a->pubs[0].msg.seq);
    uint64_t k2 = a->pubs[0].msg.seq;
    store_req_free(a);
    store_req_free(b);

    struct store_stats stats;
    store_get_stats(fx.st, &stats);
    ck_assert_uint_eq(stats.duplicates, 2);

    /* The window is in the database. */
    reopen_store();
    ck_assert_uint_eq(publish("orders.eu", "{}", "k1", &dup), first);
    ck_assert(dup);
    ck_assert_uint_eq(publish("orders.eu", "{}", "k2", &dup), k2);
    ck_assert(dup);
}
END_TEST

START_TEST(test_dedupe_window_expires)
{
    fx.cfg.dedupe_window_ms = 300;
    open_store();
    bool dup;
    uint64_t first = publish("w.x", "1", "key", &dup);
    ck_assert(!dup);
    int64_t deadline = mono_ms() + WAIT_MS;
    for (;;) {
        uint64_t seq = publish("w.x", "1", "key", &dup);
        if (!dup) {
            ck_assert_uint_gt(seq, first);
            break;
        }
        ck_assert_uint_eq(seq, first);
        ck_assert_msg(mono_ms() < deadline, "the dedupe window never ended");
        pause_ms(50);
    }
    /* The new acceptance opened a new window. */
    uint64_t second = store_last_seq(fx.st);
    ck_assert_uint_eq(publish("w.x", "1", "key", &dup), second);
    ck_assert(dup);
}
END_TEST

/* Housekeeping deletes keys past the window, more than one slice of them. */
START_TEST(test_dedupe_rows_expire)
{
    fx.cfg.dedupe_window_ms = 200;
    open_store();
    struct store_req *reqs[1500];
    char key[32];
    for (size_t i = 0; i < 1500; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        reqs[i] = pub_json("exp.x", "1", key);
        store_submit(fx.st, reqs[i]);
    }
    struct store_req *done[1500];
    wait_done(done, 1500);
    for (size_t i = 0; i < 1500; i++) {
        ck_assert(!reqs[i]->pubs[0].duplicate);
        store_req_free(reqs[i]);
    }
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_gt(sql_int(db, "SELECT count(*) FROM dedupe"), 0);
    int64_t deadline = mono_ms() + WAIT_MS;
    while (sql_int(db, "SELECT count(*) FROM dedupe") > 0) {
        ck_assert_msg(mono_ms() < deadline, "dedupe rows were never expired");
        pause_ms(50);
    }
    sqlite3_close(db);
    bool dup = true;
    publish("exp.x", "1", "k0", &dup); /* the key is free again */
    ck_assert(!dup);
}
END_TEST
/* ---- Binary data ---------------------------------------------------------- */

START_TEST(test_binary_round_trip)
{
    open_store();
    unsigned char bytes[300];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(i * 7);
    bytes[0] = 0;
    bytes[1] = 0;
    bytes[299] = 0;
    struct store_req *req = run(pub_new("bin.x", bytes, sizeof(bytes), true, NULL, "alice"));
    ck_assert_int_eq(req->status, STORE_OK);
    store_req_free(req);
    req = run(pub_new("bin.x", "", 0, true, NULL, NULL)); /* empty body */
    ck_assert_int_eq(req->status, STORE_OK);
    store_req_free(req);

    req = replay("bin.x", 0, 0, 0);
    ck_assert_uint_eq(req->n_msgs, 2);
    ck_assert(req->msgs[0].is_binary);
    ck_assert_uint_eq(req->msgs[0].data_len, sizeof(bytes));
    ck_assert_mem_eq(req->msgs[0].data, bytes, sizeof(bytes));
    ck_assert_str_eq(req->msgs[0].from_user, "alice");
    ck_assert(req->msgs[1].is_binary);
    ck_assert_uint_eq(req->msgs[1].data_len, 0);
    ck_assert_ptr_nonnull(req->msgs[1].data);
    ck_assert_ptr_null(req->msgs[1].from_user);
    store_req_free(req);
}
END_TEST
static Suite *store_write_suite(void)
{
    Suite *s = suite_create("store_write");
    TCase *tc = store_fixture_tcase("core");
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_multi_row_batch);
    tcase_add_test(tc, test_dedupe);
    tcase_add_test(tc, test_dedupe_window_expires);
    tcase_add_test(tc, test_dedupe_rows_expire);
    tcase_add_test(tc, test_binary_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(store_write_suite());
}
