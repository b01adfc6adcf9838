/* SPDX-License-Identifier: MIT */
/*
 * test_store.c: unit tests of the store (broker/store/: the front, the
 * store thread and the SQLite engine) on real SQLite files.
 *
 * Each test gets a fresh temporary directory (store_fixture.h) and talks
 * to the store only through store.h: it submits requests and waits for them
 * with a wake callback that signals a condition variable (with a timeout),
 * as the service thread does. No mocks, no fixed sleeps: conditions that take time
 * (age retention, the health probe) are polled with a deadline.
 */
#include "store_fixture.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool is_epoch(const char *epoch)
{
    if (strlen(epoch) != 8)
        return false;
    for (int i = 0; i < 8; i++)
        if (!strchr("0123456789abcdef", epoch[i]))
            return false;
    return true;
}

static void remove_db_files(void)
{
    char path[256];
    unlink(fx.path);
    snprintf(path, sizeof(path), "%s-wal", fx.path);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", fx.path);
    unlink(path);
}

/* ---- Schema and epoch ---------------------------------------------------- */

START_TEST(test_schema_and_epoch_stable)
{
    open_store();
    char epoch[9];
    snprintf(epoch, sizeof(epoch), "%s", store_epoch(fx.st));
    ck_assert_msg(is_epoch(epoch), "epoch '%s' is not 8 lowercase hex digits", epoch);
    ck_assert_uint_eq(store_last_seq(fx.st), 0);
    ck_assert(store_healthy(fx.st));
    store_close(fx.st);
    fx.st = NULL;

    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                 "('messages', 'dedupe', 'trimmed', 'meta', "
                                 "'messages_topic_seq', 'dedupe_ts')"),
                     6);
    ck_assert_int_eq(sql_int(db, "PRAGMA user_version"), 3);
    ck_assert_int_eq(sql_int(db, "SELECT value FROM meta WHERE key = 'schema_version'"), 3);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'dedupe' "
                                 "AND sql LIKE '%WITHOUT ROWID'"),
                     1);
    sqlite3_stmt *stmt;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'epoch'", -1, &stmt, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), epoch);
    sqlite3_finalize(stmt);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);

    open_store();
    ck_assert_str_eq(store_epoch(fx.st), epoch);
}
END_TEST

START_TEST(test_epoch_changes_with_new_file)
{
    open_store();
    char epoch[9];
    snprintf(epoch, sizeof(epoch), "%s", store_epoch(fx.st));
    publish("a.b", "1", NULL, NULL);
    store_close(fx.st);
    fx.st = NULL;
    remove_db_files();
    open_store();
    ck_assert(is_epoch(store_epoch(fx.st)));
    ck_assert_str_ne(store_epoch(fx.st), epoch);
    ck_assert_uint_eq(store_last_seq(fx.st), 0);
}
END_TEST

/* ---- Seq ----------------------------------------------------------------- */

START_TEST(test_seq_increases_across_reopen)
{
    open_store();
    uint64_t a = publish("t.one", "1", NULL, NULL);
    uint64_t b = publish("t.two", "2", NULL, NULL);
    uint64_t c = publish("t.one", "3", NULL, NULL);
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_lt(a, b);
    ck_assert_uint_lt(b, c);
    ck_assert_uint_eq(store_last_seq(fx.st), c);
    reopen_store();
    ck_assert_uint_eq(store_last_seq(fx.st), c);
    uint64_t d = publish("t.three", "4", NULL, NULL);
    ck_assert_uint_eq(d, c + 1);
}
END_TEST

START_TEST(test_age_retention_and_seq_never_reused)
{
    fx.cfg.retain_age_s = 1;
    open_store();
    uint64_t a = publish("old.x", "1", NULL, NULL);
    uint64_t b = publish("old.y", "2", NULL, NULL);
    ck_assert_uint_eq(b, a + 1);
    wait_until_empty("old.x");
    wait_until_empty("old.y");
    struct store_stats stats;
    store_get_stats(fx.st, &stats);
    ck_assert_uint_eq(stats.trimmed, 2);

    /* The trimmed match makes a resume from before it incomplete. */
    struct store_req *req = replay("old.x", 0, 0, 0);
    ck_assert_uint_eq(req->n_msgs, 0);
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("old.*", a, 0, 0);
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("old.*", b, 0, 0);
    ck_assert(req->recovered);
    store_req_free(req);

    /* Every message is gone, yet the counter does not go back. */
    reopen_store();
    ck_assert_uint_eq(store_last_seq(fx.st), b);
    ck_assert_uint_eq(publish("old.x", "3", NULL, NULL), b + 1);
}
END_TEST

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

/* ---- Replay ----------------------------------------------------------------- */

START_TEST(test_replay_since_last_upto)
{
    open_store();
    /* seqs:                        1              2              3 */
    publish("prices.AAPL", "1", NULL, NULL);
    publish("prices.MSFT", "2", NULL, NULL);
    publish("prices.us.IBM", "3", NULL, NULL);
    publish("news.AAPL", "4", NULL, NULL);   /* 4 */
    publish("prices.AAPL", "5", NULL, NULL); /* 5 */
    publish("$sys.AAPL", "6", NULL, NULL);   /* 6 */
    publish("prices.AAPL", "7", NULL, NULL); /* 7 */

    struct store_req *req = replay("prices.AAPL", 0, 0, 0);
    expect_seqs(req, 3, (uint64_t[]){1, 5, 7});
    ck_assert(req->recovered);
    ck_assert_str_eq(req->msgs[1].topic, "prices.AAPL");
    ck_assert_uint_eq(req->msgs[1].data_len, 1);
    ck_assert_str_eq((const char *)req->msgs[1].data, "5");
    ck_assert(!req->msgs[1].is_binary);
    ck_assert_ptr_null(req->msgs[1].from_user);
    ck_assert_int_gt(req->msgs[1].ts, 0);
    store_req_free(req);

    req = replay("prices.AAPL", 1, 0, 0);
    expect_seqs(req, 2, (uint64_t[]){5, 7});
    store_req_free(req);
    req = replay("prices.AAPL", 1, 6, 0); /* upto bound */
    expect_seqs(req, 1, (uint64_t[]){5});
    store_req_free(req);
    req = replay("prices.AAPL", 7, 0, 0);
    expect_seqs(req, 0, NULL);
    ck_assert(req->recovered);
    store_req_free(req);

    /* last: the newest N, ascending, at most upto. */
    req = replay("prices.AAPL", 0, 0, 2);
    expect_seqs(req, 2, (uint64_t[]){5, 7});
    store_req_free(req);
    req = replay("prices.AAPL", 0, 5, 2);
    expect_seqs(req, 2, (uint64_t[]){1, 5});
    store_req_free(req);
    req = replay("prices.AAPL", 0, 0, 10);
    expect_seqs(req, 3, (uint64_t[]){1, 5, 7});
    store_req_free(req);

    /* Patterns, with and without a literal prefix. */
    req = replay("prices.*", 0, 0, 0);
    expect_seqs(req, 4, (uint64_t[]){1, 2, 5, 7});
    store_req_free(req);
    req = replay("prices.>", 1, 0, 0);
    expect_seqs(req, 4, (uint64_t[]){2, 3, 5, 7});
    store_req_free(req);
    req = replay("*.AAPL", 0, 0, 0); /* never a reserved name */
    expect_seqs(req, 4, (uint64_t[]){1, 4, 5, 7});
    store_req_free(req);
    req = replay(">", 0, 6, 0);
    expect_seqs(req, 5, (uint64_t[]){1, 2, 3, 4, 5});
    store_req_free(req);
    req = replay("prices.*", 0, 6, 2);
    expect_seqs(req, 2, (uint64_t[]){2, 5});
    store_req_free(req);
    req = replay("*.*", 0, 0, 3);
    expect_seqs(req, 3, (uint64_t[]){4, 5, 7});
    store_req_free(req);
    req = replay("$sys.*", 0, 0, 0);
    expect_seqs(req, 1, (uint64_t[]){6});
    store_req_free(req);
    req = replay("nothing.>", 0, 0, 0);
    expect_seqs(req, 0, NULL);
    ck_assert(req->recovered);
    store_req_free(req);
}
END_TEST

START_TEST(test_replay_recovered_after_count_retention)
{
    fx.cfg.retain_count = 2;
    open_store();
    publish("prices.AAPL", "1", NULL, NULL); /* 1: trimmed below */
    publish("prices.MSFT", "2", NULL, NULL); /* 2 */
    publish("prices.AAPL", "3", NULL, NULL); /* 3 */
    publish("prices.AAPL", "4", NULL, NULL); /* 4: trims 1 */
    struct store_stats stats;
    store_get_stats(fx.st, &stats);
    ck_assert_uint_eq(stats.trimmed, 1);

    struct store_req *req = replay("prices.AAPL", 0, 0, 0);
    expect_seqs(req, 2, (uint64_t[]){3, 4});
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("prices.AAPL", 1, 0, 0);
    expect_seqs(req, 2, (uint64_t[]){3, 4});
    ck_assert(req->recovered);
    store_req_free(req);
    req = replay("prices.*", 0, 0, 0);
    expect_seqs(req, 3, (uint64_t[]){2, 3, 4});
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("*.MSFT", 0, 0, 0);
    ck_assert(req->recovered);
    store_req_free(req);
    req = replay("prices.MSFT", 0, 0, 0);
    ck_assert(req->recovered);
    store_req_free(req);
    req = replay("prices.AAPL", 0, 0, 5); /* last mode: recovered stays true */
    expect_seqs(req, 2, (uint64_t[]){3, 4});
    ck_assert(req->recovered);
    store_req_free(req);

    /* A batch of many messages to one topic trims it back to retain_count. */
    struct store_req *reqs[20];
    for (int i = 0; i < 20; i++) {
        reqs[i] = pub_json("prices.MSFT", "0", NULL);
        store_submit(fx.st, reqs[i]);
    }
    struct store_req *done[20];
    wait_done(done, 20);
    uint64_t newest = done[19]->pubs[0].msg.seq;
    for (int i = 0; i < 20; i++)
        store_req_free(done[i]);
    req = history("prices.MSFT", 0, 100);
    expect_seqs(req, 2, (uint64_t[]){newest - 1, newest});
    store_req_free(req);

    /* The counts and the trimmed rows survive a reopen. */
    reopen_store();
    publish("prices.AAPL", "5", NULL, NULL);
    req = history("prices.AAPL", 0, 100);
    ck_assert_uint_eq(req->n_msgs, 2);
    ck_assert_uint_eq(req->msgs[0].seq, 4);
    store_req_free(req);
    req = replay("prices.AAPL", 1, 0, 0);
    ck_assert(!req->recovered);
    store_req_free(req);
}
END_TEST

/* More messages than the store walks in seq order before it switches to the
 * (topic, seq) index (10000): pattern reads must be complete and ordered
 * across that switch, for dense and for sparse matches. */
START_TEST(test_replay_large_store)
{
    enum { N = 25000 };
    const uint64_t sparse[] = {5, 12000, 19999, 24990};
    fx.cfg.retain_count = N;
    open_store();
    struct store_req *req = calloc(1, sizeof(*req));
    req->op = STORE_PUBLISH;
    req->n_pubs = N;
    req->pubs = calloc(N, sizeof(*req->pubs));
    for (size_t i = 0, k = 0; i < N; i++) {
        bool is_sparse = k < 4 && i + 1 == sparse[k];
        k += is_sparse;
        req->pubs[i].msg.topic = strdup(is_sparse ? "sparse.x" : (i % 2 ? "dense.a" : "dense.b"));
        req->pubs[i].msg.data = (unsigned char *)strdup("0");
        req->pubs[i].msg.data_len = 1;
    }
    run(req);
    ck_assert_int_eq(req->status, STORE_OK);
    ck_assert_uint_eq(req->pubs[N - 1].msg.seq, N);
    store_req_free(req);

    req = replay("sparse.*", 0, 0, 0);
    expect_seqs(req, 4, sparse);
    store_req_free(req);
    req = replay("sparse.>", 5, 0, 0);
    expect_seqs(req, 3, sparse + 1);
    store_req_free(req);
    req = replay("sparse.*", 0, 20000, 0);
    expect_seqs(req, 3, sparse);
    store_req_free(req);
    req = replay("sparse.*", 0, 0, 3);
    expect_seqs(req, 3, sparse + 1);
    store_req_free(req);
    req = replay("sparse.*", 0, 19998, 2);
    expect_seqs(req, 2, sparse);
    store_req_free(req);
    req = history("sparse.*", 0, 2);
    expect_seqs(req, 2, sparse);
    ck_assert(req->more);
    store_req_free(req);
    req = history("sparse.*", 12000, 2);
    expect_seqs(req, 2, sparse + 2);
    ck_assert(!req->more);
    store_req_free(req);

    req = replay("dense.*", 0, 0, 0);
    ck_assert_uint_eq(req->n_msgs, N - 4);
    for (size_t i = 1; i < req->n_msgs; i++)
        ck_assert_uint_lt(req->msgs[i - 1].seq, req->msgs[i].seq);
    ck_assert_uint_eq(req->msgs[req->n_msgs - 1].seq, N);
    store_req_free(req);
    req = replay("dense.*", 0, 0, 3);
    expect_seqs(req, 3, (uint64_t[]){N - 2, N - 1, N});
    store_req_free(req);
    req = history("dense.>", 11998, 4);
    expect_seqs(req, 4, (uint64_t[]){11999, 12001, 12002, 12003});
    ck_assert(req->more);
    store_req_free(req);
    req = history("*.x", 6, 10); /* no literal prefix */
    expect_seqs(req, 3, sparse + 1);
    store_req_free(req);
}
END_TEST

/* ---- History ---------------------------------------------------------------- */

START_TEST(test_history_limit_more_since)
{
    open_store();
    for (int i = 0; i < 10; i++)
        publish(i % 2 ? "h.odd" : "h.even", "0", NULL, NULL); /* even 1,3,..; odd 2,4,.. */
    struct store_req *req = history("h.even", 0, 3);
    expect_seqs(req, 3, (uint64_t[]){1, 3, 5});
    ck_assert(req->more);
    ck_assert(req->recovered);
    store_req_free(req);
    req = history("h.even", 5, 3);
    expect_seqs(req, 2, (uint64_t[]){7, 9});
    ck_assert(!req->more);
    store_req_free(req);
    req = history("h.even", 3, 3); /* exactly the rest */
    expect_seqs(req, 3, (uint64_t[]){5, 7, 9});
    ck_assert(!req->more);
    store_req_free(req);
    req = history("h.*", 6, 3);
    expect_seqs(req, 3, (uint64_t[]){7, 8, 9});
    ck_assert(req->more);
    store_req_free(req);
    req = history("h.>", 0, 1000);
    ck_assert_uint_eq(req->n_msgs, 10);
    ck_assert(!req->more);
    store_req_free(req);
    req = history("h.none", 0, 10);
    expect_seqs(req, 0, NULL);
    ck_assert(!req->more);
    store_req_free(req);
}
END_TEST

START_TEST(test_history_recovered)
{
    fx.cfg.retain_count = 1;
    open_store();
    publish("r.a", "1", NULL, NULL);
    publish("r.a", "2", NULL, NULL); /* trims 1 */
    struct store_req *req = history("r.a", 0, 10);
    expect_seqs(req, 1, (uint64_t[]){2});
    ck_assert(req->recovered); /* since 0: from the oldest retained */
    store_req_free(req);
    publish("r.a", "3", NULL, NULL); /* trims 2 */
    req = history("r.a", 1, 10);
    expect_seqs(req, 1, (uint64_t[]){3});
    ck_assert(!req->recovered);
    store_req_free(req);
    req = history("r.*", 2, 10);
    ck_assert(req->recovered);
    store_req_free(req);
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

/* ---- Failures ---------------------------------------------------------------- */

/* A write the disk refuses. Tests run as root, where chmod does not stop a
 * write; RLIMIT_FSIZE does (Check runs each test in its own process). */
START_TEST(test_write_failure_and_recovery)
{
    open_store();
    uint64_t first = publish("f.x", "1", NULL, NULL);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit saved;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    struct rlimit tiny = {.rlim_cur = 1024, .rlim_max = saved.rlim_max};
    struct store_req *reqs[2] = {pub_json("f.x", "2", "key"),
                                 read_new(STORE_HISTORY, "f.x", 0, 0, 0, 10)};
    /* While the limit holds, no ck_assert: Check writes a message per call. */
    int limited = setrlimit(RLIMIT_FSIZE, &tiny);
    struct store_req *done[2];
    store_submit(fx.st, reqs[0]);
    store_submit(fx.st, reqs[1]);
    size_t got = collect_done(done, 2);
    bool healthy_during = store_healthy(fx.st);
    uint64_t last_seq_during = store_last_seq(fx.st);
    int restored = setrlimit(RLIMIT_FSIZE, &saved);
    ck_assert_int_eq(limited, 0);
    ck_assert_int_eq(restored, 0);
    ck_assert_uint_eq(got, 2);

    ck_assert_int_eq(reqs[0]->status, STORE_UNAVAILABLE);
    ck_assert_uint_eq(reqs[0]->pubs[0].msg.seq, 0);
    ck_assert(!healthy_during);
    ck_assert_uint_eq(last_seq_during, first);
    ck_assert_int_eq(reqs[1]->status, STORE_OK); /* reads still work */
    expect_seqs(reqs[1], 1, (uint64_t[]){first});
    store_req_free(reqs[0]);
    store_req_free(reqs[1]);

    int64_t deadline = mono_ms() + WAIT_MS;
    while (!store_healthy(fx.st)) {
        ck_assert_msg(mono_ms() < deadline, "the store never became healthy again");
        pause_ms(20);
    }
    bool dup;
    ck_assert_uint_eq(publish("f.x", "2", "key", &dup), first + 1); /* seq not burnt */
    ck_assert(!dup); /* the failed publish left no dedupe row */
}
END_TEST

START_TEST(test_readonly_file)
{
    /* Only added to the suite when not running as root. */
    open_store();
    store_close(fx.st);
    fx.st = NULL;
    ck_assert_int_eq(chmod(fx.path, 0444), 0);
    char err[256] = "";
    struct store *st = (struct store *)&err; /* must be reset to NULL */
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, fx.path) && strstr(err, "read-only"), "err: %s", err);
}
END_TEST

static void write_file(const char *path, const void *bytes, size_t len, off_t offset)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, len, offset), (ssize_t)len);
    close(fd);
}

START_TEST(test_not_a_database)
{
    char garbage[8192];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)('a' + i % 26);
    write_file(fx.path, garbage, sizeof(garbage), 0);
    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    char want[256];
    snprintf(want, sizeof(want), "%s: file is not a database", fx.path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_corrupt_database)
{
    open_store();
    char json[600];
    memset(json, '7', sizeof(json) - 1);
    json[sizeof(json) - 1] = '\0';
    for (int i = 0; i < 40; i++)
        publish(i % 2 ? "c.a" : "c.b", json, NULL, NULL);
    store_close(fx.st); /* checkpoints the WAL into the file */
    fx.st = NULL;
    struct stat sb;
    ck_assert_int_eq(stat(fx.path, &sb), 0);
    ck_assert_int_ge(sb.st_size, 4 * 4096);
    unsigned char noise[4096];
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (unsigned char)(i * 131 + 17);
    write_file(fx.path, noise, sizeof(noise), 2 * 4096); /* page 3 */

    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strncmp(err, fx.path, strlen(fx.path)) == 0 && strlen(err) > strlen(fx.path) + 2,
                  "err: %s", err);
}
END_TEST

/* A file written by a version 1 broker (dedupe as a rowid table): opened,
 * it is migrated to the current version (3) with its messages and keys intact. */
START_TEST(test_migrate_v1)
{
    static const char v1_sql[] =
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
        "ts INTEGER NOT NULL, from_user TEXT, is_binary INTEGER NOT NULL, data BLOB NOT NULL);"
        "CREATE INDEX messages_topic_seq ON messages (topic, seq);"
        "CREATE TABLE dedupe (topic TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, "
        "ts INTEGER NOT NULL, PRIMARY KEY (topic, key));"
        "CREATE INDEX dedupe_ts ON dedupe (ts);"
        "CREATE TABLE trimmed (topic TEXT PRIMARY KEY, upto_seq INTEGER NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
        "INSERT INTO meta VALUES ('epoch', '0badcafe'), ('schema_version', 1);"
        "PRAGMA user_version = 1;";
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, v1_sql, NULL, NULL, NULL), SQLITE_OK);
    char rows[512];
    long long now = (long long)time(NULL) * 1000;
    snprintf(rows, sizeof(rows),
             "INSERT INTO messages VALUES (7, 'orders.eu', %lld, NULL, 0, '{\"n\":1}');"
             "INSERT INTO dedupe VALUES ('orders.eu', 'k1', 7, %lld);",
             now, now);
    ck_assert_int_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    open_store();
    ck_assert_str_eq(store_epoch(fx.st), "0badcafe");
    ck_assert_uint_eq(store_last_seq(fx.st), 7);
    bool dup = false;
    ck_assert_uint_eq(publish("orders.eu", "{\"n\":1}", "k1", &dup), 7); /* the key survived */
    ck_assert(dup);
    uint64_t next = publish("orders.eu", "{\"n\":2}", "k2", &dup);
    ck_assert(!dup);
    ck_assert_uint_eq(next, 8);
    struct store_req *req = history("orders.eu", 0, 100);
    expect_seqs(req, 2, (uint64_t[]){7, 8});
    store_req_free(req);
    store_close(fx.st);
    fx.st = NULL;

    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sql_int(db, "PRAGMA user_version"), 3);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM dedupe"), 2);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'dedupe_ts'"), 1);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'dedupe_v2'"), 0);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(db, "CREATE TABLE x(y); PRAGMA user_version = 99", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "schema version 99"), "err: %s", err);
}
END_TEST

START_TEST(test_bad_path)
{
    fx.cfg.path = "/nonexistent-dir-for-test/x.db";
    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "/nonexistent-dir-for-test/x.db: "), "err: %s", err);
}
END_TEST

/* ---- :memory: and close ------------------------------------------------------ */

START_TEST(test_memory_database)
{
    fx.cfg.path = ":memory:";
    fx.cfg.retain_count = 2;
    open_store();
    ck_assert(is_epoch(store_epoch(fx.st)));
    bool dup;
    uint64_t a = publish("m.x", "{\"a\":1}", "k", &dup);
    ck_assert_uint_eq(publish("m.x", "{\"a\":1}", "k", &dup), a);
    ck_assert(dup);
    publish("m.x", "2", NULL, NULL);
    publish("m.x", "3", NULL, NULL);
    struct store_req *req = replay("m.*", 0, 0, 0);
    expect_seqs(req, 2, (uint64_t[]){2, 3});
    ck_assert(!req->recovered);
    store_req_free(req);
}
END_TEST

START_TEST(test_close_finishes_submitted)
{
    fx.drain_in_wake = true;
    open_store();
    enum { N = 400 };
    struct store_req *reqs[N + 1];
    for (int i = 0; i < N; i++) {
        reqs[i] = pub_json("close.x", "1", NULL);
        store_submit(fx.st, reqs[i]);
    }
    reqs[N] = read_new(STORE_HISTORY, "close.x", 0, 0, 0, 1000);
    store_submit(fx.st, reqs[N]);
    store_close(fx.st);
    fx.st = NULL;

    ck_assert_uint_eq(fx.n_drained, N + 1);
    for (int i = 0; i <= N; i++) {
        ck_assert_ptr_eq(fx.drained[i], reqs[i]);
        ck_assert_int_eq(reqs[i]->status, STORE_OK);
    }
    ck_assert_uint_eq(reqs[N - 1]->pubs[0].msg.seq, N);
    ck_assert_uint_eq(reqs[N]->n_msgs, N);
    for (int i = 0; i <= N; i++)
        store_req_free(reqs[i]);

    fx.drain_in_wake = false;
    open_store();
    ck_assert_uint_eq(store_last_seq(fx.st), N);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_schema_and_epoch_stable);
    tcase_add_test(tc, test_epoch_changes_with_new_file);
    tcase_add_test(tc, test_seq_increases_across_reopen);
    tcase_add_test(tc, test_age_retention_and_seq_never_reused);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_multi_row_batch);
    tcase_add_test(tc, test_dedupe);
    tcase_add_test(tc, test_dedupe_window_expires);
    tcase_add_test(tc, test_dedupe_rows_expire);
    tcase_add_test(tc, test_replay_since_last_upto);
    tcase_add_test(tc, test_replay_recovered_after_count_retention);
    tcase_add_test(tc, test_replay_large_store);
    tcase_add_test(tc, test_history_limit_more_since);
    tcase_add_test(tc, test_history_recovered);
    tcase_add_test(tc, test_binary_round_trip);
    tcase_add_test(tc, test_write_failure_and_recovery);
    if (geteuid() != 0)
        tcase_add_test(tc, test_readonly_file);
    tcase_add_test(tc, test_not_a_database);
    tcase_add_test(tc, test_corrupt_database);
    tcase_add_test(tc, test_migrate_v1);
    tcase_add_test(tc, test_newer_schema_refused);
    tcase_add_test(tc, test_bad_path);
    tcase_add_test(tc, test_memory_database);
    tcase_add_test(tc, test_close_finishes_submitted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
