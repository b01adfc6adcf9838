/* SPDX-License-Identifier: MIT */
/*
 * store_fixture.h: what the store's unit tests (test_store.c,
 * test_store_write.c, test_store_replay.c, test_store_limits.c,
 * test_store_reads.c, test_store_cond.c) share: a fresh temporary
 * directory per test with a database path in it, the store opened there,
 * and waiting for finished requests the way the service thread does (the
 * wake callback signals a condition variable; every wait has a deadline).
 *
 * Check runs each test in a process of its own, so the one fixture `fx` is
 * per test.
 */
#ifndef WSB_TEST_STORE_FIXTURE_H
#define WSB_TEST_STORE_FIXTURE_H

#include "store/store.h"

#include <check.h>
#include <pthread.h>
#include <sqlite3.h>

#define WAIT_MS 15000

struct fixture {
    char dir[64];
    char path[128];
    struct store_config cfg;
    struct store *st;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned wakes;
    bool drain_in_wake; /* the wake callback takes the results itself */
    struct store_req *drained[1024];
    size_t n_drained;
};

extern struct fixture fx;

int64_t mono_ms(void);
void pause_ms(long ms);

/* Check's setup and teardown: a temporary directory and a configuration
 * (retain 1000 per topic and a day, dedupe 5 minutes, full durability);
 * teardown closes the store and removes the directory. */
void store_fixture_setup(void);
void store_fixture_teardown(void);

/* A test case with that setup and teardown and a 60 s timeout. */
TCase *store_fixture_tcase(const char *name);

/* Opens fx.st on fx.cfg (asserting success); reopen closes it first. */
void open_store(void);
void reopen_store(void);

/* Collects n finished requests without any Check assertion (every passing
 * ck_assert writes to Check's message file, which must not happen while a
 * test holds RLIMIT_FSIZE low). Returns how many arrived before the
 * deadline. */
size_t collect_done(struct store_req **out, size_t n);

/* Waits until `n` requests have finished and returns them in completion order. */
void wait_done(struct store_req **out, size_t n);

/* Submits one request and returns it once finished. */
struct store_req *run(struct store_req *req);

/* The first column of the first row of `sql` (asserting there is one). */
int64_t sql_int(sqlite3 *db, const char *sql);

/* Requests and reads shared by the store's test files. */
/* A publish request of one message (not submitted). */
struct store_req *pub_new(const char *topic, const void *data, size_t len, bool binary,
                          const char *key, const char *from);
struct store_req *pub_json(const char *topic, const char *json, const char *key);
/* Publishes one JSON message and returns its seq (asserting success). */
uint64_t publish(const char *topic, const char *json, const char *key, bool *duplicate);
struct store_req *read_new(enum store_op op, const char *pattern, uint64_t since, uint64_t upto,
                           uint32_t last, uint32_t limit);
struct store_req *replay(const char *pattern, uint64_t since, uint64_t upto, uint32_t last);
struct store_req *history(const char *pattern, uint64_t since, uint32_t limit);
/* Asserts the seqs of a read result, e.g. expect_seqs(req, 3, (uint64_t[]){1, 2, 3}). */
void expect_seqs(const struct store_req *req, size_t n, const uint64_t *seqs);
/* Polls history until the topic holds no message (age retention ran). */
void wait_until_empty(const char *topic);

#endif
