/*
 * store_fixture.h: what the store's unit tests (test_store.c,
 * test_store_limits.c) share: a fresh temporary directory per test with a
 * database path in it, the store opened there, and waiting for finished
 * requests the way the service thread does (the wake callback signals a
 * condition variable; every wait has a deadline).
 *
 * Check runs each test in a process of its own, so the one fixture `fx` is
 * per test.
 */
#ifndef WSB_TEST_STORE_FIXTURE_H
#define WSB_TEST_STORE_FIXTURE_H

#include "store/store.h"

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

#endif
