/* SPDX-License-Identifier: MIT */
/*
 * sqlite_housekeep.c: the SQLite engine's background upkeep.
 *
 * Owns: age retention (per distinct age: the global one and the rules'),
 * expiry of dedupe keys past the window, giving free pages back to the
 * file system (incremental vacuum), and the health probe that finds out
 * when a store that failed a write can be written again. Each runs in
 * bounded slices (STORE_SLICE_ROWS rows per age and for the dedupe table,
 * one STMT_VACUUM of at most 128 pages, per tick), so a tick never holds the
 * store thread, and the publishes queued behind it, for long.
 */
#include "store/sqlite_int.h"

#include "common/clock.h"
#include "config/topic_rules.h"
#include "store/checkpoint.h"

#define STORE_SLICE_ROWS 1000 /* rows deleted per table per housekeeping tick */
/* Free pages left in the file before a vacuum slice runs: fewer are
 * reused by the next inserts soon enough (1 MiB of 4 KiB pages). */
#define STORE_VACUUM_MIN_FREE_PAGES 256

/* The distinct ages: the global one first, then each rule's own. */
static void age_classes_init(struct sqlite_store *st)
{
    const struct topic_rules *rules = st->cfg.rules;
    st->age_classes[0].age_s = st->cfg.retain_age_s;
    st->n_age_classes = 1;
    for (size_t r = 0; rules && r < rules->count; r++) {
        long age = rules->items[r].retain_age;
        bool known = age == TOPIC_RULE_UNSET;
        for (size_t c = 0; c < st->n_age_classes && !known; c++)
            known = st->age_classes[c].age_s == age;
        if (!known && st->n_age_classes < SQLITE_AGE_CLASSES_MAX)
            st->age_classes[st->n_age_classes++].age_s = age;
    }
}

static int64_t age_cutoff(const struct age_class *ac, int64_t now)
{
    return now - (int64_t)ac->age_s * 1000;
}

/* True when the first message after the class's cursor is older than its
 * cutoff (it may be of another age: the walk then passes it). */
static bool age_due(struct sqlite_store *st, const struct age_class *ac, int64_t now)
{
    sqlite3_stmt *oldest = st->stmt[STMT_AGE_OLDEST];
    sqlite3_bind_int64(oldest, 1, sqlite_seq_param(ac->cursor));
    bool due =
        sqlite3_step(oldest) == SQLITE_ROW && sqlite3_column_int64(oldest, 0) < age_cutoff(ac, now);
    sqlite3_reset(oldest);
    return due;
}

/* The rows of one age that expired: up to STORE_SLICE_ROWS from the
 * cursor on, in seq order, stopping at the first one not older than the
 * cutoff (receipt times ascend with seq). */
struct age_slice {
    uint64_t seqs[STORE_SLICE_ROWS];
    struct topic_count *topics[STORE_SLICE_ROWS];
    size_t n;
    bool full; /* the walk stopped at the slice's end, not at the cutoff */
};

static int age_scan(struct sqlite_store *st, struct age_class *ac, int64_t now,
                    struct age_slice *slice)
{
    sqlite3_stmt *scan = st->stmt[STMT_AGE_SCAN];
    sqlite3_bind_int64(scan, 1, sqlite_seq_param(ac->cursor));
    sqlite3_bind_int64(scan, 2, STORE_SLICE_ROWS);
    int64_t cutoff = age_cutoff(ac, now);
    size_t rows = 0;
    int rc;
    slice->n = 0;
    ac->cursor_next = ac->cursor;
    while ((rc = sqlite3_step(scan)) == SQLITE_ROW) {
        if (sqlite3_column_int64(scan, 2) >= cutoff)
            break;
        rows++;
        uint64_t seq = (uint64_t)sqlite3_column_int64(scan, 0);
        struct topic_count *tc = sqlite_txn_topic(st, (const char *)sqlite3_column_text(scan, 1));
        if (!tc) {
            rc = SQLITE_NOMEM;
            break;
        }
        ac->cursor_next = seq;
        if (tc->retain_age_s != ac->age_s)
            continue;
        slice->seqs[slice->n] = seq;
        slice->topics[slice->n++] = tc;
    }
    sqlite3_reset(scan);
    slice->full = rc == SQLITE_DONE && rows == STORE_SLICE_ROWS;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Deletes one slice of expired messages of one age. A topic's rows go
 * oldest first, so its newest goes only with its last. */
static int trim_age(struct sqlite_store *st, struct age_class *ac, int64_t now,
                    struct age_slice *slice, uint64_t *removed)
{
    int rc = age_scan(st, ac, now, slice);
    sqlite3_stmt *del = st->stmt[STMT_AGE_DELETE];
    for (size_t i = 0; i < slice->n && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(del, 1, sqlite_seq_param(slice->seqs[i]));
        rc = sqlite_stmt_run(del);
        struct topic_count *tc = slice->topics[i];
        if (--tc->count <= 0)
            tc->newest = 0;
        if (slice->seqs[i] > tc->trim_upto)
            tc->trim_upto = slice->seqs[i];
        (*removed)++;
    }
    return rc;
}

static bool dedupe_due(struct sqlite_store *st, int64_t cutoff)
{
    sqlite3_stmt *stmt = st->stmt[STMT_DEDUPE_DUE];
    sqlite3_bind_int64(stmt, 1, cutoff);
    bool due = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_reset(stmt);
    return due;
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

/* Age retention of every age that is due: a slice each. */
static int trim_ages(struct sqlite_store *st, const bool *due, int64_t now, uint64_t *removed,
                     bool *left)
{
    struct age_slice slice; /* 16 KiB, on the store thread's stack */
    int rc = SQLITE_OK;
    for (size_t c = 0; c < st->n_age_classes && rc == SQLITE_OK; c++) {
        if (!due[c])
            continue;
        rc = trim_age(st, &st->age_classes[c], now, &slice, removed);
        *left = *left || slice.full;
    }
    if (rc == SQLITE_OK)
        rc = sqlite_txn_record_trimmed(st);
    return rc;
}

/* Age retention and dedupe expiry, one slice of each in one transaction.
 * True when a slice left work behind. */
static bool housekeep_expire(struct sqlite_store *st)
{
    int64_t now = clock_wall_ms();
    int64_t dedupe_cutoff = now - st->cfg.dedupe_window_ms;
    if (st->n_age_classes == 0)
        age_classes_init(st);
    bool due[SQLITE_AGE_CLASSES_MAX];
    bool ages = false;
    for (size_t c = 0; c < st->n_age_classes; c++)
        ages |= due[c] = age_due(st, &st->age_classes[c], now);
    bool keys = dedupe_due(st, dedupe_cutoff);
    if (!ages && !keys)
        return false;

    uint64_t messages = 0;
    uint64_t expired = 0;
    bool ages_left = false;
    int rc = sqlite_txn_begin(st);
    if (rc == SQLITE_OK && ages)
        rc = trim_ages(st, due, now, &messages, &ages_left);
    if (rc == SQLITE_OK && keys)
        rc = expire_dedupe(st, dedupe_cutoff, &expired);
    if (rc == SQLITE_OK)
        rc = sqlite_txn_commit(st);
    if (rc != SQLITE_OK) {
        sqlite_txn_fail(st, "retention");
        return false;
    }
    for (size_t c = 0; c < st->n_age_classes; c++)
        if (due[c])
            st->age_classes[c].cursor = st->age_classes[c].cursor_next;
    sqlite_txn_sweep(st);
    sqlite_limits_after_commit(st);
    atomic_fetch_add_explicit(&st->n_trimmed, messages, memory_order_relaxed);
    sqlite_mark_healthy(st);
    return ages_left || expired == STORE_SLICE_ROWS;
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
