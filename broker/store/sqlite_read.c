/*
 * sqlite_read.c: the SQLite engine's reads: replay for a subscribe, and
 * history.
 *
 * Owns: the choice of statement for a read (a name, a pattern with a
 * literal prefix, a pattern without), the two-phase walk that bounds a
 * pattern read's cost, the `recovered` answer from the trimmed table and
 * the watermark, and
 * the copying of rows into the request's result array. Reads run on the
 * store thread after the batch's publishes, so they see them.
 */
#include "store/sqlite_int.h"

#include "common/topic.h"
#include "util/log.h"

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

/* Appends every row of the bound statement to req->msgs, then resets it. */
static int read_rows(sqlite3_stmt *stmt, struct store_req *req)
{
    size_t cap = req->n_msgs;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
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
    if (rc != SQLITE_OK || limit_left(limit, req) == 0)
        return rc;
    return read_stmt(st, STMT_PAT_SINCE_INDEX, q, window_end, end, limit_left(limit, req), req);
}

/* The newest `last` matches with seq <= upto (0: no bound), returned
 * ascending; the same two phases as read_since, walking back. */
static int read_last(struct sqlite_store *st, const struct read_query *q, uint32_t last,
                     uint64_t upto, struct store_req *req)
{
    int rc;
    if (!q->is_pattern) {
        rc = read_stmt(st, STMT_NAME_LAST, q, 0, upto, last, req);
    } else if (!q->has_range) {
        rc = read_stmt(st, STMT_PAT_LAST, q, 0, upto, last, req);
    } else {
        uint64_t top = upto && upto < st->seq ? upto : st->seq;
        uint64_t bottom = top > STORE_SCAN_WINDOW ? top - STORE_SCAN_WINDOW : 0;
        rc = read_stmt(st, STMT_PAT_LAST_RANGE, q, bottom, top, last, req);
        if (rc == SQLITE_OK && bottom > 0 && req->n_msgs < last)
            rc = read_stmt(st, STMT_PAT_LAST_INDEX, q, 0, bottom, last - req->n_msgs, req);
    }
    for (size_t i = 0, j = req->n_msgs; rc == SQLITE_OK && i + 1 < j; i++, j--) {
        struct store_msg swap = req->msgs[i];
        req->msgs[i] = req->msgs[j - 1];
        req->msgs[j - 1] = swap;
    }
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

static int run_replay(struct sqlite_store *st, const struct read_query *q, struct store_req *req)
{
    if (req->last > 0)
        return read_last(st, q, req->last, req->upto, req);
    int rc = read_since(st, q, req->since, req->upto, -1, req);
    if (rc == SQLITE_OK)
        rc = read_recovered(st, q, req->since, &req->recovered);
    return rc;
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
    req->msgs = NULL;
    req->n_msgs = 0;
    req->more = false;
    req->recovered = true;
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
    for (size_t i = 0; i < req->n_msgs; i++)
        store_msg_clear(&req->msgs[i]);
    free(req->msgs);
    req->msgs = NULL;
    req->n_msgs = 0;
    req->more = false;
    req->status = read_status_of(rc);
}
