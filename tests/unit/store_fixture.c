/* SPDX-License-Identifier: MIT */
/*
 * store_fixture.c: the store tests' shared fixture (see store_fixture.h).
 */
#include "store_fixture.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fixture fx;

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void on_wake(void *arg)
{
    struct fixture *f = arg;
    pthread_mutex_lock(&f->lock);
    if (f->drain_in_wake) {
        for (struct store_req *req = store_take_done(f->st); req; req = req->next)
            if (f->n_drained < sizeof(f->drained) / sizeof(f->drained[0]))
                f->drained[f->n_drained++] = req;
    }
    f->wakes++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

void store_fixture_setup(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_store.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx.dir));
    snprintf(fx.path, sizeof(fx.path), "%s/wsbroker.db", fx.dir);
    pthread_mutex_init(&fx.lock, NULL);
    pthread_cond_init(&fx.cond, NULL);
    fx.cfg.path = fx.path;
    fx.cfg.retain_count = 1000;
    fx.cfg.retain_age_s = 86400;
    fx.cfg.dedupe_window_ms = 300000;
    fx.cfg.durability = STORE_DURABLE_FULL;
    fx.cfg.wake = on_wake;
    fx.cfg.wake_arg = &fx;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void store_fixture_teardown(void)
{
    store_close(fx.st);
    fx.st = NULL;
    remove_dir(fx.dir);
}

TCase *store_fixture_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, store_fixture_setup, store_fixture_teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

void open_store(void)
{
    char err[256] = "";
    int rc = store_open(&fx.st, &fx.cfg, err, sizeof(err));
    ck_assert_msg(rc == 0, "store_open: %s", err);
    ck_assert_ptr_nonnull(fx.st);
}

void reopen_store(void)
{
    store_close(fx.st);
    fx.st = NULL;
    open_store();
}

size_t collect_done(struct store_req **out, size_t n)
{
    size_t got = 0;
    int64_t deadline = mono_ms() + WAIT_MS;
    for (;;) {
        pthread_mutex_lock(&fx.lock);
        unsigned seen = fx.wakes;
        pthread_mutex_unlock(&fx.lock);
        struct store_req *req = store_take_done(fx.st);
        while (req) {
            struct store_req *next = req->next;
            if (got < n)
                out[got] = req;
            got++;
            req = next;
        }
        if (got >= n || mono_ms() >= deadline)
            return got;
        pthread_mutex_lock(&fx.lock);
        while (fx.wakes == seen && mono_ms() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&fx.cond, &fx.lock, &ts);
        }
        pthread_mutex_unlock(&fx.lock);
    }
}

void wait_done(struct store_req **out, size_t n)
{
    size_t got = collect_done(out, n);
    ck_assert_msg(got == n, "waited for %zu finished requests, got %zu", n, got);
}

struct store_req *run(struct store_req *req)
{
    struct store_req *done;
    store_submit(fx.st, req);
    wait_done(&done, 1);
    ck_assert_ptr_eq(done, req);
    return done;
}

int64_t sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

/* ---- Requests and reads ------------------------------------------------ */

/* A publish request of one message (not submitted). */
struct store_req *pub_new(const char *topic, const void *data, size_t len, bool binary,
                          const char *key, const char *from)
{
    struct store_req *req = calloc(1, sizeof(*req));
    ck_assert_ptr_nonnull(req);
    req->op = STORE_PUBLISH;
    req->n_pubs = 1;
    req->pubs = calloc(1, sizeof(*req->pubs));
    ck_assert_ptr_nonnull(req->pubs);
    struct store_msg *msg = &req->pubs[0].msg;
    msg->topic = strdup(topic);
    msg->data = malloc(len + 1);
    memcpy(msg->data, data, len);
    msg->data_len = len;
    msg->is_binary = binary;
    msg->from_user = from ? strdup(from) : NULL;
    req->pubs[0].key = key ? strdup(key) : NULL;
    return req;
}

struct store_req *pub_json(const char *topic, const char *json, const char *key)
{
    return pub_new(topic, json, strlen(json), false, key, NULL);
}

/* Publishes one JSON message and returns its seq (asserting success). */
uint64_t publish(const char *topic, const char *json, const char *key, bool *duplicate)
{
    struct store_req *req = run(pub_json(topic, json, key));
    ck_assert_int_eq(req->status, STORE_OK);
    uint64_t seq = req->pubs[0].msg.seq;
    if (duplicate)
        *duplicate = req->pubs[0].duplicate;
    store_req_free(req);
    return seq;
}

struct store_req *read_new(enum store_op op, const char *pattern, uint64_t since, uint64_t upto,
                           uint32_t last, uint32_t limit)
{
    struct store_req *req = calloc(1, sizeof(*req));
    ck_assert_ptr_nonnull(req);
    req->op = op;
    req->pattern = strdup(pattern);
    req->since = since;
    req->upto = upto;
    req->last = last;
    req->limit = limit;
    return req;
}

struct store_req *replay(const char *pattern, uint64_t since, uint64_t upto, uint32_t last)
{
    struct store_req *req = run(read_new(STORE_REPLAY, pattern, since, upto, last, 0));
    ck_assert_int_eq(req->status, STORE_OK);
    return req;
}

struct store_req *history(const char *pattern, uint64_t since, uint32_t limit)
{
    struct store_req *req = run(read_new(STORE_HISTORY, pattern, since, 0, 0, limit));
    ck_assert_int_eq(req->status, STORE_OK);
    return req;
}

/* Asserts the seqs of a read result, e.g. expect_seqs(req, 3, (uint64_t[]){1, 2, 3}). */
void expect_seqs(const struct store_req *req, size_t n, const uint64_t *seqs)
{
    ck_assert_uint_eq(req->n_msgs, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(req->msgs[i].seq, seqs[i]);
}

/* Polls history until the topic holds no message (age retention ran). */
void wait_until_empty(const char *topic)
{
    int64_t deadline = mono_ms() + WAIT_MS;
    for (;;) {
        struct store_req *req = history(topic, 0, 10);
        size_t n = req->n_msgs;
        store_req_free(req);
        if (n == 0)
            return;
        ck_assert_msg(mono_ms() < deadline, "age retention did not remove %s", topic);
        pause_ms(50);
    }
}
