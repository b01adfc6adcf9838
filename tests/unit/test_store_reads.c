/* SPDX-License-Identifier: MIT */
/*
 * test_store_reads.c: the store's bounded reads: replays in chunks (by count and
 * bytes, the `last` start, the count of the matches, recounting after
 * retention), history bounded in bytes, and reads skipped for a reader
 * that left.
 *
 * On real SQLite files in a temporary directory (store_fixture.h).
 */
#include "store_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- replays in chunks ---------------------------------------------------- */

/* One chunk of a replay (limit > 0), run and checked to be OK. */
static struct store_req *replay_chunk(const char *pattern, uint64_t since, uint64_t upto,
                                      uint32_t last, size_t max_bytes, bool start, uint64_t mark)
{
    struct store_req *req = read_new(STORE_REPLAY, pattern, since, upto, last, 256);
    req->max_bytes = max_bytes;
    req->start = start;
    req->retention_mark = mark;
    req = run(req);
    ck_assert_int_eq(req->status, STORE_OK);
    return req;
}

/* Reads every chunk of a replay of `pattern` after since, up to upto;
 * checks that the first chunk counts them all, that the chunks after it
 * count nothing (no retention ran), that they join ascending, and returns
 * how many there were. */
static uint64_t replay_in_chunks(const char *pattern, uint64_t upto, uint64_t expected)
{
    struct store_req *req = replay_chunk(pattern, 0, upto, 0, 0, true, 0);
    ck_assert(req->has_total);
    ck_assert_uint_eq(req->total, expected);
    uint64_t got = 0, prev = 0, chunks = 0;
    for (;;) {
        ck_assert(req->n_msgs > 0 || !req->more);
        for (size_t i = 0; i < req->n_msgs; i++) {
            ck_assert_uint_gt(req->msgs[i].seq, prev);
            ck_assert_uint_le(req->msgs[i].seq, upto);
            prev = req->msgs[i].seq;
        }
        got += req->n_msgs;
        chunks++;
        bool more = req->more;
        uint64_t mark = req->retention_mark;
        ck_assert(chunks == 1 || !more || !req->has_total);
        store_req_free(req);
        if (!more)
            break;
        req = replay_chunk(pattern, prev, upto, 0, 0, false, mark);
    }
    ck_assert_uint_eq(got, expected);
    return chunks;
}

/* A replay read in chunks: by count and by bytes, counted on the first
 * chunk (a name, a prefix, a pattern without one over the whole index),
 * `last` from the last-th newest match, and counted again after retention
 * removed messages. */
START_TEST(test_replay_chunks)
{
    enum { N = 25000 };
    fx.cfg.retain_count = N;
    open_store();
    /* One batch: c.a, c.b, d, d, d, c.a, ... with 10 bytes of data each. */
    struct store_pub *pubs = calloc(N, sizeof(*pubs));
    for (size_t i = 0; i < N; i++) {
        pubs[i].msg.topic = strdup(i % 5 == 0 ? "c.a" : i % 5 == 1 ? "c.b" : "d");
        pubs[i].msg.data = (unsigned char *)strdup("1234567890");
        pubs[i].msg.data_len = 10;
    }
    struct store_req *req =
        run(&(struct store_req){.op = STORE_PUBLISH, .pubs = pubs, .n_pubs = N});
    ck_assert_int_eq(req->status, STORE_OK);
    for (size_t i = 0; i < N; i++)
        store_msg_clear(&pubs[i].msg);
    free(pubs);

    ck_assert_uint_eq(replay_in_chunks("c.a", N, N / 5), (N / 5 + 255) / 256);
    ck_assert_uint_ge(replay_in_chunks("c.*", N, 2 * N / 5), 2 * N / 5 / 256);
    ck_assert_uint_ge(replay_in_chunks("*", N, 3 * N / 5), 3 * N / 5 / 256);
    ck_assert_uint_ge(replay_in_chunks(">", N, N), N / 256);
    replay_in_chunks("c.a", 100, 20);

    /* Bytes: a chunk stops before them, but holds one message at least. */
    req = replay_chunk("d", 0, N, 0, 45, true, 0);
    ck_assert_uint_eq(req->n_msgs, 4); /* 1 + 10 bytes each */
    ck_assert(req->more);
    store_req_free(req);
    req = replay_chunk("d", 0, N, 0, 1, true, 0);
    ck_assert_uint_eq(req->n_msgs, 1);
    store_req_free(req);

    /* last: the 600 newest of c.a, from the 600th newest on. */
    req = replay_chunk("c.a", 0, N, 600, 0, true, 0);
    ck_assert(req->has_total);
    ck_assert_uint_eq(req->total, 600);
    ck_assert_uint_eq(req->n_msgs, 256);
    ck_assert_uint_eq(req->msgs[0].seq, N - 5 * 600 + 1);
    store_req_free(req);

    /* Retention removes the oldest c.b: the next chunk counts again. */
    req = replay_chunk("c.b", 0, N, 0, 0, true, 0);
    uint64_t mark = req->retention_mark, since = req->msgs[req->n_msgs - 1].seq;
    ck_assert_uint_eq(req->total, N / 5);
    store_req_free(req);
    fx.cfg.retain_count = N / 5 - 1000;
    reopen_store();
    publish("c.b", "1", NULL, NULL);
    req = replay_chunk("c.b", since, N, 0, 0, false, mark);
    ck_assert(req->has_total);
    ck_assert_uint_lt(req->total, N / 5 - 256);
    store_req_free(req);
}
END_TEST

/* A history read stops before max_bytes, with more, and holds one message
 * at least. */
START_TEST(test_history_max_bytes)
{
    open_store();
    for (int i = 0; i < 5; i++)
        publish("hb", "\"0123456789\"", NULL, NULL);
    struct store_req *req = read_new(STORE_HISTORY, "hb", 0, 0, 0, 10);
    req->max_bytes = 30;
    req = run(req);
    ck_assert_uint_eq(req->n_msgs, 2);
    ck_assert(req->more);
    store_req_free(req);
    req = read_new(STORE_HISTORY, "hb", 4, 0, 0, 10);
    req->max_bytes = 1;
    req = run(req);
    ck_assert_uint_eq(req->n_msgs, 1);
    ck_assert(!req->more);
    store_req_free(req);
}
END_TEST

/* A read whose asker has gone is not run. */
START_TEST(test_read_for_gone_skipped)
{
    open_store();
    publish("gone.x", "1", NULL, NULL);
    _Atomic bool gone = true;
    struct store_req *req = read_new(STORE_HISTORY, "gone.x", 0, 0, 0, 10);
    req->gone = &gone;
    req = run(req);
    ck_assert_int_eq(req->status, STORE_OK);
    ck_assert_uint_eq(req->n_msgs, 0);
    store_req_free(req);
    gone = false;
    req = read_new(STORE_REPLAY, "gone.x", 0, 0, 0, 0);
    req->gone = &gone;
    req = run(req);
    ck_assert_uint_eq(req->n_msgs, 1);
    store_req_free(req);
}
END_TEST

static Suite *store_reads_suite(void)
{
    Suite *s = suite_create("store_reads");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_replay_chunks);
    tcase_add_test(tc, test_history_max_bytes);
    tcase_add_test(tc, test_read_for_gone_skipped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_reads_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
