/* SPDX-License-Identifier: MIT */
/*
 * sqlite_write.c: the SQLite engine's write path.
 *
 * Owns: the per-topic message counts (count retention without counting rows
 * on the publish path), the bookkeeping of the open write transaction (which
 * counts it changed, to undo them on ROLLBACK), and the publish batch: every
 * publish queued together is committed in one transaction (group commit),
 * then answered. Housekeeping (sqlite_housekeep.c) writes through the same
 * transaction calls.
 *
 * Per publish: one lookup in the counts map, one dedupe upsert when the
 * publish has a key, and a share of a multi-row INSERT. Count retention runs
 * once per touched topic per batch, not per publish. A topic's rule
 * (cfg.rules) is looked up once, when its entry is made; the entry also
 * keeps the topic's newest seq, which an expect_last (sqlite_cond.c) is
 * judged against. Before any of that a
 * request passes the store's bounds (sqlite_limits.c): arithmetic and map
 * lookups, no SQL.
 *
 * The trimmed table holds one row per topic that retention trimmed and that
 * still holds a message: when a topic's last message goes, its row folds
 * into the store-wide watermark (docs/design.md section 4), so the table
 * is bounded by the live topics, not by every topic ever seen.
 */
#include "store/sqlite_int.h"

#include "common/clock.h"
#include "config/topic_rules.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int sqlite_insert_chunk_rows[SQLITE_INSERT_CHUNKS] = {64, 16, 4, 1};

/* ---- Topic counts ---------------------------------------------------------- */

struct topic_count *sqlite_counts_get(struct sqlite_store *st, const char *topic)
{
    size_t len = strlen(topic);
    struct topic_count *tc = strmap_get(&st->counts, topic, len);
    if (tc)
        return tc;
    tc = calloc(1, sizeof(*tc) + len + 1);
    if (!tc)
        return NULL;
    memcpy(tc->topic, topic, len + 1);
    tc->topic_len = len;
    const struct topic_rule *rule = topic_rules_find(st->cfg.rules, topic);
    bool own_retain = rule && rule->retain != TOPIC_RULE_UNSET;
    bool own_age = rule && rule->retain_age != TOPIC_RULE_UNSET;
    tc->retain = own_retain ? rule->retain : st->cfg.retain_count;
    tc->retain_age_s = own_age ? rule->retain_age : st->cfg.retain_age_s;
    if (strmap_add(&st->counts, tc->topic, len, tc) != 0) {
        free(tc);
        return NULL;
    }
    return tc;
}

static void sqlite_counts_remove(struct sqlite_store *st, struct topic_count *gone)
{
    strmap_remove(&st->counts, gone->topic, gone->topic_len);
    free(gone);
}

void sqlite_counts_free(struct sqlite_store *st)
{
    size_t pos = 0;
    for (struct topic_count *tc; (tc = strmap_next(&st->counts, &pos)) != NULL;)
        free(tc);
    strmap_free(&st->counts);
    free(st->touched);
    st->touched = NULL;
    st->n_touched = st->cap_touched = 0;
}

/* ---- Transactions and the entries they touch -------------------------------- */

int sqlite_txn_begin(struct sqlite_store *st)
{
    st->generation++;
    st->n_touched = 0;
    st->watermark_in_txn = st->trimmed_watermark;
    return sqlite_stmt_run(st->stmt[STMT_BEGIN]);
}

/* Counts a commit that took `took` µs, in the total and its histogram bucket. */
static void sqlite_count_commit(struct sqlite_store *st, uint64_t took)
{
    atomic_fetch_add_explicit(&st->commit_us, took, memory_order_relaxed);
    size_t b = 0;
    while (b < STORE_COMMIT_BUCKETS - 1 && took > store_commit_bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&st->commit_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->n_commits, 1, memory_order_relaxed);
}

int sqlite_txn_commit(struct sqlite_store *st)
{
    int64_t start = clock_mono_us();
    int rc = sqlite_stmt_run(st->stmt[STMT_COMMIT]);
    if (rc != SQLITE_OK)
        return rc;
    sqlite_count_commit(st, (uint64_t)(clock_mono_us() - start));
    st->trimmed_watermark = st->watermark_in_txn;
    return SQLITE_OK;
}

/* Undoes the open transaction (if SQLite has not already) and the counts. */
void sqlite_txn_rollback(struct sqlite_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite_stmt_run(st->stmt[STMT_ROLLBACK]);
    for (size_t i = 0; i < st->n_touched; i++) {
        st->touched[i]->count = st->touched[i]->count_before;
        st->touched[i]->newest = st->touched[i]->newest_before;
        st->touched[i]->trim_upto = 0;
    }
}

/* Forgets topics that no longer hold a message, once the transaction ended. */
void sqlite_txn_sweep(struct sqlite_store *st)
{
    for (size_t i = 0; i < st->n_touched; i++)
        if (st->touched[i]->count <= 0)
            sqlite_counts_remove(st, st->touched[i]);
    st->n_touched = 0;
}

/* Records that the current transaction changes `tc`. */
static int sqlite_txn_touch(struct sqlite_store *st, struct topic_count *tc)
{
    if (tc->touched == st->generation)
        return 0;
    if (st->n_touched == st->cap_touched) {
        size_t cap = st->cap_touched ? st->cap_touched * 2 : 64;
        struct topic_count **touched = realloc(st->touched, cap * sizeof(*touched));
        if (!touched)
            return -1;
        st->touched = touched;
        st->cap_touched = cap;
    }
    tc->touched = st->generation;
    tc->count_before = tc->count;
    tc->newest_before = tc->newest;
    tc->trim_upto = 0;
    st->touched[st->n_touched++] = tc;
    return 0;
}

/* The touched entry for `topic`; NULL when out of memory. */
struct topic_count *sqlite_txn_topic(struct sqlite_store *st, const char *topic)
{
    struct topic_count *tc = sqlite_counts_get(st, topic);
    if (!tc || sqlite_txn_touch(st, tc) != 0)
        return NULL;
    return tc;
}

/* A topic the transaction emptied: its trimmed row goes, and what it
 * said (every match up to trim_upto is gone) moves into the watermark. */
static int sqlite_txn_collapse_trimmed(struct sqlite_store *st, const struct topic_count *tc)
{
    sqlite3_stmt *drop = st->stmt[STMT_TRIMMED_DROP];
    sqlite3_bind_text(drop, 1, tc->topic, (int)tc->topic_len, SQLITE_STATIC);
    if (tc->trim_upto > st->watermark_in_txn)
        st->watermark_in_txn = tc->trim_upto;
    return sqlite_stmt_run(drop);
}

static int sqlite_txn_put_trimmed(struct sqlite_store *st, const struct topic_count *tc)
{
    sqlite3_stmt *put = st->stmt[STMT_TRIMMED_PUT];
    sqlite3_bind_text(put, 1, tc->topic, (int)tc->topic_len, SQLITE_STATIC);
    sqlite3_bind_int64(put, 2, sqlite_seq_param(tc->trim_upto));
    return sqlite_stmt_run(put);
}

/* Records what the transaction trimmed: trimmed.upto_seq for each topic
 * that still holds a message, the watermark for those it emptied. A topic
 * whose rule keeps nothing (retain=0) is never "emptied": it keeps its
 * row, or every such publish would raise the watermark and make every
 * other topic's resume unrecovered. */
int sqlite_txn_record_trimmed(struct sqlite_store *st)
{
    uint64_t watermark_before = st->watermark_in_txn;
    for (size_t i = 0; i < st->n_touched; i++) {
        struct topic_count *tc = st->touched[i];
        if (tc->trim_upto == 0)
            continue;
        bool emptied = tc->count <= 0 && tc->retain > 0;
        int rc = emptied ? sqlite_txn_collapse_trimmed(st, tc) : sqlite_txn_put_trimmed(st, tc);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (st->watermark_in_txn == watermark_before)
        return SQLITE_OK;
    sqlite3_stmt *put = st->stmt[STMT_WATERMARK_PUT];
    sqlite3_bind_int64(put, 1, sqlite_seq_param(st->watermark_in_txn));
    return sqlite_stmt_run(put);
}

static void sqlite_mark_unhealthy(struct sqlite_store *st, const char *what, const char *why)
{
    if (atomic_exchange(&st->healthy, false))
        log_error("store: %s: %s failed: %s; publishes are refused until a write succeeds",
                  st->path, what, why);
}

void sqlite_mark_healthy(struct sqlite_store *st)
{
    if (!atomic_exchange(&st->healthy, true))
        log_info("store: %s: writable again", st->path);
}

/* Ends a failed write transaction: rollback, counts restored, unhealthy. */
void sqlite_txn_fail(struct sqlite_store *st, const char *what)
{
    char why[256];
    snprintf(why, sizeof(why), "%s", sqlite3_errmsg(st->db));
    sqlite_txn_rollback(st);
    sqlite_txn_sweep(st);
    sqlite_mark_unhealthy(st, what, why);
}

/* ---- Publish (one transaction per batch) ------------------------------------ */

struct publish_tally {
    uint64_t stored;
    uint64_t duplicates;
    uint64_t trimmed;
};

/* Claims pub's key for `seq` inside the open transaction. Sets *orig_seq
 * to 0 when the key is now ours, or to the seq first accepted with it
 * within the dedupe window (the publish is a duplicate). */
static int dedupe_claim(struct sqlite_store *st, const struct store_pub *pub, uint64_t seq,
                        int64_t now, uint64_t *orig_seq)
{
    sqlite3_stmt *claim = st->stmt[STMT_DEDUPE_CLAIM];
    sqlite3_bind_text(claim, 1, pub->msg.topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(claim, 2, pub->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(claim, 3, sqlite_seq_param(seq));
    sqlite3_bind_int64(claim, 4, pub->msg.ts);
    sqlite3_bind_int64(claim, 5, now - st->cfg.dedupe_window_ms);
    int rc = sqlite3_step(claim);
    bool claimed = rc == SQLITE_DONE && sqlite3_changes(st->db) == 1;
    sqlite3_reset(claim);
    *orig_seq = 0;
    if (rc != SQLITE_DONE)
        return rc;
    if (claimed)
        return SQLITE_OK;

    sqlite3_stmt *get = st->stmt[STMT_DEDUPE_GET];
    sqlite3_bind_text(get, 1, pub->msg.topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, pub->key, -1, SQLITE_STATIC);
    rc = sqlite3_step(get);
    if (rc == SQLITE_ROW)
        *orig_seq = (uint64_t)sqlite3_column_int64(get, 0);
    sqlite3_reset(get);
    /* The conflict that refused the claim was with this very row. */
    return rc == SQLITE_ROW ? SQLITE_OK : rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
}

/* Binds msg to the six parameters from `first` on (seq, topic, ts,
 * from_user, is_binary, data: the column order of every INSERT). */
static void message_bind(sqlite3_stmt *ins, int first, const struct store_msg *msg)
{
    sqlite3_bind_int64(ins, first, sqlite_seq_param(msg->seq));
    sqlite3_bind_text(ins, first + 1, msg->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, first + 2, msg->ts);
    sqlite3_bind_text(ins, first + 3, msg->from_user, -1, SQLITE_STATIC); /* NULL binds NULL */
    sqlite3_bind_int(ins, first + 4, msg->is_binary ? 1 : 0);
    /* A non-NULL pointer so that an empty body is an empty blob, not NULL. */
    const void *data = msg->data ? (const void *)msg->data : "";
    sqlite3_bind_blob64(ins, first + 5, data, msg->data_len, SQLITE_STATIC);
}

/* Inserts the rows queued by publish_one, in seq order. Multi-row INSERTs
 * take most of them: inside one statement SQLite keeps its cursors on the
 * last page of the table and of the (topic, seq) index, so a row that
 * follows the previous one skips the descent from the root (callgrind,
 * 512 rows per transaction: 15.9k instructions per row with one statement
 * per row, 10.6k with 64 rows per statement). */
static int insert_rows(struct sqlite_store *st)
{
    size_t done = 0;
    int rc = SQLITE_OK;
    while (done < st->n_to_insert && rc == SQLITE_OK) {
        size_t left = st->n_to_insert - done;
        int c = 0;
        while ((size_t)sqlite_insert_chunk_rows[c] > left)
            c++;
        sqlite3_stmt *ins = st->insert_chunk[c];
        size_t rows = (size_t)sqlite_insert_chunk_rows[c];
        for (size_t i = 0; i < rows; i++)
            message_bind(ins, 1 + 6 * (int)i, st->to_insert[done + i]);
        rc = sqlite_stmt_run(ins);
        done += rows;
    }
    return rc;
}

/* Queues msg for insert_rows. */
static int insert_queue(struct sqlite_store *st, const struct store_msg *msg)
{
    if (st->n_to_insert == st->cap_to_insert) {
        size_t cap = st->cap_to_insert ? st->cap_to_insert * 2 : 256;
        const struct store_msg **rows = realloc(st->to_insert, cap * sizeof(*rows));
        if (!rows)
            return SQLITE_NOMEM;
        st->to_insert = rows;
        st->cap_to_insert = cap;
    }
    st->to_insert[st->n_to_insert++] = msg;
    return SQLITE_OK;
}

/* Gives one publish its seq (or answers it from the dedupe window) and
 * queues its row for insert_rows; a topic that keeps nothing (retain=0)
 * takes the seq without a row, as if retention removed it at once. msg.ts
 * is set to `now` when the caller left it 0. */
static int publish_one(struct sqlite_store *st, struct store_pub *pub, int64_t now,
                       struct publish_tally *tally)
{
    pub->duplicate = false;
    pub->msg.seq = 0;
    if (pub->msg.ts <= 0)
        pub->msg.ts = now;
    int rc;
    if (pub->key) {
        uint64_t orig_seq;
        rc = dedupe_claim(st, pub, st->seq + 1, now, &orig_seq);
        if (rc != SQLITE_OK)
            return rc;
        if (orig_seq) {
            pub->duplicate = true;
            pub->msg.seq = orig_seq;
            tally->duplicates++;
            return SQLITE_OK;
        }
    }
    struct topic_count *tc = sqlite_txn_topic(st, pub->msg.topic);
    if (!tc)
        return SQLITE_NOMEM;
    pub->msg.seq = st->seq + 1;
    if (tc->retain == 0) {
        st->seq = tc->trim_upto = pub->msg.seq;
        tally->trimmed++;
        return SQLITE_OK;
    }
    rc = insert_queue(st, &pub->msg);
    if (rc != SQLITE_OK)
        return rc;
    st->seq = tc->newest = pub->msg.seq;
    tc->count++;
    tally->stored++;
    return SQLITE_OK;
}

/* Count retention: one DELETE per topic of the batch holding too many. */
static int trim_counts(struct sqlite_store *st, struct publish_tally *tally)
{
    sqlite3_stmt *cutoff = st->stmt[STMT_COUNT_CUTOFF];
    sqlite3_stmt *del = st->stmt[STMT_COUNT_DELETE];
    for (size_t i = 0; i < st->n_touched; i++) {
        struct topic_count *tc = st->touched[i];
        long excess = tc->count - tc->retain;
        if (excess <= 0)
            continue;
        /* The newest seq to delete: the excess-th oldest of the topic. */
        sqlite3_bind_text(cutoff, 1, tc->topic, (int)tc->topic_len, SQLITE_STATIC);
        sqlite3_bind_int64(cutoff, 2, excess - 1);
        int rc = sqlite3_step(cutoff);
        uint64_t upto = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(cutoff, 0) : 0;
        sqlite3_reset(cutoff);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return rc;
        if (upto == 0)
            continue;
        sqlite3_bind_text(del, 1, tc->topic, (int)tc->topic_len, SQLITE_STATIC);
        sqlite3_bind_int64(del, 2, sqlite_seq_param(upto));
        rc = sqlite_stmt_run(del);
        if (rc != SQLITE_OK)
            return rc;
        long removed = (long)sqlite3_changes(st->db);
        tc->count -= removed;
        if (tc->count <= 0) /* a rule that now keeps nothing */
            tc->newest = 0;
        tc->trim_upto = upto;
        tally->trimmed += (uint64_t)removed;
    }
    return sqlite_txn_record_trimmed(st);
}

static bool publish_req_valid(const struct store_req *req)
{
    if (req->n_pubs > 0 && !req->pubs)
        return false;
    for (size_t i = 0; i < req->n_pubs; i++) {
        const struct store_msg *msg = &req->pubs[i].msg;
        if (!msg->topic || (!msg->data && msg->data_len > 0))
            return false;
    }
    return true;
}

/* Answers every publish of a refused request: no seq, not a duplicate. */
static void publish_req_refuse(struct store_req *req, enum store_status status)
{
    req->status = status;
    for (size_t i = 0; i < req->n_pubs; i++) {
        req->pubs[i].msg.seq = 0;
        req->pubs[i].duplicate = false;
    }
}

/* Answers every publish of a batch whose transaction failed: unavailable,
 * no seq (those a bound refused keep that answer). */
static void publish_batch_fail(struct store_req *batch)
{
    for (struct store_req *req = batch; req; req = req->next) {
        if (req->op != STORE_PUBLISH || req->status == STORE_FULL)
            continue;
        if (!publish_req_valid(req)) {
            req->status = STORE_INTERNAL;
            continue;
        }
        publish_req_refuse(req, STORE_UNAVAILABLE);
    }
}

/* Refuses a whole request that a bound of the store does not admit. */
static bool publish_admit(struct sqlite_store *st, struct store_req *req)
{
    req->full_reason = sqlite_limits_admit(st, req);
    if (req->full_reason == STORE_FULL_NONE)
        return true;
    publish_req_refuse(req, STORE_FULL);
    atomic_fetch_add_explicit(&st->n_refused_full, req->n_pubs, memory_order_relaxed);
    return false;
}

/* A request whose expect_last does not hold is refused whole. False when
 * it was refused or the check failed (*rc set). */
static bool publish_condition_holds(struct sqlite_store *st, struct store_req *req, int64_t now,
                                    int *rc)
{
    bool holds = true;
    uint64_t last = 0;
    *rc = sqlite_cond_check(st, req, now, &holds, &last);
    if (*rc != SQLITE_OK || holds)
        return *rc == SQLITE_OK;
    publish_req_refuse(req, STORE_CONFLICT);
    req->conflict_last = last;
    return false;
}

/* Assigns seqs and claims keys for every publish of the batch, in one walk;
 * opens the transaction at the first publish. *begun tells whether it did. */
static int publish_walk(struct sqlite_store *st, struct store_req *batch,
                        struct publish_tally *tally, bool *begun)
{
    int64_t now = 0;
    int rc = SQLITE_OK;
    /* The requests were written on the service thread's core, so the next
     * one is fetched while SQLite works on this one. */
    for (struct store_req *req = batch; req && rc == SQLITE_OK; req = req->next) {
        if (req->next)
            __builtin_prefetch(req->next);
        if (req->op != STORE_PUBLISH)
            continue;
        req->status = publish_req_valid(req) ? STORE_OK : STORE_INTERNAL;
        if (req->status != STORE_OK || req->n_pubs == 0 || !publish_admit(st, req))
            continue;
        if (!*begun) {
            *begun = true;
            now = clock_wall_ms();
            rc = sqlite_txn_begin(st);
        }
        if (rc == SQLITE_OK && sqlite_cond_present(req) &&
            !publish_condition_holds(st, req, now, &rc))
            continue;
        for (size_t i = 0; i < req->n_pubs && rc == SQLITE_OK; i++)
            rc = publish_one(st, &req->pubs[i], now, tally);
    }
    return rc;
}

void sqlite_write_publishes(struct sqlite_store *st, struct store_req *batch)
{
    uint64_t seq_before = st->seq;
    struct publish_tally tally = {0};
    bool begun = false;
    int rc = publish_walk(st, batch, &tally, &begun);
    if (!begun)
        return;
    if (rc == SQLITE_OK)
        rc = insert_rows(st);
    st->n_to_insert = 0;
    if (rc == SQLITE_OK)
        rc = trim_counts(st, &tally);
    if (rc == SQLITE_OK)
        rc = sqlite_txn_commit(st);
    if (rc != SQLITE_OK) {
        st->seq = seq_before;
        sqlite_txn_fail(st, "commit");
        publish_batch_fail(batch);
        return;
    }
    sqlite_txn_sweep(st);
    sqlite_limits_after_commit(st);
    atomic_store(&st->last_seq, st->seq);
    atomic_fetch_add_explicit(&st->n_stored, tally.stored, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->n_duplicates, tally.duplicates, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->n_trimmed, tally.trimmed, memory_order_relaxed);
    sqlite_mark_healthy(st);
}
