/* SPDX-License-Identifier: MIT */
/*
 * wsb_io.c: the frames of a libwsb client on the wire: reading what the
 * broker sends (replies to their requests, messages and presence events to
 * the subscriptions, the welcome to the connection) and writing the queued
 * requests.
 *
 * Owns the receive buffer (a frame may arrive in fragments) and the write
 * copy. Runs on the service thread only, called from the lws callback.
 */
#include "wsb_io.h"

#include "common/binframe.h"
#include "common/growbuf.h"
#include "wsb_conn.h"
#include "wsb_request.h"
#include "wsb_sub.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Integral reals back to integers, where a double holds them exactly:
 * after a parse with JSON_DECODE_INT_AS_REAL every protocol integer (id,
 * seq, ts, counts) reads as an integer again. */
static void io_restore_integers(json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    if (json_is_object(v)) {
        void *tmp;
        json_object_foreach_safe(v, tmp, key, item)
        {
            double d = json_real_value(item);
            if (json_is_real(item) && d == floor(d) && fabs(d) <= 9007199254740991.0)
                json_object_set_new(v, key, json_integer((json_int_t)d));
            else
                io_restore_integers(item);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            double d = json_real_value(item);
            if (json_is_real(item) && d == floor(d) && fabs(d) <= 9007199254740991.0)
                json_array_set_new(v, i, json_integer((json_int_t)d));
            else
                io_restore_integers(item);
        }
    }
}

/* A frame's JSON. An integer beyond 64 bits (valid JSON, which the broker
 * keeps in `data` as it was published) makes jansson refuse the whole
 * text, so it is read again with such numbers as reals. NULL when the frame
 * cannot be read at all. */
static json_t *io_parse(const char *text, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    if (!root && json_error_code(&err) == json_error_numeric_overflow) {
        root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &err);
        io_restore_integers(root);
    }
    return root;
}

/* A frame the client cannot read is reported, never skipped in silence:
 * an error event, and the request it answers (the broker writes "id"
 * before any user data, so the first "id" is the reply's) fails instead of
 * waiting for its timeout. */
static void io_report_unreadable(wsb_client *c, const char *text, size_t len)
{
    static const char why[] = "a frame from the broker is not JSON this client can read";
    struct wsb_event ev = {
        .type = WSB_EVENT_ERROR, .code = "bad_frame", .message = why, .retry_ms = -1};
    wsb_emit(c, &ev);
    const char *at = memmem(text, len, "\"id\":", 5);
    if (!at)
        return;
    uint64_t id = strtoull(at + 5, NULL, 10);
    struct request *r = id > 0 ? wsb_req_find(c, id) : NULL;
    if (r)
        wsb_req_fail(c, r, WSB_EPROTO, why);
}

static void handle_binary(wsb_client *c, unsigned char *buf, size_t len)
{
    const char *env;
    const unsigned char *payload;
    size_t envlen, paylen;
    struct wsb_message m;
    unsigned char *decoded;

    /* binframe_split leaves an empty envelope to the JSON parser; the
     * client refuses it here, with the malformed prefix, as one error. */
    if (binframe_split(buf, len, &env, &envlen, &payload, &paylen) < 0 || envlen == 0) {
        struct wsb_event ev = {.type = WSB_EVENT_ERROR,
                               .code = "bad_request",
                               .message = "malformed binary frame from the broker",
                               .retry_ms = -1};
        wsb_emit(c, &ev);
        return;
    }
    json_t *root = io_parse(env, envlen);
    if (!root) {
        io_report_unreadable(c, env, envlen);
        return;
    }
    const char *op = json_string_value(json_object_get(root, "op"));
    if (op && strcmp(op, "message") == 0 &&
        wsb_message_from_json(env, envlen, root, &m, &decoded) == 0) {
        free(decoded);
        buf[len] = '\0'; /* the rx buffer always has room for it */
        m.data = (const char *)payload;
        m.len = paylen;
        m.binary = 1;
        wsb_dispatch_message(c, &m);
    }
    json_decref(root);
}

static void handle_text_message(wsb_client *c, char *text, size_t len, json_t *root)
{
    struct wsb_message m;
    unsigned char *decoded;

    if (wsb_message_from_json(text, len, root, &m, &decoded) < 0)
        return;
    if (decoded) {
        wsb_dispatch_message(c, &m);
        free(decoded);
        return;
    }
    /* Terminate the data in place for the callback, then restore it. */
    char *end = (char *)m.data + m.len;
    char saved = *end;
    *end = '\0';
    wsb_dispatch_message(c, &m);
    *end = saved;
}

static void handle_reply(wsb_client *c, char *text, size_t len, json_t *root)
{
    json_int_t id = json_integer_value(json_object_get(root, "id"));
    struct request *r = id > 0 ? wsb_req_find(c, (uint64_t)id) : NULL;

    if (!r) {
        const char *op = json_string_value(json_object_get(root, "op"));
        const char *code = json_string_value(json_object_get(root, "code"));
        if (op && strcmp(op, "error") == 0 && id <= 0 && code &&
            strcmp(code, "token_expired") == 0) {
            wsb_conn_token_expired(c, json_string_value(json_object_get(root, "message")));
        } else if (op && strcmp(op, "error") == 0 && id <= 0) {
            struct wsb_event ev = {
                .type = WSB_EVENT_ERROR,
                .code = code,
                .message = json_string_value(json_object_get(root, "message")),
                .retry_ms = -1,
            };
            if (!ev.message)
                ev.message = "error from the broker";
            wsb_emit(c, &ev);
        }
        json_decref(root);
        return;
    }
    struct wsb_reply_box *box = wsb_reply_from_frame(text, len, root);
    if (r->kind == REQ_SUBSCRIBE) {
        struct sub *s = r->sub;
        wsb_req_untrack(c, r);
        wsb_req_free(r);
        if (!s || !box) {
            wsb_reply_box_free(box);
            return;
        }
        wsb_sub_on_ack(c, s, box);
        return;
    }
    wsb_req_complete(c, r, box);
}

static void handle_text(wsb_client *c, char *text, size_t len)
{
    json_t *root = io_parse(text, len);
    if (!root) {
        io_report_unreadable(c, text, len);
        return;
    }
    const char *op = json_string_value(json_object_get(root, "op"));

    if (!op) {
        json_decref(root);
        return;
    }
    if (strcmp(op, "message") == 0) {
        handle_text_message(c, text, len, root);
    } else if (strcmp(op, "ack") == 0 || strcmp(op, "error") == 0 || strcmp(op, "pong") == 0) {
        handle_reply(c, text, len, root);
        return; /* handle_reply owns root */
    } else if (strcmp(op, "welcome") == 0) {
        wsb_conn_welcome(c, root);
    } else if (strcmp(op, "join") == 0 || strcmp(op, "leave") == 0) {
        wsb_dispatch_presence(c, root, op[0] == 'j');
    }
    json_decref(root);
}

/* Keeps a byte free after the frame: a binary payload is NUL-terminated in
 * place for the callback. */
static int rx_append(wsb_client *c, const void *in, size_t len)
{
    size_t need = c->rx_len + len + 1;
    if (need > RX_LIMIT || growbuf_reserve(&c->rx, &c->rx_cap, need, 4096) < 0)
        return -1;
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    return 0;
}

void wsb_io_receive(wsb_client *c, struct lws *wsi, void *in, size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        c->rx_len = 0;
        c->rx_binary = lws_frame_is_binary(wsi);
    }
    if (rx_append(c, in, len) < 0) {
        wsb_conn_drop(c, "frame from the broker too large");
        return;
    }
    if (!lws_is_final_fragment(wsi))
        return;
    size_t n = c->rx_len;
    c->rx_len = 0;
    wsb_conn_heard(c);
    if (c->rx_binary)
        handle_binary(c, c->rx, n);
    else
        handle_text(c, (char *)c->rx, n);
}

/* Writes queued frames while the socket takes them. */
int wsb_io_writeable(wsb_client *c, struct lws *wsi)
{
    size_t max = atomic_load(&c->max_message);
    for (int n = 0; n < WRITE_BURST && c->outq_head; n++) {
        if (lws_partial_buffered(wsi))
            break;
        struct request *r = wsb_outq_pop(c);
        if (max && r->len > max) {
            wsb_req_fail(c, r, WSB_ETOOBIG, "frame larger than the broker's max_message");
            continue;
        }
        /* lws masks a client frame in place: write a copy, so that the
         * original can be sent again after a reconnect. */
        if (LWS_PRE + r->len > c->tx_cap) {
            unsigned char *tx = realloc(c->tx, LWS_PRE + r->len);
            if (!tx)
                return -1;
            c->tx = tx;
            c->tx_cap = LWS_PRE + r->len;
        }
        memcpy(c->tx + LWS_PRE, r->buf + LWS_PRE, r->len);
        int type = r->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
        if (lws_write(wsi, c->tx + LWS_PRE, r->len, (enum lws_write_protocol)type) < 0)
            return -1;
        if (lws_send_pipe_choked(wsi))
            break;
    }
    if (c->outq_head)
        lws_callback_on_writable(wsi);
    return 0;
}
