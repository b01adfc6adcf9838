/* SPDX-License-Identifier: MIT */
/*
 * sqlite_limits.c: the SQLite engine's bounds on disk.
 *
 * Owns: the figures behind max_db_bytes and max_topics (the database's
 * pages in use and free, the live topics) and the admission of a publish
 * request against them (docs/design.md section 4). Why apart from the write
 * path: a bound checked with a statement per publish would slow every
 * durable ack. Instead the page counts are read once per measure step of
 * bytes written (and at every housekeeping tick), what was written in
 * between is added up from the requests themselves, and the live topics are
 * the entries of the counts map that sqlite_write.c keeps anyway.
 *
 * A request is admitted or refused as a whole, before any of its publishes
 * is written, so a refusal leaves nothing behind in the open transaction.
 */
#include "store/sqlite_int.h"

#include <string.h>

/* Bytes written between two reads of the page counts, at most: the size
 * bound is kept to about this much (or a sixteenth of the bound). */
#define STORE_MEASURE_STEP_BYTES (1024 * 1024)
/* What a row costs beyond its body and topic: record header, seq, ts, and
 * the (topic, seq) index entry's own header. An estimate until the next
 * measure. */
#define STORE_ROW_OVERHEAD_BYTES 48

int sqlite_limits_measure(struct sqlite_store *st)
{
    sqlite3_stmt *pages = st->stmt[STMT_PAGES];
    int rc = sqlite3_step(pages);
    if (rc == SQLITE_ROW) {
        uint64_t total = (uint64_t)sqlite3_column_int64(pages, 0);
        uint64_t free_pages = (uint64_t)sqlite3_column_int64(pages, 1);
        if (free_pages > total)
            free_pages = total;
        st->free_pages = free_pages;
        st->used_bytes = (total - free_pages) * st->page_size;
        st->written_unmeasured = 0;
        atomic_store_explicit(&st->db_bytes, total * st->page_size, memory_order_relaxed);
    }
    sqlite3_reset(pages);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* About what the request adds to the file: rows, index entries, keys. */
static uint64_t limits_request_bytes(const struct store_req *req)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < req->n_pubs; i++) {
        const struct store_pub *pub = &req->pubs[i];
        size_t topic_len = strlen(pub->msg.topic);
        bytes += pub->msg.data_len + 2 * topic_len + STORE_ROW_OVERHEAD_BYTES;
        if (pub->key)
            bytes += strlen(pub->key) + topic_len + STORE_ROW_OVERHEAD_BYTES;
    }
    return bytes;
}

/* Whether pubs[i] names a topic that holds no message yet and that no
 * earlier publish of the request names. */
static bool limits_topic_is_new(const struct sqlite_store *st, const struct store_req *req,
                                size_t i)
{
    const char *topic = req->pubs[i].msg.topic;
    if (strmap_get(&st->counts, topic, strlen(topic)))
        return false;
    for (size_t j = 0; j < i; j++)
        if (strcmp(req->pubs[j].msg.topic, topic) == 0)
            return false;
    return true;
}

/* Whether the request's new topics would pass max_topics. While the batch
 * is being written every entry of the counts map holds a message (emptied
 * entries go at the end of a transaction), so the map's size is the live
 * topics, those of earlier requests of the batch included. */
static bool limits_topics_exceeded(const struct sqlite_store *st, const struct store_req *req)
{
    size_t live = st->counts.count;
    size_t max = (size_t)st->cfg.max_topics;
    if (live + req->n_pubs <= max)
        return false;
    size_t new_topics = 0;
    for (size_t i = 0; i < req->n_pubs; i++)
        if (limits_topic_is_new(st, req, i) && live + ++new_topics > max)
            return true;
    return false;
}

enum store_full_reason sqlite_limits_admit(struct sqlite_store *st, const struct store_req *req)
{
    bool size_bound = st->cfg.max_db_bytes > 0;
    if (size_bound && st->used_bytes + st->written_unmeasured >= st->cfg.max_db_bytes)
        return STORE_FULL_DB_SIZE;
    if (st->cfg.max_topics > 0 && limits_topics_exceeded(st, req))
        return STORE_FULL_TOPICS;
    if (size_bound)
        st->written_unmeasured += limits_request_bytes(req);
    return STORE_FULL_NONE;
}

void sqlite_limits_after_commit(struct sqlite_store *st)
{
    atomic_store_explicit(&st->live_topics, st->counts.count, memory_order_relaxed);
    uint64_t step = st->cfg.max_db_bytes / 16;
    if (step > STORE_MEASURE_STEP_BYTES)
        step = STORE_MEASURE_STEP_BYTES;
    if (st->cfg.max_db_bytes > 0 && st->written_unmeasured >= step)
        sqlite_limits_measure(st);
}
