/* SPDX-License-Identifier: MIT */
/*
 * test_store_replay.c: unit tests of reading the store back
 * (broker/store/): replay by since, last and upto, history with its limit
 * and `more`, both recovered after count retention deleted rows, and a
 * store large enough that replay leaves its seq-order walk.
 *
 * Same fixture and rules as test_store.c (store_fixture.h); the read
 * requests themselves are built by the fixture (replay(), history()).
 */
#include "check_run.h"
#include "store_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static Suite *store_replay_suite(void)
{
    Suite *s = suite_create("store_replay");
    TCase *tc = store_fixture_tcase("core");
    tcase_add_test(tc, test_replay_since_last_upto);
    tcase_add_test(tc, test_replay_recovered_after_count_retention);
    tcase_add_test(tc, test_replay_large_store);
    tcase_add_test(tc, test_history_limit_more_since);
    tcase_add_test(tc, test_history_recovered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(store_replay_suite());
}
