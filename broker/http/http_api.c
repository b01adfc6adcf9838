/*
 * http_api.c: /api/publish, /api/history, /api/presence, /api/stats,
 * /metrics and /sse (see http_api.h).
 *
 * A call that needs the store (publish, history) keeps a small refcounted
 * `http_req`: one reference for the connection, one for the store request.
 * When the result comes back the reply is formatted and the connection asks
 * for a writable callback; if the client left meanwhile the reply is
 * dropped. An SSE stream is a core session that only takes message events.
 */
#include "http/http_api.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "proto/envelope.h"
#include "common/base64.h"
#include "common/jscan.h"
#include "util/log.h"
#include "http/metrics.h"
#include "util/sbuf.h"
#include "common/topic.h"

#define HTTP_BATCH_MAX 1000
#define SSE_MAX_TOPICS 16
/* The largest request body: a batch of messages near max_message each. */
#define HTTP_BODY_FACTOR 16

struct http_req {
    uint32_t refs;
    struct lws *wsi; /* NULL once the client left */
    struct sbuf body;
    bool body_too_large;
    bool body_done; /* BODY_COMPLETION was handled */
    bool is_batch;
    /* the reply, once known */
    bool ready;
    unsigned int status;
    struct sbuf reply;
};

static struct http_req *http_req_new(struct lws *wsi)
{
    struct http_req *req = calloc(1, sizeof(*req));
    if (req) {
        req->refs = 1;
        req->wsi = wsi;
    }
    return req;
}

static void http_req_unref(struct http_req *req)
{
    if (!req || --req->refs > 0)
        return;
    sbuf_free(&req->body);
    sbuf_free(&req->reply);
    free(req);
}

/* Sets the reply and wakes the connection (if it is still there). */
static void http_req_reply(struct http_req *req, unsigned int status, struct sbuf *body)
{
    req->status = status;
    req->reply = *body;
    sbuf_init(body);
    req->ready = true;
    if (req->wsi)
        lws_callback_on_writable(req->wsi);
}

static void http_req_error(struct http_req *req, unsigned int status, const char *code,
                           const char *message)
{
    struct sbuf b;
    sbuf_init(&b);
    http_error_body(&b, code, message);
    http_req_reply(req, status, &b);
}

static unsigned int http_status_for(const char *code)
{
    if (strcmp(code, ERR_FORBIDDEN) == 0)
        return HTTP_STATUS_FORBIDDEN;
    if (strcmp(code, ERR_TOO_LARGE) == 0)
        return HTTP_STATUS_REQ_ENTITY_TOO_LARGE;
    if (strcmp(code, ERR_UNAVAILABLE) == 0 || strcmp(code, ERR_INTERNAL) == 0)
        return HTTP_STATUS_SERVICE_UNAVAILABLE;
    return HTTP_STATUS_BAD_REQUEST;
}

/* --- query strings ------------------------------------------------------- */

/* Copies the value of `name` (first occurrence); -1 when absent. */
static int http_arg(struct lws *wsi, const char *name, char *out, int outlen)
{
    char key[32];
    snprintf(key, sizeof(key), "%s=", name);
    /* lws copies the whole "name=value" and points past the "name=". */
    const char *value = lws_get_urlarg_by_name(wsi, key, out, outlen);
    if (!value)
        return -1;
    memmove(out, value, strlen(value) + 1);
    return 0;
}

/* Parses an unsigned integer argument; 0 absent, 1 present, -1 malformed. */
static int http_arg_u64(struct lws *wsi, const char *name, uint64_t *out)
{
    char buf[32];
    if (http_arg(wsi, name, buf, sizeof(buf)) < 0)
        return 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (!buf[0] || *end || buf[0] == '-')
        return -1;
    *out = v;
    return 1;
}

/* --- POST /api/publish --------------------------------------------------- */

/* `data` as it arrived (see the README: data is delivered as published),
 * or a compact re-serialization when its bytes cannot be told for sure. */
static unsigned char *http_data_text(json_t *data, const struct jspan *raw, size_t *len)
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

/* Fills pub from one message object {"topic","data","key"?,"encoding"?};
 * `raw` is the object's bytes in the body (its p is NULL when unknown). */
static int http_parse_message(struct http_ctx *ctx, json_t *obj, const struct jspan *raw,
                              struct store_pub *pub, struct request_error *err)
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
        bytes = http_data_text(data, &data_raw, &len);
    }
    return core_prepare_pub(ctx->core, pub, name, NULL, binary, bytes, len, key_text, err);
}

static void http_publish_done(void *arg, struct store_req *sr)
{
    struct http_req *req = arg;
    if (sr->status != STORE_OK) {
        http_req_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_UNAVAILABLE,
                       "the message store cannot be written now");
    } else {
        struct sbuf b;
        sbuf_init(&b);
        if (req->is_batch) {
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
        http_req_reply(req, HTTP_STATUS_OK, &b);
    }
    http_req_unref(req);
}

/* Where each message object is in the (jansson-validated) body, so that
 * its `data` can be kept as sent; NULL when that cannot be told. */
static struct jspan *http_message_spans(const struct http_req *req, size_t n)
{
    const char *body = req->body.data ? req->body.data : "";
    const char *end = body + req->body.len;
    struct jspan *spans = calloc(n, sizeof(*spans));
    struct jspan messages;
    if (!spans)
        return NULL;
    if (!req->is_batch) {
        spans[0] = (struct jspan){body, end};
        return spans;
    }
    if (jscan_member(body, end, "messages", &messages) &&
        jscan_items(messages.p, messages.end, spans, n) == (long)n)
        return spans;
    free(spans);
    return NULL;
}

/* Validates the whole body (one bad message: nothing is published) and
 * submits it as one store request, hence one transaction. */
/* The body as jansson values. A number jansson cannot hold as an integer
 * (beyond 64 bits) is read again as a double: the body has no integer
 * fields, and each `data` is kept as its bytes anyway, so such a number is
 * taken as a WebSocket publish takes it. */
static json_t *http_publish_body(const struct http_req *req)
{
    const char *body = req->body.data ? req->body.data : "";
    json_error_t jerr;
    json_t *root = json_loadb(body, req->body.len, 0, &jerr);
    if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
        root = json_loadb(body, req->body.len, JSON_DECODE_INT_AS_REAL, &jerr);
    return root;
}

static void http_publish(struct http_ctx *ctx, struct http_req *req)
{
    json_t *root = http_publish_body(req);
    json_t *messages = root ? json_object_get(root, "messages") : NULL;
    if (!json_is_object(root) || (messages && !json_is_array(messages))) {
        json_decref(root);
        http_req_error(req, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                       "the body must be a JSON object: a message or {\"messages\": [...]}");
        return;
    }
    req->is_batch = messages != NULL;
    size_t n = messages ? json_array_size(messages) : 1;
    if (n == 0 || n > HTTP_BATCH_MAX) {
        json_decref(root);
        http_req_error(req, n ? HTTP_STATUS_REQ_ENTITY_TOO_LARGE : HTTP_STATUS_BAD_REQUEST,
                       n ? ERR_TOO_LARGE : ERR_BAD_REQUEST, "a batch holds 1..1000 messages");
        return;
    }
    struct store_req *sr = calloc(1, sizeof(*sr));
    if (sr)
        sr->pubs = calloc(n, sizeof(*sr->pubs));
    if (!sr || !sr->pubs) {
        store_req_free(sr);
        json_decref(root);
        http_req_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL, "out of memory");
        return;
    }
    sr->op = STORE_PUBLISH;
    struct request_error err = {0};
    struct jspan *raws = http_message_spans(req, n);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = messages ? json_array_get(messages, i) : root;
        struct jspan unknown = {NULL, NULL};
        sr->n_pubs = i + 1;
        if (http_parse_message(ctx, obj, raws ? &raws[i] : &unknown, &sr->pubs[i], &err) < 0)
            break;
        err.code = NULL;
    }
    free(raws);
    json_decref(root);
    if (err.code) {
        store_req_free(sr);
        http_req_error(req, http_status_for(err.code), err.code, err.message);
        return;
    }
    req->refs++;
    core_submit_external(ctx->core, sr, http_publish_done, req);
}

/* --- GET /api/history ---------------------------------------------------- */

static void http_history_done(void *arg, struct store_req *sr)
{
    struct http_req *req = arg;
    if (sr->status != STORE_OK) {
        http_req_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_UNAVAILABLE,
                       "the message store cannot be read now");
    } else {
        struct sbuf b;
        sbuf_init(&b);
        sbuf_add_str(&b, "{\"messages\":[");
        for (size_t i = 0; i < sr->n_msgs; i++) {
            if (i)
                sbuf_add(&b, ",", 1);
            envelope_append_message_json(&b, &sr->msgs[i]);
        }
        sbuf_add_str(&b, sr->recovered ? "],\"recovered\":true" : "],\"recovered\":false");
        sbuf_add_str(&b, sr->more ? ",\"more\":true}" : ",\"more\":false}");
        http_req_reply(req, HTTP_STATUS_OK, &b);
    }
    http_req_unref(req);
}

/* Reads and validates `topic`; a pattern when pattern_ok. Responds on error. */
static int http_topic_arg(struct lws *wsi, char *topic, int len, bool pattern_ok)
{
    const char *why = "missing";
    if (http_arg(wsi, "topic", topic, len) < 0 ||
        topic_validate_pattern(topic, strlen(topic), &why) < 0) {
        char message[128];
        snprintf(message, sizeof(message), "invalid topic: %s", why);
        http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_INVALID_TOPIC, message);
        return -1;
    }
    if (!pattern_ok && topic_is_pattern(topic)) {
        http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                           "this endpoint needs a topic name, not a pattern");
        return -1;
    }
    return 0;
}

static int http_history(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    char topic[TOPIC_MAX_LEN + 2];
    uint64_t since = 0, limit = ENVELOPE_HISTORY_DEFAULT;
    if (http_topic_arg(wsi, topic, sizeof(topic), true) < 0)
        return 0;
    int has_limit = http_arg_u64(wsi, "limit", &limit);
    if (http_arg_u64(wsi, "since", &since) < 0 || has_limit < 0 ||
        (has_limit && (limit < 1 || limit > ENVELOPE_HISTORY_MAX)))
        return http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                  "since must be a seq and limit 1..1000");
    struct store_req *sr = calloc(1, sizeof(*sr));
    conn->req = http_req_new(wsi);
    if (!sr || !conn->req || !(sr->pattern = strdup(topic))) {
        store_req_free(sr);
        return http_respond_error(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL,
                                  "out of memory");
    }
    sr->op = STORE_HISTORY;
    sr->since = since;
    sr->limit = (uint32_t)limit;
    conn->req->refs++;
    core_submit_external(ctx->core, sr, http_history_done, conn->req);
    return 0;
}

/* --- small GET endpoints ------------------------------------------------- */

static int http_presence(struct http_ctx *ctx, struct lws *wsi)
{
    char topic[TOPIC_MAX_LEN + 2];
    if (http_topic_arg(wsi, topic, sizeof(topic), false) < 0)
        return 0;
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_str(&b, "{\"topic\":");
    sbuf_add_json_string(&b, topic);
    sbuf_add_str(&b, ",\"members\":");
    core_append_presence(ctx->core, topic, &b);
    sbuf_add(&b, "}", 1);
    int rc = http_respond(wsi, HTTP_STATUS_OK, "application/json", b.data, b.len);
    sbuf_free(&b);
    return rc;
}

static int http_metrics(struct http_ctx *ctx, struct lws *wsi, bool prometheus)
{
    struct sbuf b;
    sbuf_init(&b);
    if (prometheus)
        metrics_render_prometheus(ctx->core, ctx->store, &b);
    else
        metrics_render_stats(ctx->core, ctx->store, &b);
    int rc = sbuf_failed(&b)
                 ? -1
                 : http_respond(wsi, HTTP_STATUS_OK,
                                prometheus ? "text/plain; version=0.0.4" : "application/json",
                                b.data, b.len);
    sbuf_free(&b);
    return rc;
}

/* --- GET /sse ------------------------------------------------------------ */

static int http_sse_headers(struct lws *wsi)
{
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers) - 1;
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/event-stream",
                                    LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-cache", 8, &p, end) ||
        http_add_cors_headers(wsi, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

/* The resume point: Last-Event-ID (sent by EventSource on reconnect) wins
 * over ?since=. Returns 0 none, 1 found, -1 malformed. */
static int http_sse_since(struct lws *wsi, uint64_t *since)
{
    char id[32];
    int n = lws_hdr_custom_copy(wsi, id, sizeof(id), "last-event-id:", 14);
    if (n > 0) {
        char *end;
        *since = strtoull(id, &end, 10);
        return *end || id[0] == '-' ? -1 : 1;
    }
    return http_arg_u64(wsi, "since", since);
}

static void http_sse_send(struct session *s, const char *text)
{
    session_send_raw(s, frame_from_text(text, strlen(text)));
}

static int http_sse(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    char topics[SSE_MAX_TOPICS][TOPIC_MAX_LEN + 8];
    int n_topics = 0;
    for (int i = 0;; i++) {
        char arg[TOPIC_MAX_LEN + 8];
        if (lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            break;
        if (strncmp(arg, "topic=", 6) != 0)
            continue;
        if (n_topics == SSE_MAX_TOPICS)
            return http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                      "at most 16 topic parameters");
        const char *why = NULL;
        if (topic_validate_pattern(arg + 6, strlen(arg + 6), &why) < 0)
            return http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_INVALID_TOPIC, why);
        snprintf(topics[n_topics++], sizeof(topics[0]), "%s", arg + 6);
    }
    uint64_t since = 0;
    int has_since = http_sse_since(wsi, &since);
    if (n_topics == 0 || has_since < 0)
        return http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                  "give 1..16 topic= parameters and an optional numeric since");
    if (http_sse_headers(wsi) < 0)
        return -1;
    /* An event stream is long-lived: no idle timeout (lws_http_mark_sse
     * is for h2 streams in lws 4.1). */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    conn->sse = conn_open_sse(ctx->core, wsi);
    if (!conn->sse)
        return -1;
    char hello[160];
    snprintf(hello, sizeof(hello), "retry: 2000\n: wsbroker client %s epoch %s\n\n",
             conn->sse->session->id, store_epoch(ctx->store));
    http_sse_send(conn->sse->session, hello);
    char *patterns[SSE_MAX_TOPICS];
    for (int i = 0; i < n_topics; i++)
        patterns[i] = topics[i];
    core_sse_subscribe(ctx->core, conn->sse->session, patterns, (size_t)n_topics, has_since > 0,
                       since);
    lws_set_timer_usecs(wsi, (lws_usec_t)ctx->cfg->heartbeat * LWS_USEC_PER_SEC);
    return 0;
}

/* --- callbacks ----------------------------------------------------------- */

int http_api_request(struct http_ctx *ctx, struct lws *wsi, const char *uri, struct http_conn *conn)
{
    if (conn->req) { /* a keep-alive request that left before its reply */
        conn->req->wsi = NULL;
        http_req_unref(conn->req);
        conn->req = NULL;
    }
    bool is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    if (strcmp(uri, "/api/publish") == 0) {
        if (!is_post)
            return http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                      "POST a JSON body to /api/publish");
        conn->req = http_req_new(wsi);
        return conn->req ? 0 : -1; /* the body follows */
    }
    if (is_post)
        return http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                  "only /api/publish takes POST");
    if (strcmp(uri, "/api/history") == 0)
        return http_history(ctx, wsi, conn);
    if (strcmp(uri, "/api/presence") == 0)
        return http_presence(ctx, wsi);
    if (strcmp(uri, "/api/stats") == 0)
        return http_metrics(ctx, wsi, false);
    if (strcmp(uri, "/metrics") == 0)
        return http_metrics(ctx, wsi, true);
    if (strcmp(uri, "/sse") == 0)
        return http_sse(ctx, wsi, conn);
    if (strncmp(uri, "/api/", 5) == 0)
        return http_respond_error(wsi, HTTP_STATUS_NOT_FOUND, "not_found", "no such endpoint");
    return -2;
}

int http_api_body(struct http_ctx *ctx, struct http_conn *conn, const void *in, size_t len)
{
    struct http_req *req = conn->req;
    if (!req || req->body_too_large || req->body_done)
        return 0;
    size_t limit = (size_t)ctx->cfg->max_message * HTTP_BODY_FACTOR;
    if (req->body.len + len > limit) {
        req->body_too_large = true;
        sbuf_free(&req->body);
        return 0;
    }
    sbuf_add(&req->body, in, len);
    return 0;
}

int http_api_body_done(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    struct http_req *req = conn->req;
    if (!req)
        return -1;
    if (req->body_done) {
        /* lws 4.1 stays in its body state after a completion that is
         * answered later, and calls the completion again for every byte of
         * a request pipelined behind the POST, forever. Such a client gets
         * its connection closed (its publish was taken: a retry with the
         * same key is answered as a duplicate). */
        log_warn("http: a request was pipelined behind a POST; closing that connection");
        return -1;
    }
    req->body_done = true;
    if (req->body_too_large)
        http_req_error(req, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, ERR_TOO_LARGE,
                       "the request body is over the limit");
    else if (sbuf_failed(&req->body))
        http_req_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL, "out of memory");
    else
        http_publish(ctx, req);
    (void)wsi;
    return 0;
}

int http_api_writeable(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    (void)ctx;
    if (conn->sse)
        return conn_writeable(conn->sse);
    struct http_req *req = conn->req;
    if (!req || !req->ready)
        return 0;
    /* The connection may carry another request next (keep-alive): this
     * one is done with it. */
    conn->req = NULL;
    req->wsi = NULL;
    int rc = http_respond(wsi, req->status, "application/json",
                          req->reply.data ? req->reply.data : "", req->reply.len);
    http_req_unref(req);
    return rc;
}

int http_api_timer(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    if (!conn->sse)
        return 0;
    http_sse_send(conn->sse->session, ": ping\n\n");
    lws_set_timer_usecs(wsi, (lws_usec_t)ctx->cfg->heartbeat * LWS_USEC_PER_SEC);
    return 0;
}

void http_api_closed(struct http_ctx *ctx, struct http_conn *conn)
{
    if (conn->sse)
        conn_closed(conn->sse, ctx->core);
    conn->sse = NULL;
    if (conn->req) {
        conn->req->wsi = NULL;
        http_req_unref(conn->req);
    }
    conn->req = NULL;
}
