/* SPDX-License-Identifier: MIT */
/*
 * core.c: sessions, receiving requests, dispatching them, and the results
 * of the store (see core.h for what core owns and the replay join). The
 * jobs behind the dispatch are in publish.c, subscribe.c, replay.c,
 * requests.c and sse.c. Service thread only.
 */
#include "core/core_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "proto/answer.h"
#include "util/log.h"

/* Most requests that may wait behind one pending replay. */
#define MAX_DEFERRED 1024

int64_t core_now_ms(void)
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
    core->presence = presence_new(store);
    core_publish_init(core);
    core->last_delivered_seq = store_last_seq(store);
    if (getrandom(&core->client_counter, sizeof(core->client_counter), 0) < 0)
        core->client_counter = (uint64_t)core_now_ms();
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
    core_publish_free(core);
    frame_pool_drain(); /* frames live on the service thread, which ends here */
    free(core);
}

/* --- replies ------------------------------------------------------------- */

void core_reply_error(struct core *core, struct session *s, const struct request_error *err)
{
    core->counters.errors++;
    log_debug("%s: error %s: %s", s->id, err->code, err->message);
    session_send(s, answer_error(err));
}

void core_reply_error_code(struct core *core, struct session *s, const struct request *req,
                           const char *code, const char *message)
{
    struct request_error err;
    request_error_set(&err, req, code, "%s", message);
    core_reply_error(core, s, &err);
}

void core_reply(struct core *core, struct session *s, bool has_id, uint64_t id, struct frame *f)
{
    if (f) {
        session_send(s, f);
        return;
    }
    struct request_error err = {.code = ERR_INTERNAL, .has_id = has_id, .id = id};
    snprintf(err.message, sizeof(err.message), "the reply could not be encoded");
    core_reply_error(core, s, &err);
}

void core_reply_unavailable(struct core *core, struct session *s, bool has_id, uint64_t id,
                            const struct store_req *sr, const char *what)
{
    struct request_error err = {.code = ERR_UNAVAILABLE, .has_id = has_id, .id = id};
    store_failure_text(sr, what, err.message, sizeof(err.message));
    core_reply_error(core, s, &err);
}

/* --- store requests ------------------------------------------------------ */

struct store_req *core_new_store_req(struct session *s, const struct request *req, enum store_op op)
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

void core_discard_req(struct store_req *sr)
{
    struct pending *p = sr ? sr->owner : NULL;
    if (p) {
        session_unref(p->session);
        free(p);
        sr->owner = NULL;
    }
    store_req_free(sr);
}

void core_submit(struct core *core, struct store_req *sr)
{
    core->pending_store++;
    store_submit(core->store, sr);
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

/* --- receiving ----------------------------------------------------------- */

static void core_dispatch(struct core *core, struct session *s, struct request *req)
{
    if (req->op == OP_AUTH) {
        access_auth(core, s, req);
        return;
    }
    if (!access_allows(core, s, req))
        return;
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
        break;
    case OP_PING:
        core_ping(core, s, req);
        break;
    }
}

static int core_parse(const unsigned char *buf, size_t len, bool is_binary, struct request *req,
                      struct request_error *err)
{
    return is_binary ? envelope_parse_binary(buf, len, req, err)
                     : envelope_parse_text((const char *)buf, len, req, err);
}

static void core_handle_frame(struct core *core, struct session *s, const unsigned char *buf,
                              size_t len, bool is_binary)
{
    struct request req;
    struct request_error err;
    if (core_parse(buf, len, is_binary, &req, &err) < 0) {
        core_reply_error(core, s, &err);
        return;
    }
    core_dispatch(core, s, &req);
    request_clear(&req);
}

void core_process_deferred(struct core *core, struct session *s)
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
            core_reply_error(core, s, &err);
        }
        return;
    }
    core_handle_frame(core, s, buf, len, is_binary);
}

/* A frame over the rate limit: refused with the request's id when it has
 * one, or the connection closed with 4029 when the refusals pass the limit. */
static void core_refuse_rate(struct core *core, struct session *s, const unsigned char *buf,
                             size_t len, bool is_binary, bool abusive)
{
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
    if (core_parse(buf, len, is_binary, &req, &ignored) == 0) {
        err.has_id = req.has_id;
        err.id = req.id;
        request_clear(&req);
    }
    core_reply_error(core, s, &err);
}

void core_session_receive(struct core *core, struct session *s, const unsigned char *buf,
                          size_t len, bool is_binary)
{
    if (!session_is_open(s))
        return;
    bool abusive = false;
    if (!session_rate_allow(s, core->cfg->max_rate, core_now_ms(), &abusive)) {
        core_refuse_rate(core, s, buf, len, is_binary, abusive);
        return;
    }
    core_session_request(core, s, buf, len, is_binary);
}

/* --- sessions ------------------------------------------------------------ */

struct session *core_add_session(struct core *core, const struct transport *transport, void *conn)
{
    struct session *s = session_new(transport, conn, (size_t)core->cfg->max_backlog);
    if (!s)
        return NULL;
    s->dropped_counter = &core->counters.messages_dropped;
    s->conflated_counter = &core->counters.messages_conflated;
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

struct session *core_session_open(struct core *core, const struct transport *transport, void *conn,
                                  const char *token)
{
    struct session *s = core_add_session(core, transport, conn);
    if (!s)
        return NULL;
    access_session_start(core, s);
    if (token && access_session_token(core, s, token, strlen(token)) < 0)
        return s; /* refused: the error and 4001, no welcome */
    struct answer_welcome welcome = {
        .client = s->id,
        .epoch = store_epoch(core->store),
        .seq = core->last_delivered_seq,
        .heartbeat = core->cfg->heartbeat,
        .max_message = core->cfg->max_message,
    };
    core_reply(core, s, false, 0, answer_welcome(&welcome));
    return s;
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
    session_detach(s);
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
    if (sr->op == STORE_FEED) {
        core_finish_feed(core, sr);
        return;
    }
    if (sr->op == STORE_PRESENCE) {
        presence_remote(core->presence, sr->presence, sr->n_presence, sr->presence_snapshot);
        return;
    }
    struct pending *p = sr->owner;
    if (sr->op == STORE_PUBLISH)
        core_finish_publish(core, sr, p);
    if (p->done)
        p->done(p->done_arg, sr);
    else if (sr->op == STORE_HISTORY)
        core_finish_history(core, sr, p);
    if (p->session)
        session_unref(p->session);
    if (!sr->pubs_inline) /* else part of its publish block */
        free(p);
    sr->owner = NULL;
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
        if (sr->op != STORE_FEED && sr->op != STORE_PRESENCE) /* the engine's own */
            core->pending_store--;
        core_finish(core, sr);
        core_req_free(core, sr);
        sr = next;
    }
}

/* --- figures ------------------------------------------------------------- */

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
