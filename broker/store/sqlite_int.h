/* SPDX-License-Identifier: MIT */
/*
 * sqlite_int.h: the SQLite engine's own struct and the calls between its
 * files. Only store/sqlite_*.c include it.
 *
 * The engine is split by job: sqlite_open.c (connection, pragmas, schema,
 * migration, prepared statements, closing), sqlite_write.c (publish
 * batches, the topic-count table, transactions), sqlite_cond.c (the
 * expect_last check of a publish request), sqlite_read.c (replay and
 * history), sqlite_housekeep.c (age retention, dedupe expiry, health
 * probe), sqlite_engine.c (the ops table of engine.h, and what the store
 * thread runs). The queues and the
 * thread are store/thread.c's.
 *
 * Only the store thread touches the database, the counts table and the
 * statements (after open). last_seq, healthy and the counters are C11
 * atomics so that any thread may read them.
 */
#ifndef WSB_STORE_SQLITE_INT_H
#define WSB_STORE_SQLITE_INT_H

#include "common/strmap.h"
#include "store/engine.h"
#include "store/thread.h"

#include <sqlite3.h>
#include <stdatomic.h>

struct checkpointer;

/* Prepared statements (SQL in sqlite_open.c). */
enum sqlite_stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_DEDUPE_GET,
    STMT_DEDUPE_CLAIM,
    STMT_COUNT_CUTOFF,
    STMT_COUNT_DELETE,
    STMT_TRIMMED_PUT,
    STMT_TRIMMED_DROP,
    STMT_WATERMARK_PUT,
    STMT_AGE_OLDEST,
    STMT_AGE_SCAN,
    STMT_AGE_DELETE,
    STMT_DEDUPE_DUE,
    STMT_DEDUPE_EXPIRE,
    STMT_PROBE,
    STMT_NAME_SINCE,
    STMT_NAME_LAST,
    STMT_PAT_SINCE,
    STMT_PAT_SINCE_RANGE,
    STMT_PAT_SINCE_INDEX,
    STMT_PAT_LAST,
    STMT_PAT_LAST_RANGE,
    STMT_PAT_LAST_INDEX,
    STMT_TRIMMED_NAME,
    STMT_TRIMMED_PAT,
    STMT_TRIMMED_PAT_RANGE,
    STMT_PAGES,
    STMT_VACUUM,
    STMT_COUNT
};

/* Rows per multi-row INSERT statement, largest first; the last takes one
 * row, so every count is covered (see sqlite_write.c). */
#define SQLITE_INSERT_CHUNKS 4
extern const int sqlite_insert_chunk_rows[SQLITE_INSERT_CHUNKS];

/* Messages held per topic, for count retention without counting rows on the
 * publish path, and its newest seq, for expect_last without a query. Also
 * scratch space for the transaction that touches it. */
struct topic_count {
    long count;             /* rows in `messages` for this topic */
    uint64_t newest;        /* seq of its newest row (0: none) */
    long retain;            /* rows it keeps (its rule's, or cfg.retain_count) */
    long retain_age_s;      /* seconds they are kept (likewise) */
    uint64_t touched;       /* transaction generation that last touched it */
    long count_before;      /* count when that transaction began (for ROLLBACK) */
    uint64_t newest_before; /* newest then */
    uint64_t trim_upto;     /* highest seq that transaction deleted (0: none) */
    size_t topic_len;
    char topic[]; /* the key of its entry in sqlite_store.counts */
};

/* Age retention walks the messages in seq order once per distinct age
 * (the global one and each rule's): a topic's rows expire oldest first,
 * so everything of that age up to `cursor` is gone already. */
#define SQLITE_AGE_CLASSES_MAX 65 /* the global age and 64 rules */
struct age_class {
    long age_s;
    uint64_t cursor;      /* rows of this age with seq <= cursor are gone */
    uint64_t cursor_next; /* where the open transaction leaves it */
};

/* The engine. Fields are grouped by writer: sqlite_open.c sets the first
 * group before the store thread starts; thread.c alone writes `thread`;
 * the store thread writes the rest (sqlite_write.c's calls, which
 * housekeeping uses too, and sqlite_limits.c's size figures). */
struct sqlite_store {
    struct store base;       /* first: a struct store * is a struct sqlite_store * */
    struct store_config cfg; /* cfg.path points at `path` */
    char *path;
    bool in_memory;
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT];
    sqlite3_stmt *insert_chunk[SQLITE_INSERT_CHUNKS]; /* sqlite_insert_chunk_rows[i] rows each */
    struct checkpointer *checkpointer;                /* NULL: SQLite's own autocheckpoint */
    char epoch[9];
    long file_version;  /* the user_version the file had when opened (0: new) */
    uint64_t page_size; /* bytes, fixed for the file */

    struct store_thread thread; /* the queues; written by thread.c only */

    /* Store thread only. */
    int wal_poked_at;             /* WAL pages when the checkpointer was last asked */
    uint64_t seq;                 /* last seq assigned, in the open transaction too */
    struct strmap counts;         /* topic -> struct topic_count */
    uint64_t generation;          /* of the current transaction */
    struct topic_count **touched; /* entries the current transaction changed */
    size_t n_touched;
    size_t cap_touched;
    const struct store_msg **to_insert; /* the batch's new rows, seq order */
    size_t n_to_insert;
    size_t cap_to_insert;
    /* Below this seq, matches of topics whose trimmed rows collapsed may
     * have been removed: `recovered` is false for a resume from under it.
     * Loaded by sqlite_open.c, then written by sqlite_write.c's calls. */
    uint64_t trimmed_watermark;
    uint64_t watermark_in_txn; /* the same in the open transaction */
    /* Written by sqlite_housekeep.c only. */
    struct age_class age_classes[SQLITE_AGE_CLASSES_MAX];
    size_t n_age_classes; /* 0 until the first housekeeping tick */
    /* Written by sqlite_limits.c only. */
    uint64_t used_bytes;         /* bytes of pages in use (not free) at the last measure */
    uint64_t free_pages;         /* on the free list at the last measure */
    uint64_t written_unmeasured; /* bytes about written since that measure */

    /* Written by the store thread, read by any thread. */
    _Atomic uint64_t last_seq;
    atomic_bool healthy;
    _Atomic uint64_t n_commits;
    _Atomic uint64_t n_stored;
    _Atomic uint64_t n_duplicates;
    _Atomic uint64_t n_trimmed;
    _Atomic uint64_t commit_us;
    _Atomic uint64_t db_bytes;
    _Atomic uint64_t live_topics;
    _Atomic uint64_t n_refused_full;
    _Atomic uint64_t commit_buckets[STORE_COMMIT_BUCKETS]; /* not cumulative */
};

/* ---- Small helpers (every file) ---- */

/* A seq as an SQL integer (seqs never reach 2^63; larger inputs clamp). */
static inline sqlite3_int64 sqlite_seq_param(uint64_t seq)
{
    return seq > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)seq;
}

/* Steps a statement that returns no rows, then resets it. */
static inline int sqlite_stmt_run(sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* ---- sqlite_open.c ---- */

/* A new engine with its database open, loaded and prepared, and its
 * checkpoint thread started (not the store thread). On failure NULL, with a
 * one-line reason in err. */
struct sqlite_store *sqlite_open(const struct store_config *cfg, char *err, size_t errlen);

/* Closes the database and frees the engine, after the store thread ended
 * (or never started). */
void sqlite_destroy(struct sqlite_store *st);

/* ---- sqlite_write.c: counts, transactions, publishes ---- */

/* The count entry for `topic`, created with count 0 when missing; NULL when
 * out of memory. */
struct topic_count *sqlite_counts_get(struct sqlite_store *st, const char *topic);
void sqlite_counts_free(struct sqlite_store *st);

int sqlite_txn_begin(struct sqlite_store *st);
int sqlite_txn_commit(struct sqlite_store *st);
void sqlite_txn_rollback(struct sqlite_store *st);
void sqlite_txn_sweep(struct sqlite_store *st);
void sqlite_txn_fail(struct sqlite_store *st, const char *what);
struct topic_count *sqlite_txn_topic(struct sqlite_store *st, const char *topic);
int sqlite_txn_record_trimmed(struct sqlite_store *st);

void sqlite_mark_healthy(struct sqlite_store *st);

/* Runs every publish of the batch in one transaction, in submission order. */
void sqlite_write_publishes(struct sqlite_store *st, struct store_req *batch);

/* ---- sqlite_cond.c ---- */

/* Whether a publish of the request carries expect_last. */
bool sqlite_cond_present(const struct store_req *req);

/* Inside the open transaction, before any publish of `req` is written:
 * whether every expect_last of it holds, the request's earlier publishes
 * counted as they will be written (duplicates of a key store nothing).
 * When one does not, *holds is false and *last is that topic's newest seq.
 * Returns an SQLite code. Leaves msg.seq of each publish as scratch. */
int sqlite_cond_check(struct sqlite_store *st, struct store_req *req, int64_t now, bool *holds,
                      uint64_t *last);

/* ---- sqlite_read.c ---- */

/* Runs one STORE_REPLAY or STORE_HISTORY request and sets its results. */
void sqlite_read_run(struct sqlite_store *st, struct store_req *req);

/* ---- sqlite_limits.c ---- */

/* Reads the database's page counts into used_bytes, free_pages and db_bytes. */
int sqlite_limits_measure(struct sqlite_store *st);

/* Whether the publish request may run; otherwise which bound refuses it.
 * Called for each request before any of its publishes is written. */
enum store_full_reason sqlite_limits_admit(struct sqlite_store *st, const struct store_req *req);

/* After a commit: the figures any thread may read, and a new measure when
 * enough was written since the last one. */
void sqlite_limits_after_commit(struct sqlite_store *st);

/* ---- sqlite_housekeep.c ---- */

/* One housekeeping tick. Returns true when a slice left work behind. */
bool sqlite_housekeep(struct sqlite_store *st);

#endif
