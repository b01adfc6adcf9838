/* SPDX-License-Identifier: MIT */
/*
 * sqlite_read.c: the SQLite engine's reads: replay for a subscribe, and
 * history.
 *
 * Owns: the choice of statement for a read (a name, a pattern with a
 * literal prefix, a pattern without), the two-phase walk that bounds a
 * pattern read's cost, the `recovered` answer from the trimmed table and
 * the watermark, the bounds of a result (a count and bytes: a replay is
 * read in chunks, a history reply is at most max_message), the count of a
 * chunked replay's matches, and the copying of rows into the request's
 * result array. Reads run on the store thread after the batch's publishes,
 * so they see them.
 */
#include "store/sqlite_int.h"

#include "common/topic.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_HISTORY_MAX 1000
/* A pattern read with a literal prefix walks at most this many seqs of the
 * messages table, then uses the (topic, seq) index for the rest (see
 * read_since). */
#define STORE_SCAN_WINDOW 10000

static char *copy_bytes(const void *bytes, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    if (len > 0)
        memcpy(out, bytes, len);
    out[len] = '\0';
    return out;
}

/* What a failed SQLite call means to the caller: the disk (retry later) or a bug. */
static enum store_status read_status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
        return STORE_UNAVAILABLE;
    default:
        return STORE_INTERNAL;
    }
}

/* The half-open name range [lo, hi) holding every match of a pattern: its
 * literal prefix before the first wildcard segment ("prices.*" gives
 * ["prices.", "prices/")). False when the pattern starts with a wildcard. */
static bool pattern_range(const char *pattern, char *lo, char *hi, size_t cap)
{
    size_t len = strcspn(pattern, "*>");
    if (len == 0 || len >= cap || (unsigned char)pattern[len - 1] == 0xff)
        return false;
    memcpy(lo, pattern, len);
    lo[len] = '\0';
    memcpy(hi, pattern, len + 1);
    hi[len] = '\0';
    hi[len - 1] = (char)((unsigned char)hi[len - 1] + 1);
    return true;
}

/* One read: which statement, and its parameters. */
struct read_query {
    const char *pattern;
    bool is_pattern;
    bool has_range;
    char lo[TOPIC_MAX_LEN + 2];
    char hi[TOPIC_MAX_LEN + 2];
};

static void read_query_init(struct read_query *q, const char *pattern)
{
    q->pattern = pattern;
    q->is_pattern = topic_is_pattern(pattern);
    q->has_range = q->is_pattern && pattern_range(pattern, q->lo, q->hi, sizeof(q->lo));
}

static void read_query_bind(const struct read_query *q, sqlite3_stmt *stmt, uint64_t since,
                            uint64_t upto, sqlite3_int64 limit)
{
    sqlite3_bind_text(stmt, 1, q->pattern, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, sqlite_seq_param(since));
    sqlite3_bind_int64(stmt, 3, upto ? sqlite_seq_param(upto) : INT64_MAX);
    sqlite3_bind_int64(stmt, 4, limit);
    if (q->has_range) {
        sqlite3_bind_text(stmt, 5, q->lo, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 6, q->hi, -1, SQLITE_STATIC);
    }
}

static int msg_from_row(sqlite3_stmt *stmt, struct store_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    msg->seq = (uint64_t)sqlite3_column_int64(stmt, 0);
    msg->ts = sqlite3_column_int64(stmt, 1);
    msg->topic = copy_bytes(sqlite3_column_text(stmt, 2), (size_t)sqlite3_column_bytes(stmt, 2));
    if (sqlite3_column_type(stmt, 3) != SQLITE_NULL)
        msg->from_user =
            copy_bytes(sqlite3_column_text(stmt, 3), (size_t)sqlite3_column_bytes(stmt, 3));
    msg->is_binary = sqlite3_column_int(stmt, 4) != 0;
    const void *data = sqlite3_column_blob(stmt, 5);
    msg->data_len = (size_t)sqlite3_column_bytes(stmt, 5);
    /* Always NUL-terminated, so JSON text can be used as a C string. */
    msg->data = (unsigned char *)copy_bytes(data, msg->data_len);
    if (!msg->topic || !msg->data ||
        (sqlite3_column_type(stmt, 3) != SQLITE_NULL && !msg->from_user)) {
        store_msg_clear(msg);
        return SQLITE_NOMEM;
    }
    return SQLITE_OK;
}

/* The topics and data of the messages read so far. */
static size_t result_bytes(const struct store_req *req)
{
    size_t bytes = 0;
    for (size_t i = 0; i < req->n_msgs; i++)
        bytes += strlen(req->msgs[i].topic) + req->msgs[i].data_len;
    return bytes;
}

/* True when the statement's row would take the result past max_bytes (and
 * it holds a message already): the read stops there, with `more`. */
static bool row_over_budget(sqlite3_stmt *stmt, struct store_req *req, size_t *bytes)
{
    size_t row = (size_t)sqlite3_column_bytes(stmt, 2) + (size_t)sqlite3_column_bytes(stmt, 5);
    if (req->max_bytes > 0 && req->n_msgs > 0 && *bytes + row > req->max_bytes) {
        req->more = true;
        return true;
    }
    *bytes += row;
    return false;
}

/* Appends the rows of the bound statement to req->msgs, up to max_bytes,
 * then resets it. */
static int read_rows(sqlite3_stmt *stmt, struct store_req *req)
{
    size_t cap = req->n_msgs;
    size_t bytes = req->max_bytes > 0 ? result_bytes(req) : 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (row_over_budget(stmt, req, &bytes)) {
            rc = SQLITE_DONE;
            break;
        }
        if (req->n_msgs == cap) {
            size_t grown = cap ? cap * 2 : 16;
            struct store_msg *msgs = realloc(req->msgs, grown * sizeof(*msgs));
            if (!msgs) {
                rc = SQLITE_NOMEM;
                break;
            }
            req->msgs = msgs;
            cap = grown;
        }
        rc = msg_from_row(stmt, &req->msgs[req->n_msgs]);
        if (rc != SQLITE_OK)
            break;
        req->n_msgs++;
    }
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int read_stmt(struct sqlite_store *st, enum sqlite_stmt which, const struct read_query *q,
                     uint64_t since, uint64_t upto, sqlite3_int64 limit, struct store_req *req)
{
    read_query_bind(q, st->stmt[which], since, upto, limit);
    return read_rows(st->stmt[which], req);
}

static sqlite3_int64 limit_left(sqlite3_int64 limit, const struct store_req *req)
{
    return limit < 0 ? -1 : limit - (sqlite3_int64)req->n_msgs;
}

/* Matches with since < seq <= upto (0: no bound), ascending, at most `limit`
 * (-1: all). A name uses the (topic, seq) index. A pattern with a literal
 * prefix first walks the next STORE_SCAN_WINDOW seqs of the table (cheap
 * when matches are dense or since is recent), then takes the rest from the
 * index over its prefix range (cheap when matches are sparse), so the read
 * costs at most the window plus the prefix's own messages. A pattern
 * without a prefix can only walk the table. */
static int read_since(struct sqlite_store *st, const struct read_query *q, uint64_t since,
                      uint64_t upto, sqlite3_int64 limit, struct store_req *req)
{
    if (!q->is_pattern)
        return read_stmt(st, STMT_NAME_SINCE, q, since, upto, limit, req);
    if (!q->has_range)
        return read_stmt(st, STMT_PAT_SINCE, q, since, upto, limit, req);
    uint64_t end = upto && upto < st->seq ? upto : st->seq;
    if (end <= since || end - since <= STORE_SCAN_WINDOW)
        return read_stmt(st, STMT_PAT_SINCE_RANGE, q, since, end, limit, req);
    uint64_t window_end = since + STORE_SCAN_WINDOW;
    int rc = read_stmt(st, STMT_PAT_SINCE_RANGE, q, since, window_end, limit, req);
    if (rc != SQLITE_OK || limit_left(limit, req) == 0 || req->more)
        return rc;
    return read_stmt(st, STMT_PAT_SINCE_INDEX, q, window_end, end, limit_left(limit, req), req);
}

/* Where the matches of q with since < seq <= upto are, for the ad hoc
 * queries below: a name and a prefix on the (topic, seq) index; a pattern
 * without a prefix on the table (in seq order), or on the whole index when
 * every match is wanted (far smaller than the table: it holds no data).
 * `>` matches every topic: no call per row to say so. */
static const char *read_where(const struct read_query *q, bool whole_index)
{
    if (whole_index && strcmp(q->pattern, ">") == 0)
        return "INDEXED BY messages_topic_seq WHERE +seq > ?2 AND +seq <= ?3";
    if (!q->is_pattern)
        return "WHERE topic = ?1 AND seq > ?2 AND seq <= ?3";
    if (q->has_range)
        return "WHERE topic >= ?5 AND topic < ?6 AND +seq > ?2 AND +seq <= ?3 "
               "AND topic_match(?1, topic)";
    if (!whole_index)
        return "WHERE seq > ?2 AND seq <= ?3 AND topic_match(?1, topic)";
    return "INDEXED BY messages_topic_seq WHERE +seq > ?2 AND +seq <= ?3 "
           "AND topic_match(?1, topic)";
}

/* One number about the matches of q: SELECT `what` ... `order`. The reads
 * of a chunked replay ask once per replay, or when retention moved, so
 * these are prepared when needed rather than kept. */
static int read_number(struct sqlite_store *st, const char *what, const char *where,
                       const char *order, const struct read_query *q, uint64_t since, uint64_t upto,
                       sqlite3_int64 offset, bool *found, uint64_t *value)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM messages %s %s", what, where, order);
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    read_query_bind(q, stmt, since, upto, offset);
    rc = sqlite3_step(stmt);
    *found = rc == SQLITE_ROW;
    if (*found)
        *value = (uint64_t)sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The matches with since < seq <= upto. */
static int read_count(struct sqlite_store *st, const struct read_query *q, uint64_t since,
                      uint64_t upto, uint64_t *count)
{
    bool found;
    *count = 0;
    bool whole_index = upto - since > STORE_SCAN_WINDOW;
    return read_number(st, "count(*)", read_where(q, whole_index), "", q, since, upto, 0, &found,
                       count);
}

/* Where the newest `last` matches with seq <= upto begin: *since is the
 * seq before the last-th newest (0 when there are fewer). */
static int read_last_start(struct sqlite_store *st, const struct read_query *q, uint32_t last,
                           uint64_t upto, uint64_t *since)
{
    bool found;
    uint64_t seq = 0;
    int rc = read_number(st, "seq", read_where(q, false), "ORDER BY seq DESC LIMIT 1 OFFSET ?4", q,
                         0, upto, (sqlite3_int64)last - 1, &found, &seq);
    *since = found && seq > 0 ? seq - 1 : 0;
    return rc;
}

/* recovered = no retention ever removed a match with seq > since. Under
 * the watermark, topics whose trimmed rows collapsed may have lost one, and
 * which they were is no longer known: not recovered, whatever the pattern. */
static int read_recovered(struct sqlite_store *st, const struct read_query *q, uint64_t since,
                          bool *recovered)
{
    if (since < st->trimmed_watermark) {
        *recovered = false;
        return SQLITE_OK;
    }
    enum sqlite_stmt which = !q->is_pattern ? STMT_TRIMMED_NAME
                             : q->has_range ? STMT_TRIMMED_PAT_RANGE
                                            : STMT_TRIMMED_PAT;
    sqlite3_stmt *stmt = st->stmt[which];
    read_query_bind(q, stmt, since, 0, 1);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    *recovered = rc != SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A replay, whole (limit 0) or one chunk of it: the matches after since
 * (or the newest `last`) up to upto, at most `limit` and max_bytes, with
 * `more` when some are left. `total` counts the matches of the range when
 * that is cheap (the result holds them all) or needed: on the first chunk,
 * for the subscribe ack, and when retention removed messages since the
 * previous chunk (the caller then learns whether it removed some that the
 * replay has not sent yet). */
static int run_replay(struct sqlite_store *st, const struct read_query *q, struct store_req *req)
{
    uint64_t since = req->since;
    int rc = req->last > 0 ? read_last_start(st, q, req->last, req->upto, &since) : SQLITE_OK;
    sqlite3_int64 limit = req->limit > 0 ? (sqlite3_int64)req->limit + 1 : -1;
    if (rc == SQLITE_OK)
        rc = read_since(st, q, since, req->upto, limit, req);
    if (rc == SQLITE_OK && req->limit > 0 && req->n_msgs > req->limit) {
        req->more = true;
        store_msg_clear(&req->msgs[--req->n_msgs]);
    }
    if (rc == SQLITE_OK && req->last == 0 && (req->limit == 0 || req->start))
        rc = read_recovered(st, q, req->since, &req->recovered);
    uint64_t mark = atomic_load_explicit(&st->n_trimmed, memory_order_relaxed);
    bool retention_moved = mark != req->retention_mark;
    req->retention_mark = mark;
    if (rc != SQLITE_OK || (req->more && !req->start && !retention_moved))
        return rc;
    req->has_total = true;
    req->total = req->n_msgs;
    return req->more ? read_count(st, q, since, req->upto ? req->upto : st->seq, &req->total) : rc;
}

/* History with since == 0 means "from the oldest retained message" (docs/protocol.md
 * section 10): nothing older was asked for, so recovered stays true. With
 * since > 0, recovered is false when retention removed a match after since. */
static int run_history(struct sqlite_store *st, const struct read_query *q, struct store_req *req)
{
    uint32_t limit = req->limit < 1                   ? 1
                     : req->limit > STORE_HISTORY_MAX ? STORE_HISTORY_MAX
                                                      : req->limit;
    int rc = read_since(st, q, req->since, 0, (sqlite3_int64)limit + 1, req);
    if (rc == SQLITE_OK && req->n_msgs > limit) {
        req->more = true;
        store_msg_clear(&req->msgs[--req->n_msgs]);
    }
    if (rc == SQLITE_OK && req->since > 0)
        rc = read_recovered(st, q, req->since, &req->recovered);
    return rc;
}

void sqlite_read_run(struct sqlite_store *st, struct store_req *req)
{
    store_read_begin(req);
    if (req->gone && atomic_load_explicit(req->gone, memory_order_relaxed)) {
        req->status = STORE_OK; /* nobody to read for */
        return;
    }
    if (!req->pattern || (req->op != STORE_REPLAY && req->op != STORE_HISTORY)) {
        req->status = STORE_INTERNAL;
        return;
    }
    struct read_query q;
    read_query_init(&q, req->pattern);
    int rc = req->op == STORE_REPLAY ? run_replay(st, &q, req) : run_history(st, &q, req);
    if (rc == SQLITE_OK) {
        req->status = STORE_OK;
        return;
    }
    log_warn("store: %s: reading %s failed: %s", st->path, req->pattern, sqlite3_errstr(rc));
    store_read_drop(req);
    req->status = read_status_of(rc);
}
