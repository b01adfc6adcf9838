/* SPDX-License-Identifier: MIT */
/*
 * publish.c: the publish pipeline. A publish is checked, stamped, handed to
 * the store in one allocation (struct publish_block), and on the commit's
 * result fanned out (encoded once, on the first match, and appended to
 * each subscriber's queue, once per connection) and acked. Service thread
 * only.
 */
#include "core/core_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/answer.h"
#include "util/log.h"

/* A WebSocket publish in one allocation: its store request, what the
 * request is for, the message, and then the message's bytes (topic, user,
 * key, data). store_req_free frees it all (sr.pubs_inline). */
struct publish_block {
    struct store_req sr;
    struct pending pending;
    struct store_pub pub;
    bool pooled; /* from core->publish_blocks */
    char bytes[];
};

/* Blocks of this size (a publish of up to about 250 bytes of topic, user,
 * key and data) are recycled; at most PUBLISH_BLOCK_POOL_MAX kept. */
#define PUBLISH_BLOCK_POOLED 512
#define PUBLISH_BLOCK_POOL_MAX 2048

void core_publish_init(struct core *core)
{
    pool_init(&core->publish_blocks, PUBLISH_BLOCK_POOLED, PUBLISH_BLOCK_POOL_MAX);
}

void core_publish_free(struct core *core)
{
    pool_drain(&core->publish_blocks);
}

/* --- fan-out ------------------------------------------------------------- */

struct fanout {
    struct core *core;
    const struct store_msg *msg;
    struct frame *frame;     /* the WebSocket frame, made for the first WebSocket
                                subscriber and shared by all */
    struct frame *sse_frame; /* the SSE event, made for the first SSE subscriber */
    bool encode_failed;
    uint64_t seq;
    const struct session *skip; /* the publisher, when echo is false */
    int rule_conflates;         /* a topic rule conflates the name: 1, 0; -1 not looked up */
    struct session *conflated;  /* sessions matched only by conflated subscriptions so far */
};

/* Whether sub's match of this message is conflated. A rule is looked up
 * once per message, and only for subscriptions that defer to the rules. */
static bool fanout_conflates(struct fanout *ctx, const struct subscription *sub)
{
    if (sub->session->is_sse) /* SSE streams are never conflated */
        return false;
    if (sub->conflate == SUB_CONFLATED)
        return true;
    if (ctx->rule_conflates < 0)
        ctx->rule_conflates = topic_rules_conflate(&ctx->core->cfg->topic_rules, ctx->msg->topic);
    return ctx->rule_conflates == 1;
}

/* Queues the message for s, encoded on the first match. */
/* Encodes the message for the first matching session of its kind. */
static struct frame *fanout_encode(struct fanout *ctx, bool sse)
{
    struct frame **slot = sse ? &ctx->sse_frame : &ctx->frame;
    if (!*slot && !ctx->encode_failed) {
        *slot = sse ? envelope_encode_sse(ctx->msg) : envelope_encode_message(ctx->msg);
        if (!*slot) {
            ctx->encode_failed = true;
            log_error("cannot encode message %" PRIu64, ctx->seq);
        }
    }
    return *slot;
}

/* The message's frame for a plain (or an SSE) session; NULL when it cannot
 * be encoded. Inline: after the first match it is one load per delivery. */
static inline struct frame *fanout_frame(struct fanout *ctx, bool sse)
{
    struct frame *f = sse ? ctx->sse_frame : ctx->frame;
    return f ? f : fanout_encode(ctx, sse);
}

/* Once per delivery: a plain subscription's path is kept to its checks and
 * the queue append (the frame exists after the first match). */
static void fanout_one(void *subscriber, void *arg)
{
    struct subscription *sub = subscriber;
    struct fanout *ctx = arg;
    struct session *s = sub->session;
    if (s == ctx->skip || s->last_seq_queued == ctx->seq)
        return;
    if (sub->conflate != SUB_PLAIN && fanout_conflates(ctx, sub)) {
        /* Sent once the match is done, unless a plain match comes (a plain
         * subscription wins, docs/protocol.md section 11). */
        if (s->conflate_seq != ctx->seq) {
            s->conflate_seq = ctx->seq;
            s->conflate_next = ctx->conflated;
            ctx->conflated = s;
        }
        return;
    }
    s->last_seq_queued = ctx->seq;
    struct frame *f = fanout_frame(ctx, s->is_sse);
    if (!f)
        return;
    session_deliver(s, f);
    ctx->core->counters.messages_delivered++;
}

/* The sessions that only conflated subscriptions matched. */
static void fanout_send_conflated(struct fanout *ctx)
{
    for (struct session *s = ctx->conflated; s; s = s->conflate_next) {
        if (s->last_seq_queued == ctx->seq)
            continue;
        s->last_seq_queued = ctx->seq;
        struct frame *f = fanout_frame(ctx, s->is_sse);
        if (!f)
            return;
        session_deliver_conflated(s, f, ctx->msg->topic);
        ctx->core->counters.messages_delivered++;
    }
}

static void core_fanout(struct core *core, const struct store_msg *msg, const struct session *skip)
{
    /* Encoded on the first match: a topic nobody follows costs no encoding
     * (a replay encodes it from the store when it is asked for). */
    struct fanout ctx = {
        .core = core, .msg = msg, .seq = msg->seq, .skip = skip, .rule_conflates = -1};
    topic_trie_match(core->subs, msg->topic, fanout_one, &ctx);
    fanout_send_conflated(&ctx);
    if (ctx.frame) {
        frame_cache_put(&core->frames, msg->seq, ctx.frame);
        frame_unref(ctx.frame);
    }
    frame_unref(ctx.sse_frame);
    core->last_delivered_seq = msg->seq;
    core->counters.messages_published++;
}

struct frame *core_message_frame(struct core *core, const struct store_msg *msg)
{
    struct frame *f = frame_cache_get(&core->frames, msg->seq);
    if (!f && (f = envelope_encode_message(msg)))
        frame_cache_put(&core->frames, msg->seq, f);
    return f;
}

/* --- before the store ---------------------------------------------------- */

/* The checks every publish passes before it is stored. */
static int core_check_pub(struct core *core, const char *topic, const char *user, bool is_binary,
                          size_t len, struct request_error *err)
{
    if (topic_is_reserved(topic)) {
        request_error_set(err, NULL, ERR_FORBIDDEN, "topics starting with '$' are reserved");
        return -1;
    }
    if (envelope_message_size(topic, user, is_binary, len) > (size_t)core->cfg->max_message) {
        request_error_set(err, NULL, ERR_TOO_LARGE, "the message would exceed max_message (%ld)",
                          core->cfg->max_message);
        return -1;
    }
    return 0;
}

/* Receipt time, never going back (ms since the Unix epoch). */
static int64_t core_stamp(struct core *core)
{
    int64_t ts = core_now_ms();
    core->last_ts = ts > core->last_ts ? ts : core->last_ts;
    return core->last_ts;
}

int core_prepare_pub(struct core *core, struct store_pub *pub, const char *topic, const char *user,
                     bool is_binary, unsigned char *data, size_t len, const char *key,
                     struct request_error *err)
{
    pub->msg.data = data; /* owned by pub from here on, even on failure */
    pub->msg.data_len = len;
    pub->msg.is_binary = is_binary;
    if (core_check_pub(core, topic, user, is_binary, len, err) < 0)
        return -1;
    pub->msg.ts = core_stamp(core);
    pub->msg.topic = strdup(topic);
    pub->msg.from_user = user ? strdup(user) : NULL;
    pub->key = key ? strdup(key) : NULL;
    if (!pub->msg.topic || !data || (user && !pub->msg.from_user) || (key && !pub->key)) {
        request_error_set(err, NULL, ERR_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

/* Copies len bytes and a NUL to *at; returns the copy and moves *at on. */
static char *block_put(char **at, const void *bytes, size_t len)
{
    char *copy = *at;
    if (len > 0)
        memcpy(copy, bytes, len);
    copy[len] = '\0';
    *at += len + 1;
    return copy;
}

/* The publish of `req` as one allocation (see struct publish_block). */
static struct store_req *publish_block_new(struct core *core, struct session *s,
                                           const struct request *req)
{
    const void *data = req->is_binary ? (const void *)req->payload : req->data_text;
    size_t topic_len = strlen(req->topic);
    size_t user_len = s->principal.user ? strlen(s->principal.user) : 0;
    size_t key_len = req->key ? strlen(req->key) : 0;
    size_t bytes = topic_len + user_len + key_len + req->data_len + 4;
    size_t size = sizeof(struct publish_block) + bytes;
    bool pooled = size <= PUBLISH_BLOCK_POOLED;
    struct publish_block *blk = pooled ? pool_get(&core->publish_blocks) : malloc(size);
    if (!blk)
        return NULL;
    memset(blk, 0, sizeof(*blk));
    blk->pooled = pooled;
    char *at = blk->bytes;
    struct store_msg *msg = &blk->pub.msg;
    msg->topic = block_put(&at, req->topic, topic_len);
    msg->from_user = s->principal.user ? block_put(&at, s->principal.user, user_len) : NULL;
    blk->pub.key = req->key ? block_put(&at, req->key, key_len) : NULL;
    msg->data = (unsigned char *)block_put(&at, data, req->data_len);
    msg->data_len = req->data_len;
    msg->is_binary = req->is_binary;
    blk->pub.has_expect_last = req->has_expect_last;
    blk->pub.expect_last = req->expect_last;

    struct store_req *sr = &blk->sr;
    sr->op = STORE_PUBLISH;
    sr->pubs = &blk->pub;
    sr->n_pubs = 1;
    sr->pubs_inline = true;
    sr->owner = &blk->pending;
    blk->pending.session = s;
    blk->pending.has_id = req->has_id;
    blk->pending.id = req->id;
    blk->pending.echo = req->echo;
    session_ref(s);
    return sr;
}

void core_publish(struct core *core, struct session *s, struct request *req)
{
    struct request_error err;
    if (core_check_pub(core, req->topic, s->principal.user, req->is_binary, req->data_len, &err) <
        0) {
        err.has_id = req->has_id;
        err.id = req->id;
        core_reply_error(core, s, &err);
        return;
    }
    struct store_req *sr = publish_block_new(core, s, req);
    if (!sr) {
        core_reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    sr->pubs[0].msg.ts = core_stamp(core);
    core_submit(core, sr);
}

/* --- after the commit ---------------------------------------------------- */

/* A publish whose expect_last did not hold: `conflict`, with the newest seq. */
static void publish_reply_conflict(struct core *core, const struct pending *p, uint64_t last)
{
    if (!p->session || !session_is_open(p->session))
        return;
    struct request_error err = {.code = ERR_CONFLICT, .has_id = p->has_id, .id = p->id};
    snprintf(err.message, sizeof(err.message),
             "expect_last does not hold: the topic's newest seq is %" PRIu64, last);
    core->counters.errors++;
    core_reply(core, p->session, p->has_id, p->id, answer_conflict(&err, last));
}

void core_finish_publish(struct core *core, struct store_req *sr, struct pending *p)
{
    struct session *s = p->session;
    if (sr->status == STORE_CONFLICT) {
        publish_reply_conflict(core, p, sr->conflict_last);
        return;
    }
    for (size_t i = 0; i < sr->n_pubs && sr->status == STORE_OK; i++) {
        struct store_pub *pub = &sr->pubs[i];
        if (pub->duplicate)
            core->counters.publish_duplicates++;
        else
            core_fanout(core, &pub->msg, p->echo ? NULL : s);
    }
    if (core_result_ok(core, sr, p, "written") && p->has_id)
        core_reply(core, s, true, p->id,
                   answer_publish_ack(p->id, sr->pubs[0].msg.seq, sr->pubs[0].duplicate));
}

void core_finish_feed(struct core *core, struct store_req *sr)
{
    for (size_t i = 0; i < sr->n_msgs; i++)
        core_fanout(core, &sr->msgs[i], NULL);
    if (sr->feed_reset) {
        core_close_all(core, 4000, "the shared store's seqs started over: resume with since");
        frame_cache_clear(&core->frames);
        core->last_delivered_seq = sr->feed_seq;
    } else if (sr->feed_seq > core->last_delivered_seq) {
        core->last_delivered_seq = sr->feed_seq;
    }
}

void core_req_free(struct core *core, struct store_req *sr)
{
    struct publish_block *blk = sr->pubs_inline ? (struct publish_block *)sr : NULL;
    if (blk && blk->pooled)
        pool_put(&core->publish_blocks, blk);
    else
        store_req_free(sr);
}
