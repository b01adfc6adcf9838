/*
 * core.c: the broker's logic (see core.h for what it owns and the replay
 * join). Service thread only.
 */
#include "core/core.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "proto/envelope.h"
#include "util/log.h"
#include "util/pool.h"
#include "core/presence.h"
#include "common/topic.h"

/* Most requests that may wait behind one pending replay. */
#define MAX_DEFERRED 1024

struct core {
    const struct config *cfg;
    struct store *store;
    struct topic_trie *subs; /* pattern -> struct subscription * */
    struct presence *presence;
    struct session *sessions; /* live sessions */
    size_t n_sessions;
    size_t pending_store;
    uint64_t last_delivered_seq; /* newest seq fanned out */
    int64_t last_ts;
    uint64_t client_counter;
    struct core_counters counters;
    struct frame_cache frames;  /* recent message frames, shared by replays */
    struct pool publish_blocks; /* free publish_blocks of PUBLISH_BLOCK_POOLED bytes */
};

/* What a store request was for, kept until its result arrives. */
struct pending {
    struct session *session; /* referenced; NULL for external requests */
    core_done_fn done;       /* external requests: called with the result */
    void *done_arg;
    bool has_id;
    uint64_t id;
    bool echo;
    bool epoch_mismatch;
};

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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct core *core_new(const struct config *cfg, struct store *store)
{
    struct core *core = calloc(1, sizeof(*core));
    if (!core)
        return NULL;
    core->cfg = cfg;
    core->store = store;
    core->subs = topic_trie_new();
    core->presence = presence_new();
    pool_init(&core->publish_blocks, PUBLISH_BLOCK_POOLED, PUBLISH_BLOCK_POOL_MAX);
    core->last_delivered_seq = store_last_seq(store);
    if (getrandom(&core->client_counter, sizeof(core->client_counter), 0) < 0)
        core->client_counter = (uint64_t)now_ms();
    if (!core->subs || !core->presence) {
        core_free(core);
        return NULL;
    }
    return core;
}

void core_free(struct core *core)
{
    if (!core)
        return;
    while (core->sessions)
        core_session_closed(core, core->sessions);
    topic_trie_free(core->subs);
    presence_free(core->presence);
    frame_cache_clear(&core->frames);
    pool_drain(&core->publish_blocks);
    frame_pool_drain(); /* frames live on the service thread, which ends here */
    free(core);
}

/* --- replies ------------------------------------------------------------- */

static void reply_error(struct core *core, struct session *s, const struct request_error *err)
{
    core->counters.errors++;
    log_debug("%s: error %s: %s", s->id, err->code, err->message);
    session_send(s, envelope_encode_error(err));
}

static void reply_error_code(struct core *core, struct session *s, const struct request *req,
                             const char *code, const char *message)
{
    struct request_error err;
    request_error_set(&err, req, code, "%s", message);
    reply_error(core, s, &err);
}

/* Sends the reply built in `b`; when it could not be built, an `internal`
 * error instead, so that a request with an id always gets its one reply. */
static void reply_sbuf(struct core *core, struct session *s, bool has_id, uint64_t id,
                       struct sbuf *b)
{
    struct frame *f = envelope_frame_from_sbuf(b);
    if (f) {
        session_send(s, f);
        return;
    }
    struct request_error err = {.code = ERR_INTERNAL, .has_id = has_id, .id = id};
    snprintf(err.message, sizeof(err.message), "the reply could not be encoded");
    reply_error(core, s, &err);
}

static void reply_ack_plain(struct core *core, struct session *s, const struct request *req)
{
    if (!req->has_id)
        return;
    char stack[128];
    struct sbuf b;
    sbuf_init_on(&b, stack, sizeof(stack));
    envelope_begin_ack(&b, true, req->id);
    sbuf_add(&b, "}", 1);
    reply_sbuf(core, s, true, req->id, &b);
}

static void reply_subscribe_ack(struct core *core, struct session *s, bool has_id, uint64_t id,
                                const char *topic, size_t replayed, bool recovered, uint64_t seq)
{
    if (!has_id)
        return;
    struct sbuf b;
    sbuf_init(&b);
    envelope_begin_ack(&b, true, id);
    sbuf_add_str(&b, ",\"topic\":");
    sbuf_add_json_string(&b, topic);
    sbuf_add_str(&b, ",\"replayed\":");
    sbuf_add_u64(&b, replayed);
    sbuf_add_str(&b, recovered ? ",\"recovered\":true" : ",\"recovered\":false");
    sbuf_add_str(&b, ",\"seq\":");
    sbuf_add_u64(&b, seq);
    sbuf_add(&b, "}", 1);
    reply_sbuf(core, s, true, id, &b);
}

/* --- store requests ------------------------------------------------------ */

struct pending;
static void reply_unavailable(struct core *core, struct session *s, const struct pending *p,
                              const char *what);

static struct store_req *core_new_store_req(struct session *s, const struct request *req,
                                            enum store_op op)
{
    struct store_req *sr = calloc(1, sizeof(*sr));
    struct pending *p = calloc(1, sizeof(*p));
    if (!sr || !p) {
        free(sr);
        free(p);
        return NULL;
    }
    sr->op = op;
    sr->owner = p;
    p->session = s;
    p->has_id = req->has_id;
    p->id = req->id;
    p->echo = req->echo;
    session_ref(s);
    return sr;
}

/* Frees a request made by core_new_store_req that is not submitted after
 * all: its pending record and session reference go with it. */
static void core_discard_req(struct store_req *sr)
{
    struct pending *p = sr ? sr->owner : NULL;
    if (p) {
        session_unref(p->session);
        free(p);
        sr->owner = NULL;
    }
    store_req_free(sr);
}

static void core_submit(struct core *core, struct store_req *sr)
{
    core->pending_store++;
    store_submit(core->store, sr);
}

/* --- subscribe ----------------------------------------------------------- */

static void core_subscribe_replay(struct core *core, struct session *s, struct request *req,
                                  struct subscription *sub)
{
    struct store_req *sr = core_new_store_req(s, req, STORE_REPLAY);
    if (!sr || !(sr->pattern = strdup(req->topic))) {
        core_discard_req(sr);
        reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    struct pending *p = sr->owner;
    p->epoch_mismatch = req->epoch && strcmp(req->epoch, store_epoch(core->store)) != 0;
    sr->since = p->epoch_mismatch ? 0 : req->since;
    sr->last = req->has_last ? req->last : 0;
    sr->upto = core->last_delivered_seq;
    sub->covers_after = sr->upto; /* until the replay result says more */
    s->replay_pending = true;
    core_submit(core, sr);
}

static void core_subscribe(struct core *core, struct session *s, struct request *req)
{
    if (session_find_sub(s, req->topic)) {
        reply_subscribe_ack(core, s, req->has_id, req->id, req->topic, 0, true,
                            core->last_delivered_seq);
        return;
    }
    if (s->n_subs >= (size_t)core->cfg->max_subscriptions) {
        reply_error_code(core, s, req, ERR_TOO_MANY_SUBSCRIPTIONS,
                         "this connection holds the most subscriptions allowed");
        return;
    }
    struct subscription *sub = session_add_sub(s, req->topic);
    if (!sub || topic_trie_add(core->subs, req->topic, sub) < 0) {
        if (sub)
            session_remove_sub(s, sub);
        reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    if (req->presence)
        presence_join(core->presence, sub);
    /* Nothing was ever stored when the newest seq is 0 (and upto = 0 would
     * mean "no bound" to the store): no replay to read. */
    bool wants_replay =
        (req->has_since || (req->has_last && req->last > 0)) && core->last_delivered_seq > 0;
    if (wants_replay) {
        core_subscribe_replay(core, s, req, sub);
        return;
    }
    sub->covers_after = core->last_delivered_seq;
    bool recovered = !(req->epoch && strcmp(req->epoch, store_epoch(core->store)) != 0);
    reply_subscribe_ack(core, s, req->has_id, req->id, req->topic, 0, recovered,
                        core->last_delivered_seq);
}

/* True when another subscription of the session already delivered `msg`. */
static bool replay_already_sent(const struct session *s, const struct subscription *sub,
                                const struct store_msg *msg)
{
    for (const struct subscription *other = s->subs; other; other = other->next)
        if (other != sub && msg->seq > other->covers_after &&
            topic_matches(other->pattern, msg->topic))
            return true;
    return false;
}

static void core_unsubscribe_sub(struct core *core, struct session *s, struct subscription *sub)
{
    presence_leave(core->presence, sub);
    topic_trie_remove(core->subs, sub->pattern, sub);
    session_remove_sub(s, sub);
}

static void core_process_deferred(struct core *core, struct session *s);

/* The WebSocket frame of a stored message: the one already encoded for
 * it when it is recent (replays after a mass reconnect share it). */
static struct frame *core_message_frame(struct core *core, const struct store_msg *msg)
{
    struct frame *f = frame_cache_get(&core->frames, msg->seq);
    if (!f && (f = envelope_encode_message(msg)))
        frame_cache_put(&core->frames, msg->seq, f);
    return f;
}

static void core_finish_replay(struct core *core, struct store_req *sr, struct pending *p)
{
    struct session *s = p->session;
    s->replay_pending = false;
    struct subscription *sub = session_find_sub(s, sr->pattern);
    if (sr->status != STORE_OK || !sub) {
        if (sub)
            core_unsubscribe_sub(core, s, sub);
        reply_unavailable(core, s, p, "read");
    } else {
        bool *skip = calloc(sr->n_msgs ? sr->n_msgs : 1, sizeof(bool));
        size_t replayed = 0;
        for (size_t i = 0; i < sr->n_msgs && skip; i++) {
            skip[i] = replay_already_sent(s, sub, &sr->msgs[i]);
            replayed += !skip[i];
        }
        reply_subscribe_ack(core, s, p->has_id, p->id, sr->pattern, replayed,
                            sr->recovered && !p->epoch_mismatch, sr->upto);
        for (size_t i = 0; i < sr->n_msgs && skip; i++)
            if (!skip[i])
                session_send_replay(s, s->is_sse ? envelope_encode_sse(&sr->msgs[i])
                                                 : core_message_frame(core, &sr->msgs[i]));
        free(skip);
        if (sr->last > 0)
            sub->covers_after = sr->n_msgs ? sr->msgs[0].seq - 1 : sr->upto;
        else
            sub->covers_after = sr->since;
    }
    session_release_held(s);
    core_process_deferred(core, s);
}

/* --- publish ------------------------------------------------------------- */

struct fanout {
    struct core *core;
    const struct store_msg *msg;
    struct frame *frame;     /* the WebSocket frame, made for the first WebSocket
                                subscriber and shared by all */
    struct frame *sse_frame; /* the SSE event, made for the first SSE subscriber */
    bool encode_failed;
    uint64_t seq;
    const struct session *skip; /* the publisher, when echo is false */
};

static void fanout_one(void *subscriber, void *arg)
{
    struct subscription *sub = subscriber;
    struct fanout *ctx = arg;
    struct session *s = sub->session;
    if (s == ctx->skip || s->last_seq_queued == ctx->seq)
        return;
    s->last_seq_queued = ctx->seq;
    struct frame **slot = s->is_sse ? &ctx->sse_frame : &ctx->frame;
    if (!*slot && !ctx->encode_failed) {
        *slot = s->is_sse ? envelope_encode_sse(ctx->msg) : envelope_encode_message(ctx->msg);
        if (!*slot) {
            ctx->encode_failed = true;
            log_error("cannot encode message %" PRIu64, ctx->seq);
        }
    }
    if (!*slot)
        return;
    session_deliver(s, *slot);
    ctx->core->counters.messages_delivered++;
}

static void core_fanout(struct core *core, const struct store_msg *msg, const struct session *skip)
{
    /* Encoded on the first match: a topic nobody follows costs no encoding
     * (a replay encodes it from the store when it is asked for). */
    struct fanout ctx = {.core = core, .msg = msg, .seq = msg->seq, .skip = skip};
    topic_trie_match(core->subs, msg->topic, fanout_one, &ctx);
    if (ctx.frame) {
        frame_cache_put(&core->frames, msg->seq, ctx.frame);
        frame_unref(ctx.frame);
    }
    frame_unref(ctx.sse_frame);
    core->last_delivered_seq = msg->seq;
    core->counters.messages_published++;
}

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
    int64_t ts = now_ms();
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
    size_t user_len = s->user ? strlen(s->user) : 0;
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
    msg->from_user = s->user ? block_put(&at, s->user, user_len) : NULL;
    blk->pub.key = req->key ? block_put(&at, req->key, key_len) : NULL;
    msg->data = (unsigned char *)block_put(&at, data, req->data_len);
    msg->data_len = req->data_len;
    msg->is_binary = req->is_binary;

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

static void core_publish(struct core *core, struct session *s, struct request *req)
{
    struct request_error err;
    if (core_check_pub(core, req->topic, s->user, req->is_binary, req->data_len, &err) < 0) {
        err.has_id = req->has_id;
        err.id = req->id;
        reply_error(core, s, &err);
        return;
    }
    struct store_req *sr = publish_block_new(core, s, req);
    if (!sr) {
        reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    sr->pubs[0].msg.ts = core_stamp(core);
    core_submit(core, sr);
}

static void core_finish_publish(struct core *core, struct store_req *sr, struct pending *p)
{
    struct session *s = p->session;
    for (size_t i = 0; i < sr->n_pubs && sr->status == STORE_OK; i++) {
        struct store_pub *pub = &sr->pubs[i];
        if (pub->duplicate)
            core->counters.publish_duplicates++;
        else
            core_fanout(core, &pub->msg, p->echo ? NULL : s);
    }
    if (!s || !session_is_open(s))
        return;
    if (sr->status != STORE_OK) {
        reply_unavailable(core, s, p, "written");
        return;
    }
    if (!p->has_id)
        return;
    char stack[128];
    struct sbuf b;
    sbuf_init_on(&b, stack, sizeof(stack));
    envelope_begin_ack(&b, true, p->id);
    sbuf_add_str(&b, ",\"seq\":");
    sbuf_add_u64(&b, sr->pubs[0].msg.seq);
    if (sr->pubs[0].duplicate)
        sbuf_add_str(&b, ",\"duplicate\":true");
    sbuf_add(&b, "}", 1);
    reply_sbuf(core, s, true, p->id, &b);
}

/* The store could not do what a request of the session needed. */
static void reply_unavailable(struct core *core, struct session *s, const struct pending *p,
                              const char *what)
{
    struct request_error err = {.code = ERR_UNAVAILABLE, .has_id = p->has_id, .id = p->id};
    snprintf(err.message, sizeof(err.message), "the message store cannot be %s now", what);
    reply_error(core, s, &err);
}

void core_submit_external(struct core *core, struct store_req *sr, core_done_fn done, void *arg)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (!p) {
        sr->status = STORE_INTERNAL;
        done(arg, sr);
        store_req_free(sr);
        return;
    }
    p->echo = true;
    p->done = done;
    p->done_arg = arg;
    sr->owner = p;
    core_submit(core, sr);
}

/* --- history ------------------------------------------------------------- */

static void core_history(struct core *core, struct session *s, struct request *req)
{
    struct store_req *sr = core_new_store_req(s, req, STORE_HISTORY);
    if (!sr || !(sr->pattern = strdup(req->topic))) {
        core_discard_req(sr);
        reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    sr->since = req->has_since ? req->since : 0;
    sr->limit = req->limit;
    core_submit(core, sr);
}

static void core_finish_history(struct core *core, struct store_req *sr, struct pending *p)
{
    struct session *s = p->session;
    if (!session_is_open(s))
        return;
    if (sr->status != STORE_OK) {
        reply_unavailable(core, s, p, "read");
        return;
    }
    if (!p->has_id)
        return;
    struct sbuf b;
    sbuf_init(&b);
    envelope_begin_ack(&b, true, p->id);
    sbuf_add_str(&b, ",\"messages\":[");
    for (size_t i = 0; i < sr->n_msgs; i++) {
        if (i)
            sbuf_add(&b, ",", 1);
        envelope_append_message_json(&b, &sr->msgs[i]);
    }
    sbuf_add_str(&b, sr->more ? "],\"more\":true" : "],\"more\":false");
    sbuf_add_str(&b, sr->recovered ? ",\"recovered\":true}" : ",\"recovered\":false}");
    reply_sbuf(core, s, true, p->id, &b);
}

/* --- the other ops ------------------------------------------------------- */

static void core_unsubscribe(struct core *core, struct session *s, struct request *req)
{
    struct subscription *sub = session_find_sub(s, req->topic);
    if (!sub) {
        reply_error_code(core, s, req, ERR_NOT_SUBSCRIBED,
                         "this connection holds no such subscription");
        return;
    }
    core_unsubscribe_sub(core, s, sub);
    reply_ack_plain(core, s, req);
}

static void core_presence(struct core *core, struct session *s, struct request *req)
{
    (void)core;
    if (!req->has_id)
        return;
    struct sbuf b;
    sbuf_init(&b);
    envelope_begin_ack(&b, true, req->id);
    sbuf_add_str(&b, ",\"topic\":");
    sbuf_add_json_string(&b, req->topic);
    sbuf_add_str(&b, ",\"members\":");
    presence_append_members(core->presence, req->topic, &b);
    sbuf_add(&b, "}", 1);
    reply_sbuf(core, s, true, req->id, &b);
}

static void core_ping(struct core *core, struct session *s, struct request *req)
{
    if (!req->has_id)
        return;
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_str(&b, "{\"op\":\"pong\",\"id\":");
    sbuf_add_u64(&b, req->id);
    sbuf_add(&b, "}", 1);
    reply_sbuf(core, s, true, req->id, &b);
}

static void core_dispatch(struct core *core, struct session *s, struct request *req)
{
    switch (req->op) {
    case OP_SUBSCRIBE:
        core_subscribe(core, s, req);
        break;
    case OP_UNSUBSCRIBE:
        core_unsubscribe(core, s, req);
        break;
    case OP_PUBLISH:
        core_publish(core, s, req);
        break;
    case OP_HISTORY:
        core_history(core, s, req);
        break;
    case OP_PRESENCE:
        core_presence(core, s, req);
        break;
    case OP_AUTH:
        reply_error_code(core, s, req, ERR_BAD_REQUEST,
                         "authentication is not configured on this broker");
        break;
    case OP_PING:
        core_ping(core, s, req);
        break;
    }
}

/* --- receiving ----------------------------------------------------------- */

static void core_handle_frame(struct core *core, struct session *s, const unsigned char *buf,
                              size_t len, bool is_binary)
{
    struct request req;
    struct request_error err;
    int rc = is_binary ? envelope_parse_binary(buf, len, &req, &err)
                       : envelope_parse_text((const char *)buf, len, &req, &err);
    if (rc < 0) {
        reply_error(core, s, &err);
        return;
    }
    core_dispatch(core, s, &req);
    request_clear(&req);
}

static void core_process_deferred(struct core *core, struct session *s)
{
    struct deferred_request *d;
    while (session_is_open(s) && !s->replay_pending && (d = session_take_deferred(s))) {
        core_handle_frame(core, s, d->bytes, d->len, d->is_binary);
        free(d);
    }
}

/* A request that waits behind a pending replay, or runs now. */
static void core_session_request(struct core *core, struct session *s, const unsigned char *buf,
                                 size_t len, bool is_binary)
{
    if (s->replay_pending) {
        if (s->n_deferred >= MAX_DEFERRED || session_defer(s, buf, len, is_binary) < 0) {
            struct request_error err = {.code = ERR_RATE_LIMITED};
            snprintf(err.message, sizeof(err.message), "too many requests behind a replay");
            reply_error(core, s, &err);
        }
        return;
    }
    core_handle_frame(core, s, buf, len, is_binary);
}

void core_session_receive(struct core *core, struct session *s, const unsigned char *buf,
                          size_t len, bool is_binary)
{
    if (!session_is_open(s))
        return;
    bool abusive = false;
    if (!session_rate_allow(s, core->cfg->max_rate, now_ms(), &abusive)) {
        core->counters.rate_limited++;
        if (abusive) {
            session_close(s, 4029, "rate limit abuse");
            return;
        }
        struct request_error err = {.code = ERR_RATE_LIMITED};
        snprintf(err.message, sizeof(err.message), "more than %ld frames per second",
                 core->cfg->max_rate);
        struct request req;
        struct request_error ignored;
        int rc = is_binary ? envelope_parse_binary(buf, len, &req, &ignored)
                           : envelope_parse_text((const char *)buf, len, &req, &ignored);
        if (rc == 0) {
            err.has_id = req.has_id;
            err.id = req.id;
            request_clear(&req);
        }
        reply_error(core, s, &err);
        return;
    }
    core_session_request(core, s, buf, len, is_binary);
}

/* --- sessions ------------------------------------------------------------ */

static void core_send_welcome(struct core *core, struct session *s)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_str(&b, "{\"op\":\"welcome\",\"v\":1,\"client\":");
    sbuf_add_json_string(&b, s->id);
    sbuf_add_str(&b, ",\"server\":\"wsbroker " WSB_VERSION "\",\"epoch\":");
    sbuf_add_json_string(&b, store_epoch(core->store));
    sbuf_add_str(&b, ",\"seq\":");
    sbuf_add_u64(&b, core->last_delivered_seq);
    sbuf_add_str(&b, ",\"heartbeat\":");
    sbuf_add_u64(&b, (uint64_t)core->cfg->heartbeat);
    sbuf_add_str(&b, ",\"max_message\":");
    sbuf_add_u64(&b, (uint64_t)core->cfg->max_message);
    sbuf_add(&b, "}", 1);
    reply_sbuf(core, s, false, 0, &b);
}

static struct session *core_add_session(struct core *core, struct lws *wsi)
{
    struct session *s = session_new(wsi, (size_t)core->cfg->max_backlog);
    if (!s)
        return NULL;
    s->dropped_counter = &core->counters.messages_dropped;
    /* An odd multiplier is a bijection on 40 bits: ids never repeat within
     * 2^40 connections, and do not reveal the connection count. */
    uint64_t n = (core->client_counter++ * 0x9E3779B97F4A7C15ULL) & 0xFFFFFFFFFFULL;
    snprintf(s->id, sizeof(s->id), "c-%010" PRIx64, n);
    s->next = core->sessions;
    if (core->sessions)
        core->sessions->prev = s;
    core->sessions = s;
    core->n_sessions++;
    core->counters.connections_total++;
    log_debug("%s: connected", s->id);
    return s;
}

struct session *core_session_open(struct core *core, struct lws *wsi)
{
    struct session *s = core_add_session(core, wsi);
    if (s)
        core_send_welcome(core, s);
    return s;
}

struct session *core_sse_open(struct core *core, struct lws *wsi)
{
    struct session *s = core_add_session(core, wsi);
    if (s)
        s->is_sse = true;
    return s;
}

/* The replay of an SSE stream over several patterns: one read per pattern,
 * merged into ONE ascending run (an event stream resumes from the last id
 * it saw, so its ids must only grow), each message once. */
struct sse_replay {
    struct core *core;
    struct session *session; /* referenced */
    size_t pending;
    struct store_msg *msgs; /* taken from the finished reads */
    size_t n_msgs;
};

static int store_msg_cmp_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct store_msg *)a)->seq, y = ((const struct store_msg *)b)->seq;
    return x < y ? -1 : x > y;
}

static void sse_replay_finish(struct sse_replay *r)
{
    struct session *s = r->session;
    if (r->n_msgs > 1)
        qsort(r->msgs, r->n_msgs, sizeof(*r->msgs), store_msg_cmp_seq);
    for (size_t i = 0; i < r->n_msgs; i++) {
        if (session_is_open(s) && (i == 0 || r->msgs[i].seq != r->msgs[i - 1].seq))
            session_send_replay(s, envelope_encode_sse(&r->msgs[i]));
        store_msg_clear(&r->msgs[i]);
    }
    free(r->msgs);
    s->replay_pending = false;
    session_release_held(s);
    session_unref(s);
    free(r);
}

static void sse_replay_done(void *arg, struct store_req *sr)
{
    struct sse_replay *r = arg;
    struct store_msg *msgs = sr->status == STORE_OK && sr->n_msgs
                                 ? realloc(r->msgs, (r->n_msgs + sr->n_msgs) * sizeof(*msgs))
                                 : NULL;
    if (msgs) {
        memcpy(msgs + r->n_msgs, sr->msgs, sr->n_msgs * sizeof(*msgs));
        r->msgs = msgs;
        r->n_msgs += sr->n_msgs;
        free(sr->msgs); /* the strings now belong to r */
        sr->msgs = NULL;
        sr->n_msgs = 0;
    } else if (sr->status != STORE_OK) {
        session_close(r->session, 1011, "the message store cannot be read now");
    }
    if (--r->pending == 0)
        sse_replay_finish(r);
}

void core_sse_subscribe(struct core *core, struct session *s, char **patterns, size_t n,
                        bool has_since, uint64_t since)
{
    uint64_t upto = core->last_delivered_seq;
    struct sse_replay *r = has_since && upto > 0 ? calloc(1, sizeof(*r)) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (session_find_sub(s, patterns[i]))
            continue;
        struct subscription *sub = session_add_sub(s, patterns[i]);
        if (!sub || topic_trie_add(core->subs, patterns[i], sub) < 0) {
            if (sub)
                session_remove_sub(s, sub);
            continue;
        }
        sub->covers_after = r ? since : upto;
        struct store_req *sr = r ? calloc(1, sizeof(*sr)) : NULL;
        if (!sr || !(sr->pattern = strdup(patterns[i]))) {
            free(sr);
            continue;
        }
        sr->op = STORE_REPLAY;
        sr->since = since;
        sr->upto = upto;
        r->pending++;
        core_submit_external(core, sr, sse_replay_done, r);
    }
    if (!r)
        return;
    if (r->pending == 0) {
        free(r);
        return;
    }
    r->core = core;
    r->session = s;
    session_ref(s);
    s->replay_pending = true;
}

void core_session_closed(struct core *core, struct session *s)
{
    while (s->subs)
        core_unsubscribe_sub(core, s, s->subs);
    if (s->close_code == 4000)
        core->counters.slow_consumer_closes++;
    if (s->prev)
        s->prev->next = s->next;
    else
        core->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    core->n_sessions--;
    s->wsi = NULL;
    log_debug("%s: disconnected", s->id);
    session_unref(s);
}

void core_close_all(struct core *core, uint16_t code, const char *reason)
{
    for (struct session *s = core->sessions; s; s = s->next)
        session_close(s, code, reason);
}

/* --- store results ------------------------------------------------------- */

static void core_finish(struct core *core, struct store_req *sr)
{
    struct pending *p = sr->owner;
    if (sr->op == STORE_PUBLISH)
        core_finish_publish(core, sr, p);
    if (p->done) {
        p->done(p->done_arg, sr);
    } else if (sr->op == STORE_REPLAY) {
        if (session_is_open(p->session))
            core_finish_replay(core, sr, p);
    } else if (sr->op == STORE_HISTORY) {
        core_finish_history(core, sr, p);
    }
    if (p->session)
        session_unref(p->session);
    if (!sr->pubs_inline) /* else part of its publish_block */
        free(p);
    sr->owner = NULL;
}

/* Frees a finished request; a pooled publish block goes back to its pool. */
static void core_req_free(struct core *core, struct store_req *sr)
{
    struct publish_block *blk = sr->pubs_inline ? (struct publish_block *)sr : NULL;
    if (blk && blk->pooled)
        pool_put(&core->publish_blocks, blk);
    else
        store_req_free(sr);
}

void core_store_wake(struct core *core)
{
    struct store_req *sr = store_take_done(core->store);
    while (sr) {
        struct store_req *next = sr->next;
        /* Written by the store thread on the other core: fetch the next one
         * while this one is answered. */
        if (next)
            __builtin_prefetch(next);
        core->pending_store--;
        core_finish(core, sr);
        core_req_free(core, sr);
        sr = next;
    }
}

size_t core_pending_store(const struct core *core)
{
    return core->pending_store;
}

size_t core_session_count(const struct core *core)
{
    return core->n_sessions;
}

size_t core_subscription_count(const struct core *core)
{
    return topic_trie_subscriptions(core->subs);
}

size_t core_topic_count(const struct core *core)
{
    return topic_trie_patterns(core->subs);
}

uint64_t core_last_seq(const struct core *core)
{
    return core->last_delivered_seq;
}

void core_set_accept_pauses(struct core *core, uint64_t pauses)
{
    core->counters.accept_pauses = pauses;
}

const struct core_counters *core_get_counters(const struct core *core)
{
    return &core->counters;
}

void core_append_presence(const struct core *core, const char *topic, struct sbuf *out)
{
    presence_append_members(core->presence, topic, out);
}
