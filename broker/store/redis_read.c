/* SPDX-License-Identifier: MIT */
/*
 * redis_read.c: the Redis engine's reads (replay chunks and history).
 *
 * Owns: one read's walk over Redis, step by step on the command
 * connection: the retention mark (GET trim_count), for `last` the start
 * found walking back, the scan of the matching seqs (ZRANGEBYSCORE over a
 * name's own set, or over the log of "SEQ TOPIC" members for a pattern,
 * matched here with common/topic.c's rule), the fetch of the records
 * wanted (HMGET), and `recovered` from the retention notes (HGETALL trim,
 * GET trim_mark).
 *
 * Why the matching is done here and not in a Lua script: there is one
 * rule of topic names (common/topic.c), and a scan of a big range would
 * hold Redis, and every node, for its whole length; here a scan is many
 * short commands of REDIS_SCAN_STEP members that other commands go
 * between. Each read is bounded like the SQLite engine's (limit, max_bytes,
 * more); a chunk's total is counted on the first chunk, when there is no
 * next one, and when retention moved, as engine.h says.
 */
#include "store/redis_int.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/topic.h"
#include "util/log.h"

#define REDIS_SCAN_STEP 1000
#define REDIS_HISTORY_MAX 1000

enum read_step { STEP_MARK, STEP_LAST, STEP_SCAN, STEP_FETCH, STEP_RECOVERED, STEP_DONE };

struct redis_read {
    struct redis_store *st;
    struct store_req *req;
    struct redis_read *next;
    enum read_step step;
    bool exact; /* a name: its own set; else the log and a match per member */
    char key[TOPIC_MAX_LEN + 32];
    uint64_t since;    /* the scan's start (exclusive) */
    uint64_t cursor;   /* where the scan goes on (exclusive) */
    uint64_t end;      /* the scan's end (inclusive); 0: none */
    uint64_t walk_end; /* STEP_LAST: where the walk back goes on (inclusive); 0: the end */
    size_t keep;       /* seqs to keep: limit + 1 (to see `more`); 0: all */
    bool count_all;    /* scan the whole range to count it */
    bool need_recovered;
    uint64_t *want;
    size_t n_want, cap_want;
    uint64_t matched;   /* all matches seen by the scan */
    uint32_t last_seen; /* STEP_LAST: matches walked back over */
    int pending_replies;
};

bool redis_read_done(const struct redis_read *rd)
{
    return rd->step == STEP_DONE;
}

struct store_req *redis_read_req(const struct redis_read *rd)
{
    return rd->req;
}

struct redis_read *redis_read_next(const struct redis_read *rd)
{
    return rd->next;
}

void redis_read_set_next(struct redis_read *rd, struct redis_read *next)
{
    rd->next = next;
}

void redis_read_free(struct redis_read *rd)
{
    free(rd->want);
    free(rd);
}

static void read_finish(struct redis_read *rd, enum store_status status)
{
    if (status != STORE_OK)
        store_read_drop(rd->req);
    rd->req->status = status;
    rd->step = STEP_DONE;
    redis_feed_release(rd->st);
}

static void read_next_step(struct redis_read *rd);

static int read_send(struct redis_read *rd, redisCallbackFn *cb, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (redis_link_command(rd->st, cb, rd, argc, argv, lens) < 0)
        return -1;
    rd->pending_replies++;
    return 0;
}

/* A reply of this read: NULL (the link went) or an error ends the read. */
static bool read_reply_ok(struct redis_read *rd, const redisReply *r, int type)
{
    rd->pending_replies--;
    if (r)
        redis_link_answered(rd->st);
    if (rd->step == STEP_DONE)
        return false;
    if (!r || r->type != type) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log_warn("redis: reading %s failed: %s", rd->req->pattern, r->str);
        read_finish(rd, STORE_UNAVAILABLE);
        return false;
    }
    return true;
}

/* A reply that is a number kept as a string (a counter: nil when it was
 * never set, read as 0): false when it ended the read. */
static bool read_reply_number(struct redis_read *rd, const redisReply *r, uint64_t *value)
{
    *value = 0;
    if (r && r->type == REDIS_REPLY_NIL) {
        rd->pending_replies--;
        redis_link_answered(rd->st);
        return rd->step != STEP_DONE;
    }
    if (!read_reply_ok(rd, r, REDIS_REPLY_STRING))
        return false;
    *value = strtoull(r->str, NULL, 10);
    return true;
}

/* The seq and topic of a scanned member ("SEQ" of a name's set, "SEQ
 * TOPIC" of the log); false when it matches not. */
static bool member_match(const struct redis_read *rd, const redisReply *m, uint64_t *seq)
{
    *seq = 0;
    if (m->type != REDIS_REPLY_STRING)
        return false;
    char *space;
    *seq = strtoull(m->str, &space, 10);
    if (rd->exact)
        return *seq > 0;
    return *space == ' ' && topic_matches(rd->req->pattern, space + 1);
}

/* --- the retention mark -------------------------------------------------- */

static void mark_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_read *rd = priv;
    uint64_t mark;
    if (!read_reply_number(rd, reply, &mark))
        return;
    struct store_req *req = rd->req;
    bool moved = mark != req->retention_mark;
    req->retention_mark = mark;
    /* Count the range when the ack needs it (the first chunk), when the
     * whole replay is one read, and when retention moved (engine.h). */
    rd->count_all = req->op == STORE_REPLAY && (req->limit == 0 || req->start || moved);
    rd->step = req->op == STORE_REPLAY && req->last > 0 ? STEP_LAST : STEP_SCAN;
    read_next_step(rd);
}

/* --- `last`: walking back from the end ----------------------------------- */

static void last_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_read *rd = priv;
    redisReply *r = reply;
    if (!read_reply_ok(rd, r, REDIS_REPLY_ARRAY))
        return;
    uint64_t seq = 0;
    for (size_t i = 0; i < r->elements; i++) {
        if (!member_match(rd, r->element[i], &seq))
            continue;
        if (++rd->last_seen == rd->req->last) {
            rd->since = rd->cursor = seq - 1;
            rd->step = STEP_SCAN;
            read_next_step(rd);
            return;
        }
    }
    if (r->elements < REDIS_SCAN_STEP) { /* fewer than `last`: all of them */
        rd->since = rd->cursor = 0;
        rd->step = STEP_SCAN;
    } else {
        uint64_t lowest = strtoull(r->element[r->elements - 1]->str, NULL, 10);
        rd->walk_end = lowest ? lowest - 1 : 0; /* walk on below it */
        if (rd->walk_end == 0) {
            rd->since = rd->cursor = 0;
            rd->step = STEP_SCAN;
        }
    }
    read_next_step(rd);
}

/* --- the scan ------------------------------------------------------------ */

static int want_push(struct redis_read *rd, uint64_t seq)
{
    if (rd->n_want == rd->cap_want) {
        size_t cap = rd->cap_want ? rd->cap_want * 2 : 64;
        uint64_t *grown = realloc(rd->want, cap * sizeof(*grown));
        if (!grown)
            return -1;
        rd->want = grown;
        rd->cap_want = cap;
    }
    rd->want[rd->n_want++] = seq;
    return 0;
}

static void scan_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_read *rd = priv;
    redisReply *r = reply;
    if (!read_reply_ok(rd, r, REDIS_REPLY_ARRAY))
        return;
    uint64_t seq = rd->cursor;
    for (size_t i = 0; i < r->elements; i++) {
        uint64_t s;
        bool match = member_match(rd, r->element[i], &s);
        if (s > seq)
            seq = s;
        if (!match)
            continue;
        rd->matched++;
        if ((rd->keep == 0 || rd->n_want < rd->keep) && want_push(rd, s) < 0) {
            read_finish(rd, STORE_INTERNAL);
            return;
        }
        if (!rd->count_all && rd->keep && rd->n_want == rd->keep)
            break;
    }
    rd->cursor = seq;
    bool range_done = r->elements < REDIS_SCAN_STEP;
    bool enough = !rd->count_all && rd->keep && rd->n_want == rd->keep;
    if (range_done || enough)
        rd->step = STEP_FETCH;
    read_next_step(rd);
}

/* --- the fetch ----------------------------------------------------------- */

static void fetch_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_read *rd = priv;
    redisReply *r = reply;
    if (!read_reply_ok(rd, r, REDIS_REPLY_ARRAY))
        return;
    struct store_req *req = rd->req;
    size_t limit = rd->keep ? rd->keep - 1 : r->elements;
    req->msgs = calloc(r->elements ? r->elements : 1, sizeof(*req->msgs));
    if (!req->msgs) {
        read_finish(rd, STORE_INTERNAL);
        return;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < r->elements && i < rd->n_want; i++) {
        const redisReply *rec = r->element[i];
        if (rec->type != REDIS_REPLY_STRING) /* removed since the scan */
            continue;
        if (req->n_msgs == limit) {
            req->more = true;
            break;
        }
        struct store_msg msg;
        if (redis_record_decode(rec->str, rec->len, rd->want[i], &msg) < 0) {
            log_error("redis: seq %" PRIu64 " holds no message this broker can read", rd->want[i]);
            continue;
        }
        size_t size = strlen(msg.topic) + msg.data_len;
        if (req->max_bytes > 0 && req->n_msgs > 0 && bytes + size > req->max_bytes) {
            store_msg_clear(&msg);
            req->more = true;
            break;
        }
        bytes += size;
        req->msgs[req->n_msgs++] = msg;
    }
    if (req->op == STORE_REPLAY && (!req->more || rd->count_all)) {
        req->has_total = true;
        req->total = rd->count_all ? rd->matched : req->n_msgs;
    }
    rd->step = rd->need_recovered ? STEP_RECOVERED : STEP_DONE;
    if (rd->step == STEP_DONE)
        read_finish(rd, STORE_OK);
    else
        read_next_step(rd);
}

/* --- recovered ----------------------------------------------------------- */

static void trim_mark_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_read *rd = priv;
    uint64_t mark;
    if (!read_reply_number(rd, reply, &mark))
        return;
    if (mark > rd->req->since)
        rd->req->recovered = false;
    if (rd->pending_replies == 0)
        read_finish(rd, STORE_OK);
}

static void trim_notes_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_read *rd = priv;
    redisReply *r = reply;
    if (!read_reply_ok(rd, r, REDIS_REPLY_ARRAY))
        return;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *topic = r->element[i], *seq = r->element[i + 1];
        if (topic->type != REDIS_REPLY_STRING || seq->type != REDIS_REPLY_STRING)
            continue;
        if (strtoull(seq->str, NULL, 10) > rd->req->since &&
            topic_matches(rd->req->pattern, topic->str))
            rd->req->recovered = false;
    }
    if (rd->pending_replies == 0)
        read_finish(rd, STORE_OK);
}

/* --- steps --------------------------------------------------------------- */

static void read_next_step(struct redis_read *rd)
{
    char a[32], b[32], lim[16];
    snprintf(lim, sizeof(lim), "%d", REDIS_SCAN_STEP);
    int rc = 0;
    switch (rd->step) {
    case STEP_MARK: {
        const char *argv[] = {"GET", REDIS_PREFIX "trim_count"};
        rc = read_send(rd, mark_cb, 2, argv);
        break;
    }
    case STEP_LAST: {
        if (rd->walk_end)
            snprintf(a, sizeof(a), "%" PRIu64, rd->walk_end);
        else
            snprintf(a, sizeof(a), "+inf");
        const char *argv[] = {"ZREVRANGEBYSCORE", rd->key, a, "-inf", "LIMIT", "0", lim};
        rc = read_send(rd, last_cb, 7, argv);
        break;
    }
    case STEP_SCAN: {
        snprintf(a, sizeof(a), "(%" PRIu64, rd->cursor);
        if (rd->end)
            snprintf(b, sizeof(b), "%" PRIu64, rd->end);
        else
            snprintf(b, sizeof(b), "+inf");
        const char *argv[] = {"ZRANGEBYSCORE", rd->key, a, b, "LIMIT", "0", lim};
        rc = read_send(rd, scan_cb, 7, argv);
        break;
    }
    case STEP_FETCH: {
        if (rd->n_want == 0) {
            rd->step = rd->need_recovered ? STEP_RECOVERED : STEP_DONE;
            if (rd->req->op == STORE_REPLAY) {
                rd->req->has_total = true;
                rd->req->total = 0;
            }
            if (rd->step == STEP_DONE)
                read_finish(rd, STORE_OK);
            else
                read_next_step(rd);
            return;
        }
        const char **argv = malloc((rd->n_want + 2) * sizeof(*argv));
        size_t *lens = malloc((rd->n_want + 2) * sizeof(*lens));
        char *nums = malloc(rd->n_want * 24);
        if (!argv || !lens || !nums) {
            free(argv), free(lens), free(nums);
            read_finish(rd, STORE_INTERNAL);
            return;
        }
        argv[0] = "HMGET";
        argv[1] = REDIS_PREFIX "msg";
        lens[0] = 5;
        lens[1] = strlen(argv[1]);
        for (size_t i = 0; i < rd->n_want; i++) {
            argv[i + 2] = nums + i * 24;
            lens[i + 2] = (size_t)snprintf(nums + i * 24, 24, "%" PRIu64, rd->want[i]);
        }
        rc = redis_link_command(rd->st, fetch_cb, rd, (int)rd->n_want + 2, argv, lens);
        if (rc == 0)
            rd->pending_replies++;
        free(argv), free(lens), free(nums);
        break;
    }
    case STEP_RECOVERED: {
        const char *notes[] = {"HGETALL", REDIS_PREFIX "trim"};
        const char *mark[] = {"GET", REDIS_PREFIX "trim_mark"};
        rc = read_send(rd, trim_notes_cb, 2, notes);
        if (rc == 0)
            rc = read_send(rd, trim_mark_cb, 2, mark);
        break;
    }
    case STEP_DONE:
        return;
    }
    if (rc < 0 && rd->pending_replies == 0)
        read_finish(rd, STORE_UNAVAILABLE);
}

static void read_setup(struct redis_read *rd)
{
    struct store_req *req = rd->req;
    rd->exact = !topic_is_pattern(req->pattern);
    if (rd->exact)
        snprintf(rd->key, sizeof(rd->key), REDIS_PREFIX "t:%s", req->pattern);
    else
        snprintf(rd->key, sizeof(rd->key), REDIS_PREFIX "log");
    if (req->op == STORE_HISTORY) {
        uint32_t limit = req->limit < 1                   ? 1
                         : req->limit > REDIS_HISTORY_MAX ? REDIS_HISTORY_MAX
                                                          : req->limit;
        rd->keep = (size_t)limit + 1;
        rd->since = rd->cursor = req->since;
        rd->need_recovered = req->since > 0;
        rd->step = STEP_SCAN;
    } else {
        rd->keep = req->limit > 0 ? (size_t)req->limit + 1 : 0;
        rd->since = rd->cursor = req->since;
        rd->end = rd->walk_end = req->upto;
        rd->need_recovered = req->last == 0 && (req->limit == 0 || req->start);
        rd->step = STEP_MARK;
    }
}

void redis_read_submit(struct redis_store *st, struct store_req *req)
{
    store_read_begin(req);
    struct redis_read *rd = calloc(1, sizeof(*rd));
    if (!rd) {
        req->status = STORE_INTERNAL;
        redis_feed_post_now(st, req);
        return;
    }
    rd->st = st;
    rd->req = req;
    redis_feed_add_read(st, rd);
    if (req->gone && atomic_load_explicit(req->gone, memory_order_relaxed)) {
        read_finish(rd, STORE_OK); /* nobody to read for */
        return;
    }
    if (!req->pattern || (req->op != STORE_REPLAY && req->op != STORE_HISTORY)) {
        read_finish(rd, STORE_INTERNAL);
        return;
    }
    if (!redis_link_ready(st)) {
        read_finish(rd, STORE_UNAVAILABLE);
        return;
    }
    redis_write_flush(st); /* the publishes submitted before it go first */
    read_setup(rd);
    read_next_step(rd);
}
