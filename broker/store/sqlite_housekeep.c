/*
 * sqlite_housekeep.c: the SQLite engine's background upkeep.
 *
 * Owns: age retention, expiry of dedupe keys past the window, giving free
 * pages back to the file system (incremental vacuum), and the health probe
 * that finds out when a store that failed a write can be written again.
 * Each runs in bounded slices (STORE_SLICE_ROWS rows per table, one
 * STMT_VACUUM of at most 128 pages, per tick), so a tick never holds the
 * store thread, and the publishes queued behind it, for long.
 */
#include "store/sqlite_int.h"

#include "common/clock.h"
#include "store/checkpoint.h"

#define STORE_SLICE_ROWS 1000 /* rows deleted per table per housekeeping tick */
/* Free pages left in the file before a vacuum slice runs: fewer are
 * reused by the next inserts soon enough (1 MiB of 4 KiB pages). */
#define STORE_VACUUM_MIN_FREE_PAGES 256

/* True when the oldest message (by seq) is older than cutoff. */
static bool age_due(struct sqlite_store *st, int64_t cutoff)
{
    sqlite3_stmt *oldest = st->stmt[STMT_AGE_OLDEST];
    bool due = sqlite3_step(oldest) == SQLITE_ROW && sqlite3_column_int64(oldest, 0) < cutoff;
    sqlite3_reset(oldest);
    return due;
}

static bool dedupe_due(struct sqlite_store *st, int64_t cutoff)
{
    sqlite3_stmt *stmt = st->stmt[STMT_DEDUPE_DUE];
    sqlite3_bind_int64(stmt, 1, cutoff);
    bool due = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_reset(stmt);
    return due;
}

/* Deletes expired messages among the oldest STORE_SLICE_ROWS (by seq). */
static int trim_age(struct sqlite_store *st, int64_t cutoff, uint64_t *removed)
{
    sqlite3_stmt *del = st->stmt[STMT_AGE_DELETE];
    sqlite3_bind_int64(del, 1, STORE_SLICE_ROWS);
    sqlite3_bind_int64(del, 2, cutoff);
    int rc;
    /* RETURNING rows are computed by the first step: the DELETE is complete. */
    while ((rc = sqlite3_step(del)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(del, 0);
        struct topic_count *tc = sqlite_txn_topic(st, (const char *)sqlite3_column_text(del, 1));
        if (!tc) {
            rc = SQLITE_NOMEM;
            break;
        }
        tc->count--;
        if (seq > tc->trim_upto)
            tc->trim_upto = seq;
        (*removed)++;
    }
    sqlite3_reset(del);
    return rc == SQLITE_DONE ? sqlite_txn_record_trimmed(st) : rc;
}

static int expire_dedupe(struct sqlite_store *st, int64_t cutoff, uint64_t *removed)
{
    sqlite3_stmt *del = st->stmt[STMT_DEDUPE_EXPIRE];
    sqlite3_bind_int64(del, 1, cutoff);
    sqlite3_bind_int64(del, 2, STORE_SLICE_ROWS);
    int rc = sqlite_stmt_run(del);
    if (rc == SQLITE_OK)
        *removed = (uint64_t)sqlite3_changes(st->db);
    return rc;
}

/* A write of 1 MiB (a default max_message): the store is healthy again
 * when it commits. A tiny write is not enough: it fits into WAL space left
 * by the failed transaction and would report a full disk as healthy. The
 * probe row is removed again once it succeeded. */
static int housekeep_probe(struct sqlite_store *st)
{
    int rc = sqlite_txn_begin(st);
    if (rc == SQLITE_OK)
        rc = sqlite_stmt_run(st->stmt[STMT_PROBE]);
    if (rc == SQLITE_OK)
        rc = sqlite_txn_commit(st);
    if (rc != SQLITE_OK) {
        sqlite_txn_rollback(st);
        sqlite_txn_sweep(st);
        return rc;
    }
    sqlite3_exec(st->db, "DELETE FROM meta WHERE key = 'health_probe'", NULL, NULL, NULL);
    sqlite_mark_healthy(st);
    return SQLITE_OK;
}

/* One vacuum slice when enough pages are free: they move off the end of
 * the file, which the next checkpoint cuts (with the WAL, the database file
 * only shrinks when a checkpoint copied everything, so one is asked for
 * once the free pages are gone). True when free pages are left. */
static bool housekeep_vacuum(struct sqlite_store *st)
{
    if (sqlite_limits_measure(st) != SQLITE_OK || st->free_pages < STORE_VACUUM_MIN_FREE_PAGES)
        return false;
    uint64_t free_before = st->free_pages;
    sqlite3_stmt *vacuum = st->stmt[STMT_VACUUM];
    int rc;
    while ((rc = sqlite3_step(vacuum)) == SQLITE_ROW) /* a row per page freed */
        ;
    sqlite3_reset(vacuum);
    if (rc != SQLITE_DONE || sqlite_limits_measure(st) != SQLITE_OK)
        return false;
    bool left = st->free_pages >= STORE_VACUUM_MIN_FREE_PAGES && st->free_pages < free_before;
    if (!left && st->checkpointer)
        checkpointer_poke(st->checkpointer);
    return left;
}

/* Age retention and dedupe expiry, one slice of each in one transaction.
 * True when a slice left work behind. */
static bool housekeep_expire(struct sqlite_store *st)
{
    int64_t now = clock_wall_ms();
    int64_t age_cutoff = now - (int64_t)st->cfg.retain_age_s * 1000;
    int64_t dedupe_cutoff = now - st->cfg.dedupe_window_ms;
    bool ages = age_due(st, age_cutoff);
    bool keys = dedupe_due(st, dedupe_cutoff);
    if (!ages && !keys)
        return false;

    uint64_t messages = 0;
    uint64_t expired = 0;
    int rc = sqlite_txn_begin(st);
    if (rc == SQLITE_OK && ages)
        rc = trim_age(st, age_cutoff, &messages);
    if (rc == SQLITE_OK && keys)
        rc = expire_dedupe(st, dedupe_cutoff, &expired);
    if (rc == SQLITE_OK)
        rc = sqlite_txn_commit(st);
    if (rc != SQLITE_OK) {
        sqlite_txn_fail(st, "retention");
        return false;
    }
    sqlite_txn_sweep(st);
    sqlite_limits_after_commit(st);
    atomic_fetch_add_explicit(&st->n_trimmed, messages, memory_order_relaxed);
    sqlite_mark_healthy(st);
    return messages == STORE_SLICE_ROWS || expired == STORE_SLICE_ROWS;
}

/* One housekeeping tick (store/thread.c calls it about once a second).
 * Returns true when a slice left work behind. */
bool sqlite_housekeep(struct sqlite_store *st)
{
    if (!atomic_load(&st->healthy) && housekeep_probe(st) != SQLITE_OK)
        return false;
    bool expire_left = housekeep_expire(st);
    bool vacuum_left = housekeep_vacuum(st);
    return expire_left || vacuum_left;
}
