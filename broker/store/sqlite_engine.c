/* SPDX-License-Identifier: MIT */
/*
 * sqlite_engine.c: the SQLite engine behind the interface of engine.h.
 *
 * Owns: the ops table `store_engine_sqlite`, the jobs its store thread runs
 * (a batch: publishes in one transaction, then reads; housekeeping), and
 * the reads of the engine's atomics that any thread may make. The work
 * itself is in sqlite_write.c, sqlite_read.c, sqlite_housekeep.c and
 * sqlite_backup.c.
 */
#include "store/sqlite_backup.h"
#include "store/sqlite_int.h"

#include <stdio.h>

static struct sqlite_store *engine_of(struct store *st)
{
    return (struct sqlite_store *)st;
}

static const struct sqlite_store *engine_of_const(const struct store *st)
{
    return (const struct sqlite_store *)st;
}

/* A batch: its publishes (one transaction), then its reads, which so see
 * those publishes. */
static void engine_run_batch(void *engine, struct store_req *batch, size_t n_reads)
{
    struct sqlite_store *st = engine;
    sqlite_write_publishes(st, batch);
    /* The requests were written on the other core and SQLite's work since
     * pushed them out of this one's cache: no walk when there is no read. */
    for (struct store_req *req = batch; req && n_reads > 0; req = req->next) {
        if (req->op != STORE_PUBLISH) {
            sqlite_read_run(st, req);
            n_reads--;
        }
    }
}

static bool engine_housekeep(void *engine)
{
    return sqlite_housekeep(engine);
}

static bool engine_backup_slice(void *engine, struct store_req *req, bool stopping)
{
    return sqlite_backup_slice(engine, req, stopping);
}

static const struct store_thread_jobs engine_jobs = {
    .run_batch = engine_run_batch,
    .housekeep = engine_housekeep,
    .backup_slice = engine_backup_slice,
};

static int engine_open(struct store **out, const struct store_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    struct sqlite_store *st = sqlite_open(cfg, err, errlen);
    if (!st)
        return -1;
    if (store_thread_start(&st->thread, &engine_jobs, st, st->cfg.wake, st->cfg.wake_arg) != 0) {
        snprintf(err, errlen, "%s: cannot start the store thread", st->path);
        sqlite_destroy(st);
        return -1;
    }
    *out = &st->base;
    return 0;
}

static void engine_close(struct store *base)
{
    struct sqlite_store *st = engine_of(base);
    store_thread_stop(&st->thread);
    sqlite_destroy(st);
}

static void engine_submit(struct store *st, struct store_req *req)
{
    store_thread_submit(&engine_of(st)->thread, req);
}

static struct store_req *engine_take_done(struct store *st)
{
    return store_thread_take_done(&engine_of(st)->thread);
}

static const char *engine_epoch(const struct store *st)
{
    return engine_of_const(st)->epoch;
}

static uint64_t engine_last_seq(const struct store *st)
{
    return atomic_load(&engine_of_const(st)->last_seq);
}

static bool engine_healthy(const struct store *st)
{
    return atomic_load(&engine_of_const(st)->healthy);
}

static void engine_get_stats(const struct store *base, struct store_stats *out)
{
    const struct sqlite_store *st = engine_of_const(base);
    out->commits = atomic_load_explicit(&st->n_commits, memory_order_relaxed);
    out->messages_stored = atomic_load_explicit(&st->n_stored, memory_order_relaxed);
    out->duplicates = atomic_load_explicit(&st->n_duplicates, memory_order_relaxed);
    out->trimmed = atomic_load_explicit(&st->n_trimmed, memory_order_relaxed);
    out->commit_us_total = atomic_load_explicit(&st->commit_us, memory_order_relaxed);
    for (size_t b = 0; b < STORE_COMMIT_BUCKETS; b++)
        out->commit_buckets[b] = atomic_load_explicit(&st->commit_buckets[b], memory_order_relaxed);
    out->db_bytes = atomic_load_explicit(&st->db_bytes, memory_order_relaxed);
    out->live_topics = atomic_load_explicit(&st->live_topics, memory_order_relaxed);
    out->refused_full = atomic_load_explicit(&st->n_refused_full, memory_order_relaxed);
}

const struct store_engine_ops store_engine_sqlite = {
    .name = "sqlite",
    .open = engine_open,
    .close = engine_close,
    .submit = engine_submit,
    .take_done = engine_take_done,
    .epoch = engine_epoch,
    .last_seq = engine_last_seq,
    .healthy = engine_healthy,
    .get_stats = engine_get_stats,
};
