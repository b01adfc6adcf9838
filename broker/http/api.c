/* SPDX-License-Identifier: MIT */
/*
 * api.c: POST /api/publish, GET /api/history, /api/presence and /healthz
 * (see api.h).
 *
 * A call that needs the store (publish, history) keeps a small refcounted
 * `api_call`: one reference for the connection, one for the store request.
 * When the result comes back the reply is formatted and the connection asks
 * for a writable callback; if the client left meanwhile the reply is
 * dropped.
 *
 * A publish is admitted before its body is read (docs/limits.md): its
 * address's rate bucket (--max-rate) and its declared length, reserved
 * from the body budgets (peers.c) until the body is parsed, are checked
 * first, and a refusal is answered at once (lws then reads the rest of
 * the body without keeping it). The whole body must arrive within
 * --http-body-timeout of the request (lws's own timeout starts again at
 * every byte): the router keeps that deadline.
 */
#include "http/api.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/jscan.h"
#include "common/topic.h"
#include "core/core.h"
#include "http/peers.h"
#include "http/query.h"
#include "http/reply.h"
#include "proto/answer.h"
#include "proto/envelope.h"
#include "store/store.h"
#include "util/log.h"
#include "util/sbuf.h"

#define API_BATCH_MAX 1000
/* The largest request body: a batch of messages near max_message each. */
#define API_BODY_FACTOR 16
/* lws 4.1 has no name for it. */
#define API_STATUS_TOO_MANY_REQUESTS 429

struct api_call {
    uint32_t refs;
    struct lws *wsi; /* NULL once the client left */
    struct sbuf body;
    struct peers *peers; /* where body_reserved is counted */
    int peer_slot;
    size_t body_reserved; /* the declared length, until the body is parsed */
    bool body_done;       /* BODY_COMPLETION was handled */
    bool is_batch;
    struct http_access access; /* what its credential may publish, and its user */
    /* the reply, once known */
    bool ready;
    unsigned int status;
    struct sbuf reply;
};

static struct api_call *api_call_new(struct lws *wsi)
{
    struct api_call *call = calloc(1, sizeof(*call));
    if (call) {
        call->refs = 1;
        call->wsi = wsi;
    }
    return call;
}

/* Frees the body and gives its reservation back. */
static void api_call_drop_body(struct api_call *call)
{
    sbuf_free(&call->body);
    if (call->body_reserved > 0)
        peers_release_body(call->peers, call->peer_slot, call->body_reserved);
    call->body_reserved = 0;
}

static void api_call_unref(struct api_call *call)
{
    if (!call || --call->refs > 0)
        return;
    api_call_drop_body(call);
    sbuf_free(&call->reply);
    http_access_free(&call->access);
    free(call);
}

/* Sets the reply and wakes the connection (if it is still there). */
static void api_call_reply(struct api_call *call, unsigned int status, struct sbuf *body)
{
    call->status = status;
    call->reply = *body;
    sbuf_init(body);
    call->ready = true;
    if (call->wsi)
        lws_callback_on_writable(call->wsi);
}

static void api_call_error(struct api_call *call, unsigned int status, const char *code,
                           const char *message)
{
    struct sbuf b;
    sbuf_init(&b);
    reply_error_body(&b, code, message);
    api_call_reply(call, status, &b);
}

static unsigned int api_status_for(const char *code)
{
    if (strcmp(code, ERR_FORBIDDEN) == 0)
        return HTTP_STATUS_FORBIDDEN;
    if (strcmp(code, ERR_UNAUTHORIZED) == 0)
        return HTTP_STATUS_UNAUTHORIZED;
    if (strcmp(code, ERR_TOO_LARGE) == 0)
        return HTTP_STATUS_REQ_ENTITY_TOO_LARGE;
    if (strcmp(code, ERR_UNAVAILABLE) == 0 || strcmp(code, ERR_INTERNAL) == 0)
        return HTTP_STATUS_SERVICE_UNAVAILABLE;
    return HTTP_STATUS_BAD_REQUEST;
}

/* --- POST /api/publish --------------------------------------------------- */

/* `data` as it arrived (docs/protocol.md section 2: data is delivered as published),
 * or a compact re-serialization when its bytes cannot be told for sure. */
static unsigned char *api_data_text(json_t *data, const struct jspan *raw, size_t *len)
{
    if (raw && raw->p) {
        *len = (size_t)(raw->end - raw->p);
        unsigned char *bytes = malloc(*len + 1);
        if (bytes) {
            memcpy(bytes, raw->p, *len);
            bytes[*len] = '\0';
        }
        return bytes;
    }
    unsigned char *bytes = (unsigned char *)envelope_dump_value(data);
    *len = bytes ? strlen((char *)bytes) : 0;
    return bytes;
}

/* A message's "expect_last" (docs/protocol.md section 11), when present. */
static int api_parse_expect_last(json_t *obj, struct store_pub *pub, struct request_error *err)
{
    json_t *expect = json_object_get(obj, "expect_last");
    if (!expect)
        return 0;
    json_int_t value = json_is_integer(expect) ? json_integer_value(expect) : -1;
    if (value < 0 || (uint64_t)value > ENVELOPE_MAX_ID) {
        request_error_set(err, NULL, ERR_BAD_REQUEST,
                          "\"expect_last\" must be an integer 0..9007199254740991");
        return -1;
    }
    pub->has_expect_last = true;
    pub->expect_last = (uint64_t)value;
    return 0;
}

/* Fills pub from one message object {"topic","data","key"?,"encoding"?};
 * `raw` is the object's bytes in the body (its p is NULL when unknown). */
static int api_parse_message(const struct http_ctx *ctx, json_t *obj, const struct jspan *raw,
                             const char *user, struct store_pub *pub, struct request_error *err)
{
    json_t *topic = json_object_get(obj, "topic"), *data = json_object_get(obj, "data");
    json_t *key = json_object_get(obj, "key"), *encoding = json_object_get(obj, "encoding");
    const char *why = NULL;
    if (!json_is_object(obj) || !json_is_string(topic) || !data || (key && !json_is_string(key)) ||
        (encoding && !json_is_string(encoding))) {
        request_error_set(err, NULL, ERR_BAD_REQUEST,
                          "a message is {\"topic\": name, \"data\": value, \"key\"?: string}");
        return -1;
    }
    const char *name = json_string_value(topic);
    if (topic_validate_name(name, strlen(name), &why) < 0) {
        request_error_set(err, NULL, ERR_INVALID_TOPIC, "invalid topic: %s", why);
        return -1;
    }
    const char *key_text = key ? json_string_value(key) : NULL;
    if (key_text && (!key_text[0] || strlen(key_text) > ENVELOPE_MAX_KEY)) {
        request_error_set(err, NULL, ERR_BAD_REQUEST, "\"key\" must be 1..255 bytes");
        return -1;
    }
    if (api_parse_expect_last(obj, pub, err) < 0)
        return -1;
    bool binary = encoding && strcmp(json_string_value(encoding), "base64") == 0;
    if (encoding && !binary) {
        request_error_set(err, NULL, ERR_BAD_REQUEST, "\"encoding\" can only be \"base64\"");
        return -1;
    }
    unsigned char *bytes;
    size_t len;
    if (binary) {
        const char *b64 = json_is_string(data) ? json_string_value(data) : NULL;
        if (!b64 || base64_decode_strict(b64, strlen(b64), &bytes, &len) < 0) {
            request_error_set(err, NULL, ERR_BAD_REQUEST, "\"data\" is not valid base64");
            return -1;
        }
    } else {
        struct jspan data_raw = {NULL, NULL};
        if (raw->p && !jscan_member(raw->p, raw->end, "data", &data_raw))
            data_raw.p = NULL;
        bytes = api_data_text(data, &data_raw, &len);
    }
    return core_prepare_pub(ctx->core, pub, name, user, binary, bytes, len, key_text, err);
}

/* 409: an expect_last of the request did not hold; nothing was stored. */
static void api_publish_conflict(struct api_call *call, uint64_t last)
{
    char why[96];
    snprintf(why, sizeof(why), "expect_last does not hold: the topic's newest seq is %llu",
             (unsigned long long)last);
    struct sbuf b;
    sbuf_init(&b);
    reply_error_body(&b, ERR_CONFLICT, why);
    if (!sbuf_failed(&b) && b.len >= 2)
        b.len -= 2; /* reopen {"error":{...}} to add "last" */
    sbuf_add_str(&b, ",\"last\":");
    sbuf_add_u64(&b, last);
    sbuf_add_str(&b, "}}");
    api_call_reply(call, HTTP_STATUS_CONFLICT, &b);
}

static void api_publish_done(void *arg, struct store_req *sr)
{
    struct api_call *call = arg;
    if (sr->status == STORE_CONFLICT) {
        api_publish_conflict(call, sr->conflict_last);
    } else if (sr->status != STORE_OK) {
        char why[96];
        store_failure_text(sr, "written", why, sizeof(why));
        api_call_error(call, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_UNAVAILABLE, why);
    } else {
        struct sbuf b;
        sbuf_init(&b);
        if (call->is_batch) {
            sbuf_add_str(&b, "{\"seqs\":[");
            for (size_t i = 0; i < sr->n_pubs; i++) {
                if (i)
                    sbuf_add(&b, ",", 1);
                sbuf_add_u64(&b, sr->pubs[i].msg.seq);
            }
            sbuf_add_str(&b, "]}");
        } else {
            sbuf_add_str(&b, "{\"seq\":");
            sbuf_add_u64(&b, sr->pubs[0].msg.seq);
            sbuf_add_str(&b, sr->pubs[0].duplicate ? ",\"duplicate\":true}" : "}");
        }
        api_call_reply(call, HTTP_STATUS_OK, &b);
    }
    api_call_unref(call);
}

/* Where each message object is in the (jansson-validated) body, so that
 * its `data` can be kept as sent; NULL when that cannot be told. */
static struct jspan *api_message_spans(const struct api_call *call, size_t n)
{
    const char *body = call->body.data ? call->body.data : "";
    const char *end = body + call->body.len;
    struct jspan *spans = calloc(n, sizeof(*spans));
    struct jspan messages;
    if (!spans)
        return NULL;
    if (!call->is_batch) {
        spans[0] = (struct jspan){body, end};
        return spans;
    }
    if (jscan_member(body, end, "messages", &messages) &&
        jscan_items(messages.p, messages.end, spans, n) == (long)n)
        return spans;
    free(spans);
    return NULL;
}

/* The body as jansson values. A number jansson cannot hold as an integer
 * (beyond 64 bits) is read again as a double: the body has no integer
 * fields, and each `data` is kept as its bytes anyway, so such a number is
 * taken as a WebSocket publish takes it. */
static json_t *api_publish_body(const struct api_call *call)
{
    const char *body = call->body.data ? call->body.data : "";
    json_error_t jerr;
    json_t *root = json_loadb(body, call->body.len, 0, &jerr);
    if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
        root = json_loadb(body, call->body.len, JSON_DECODE_INT_AS_REAL, &jerr);
    return root;
}

/* Validates the whole body (one bad message: nothing is published) and
 * submits it as one store request, hence one transaction. */
static void api_publish(const struct http_ctx *ctx, struct api_call *call)
{
    json_t *root = api_publish_body(call);
    json_t *messages = root ? json_object_get(root, "messages") : NULL;
    if (!json_is_object(root) || (messages && !json_is_array(messages))) {
        json_decref(root);
        api_call_error(call, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                       "the body must be a JSON object: a message or {\"messages\": [...]}");
        return;
    }
    call->is_batch = messages != NULL;
    size_t n = messages ? json_array_size(messages) : 1;
    if (n == 0 || n > API_BATCH_MAX) {
        json_decref(root);
        api_call_error(call, n ? HTTP_STATUS_REQ_ENTITY_TOO_LARGE : HTTP_STATUS_BAD_REQUEST,
                       n ? ERR_TOO_LARGE : ERR_BAD_REQUEST, "a batch holds 1..1000 messages");
        return;
    }
    struct store_req *sr = calloc(1, sizeof(*sr));
    if (sr)
        sr->pubs = calloc(n, sizeof(*sr->pubs));
    if (!sr || !sr->pubs) {
        store_req_free(sr);
        json_decref(root);
        api_call_error(call, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL, "out of memory");
        return;
    }
    sr->op = STORE_PUBLISH;
    struct request_error err = {0};
    struct jspan *raws = api_message_spans(call, n);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = messages ? json_array_get(messages, i) : root;
        struct jspan unknown = {NULL, NULL};
        sr->n_pubs = i + 1;
        if (api_parse_message(ctx, obj, raws ? &raws[i] : &unknown, call->access.principal.user,
                              &sr->pubs[i], &err) < 0)
            break;
        if (!http_access_may_publish(&call->access, sr->pubs[i].msg.topic)) {
            request_error_set(&err, NULL,
                              call->access.has_credential ? ERR_FORBIDDEN : ERR_UNAUTHORIZED,
                              "publish to %s is not allowed", sr->pubs[i].msg.topic);
            break;
        }
        err.code = NULL;
    }
    free(raws);
    json_decref(root);
    if (err.code) {
        store_req_free(sr);
        api_call_error(call, api_status_for(err.code), err.code, err.message);
        return;
    }
    call->refs++;
    core_submit_external(ctx->core, sr, api_publish_done, call);
}

/* --- GET /api/history ---------------------------------------------------- */

static void api_history_done(void *arg, struct store_req *sr)
{
    struct api_call *call = arg;
    if (sr->status != STORE_OK) {
        char why[96];
        store_failure_text(sr, "read", why, sizeof(why));
        api_call_error(call, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_UNAVAILABLE, why);
    } else {
        struct sbuf b;
        sbuf_init(&b);
        sbuf_add(&b, "{", 1);
        answer_append_messages(&b, sr->msgs, sr->n_msgs);
        sbuf_add_str(&b, sr->recovered ? ",\"recovered\":true" : ",\"recovered\":false");
        sbuf_add_str(&b, sr->more ? ",\"more\":true}" : ",\"more\":false}");
        api_call_reply(call, HTTP_STATUS_OK, &b);
    }
    api_call_unref(call);
}

/* Reads and validates `topic`; a pattern when pattern_ok. Responds on error. */
static int api_topic_arg(const struct http_ctx *ctx, struct lws *wsi, char *topic, int len,
                         bool pattern_ok)
{
    const char *why = "missing";
    if (query_arg(wsi, "topic", topic, len) < 0 ||
        topic_validate_pattern(topic, strlen(topic), &why) < 0) {
        char message[128];
        snprintf(message, sizeof(message), "invalid topic: %s", why);
        reply_send_error(wsi, ctx->cfg, HTTP_STATUS_BAD_REQUEST, ERR_INVALID_TOPIC, message);
        return -1;
    }
    if (!pattern_ok && topic_is_pattern(topic)) {
        reply_send_error(wsi, ctx->cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                         "this endpoint needs a topic name, not a pattern");
        return -1;
    }
    return 0;
}

int api_history(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    char topic[TOPIC_MAX_LEN + 2];
    uint64_t since = 0, limit = ENVELOPE_HISTORY_DEFAULT;
    if (api_topic_arg(ctx, wsi, topic, sizeof(topic), true) < 0)
        return 0;
    int has_limit = query_arg_u64(wsi, "limit", &limit);
    if (query_arg_u64(wsi, "since", &since) < 0 || has_limit < 0 ||
        (has_limit && (limit < 1 || limit > ENVELOPE_HISTORY_MAX)))
        return reply_send_error(wsi, ctx->cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                "since must be a seq and limit 1..1000");
    struct store_req *sr = calloc(1, sizeof(*sr));
    conn->call = api_call_new(wsi);
    if (!sr || !conn->call || !(sr->pattern = strdup(topic))) {
        store_req_free(sr);
        return reply_send_error(wsi, ctx->cfg, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL,
                                "out of memory");
    }
    sr->op = STORE_HISTORY;
    sr->since = since;
    sr->limit = (uint32_t)limit;
    /* Bounded like the WebSocket reply: `more` says where to page on. */
    sr->max_bytes = (size_t)ctx->cfg->max_message;
    conn->call->refs++;
    core_submit_external(ctx->core, sr, api_history_done, conn->call);
    return 0;
}

/* --- GET /api/presence and /healthz ------------------------------------- */

int api_presence(const struct http_ctx *ctx, struct lws *wsi)
{
    char topic[TOPIC_MAX_LEN + 2];
    if (api_topic_arg(ctx, wsi, topic, sizeof(topic), false) < 0)
        return 0;
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_str(&b, "{\"topic\":");
    sbuf_add_json_string(&b, topic);
    sbuf_add_str(&b, ",\"members\":");
    core_append_presence(ctx->core, topic, &b);
    sbuf_add(&b, "}", 1);
    int rc = reply_send(wsi, ctx->cfg, HTTP_STATUS_OK, "application/json", b.data, b.len);
    sbuf_free(&b);
    return rc;
}

int api_healthz(const struct http_ctx *ctx, struct lws *wsi)
{
    const struct config *cfg = ctx->cfg;
    if (store_healthy(ctx->store)) {
        static const char ok[] = "{\"status\":\"ok\"}";
        return reply_send(wsi, cfg, HTTP_STATUS_OK, "application/json", ok, sizeof(ok) - 1);
    }
    static const char bad[] = "{\"status\":\"unavailable\",\"error\":{\"code\":\"unavailable\","
                              "\"message\":\"the message store cannot be written\"}}";
    return reply_send(wsi, cfg, HTTP_STATUS_SERVICE_UNAVAILABLE, "application/json", bad,
                      sizeof(bad) - 1);
}

/* --- the call's callbacks ------------------------------------------------ */

/* Checks the address's rate and reserves the body; answers a refusal at
 * once (lws then discards the body). Returns 1 when admitted (slot set),
 * else the callback's return value after the answer. */
static int api_admit(struct http_ctx *ctx, struct lws *wsi, size_t body_len, int *slot)
{
    char addr[PEERS_ADDR_MAX];
    if (!lws_get_peer_simple(wsi, addr, sizeof(addr)))
        snprintf(addr, sizeof(addr), "?");
    int64_t now_us = clock_mono_us();
    *slot = peers_find(&ctx->peers, addr, now_us);
    if (*slot < 0)
        return reply_send_error(wsi, ctx->cfg, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_UNAVAILABLE,
                                "too many clients are sending bodies now; retry later");
    long rate = ctx->cfg->max_rate;
    if (rate > 0 && !peers_take_publish(&ctx->peers, *slot, rate, now_us))
        return reply_send_error(wsi, ctx->cfg, API_STATUS_TOO_MANY_REQUESTS, ERR_RATE_LIMITED,
                                "publishes from this address are over --max-rate");
    switch (peers_reserve_body(&ctx->peers, *slot, body_len)) {
    case PEERS_OK:
        return 1;
    case PEERS_BUDGET_SPENT:
        return reply_send_error(wsi, ctx->cfg, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_UNAVAILABLE,
                                "the broker holds all the request bodies it may; retry later");
    case PEERS_SHARE_SPENT:
        break;
    }
    return reply_send_error(wsi, ctx->cfg, API_STATUS_TOO_MANY_REQUESTS, ERR_RATE_LIMITED,
                            "this address holds all the request bodies it may; retry later");
}

size_t api_body_max(const struct http_ctx *ctx)
{
    return (size_t)ctx->cfg->max_message * API_BODY_FACTOR;
}

int api_publish_begin(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn,
                      size_t body_len, struct http_access *access)
{
    int slot;
    int admitted = api_admit(ctx, wsi, body_len, &slot);
    if (admitted != 1) {
        http_access_free(access);
        return admitted;
    }
    conn->call = api_call_new(wsi);
    if (!conn->call) {
        http_access_free(access);
        peers_release_body(&ctx->peers, slot, body_len);
        return -1;
    }
    conn->call->access = *access;
    if (access->grants == &access->principal.grants)
        conn->call->access.grants = &conn->call->access.principal.grants;
    conn->call->peers = &ctx->peers;
    conn->call->peer_slot = slot;
    conn->call->body_reserved = body_len;
    return 0; /* the body follows */
}

int api_body(struct http_conn *conn, const void *in, size_t len)
{
    struct api_call *call = conn->call;
    if (!call || call->body_done)
        return 0;
    if (call->body.len + len > call->body_reserved)
        return -1; /* lws reads only the declared length: not reached */
    sbuf_add(&call->body, in, len);
    return 0;
}

int api_body_done(const struct http_ctx *ctx, struct http_conn *conn)
{
    struct api_call *call = conn->call;
    if (!call)
        return -1;
    if (call->body_done) {
        /* lws 4.1 stays in its body state after a completion that is
         * answered later, and calls the completion again for every byte of
         * a request pipelined behind the POST, forever. Such a client gets
         * its connection closed (its publish was taken: a retry with the
         * same key is answered as a duplicate). */
        log_warn("http: a request was pipelined behind a POST; closing that connection");
        return -1;
    }
    call->body_done = true;
    if (sbuf_failed(&call->body))
        api_call_error(call, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL, "out of memory");
    else
        api_publish(ctx, call);
    api_call_drop_body(call);
    return 0;
}

int api_writeable(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    struct api_call *call = conn->call;
    if (!call || !call->ready)
        return 0;
    /* The connection may carry another request next (keep-alive): this
     * one is done with it. */
    conn->call = NULL;
    call->wsi = NULL;
    int rc = reply_send(wsi, ctx->cfg, call->status, "application/json",
                        call->reply.data ? call->reply.data : "", call->reply.len);
    api_call_unref(call);
    return rc;
}

void api_release(struct http_conn *conn)
{
    if (!conn->call)
        return;
    conn->call->wsi = NULL;
    api_call_unref(conn->call);
    conn->call = NULL;
}
