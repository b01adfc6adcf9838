/* SPDX-License-Identifier: MIT */
/*
 * redis_feed.c: delivery in global seq order on one node of several.
 *
 * Owns: the messages other nodes stored that this node has not delivered
 * yet (in seq order), the newest seq delivered and the newest known to
 * exist, the repair of gaps from the feed stream, and the done list that
 * core takes: STORE_FEED entries with the others' messages, this node's
 * publish requests where their seqs stand, and reads.
 *
 * Why one ordered path: core fans out what it takes in the order it takes
 * it, and a connection must see ascending seqs. This node's own publish is
 * therefore posted only when every seq below it was posted, and the
 * others' messages only contiguously (engine.h, "Feed"). Pub/sub from one
 * Redis arrives in seq order (publish.lua publishes inside the script);
 * what can be missing is what pub/sub lost (a dropped connection, a
 * client buffer limit) or what was published while this node was away,
 * and a lost last message that nothing follows. The epoch poll tells the
 * newest seq (redis_feed_known); a seq that has not come REDIS_GAP_WAIT_MS
 * after a later one is known is read back from the feed stream, where each
 * publish script left its batch.
 * A seq the stream no longer holds cannot be repaired: the node starts
 * over after it, closing its sessions so that clients resume from history.
 */
#include "store/redis_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* --- the done list ------------------------------------------------------- */

static void done_push(struct redis_store *st, struct store_req *req)
{
    req->next = NULL;
    if (st->done_tail)
        st->done_tail->next = req;
    else
        st->done_head = req;
    st->done_tail = req;
}

static void feed_flush(struct redis_store *st)
{
    if (st->feed)
        done_push(st, st->feed);
    st->feed = NULL;
}

static struct store_req *feed_entry(struct redis_store *st)
{
    if (!st->feed) {
        st->feed = calloc(1, sizeof(*st->feed));
        if (st->feed) {
            st->feed->op = STORE_FEED;
            st->feed->feed_seq = st->delivered;
        }
    }
    return st->feed;
}

/* Moves msg (taken over, cleared in place) into the FEED entry. */
static int feed_add(struct redis_store *st, struct store_msg *msg)
{
    struct store_req *f = feed_entry(st);
    if (!f)
        return -1;
    size_t n = f->n_msgs;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) { /* full at 8, 16, 32, ... */
        struct store_msg *grown = realloc(f->msgs, (n ? n * 2 : 8) * sizeof(*grown));
        if (!grown)
            return -1;
        f->msgs = grown;
    }
    f->msgs[f->n_msgs++] = *msg;
    memset(msg, 0, sizeof(*msg));
    f->feed_seq = f->msgs[f->n_msgs - 1].seq;
    return 0;
}

void redis_feed_post_now(struct redis_store *st, struct store_req *req)
{
    feed_flush(st);
    done_push(st, req);
    if (st->cfg.wake)
        st->cfg.wake(st->cfg.wake_arg);
}

struct store_req *redis_feed_take_done(struct redis_store *st)
{
    struct store_req *head = st->done_head;
    st->done_head = st->done_tail = NULL;
    return head;
}

/* --- the others' messages ------------------------------------------------ */

/* The others' messages are st->others[others_start .. others_start +
 * n_others), ascending; they arrive in order, so an insert is an append
 * and a delivery moves the start, both O(1) in the usual case. */
static struct store_msg *others_first(struct redis_store *st)
{
    return st->n_others ? &st->others[st->others_start] : NULL;
}

static void others_drop_head(struct redis_store *st)
{
    store_msg_clear(&st->others[st->others_start]);
    st->others_start++;
    if (--st->n_others == 0)
        st->others_start = 0;
}

/* Room for one more at the end: compacts, or grows. */
static int others_reserve(struct redis_store *st)
{
    if (st->others_start + st->n_others < st->cap_others)
        return 0;
    if (st->others_start > 0) {
        memmove(st->others, &st->others[st->others_start], st->n_others * sizeof(st->others[0]));
        st->others_start = 0;
        return 0;
    }
    size_t cap = st->cap_others ? st->cap_others * 2 : 64;
    struct store_msg *grown = realloc(st->others, cap * sizeof(*grown));
    if (!grown)
        return -1;
    st->others = grown;
    st->cap_others = cap;
    return 0;
}

/* Inserts msg (taken over) by seq; a seq already held or delivered is
 * dropped. */
static void others_insert(struct redis_store *st, struct store_msg *msg)
{
    if (msg->seq <= st->delivered || others_reserve(st) < 0) {
        store_msg_clear(msg);
        return;
    }
    struct store_msg *base = &st->others[st->others_start];
    size_t at = st->n_others;
    while (at > 0 && base[at - 1].seq > msg->seq)
        at--;
    if (at > 0 && base[at - 1].seq == msg->seq) {
        store_msg_clear(msg);
        return;
    }
    memmove(&base[at + 1], &base[at], (st->n_others - at) * sizeof(base[0]));
    base[at] = *msg;
    st->n_others++;
}

bool redis_origin_pending(const struct redis_store *st, const char *origin, size_t len)
{
    if (len < 18 || memcmp(origin, st->node, 16) != 0 || origin[16] != ':')
        return false;
    uint64_t batch = 0;
    for (size_t i = 17; i < len; i++) {
        if (origin[i] < '0' || origin[i] > '9')
            return false;
        batch = batch * 10 + (uint64_t)(origin[i] - '0');
    }
    if (batch < st->batch_oldest)
        return false;
    for (size_t i = 0; i < REDIS_FAILED_BATCHES; i++)
        if (st->failed_batches[i] == batch + 1)
            return false;
    return true;
}

void redis_feed_entry(struct redis_store *st, uint64_t seq, const char *origin, size_t origin_len,
                      const char *rec, size_t rec_len)
{
    if (seq > st->known_max)
        st->known_max = seq;
    if (seq <= st->delivered || redis_origin_pending(st, origin, origin_len))
        return; /* delivered, or delivered with this node's reply */
    struct store_msg msg;
    if (redis_record_decode(rec, rec_len, seq, &msg) < 0) {
        log_error("redis: seq %" PRIu64 " holds no message this broker can read", seq);
        return;
    }
    others_insert(st, &msg);
}

void redis_feed_live(struct redis_store *st, const char *payload, size_t len)
{
    size_t at = 0;
    struct redis_live_entry e;
    int rc;
    while ((rc = redis_live_next(payload, len, &at, &e)) == 1)
        redis_feed_entry(st, e.seq, e.origin, e.origin_len, e.rec, e.rec_len);
    if (rc < 0)
        log_error("redis: a malformed live payload of %zu bytes was ignored", len);
    redis_feed_release(st);
}

void redis_feed_known(struct redis_store *st, uint64_t seq)
{
    if (seq > st->known_max)
        st->known_max = seq;
}

/* --- posting in order ---------------------------------------------------- */

static bool post_reads(struct redis_store *st)
{
    bool posted = false;
    while (st->reads_head && redis_read_done(st->reads_head)) {
        struct redis_read *rd = st->reads_head;
        st->reads_head = redis_read_next(rd);
        if (!st->reads_head)
            st->reads_tail = NULL;
        feed_flush(st);
        done_push(st, redis_read_req(rd));
        redis_read_free(rd);
        posted = true;
    }
    return posted;
}

/* The oldest publish, when its turn came: answered with nothing new to
 * deliver, or its first new seq is the next one. */
static bool post_publish(struct redis_store *st)
{
    struct redis_pub *p = st->pubs_head;
    if (!p || !p->replied || (p->first && p->first > st->delivered + 1))
        return false;
    st->pubs_head = p->next;
    if (!st->pubs_head)
        st->pubs_tail = NULL;
    feed_flush(st);
    done_push(st, p->req);
    if (p->last > st->delivered)
        st->delivered = p->last;
    free(p);
    return true;
}

static bool post_other(struct redis_store *st)
{
    struct store_msg *first;
    while ((first = others_first(st)) && first->seq <= st->delivered)
        others_drop_head(st);
    if (!first || first->seq != st->delivered + 1)
        return false;
    if (feed_add(st, first) < 0)
        return false;
    st->delivered++;
    others_drop_head(st);
    return true;
}

static void gap_repair(struct redis_store *st);

static void gap_timer_cb(uv_timer_t *timer)
{
    struct redis_store *st = timer->data;
    st->gap_armed = false;
    if (st->known_max > st->delivered && redis_link_ready(st) && !st->repair_in_flight)
        gap_repair(st);
}

void redis_feed_release(struct redis_store *st)
{
    bool posted = post_reads(st);
    for (;;) {
        if (post_publish(st) || post_other(st))
            posted = true;
        else
            break;
    }
    if (st->feed) {
        feed_flush(st);
        posted = true;
    }
    if (st->delivered > st->known_max)
        st->known_max = st->delivered;
    if (posted && st->cfg.wake && !st->closing)
        st->cfg.wake(st->cfg.wake_arg);
    if (st->known_max > st->delivered && !st->gap_armed && !st->repair_in_flight && !st->closing) {
        st->gap_armed = true;
        uv_timer_start(&st->gap_timer, gap_timer_cb, REDIS_GAP_WAIT_MS, 0);
    }
}

/* --- gap repair ---------------------------------------------------------- */

/* One feed entry: ["FIRST-LAST", ["p", PAYLOAD]], the payload as the nodes
 * were sent it; its records go where pub/sub would have put them. Returns
 * the entry's first seq, or 0 when it is not one. */
static uint64_t repair_entry(struct redis_store *st, const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY ||
        e->element[1]->elements != 2 || e->element[1]->element[1]->type != REDIS_REPLY_STRING)
        return 0;
    uint64_t first = strtoull(e->element[0]->str, NULL, 10);
    const redisReply *payload = e->element[1]->element[1];
    size_t at = 0;
    struct redis_live_entry le;
    int rc;
    while ((rc = redis_live_next(payload->str, payload->len, &at, &le)) == 1) {
        size_t before = st->n_others;
        redis_feed_entry(st, le.seq, le.origin, le.origin_len, le.rec, le.rec_len);
        if (st->n_others > before)
            st->gap_repairs++;
    }
    if (rc < 0)
        log_error("redis: a malformed feed entry (%s) was ignored", e->element[0]->str);
    return first;
}

/* The reply of XREVRANGE (the entry holding the first missing seq) or of
 * XRANGE (the entries after it); the second decides. */
static bool repair_reply(struct redis_store *st, const redisReply *r)
{
    if (!r)
        return false;
    redis_link_answered(st);
    if (r->type != REDIS_REPLY_ARRAY) {
        log_warn("redis: reading the feed failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        st->repair_failed = true;
        return false;
    }
    for (size_t i = 0; i < r->elements; i++) {
        uint64_t first = repair_entry(st, r->element[i]);
        if (first && (!st->repair_first || first < st->repair_first))
            st->repair_first = first;
    }
    return true;
}

static void repair_head_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    repair_reply(priv, reply);
}

static void repair_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_store *st = priv;
    redisReply *r = reply;
    st->repair_in_flight = false;
    if (!repair_reply(st, r) || st->repair_failed)
        return;
    uint64_t want = st->repair_want;
    bool none = st->repair_first == 0;
    if (st->delivered < want &&
        (st->repair_first > want || (none && st->known_max >= want && !st->pubs_head))) {
        /* The feed no longer holds `want`: what this node's sessions
         * missed can only be read from history. */
        uint64_t to = none ? st->known_max : st->repair_first - 1;
        log_warn("redis: seqs %" PRIu64 "..%" PRIu64 " are gone from the feed before this node "
                 "delivered them: closing its sessions so that they resume from history",
                 want, to);
        redis_feed_reset(st, to, true, false);
        return;
    }
    redis_feed_release(st);
    /* A full page and still behind: the next one at once, so that a node
     * catching up is not held to a page per REDIS_GAP_WAIT_MS. */
    if (r->elements == REDIS_REPAIR_PAGE && st->known_max > st->delivered &&
        !st->repair_in_flight && redis_link_ready(st))
        gap_repair(st);
}

/* Reads back, from the feed, the entry holding the first missing seq
 * (the newest whose first seq is not above it) and the entries after it,
 * in one round trip. */
static void gap_repair(struct redis_store *st)
{
    char at[48], after[52], page[16];
    st->repair_want = st->delivered + 1;
    st->repair_first = 0;
    st->repair_failed = false;
    snprintf(at, sizeof(at), "%" PRIu64 "-18446744073709551615", st->repair_want);
    snprintf(after, sizeof(after), "(%s", at);
    snprintf(page, sizeof(page), "%d", REDIS_REPAIR_PAGE);
    const char *head[] = {"XREVRANGE", REDIS_PREFIX "feed", at, "-", "COUNT", "1"};
    const char *rest[] = {"XRANGE", REDIS_PREFIX "feed", after, "+", "COUNT", page};
    size_t head_lens[6], rest_lens[6];
    for (int i = 0; i < 6; i++) {
        head_lens[i] = strlen(head[i]);
        rest_lens[i] = strlen(rest[i]);
    }
    if (redis_link_command(st, repair_head_cb, st, 6, head, head_lens) == 0 &&
        redis_link_command(st, repair_cb, st, 6, rest, rest_lens) == 0)
        st->repair_in_flight = true;
}

/* --- start over ---------------------------------------------------------- */

void redis_feed_reset(struct redis_store *st, uint64_t seq, bool close_sessions, bool new_epoch)
{
    if (new_epoch) {
        while (st->n_others > 0)
            others_drop_head(st);
        st->known_max = seq;
    }
    st->delivered = seq;
    if (seq > st->known_max)
        st->known_max = seq;
    struct store_req *f = feed_entry(st);
    if (f) {
        f->feed_seq = seq;
        f->feed_reset = close_sessions;
        feed_flush(st);
    }
    redis_feed_release(st);
    if (st->cfg.wake && !st->closing)
        st->cfg.wake(st->cfg.wake_arg);
}

void redis_feed_init(struct redis_store *st)
{
    uv_timer_init(st->loop, &st->gap_timer);
    st->gap_timer.data = st;
}

void redis_feed_free(struct redis_store *st)
{
    while (st->n_others > 0)
        others_drop_head(st);
    free(st->others);
    st->others = NULL;
    if (st->feed)
        store_req_free(st->feed);
    st->feed = NULL;
    struct store_req *req = redis_feed_take_done(st);
    while (req) {
        struct store_req *next = req->next;
        store_req_free(req);
        req = next;
    }
}

void redis_feed_add_read(struct redis_store *st, struct redis_read *rd)
{
    redis_read_set_next(rd, NULL);
    if (st->reads_tail)
        redis_read_set_next(st->reads_tail, rd);
    else
        st->reads_head = rd;
    st->reads_tail = rd;
}
