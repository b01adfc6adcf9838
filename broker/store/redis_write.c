/* SPDX-License-Identifier: MIT */
/*
 * redis_write.c: the Redis engine's publishes.
 *
 * Owns: the queue of publish requests not sent yet, their grouping into
 * batches (everything submitted during one turn of the loop, at most
 * REDIS_BATCH_MAX requests per call) sent as one publish.lua call each,
 * and the reading of a batch's reply into its requests. Many batches may
 * be in flight; Redis answers them in order. A request is answered
 * (posted) by redis_feed.c once every seq below its own was delivered.
 *
 * Why flush from a uv_check handle: it runs once after each turn's I/O,
 * so the publishes that turn's frames carried go out together (the group
 * commit of the SQLite engine, with a round trip instead of an fsync).
 */
#include "store/redis_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/topic_rules.h"
#include "util/log.h"

struct redis_batch {
    struct redis_store *st;
    uint64_t no;
    uint64_t sent_us;
    size_t n;
    struct redis_pub *pubs[];
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* What a batch's arguments hold besides the records: numbers as text. */
struct batch_args {
    const char **argv;
    size_t *lens;
    size_t argc, cap;
    char *text; /* every number, NUL-separated */
    size_t text_used, text_cap;
    char **records; /* owned */
    size_t n_records;
};

static int args_push(struct batch_args *a, const char *s, size_t len)
{
    if (a->argc == a->cap)
        return -1;
    a->argv[a->argc] = s;
    a->lens[a->argc] = len;
    a->argc++;
    return 0;
}

/* Pushes a printf'd argument, written into the text area (sized for the
 * batch up front, so the pointers pushed before stay valid). */
static int args_printf(struct batch_args *a, const char *fmt, ...)
{
    size_t room = a->text_cap - a->text_used;
    char *at = a->text + a->text_used;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        return -1;
    a->text_used += (size_t)n + 1;
    return args_push(a, at, (size_t)n);
}

static int args_number(struct batch_args *a, int64_t v)
{
    return args_printf(a, "%" PRId64, v);
}

static void args_free(struct batch_args *a)
{
    for (size_t i = 0; i < a->n_records; i++)
        free(a->records[i]);
    free(a->records);
    free(a->argv);
    free(a->lens);
    free(a->text);
}

static void pub_retention(const struct redis_store *st, const char *topic, int64_t ts, long *retain,
                          int64_t *expire_ms)
{
    const struct topic_rule *rule = topic_rules_find(st->cfg.rules, topic);
    long age = st->cfg.retain_age_s;
    *retain = st->cfg.retain_count;
    if (rule && rule->retain != TOPIC_RULE_UNSET)
        *retain = rule->retain;
    if (rule && rule->retain_age != TOPIC_RULE_UNSET)
        age = rule->retain_age;
    *expire_ms = ts + (int64_t)age * 1000;
}

static int args_pub(struct batch_args *a, const struct redis_store *st, const struct store_pub *pub)
{
    long retain;
    int64_t expire_ms;
    pub_retention(st, pub->msg.topic, pub->msg.ts, &retain, &expire_ms);
    size_t rec_len;
    char *rec = redis_record_encode(&pub->msg, &rec_len);
    if (!rec)
        return -1;
    a->records[a->n_records++] = rec;
    const char *key = pub->key ? pub->key : "";
    if (args_push(a, pub->msg.topic, strlen(pub->msg.topic)) < 0 ||
        args_push(a, key, strlen(key)) < 0 || args_number(a, retain) < 0 ||
        args_number(a, expire_ms) < 0 || args_number(a, pub->has_expect_last ? 1 : 0) < 0 ||
        args_number(a, (int64_t)pub->expect_last) < 0)
        return -1;
    return args_push(a, rec, rec_len);
}

static int args_init(struct batch_args *a, const struct redis_batch *b)
{
    size_t n_pubs = 0;
    for (size_t i = 0; i < b->n; i++)
        n_pubs += b->pubs[i]->req->n_pubs;
    memset(a, 0, sizeof(*a));
    a->cap = 11 + b->n + n_pubs * 7;
    a->text_cap = (8 + b->n + n_pubs * 5) * 24 + 64; /* + the origin */
    a->argv = malloc(a->cap * sizeof(*a->argv));
    a->lens = malloc(a->cap * sizeof(*a->lens));
    a->text = malloc(a->text_cap);
    a->records = calloc(n_pubs ? n_pubs : 1, sizeof(*a->records));
    return a->argv && a->lens && a->text && a->records ? 0 : -1;
}

static int batch_build(struct redis_store *st, const struct redis_batch *b, uint64_t batch_no,
                       struct batch_args *a)
{
    if (args_init(a, b) < 0)
        return -1;
    int rc = args_push(a, "EVALSHA", 7) | args_push(a, st->sha_publish, 40) | args_push(a, "1", 1) |
             args_push(a, REDIS_PREFIX, strlen(REDIS_PREFIX)) |
             args_number(a, st->cfg.dedupe_window_ms) |
             args_printf(a, "%s:%" PRIu64, st->node, batch_no);
    rc |= args_number(a, st->cfg.max_topics) | args_number(a, REDIS_FEED_MAX) |
          args_push(a, st->channel, strlen(st->channel)) |
          args_push(a, st->epoch, strlen(st->epoch)) | args_number(a, (int64_t)b->n);
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        struct store_req *req = b->pubs[i]->req;
        rc = args_number(a, (int64_t)req->n_pubs);
        for (size_t k = 0; rc == 0 && k < req->n_pubs; k++)
            rc = args_pub(a, st, &req->pubs[k]);
    }
    return rc;
}

/* --- replies ------------------------------------------------------------- */

static void pub_fail(struct redis_pub *p, enum store_status status)
{
    p->req->status = status;
    for (size_t k = 0; k < p->req->n_pubs; k++)
        p->req->pubs[k].msg.seq = 0;
    p->replied = true;
    p->first = p->last = 0;
}

static int64_t reply_int(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER ? (int64_t)r->integer : -1;
}

/* Reads request p's part of the reply from element *at on. */
static int pub_answer(struct redis_store *st, struct redis_pub *p, const redisReply *r, size_t *at)
{
    struct store_req *req = p->req;
    if (*at + 2 + 2 * req->n_pubs > r->elements)
        return -1;
    int64_t status = reply_int(r->element[*at]);
    int64_t extra = reply_int(r->element[*at + 1]);
    *at += 2;
    p->first = p->last = 0;
    if (status != 0 && status != 3 && status != 4)
        return -1;
    req->status = status == 0 ? STORE_OK : status == 3 ? STORE_FULL : STORE_CONFLICT;
    if (status == 3) {
        req->full_reason = STORE_FULL_TOPICS;
        st->refused_full += req->n_pubs;
    }
    if (status == 4)
        req->conflict_last = extra > 0 ? (uint64_t)extra : 0;
    for (size_t k = 0; k < req->n_pubs; k++, *at += 2) {
        int64_t seq = reply_int(r->element[*at]);
        bool dup = reply_int(r->element[*at + 1]) == 1;
        if (seq < 0)
            return -1;
        req->pubs[k].msg.seq = (uint64_t)seq;
        req->pubs[k].duplicate = dup;
        if (status != 0)
            continue;
        if (dup) {
            st->duplicates++;
            continue;
        }
        st->messages_stored++;
        if (!p->first)
            p->first = (uint64_t)seq;
        p->last = (uint64_t)seq;
    }
    p->replied = true;
    return 0;
}

static void commit_timed(struct redis_store *st, uint64_t us)
{
    st->commits++;
    st->commit_us_total += us;
    size_t b = 0;
    while (b + 1 < STORE_COMMIT_BUCKETS && us > store_commit_bucket_us[b])
        b++;
    st->commit_buckets[b]++;
}

static void batch_reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_batch *b = priv;
    struct redis_store *st = b->st;
    redisReply *r = reply;
    if (r)
        redis_link_answered(st);
    bool ok = r && r->type == REDIS_REPLY_ARRAY;
    if (r && r->type == REDIS_REPLY_ERROR) {
        log_error("redis: a publish batch failed: %s", r->str);
        st->failed_batches[st->failed_next++ % REDIS_FAILED_BATCHES] = b->no + 1;
        if (strncmp(r->str, "WSBSTALE", 8) == 0) /* publish.lua: a new epoch is due */
            redis_link_poll_now(st);
    }
    size_t at = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (!ok || pub_answer(st, b->pubs[i], r, &at) < 0) {
            ok = false;
            pub_fail(b->pubs[i], STORE_UNAVAILABLE);
        }
        if (b->pubs[i]->last)
            redis_feed_known(st, b->pubs[i]->last);
    }
    if (r)
        commit_timed(st, mono_us() - b->sent_us);
    free(b);
    redis_feed_release(st);
}

/* --- sending ------------------------------------------------------------- */

static struct redis_batch *batch_take(struct redis_store *st)
{
    size_t n = 0;
    for (struct redis_pub *p = st->unsent_head; p && n < REDIS_BATCH_MAX; p = p->unsent_next)
        n++;
    struct redis_batch *b = malloc(sizeof(*b) + n * sizeof(b->pubs[0]));
    if (!b)
        return NULL;
    b->st = st;
    for (b->n = 0; b->n < n; b->n++) {
        struct redis_pub *p = st->unsent_head;
        st->unsent_head = p->unsent_next;
        p->unsent_next = NULL;
        b->pubs[b->n] = p;
    }
    if (!st->unsent_head)
        st->unsent_tail = NULL;
    return b;
}

static void batch_send(struct redis_store *st, struct redis_batch *b)
{
    struct batch_args a;
    b->no = st->batch_no++;
    int rc = batch_build(st, b, b->no, &a);
    b->sent_us = mono_us();
    if (rc == 0)
        rc = redis_link_command(st, batch_reply_cb, b, (int)a.argc, a.argv, a.lens);
    args_free(&a);
    if (rc == 0)
        return;
    for (size_t i = 0; i < b->n; i++)
        pub_fail(b->pubs[i], STORE_UNAVAILABLE);
    free(b);
}

void redis_write_flush(struct redis_store *st)
{
    if (!st->unsent_head)
        return;
    if (!redis_link_ready(st)) {
        redis_write_fail_unsent(st);
        redis_feed_release(st);
        return;
    }
    while (st->unsent_head) {
        struct redis_batch *b = batch_take(st);
        if (!b) {
            redis_write_fail_unsent(st);
            break;
        }
        batch_send(st, b);
    }
    redis_feed_release(st);
}

static void flush_cb(uv_check_t *check)
{
    redis_write_flush(check->data);
}

void redis_write_fail_unsent(struct redis_store *st)
{
    while (st->unsent_head) {
        struct redis_pub *p = st->unsent_head;
        st->unsent_head = p->unsent_next;
        p->unsent_next = NULL;
        pub_fail(p, STORE_UNAVAILABLE);
    }
    st->unsent_tail = NULL;
}

void redis_write_init(struct redis_store *st)
{
    uv_check_init(st->loop, &st->flush_check);
    st->flush_check.data = st;
    uv_check_start(&st->flush_check, flush_cb);
}

void redis_write_submit(struct redis_store *st, struct store_req *req)
{
    struct redis_pub *p = calloc(1, sizeof(*p));
    if (!p) {
        req->status = STORE_INTERNAL;
        redis_feed_post_now(st, req);
        return;
    }
    p->req = req;
    /* Every publish, in submission order: the feed posts them. */
    if (st->pubs_tail)
        st->pubs_tail->next = p;
    else
        st->pubs_head = p;
    st->pubs_tail = p;
    if (st->unsent_tail)
        st->unsent_tail->unsent_next = p;
    else
        st->unsent_head = p;
    st->unsent_tail = p;
}
