/* SPDX-License-Identifier: MIT */
/*
 * test_store_thread.c: unit tests of broker/store/thread.c, the store
 * thread and its queues, with a fake engine (no SQLite, no files).
 *
 * Covers: requests finish in submission order, each batch is run once with
 * the right count of reads and followed by a wake, stopping runs what is
 * still queued, and finished requests nobody took are freed by the stop
 * (ASan checks that nothing leaks).
 */
#include "store/thread.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define WAIT_MS 10000

struct fake_engine {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t batches;
    size_t requests_run;
    size_t reads_run;
    size_t reads_announced;
    size_t wakes;
};

static void fake_run_batch(void *engine, struct store_req *batch, size_t n_reads)
{
    struct fake_engine *e = engine;
    pthread_mutex_lock(&e->lock);
    e->batches++;
    e->reads_announced += n_reads;
    for (struct store_req *req = batch; req; req = req->next) {
        req->status = STORE_OK;
        req->since = ++e->requests_run; /* the order the engine saw */
        if (req->op != STORE_PUBLISH)
            e->reads_run++;
    }
    pthread_mutex_unlock(&e->lock);
}

static bool fake_housekeep(void *engine)
{
    (void)engine;
    return false;
}

static const struct store_thread_jobs fake_jobs = {
    .run_batch = fake_run_batch,
    .housekeep = fake_housekeep,
};

static void fake_wake(void *arg)
{
    struct fake_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    e->wakes++;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void fake_init(struct fake_engine *e)
{
    *e = (struct fake_engine){0};
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
}

static void fake_destroy(struct fake_engine *e)
{
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cond);
}

/* Waits until the engine has run `count` requests and woken after them. */
static void fake_wait_run(struct fake_engine *e, size_t count)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&e->lock);
    while (e->requests_run < count || e->wakes < e->batches)
        ck_assert_int_eq(pthread_cond_timedwait(&e->cond, &e->lock, &deadline), 0);
    pthread_mutex_unlock(&e->lock);
}

static struct store_req *new_req(enum store_op op, uint64_t tag)
{
    struct store_req *req = calloc(1, sizeof(*req));
    ck_assert_ptr_nonnull(req);
    req->op = op;
    req->owner_tag = tag;
    return req;
}

START_TEST(test_thread_finishes_in_submission_order)
{
    struct fake_engine e;
    fake_init(&e);
    struct store_thread t;
    ck_assert_int_eq(store_thread_start(&t, &fake_jobs, &e, fake_wake, &e), 0);
    enum { N = 200 };
    for (uint64_t i = 1; i <= N; i++)
        store_thread_submit(&t, new_req(i % 3 == 0 ? STORE_HISTORY : STORE_PUBLISH, i));
    fake_wait_run(&e, N);

    uint64_t expect = 1;
    for (struct store_req *req = store_thread_take_done(&t); req;) {
        struct store_req *next = req->next;
        ck_assert_uint_eq(req->owner_tag, expect);
        ck_assert_uint_eq(req->since, expect);
        ck_assert_int_eq(req->status, STORE_OK);
        expect++;
        store_req_free(req);
        req = next;
    }
    ck_assert_uint_eq(expect, N + 1);
    ck_assert_ptr_null(store_thread_take_done(&t));
    ck_assert_uint_eq(e.reads_run, N / 3);
    ck_assert_uint_eq(e.reads_announced, N / 3);
    ck_assert_uint_ge(e.wakes, 1);
    store_thread_stop(&t);
    fake_destroy(&e);
}
END_TEST

START_TEST(test_thread_stop_runs_queued_and_frees_untaken)
{
    struct fake_engine e;
    fake_init(&e);
    struct store_thread t;
    ck_assert_int_eq(store_thread_start(&t, &fake_jobs, &e, fake_wake, &e), 0);
    for (uint64_t i = 1; i <= 50; i++)
        store_thread_submit(&t, new_req(STORE_PUBLISH, i));
    store_thread_stop(&t); /* runs all 50; frees the results nobody took */
    ck_assert_uint_eq(e.requests_run, 50);
    ck_assert_uint_eq(e.wakes, e.batches);
    fake_destroy(&e);
}
END_TEST

static Suite *store_thread_suite(void)
{
    Suite *suite = suite_create("store_thread");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_thread_finishes_in_submission_order);
    tcase_add_test(tc, test_thread_stop_runs_queued_and_frees_untaken);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(store_thread_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
