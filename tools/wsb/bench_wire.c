/* SPDX-License-Identifier: MIT */
/*
 * bench_wire.c: what `wsb bench` says on its connections: the WebSocket
 * upgrade, frames written and read by hand (headers from common/wsframe),
 * and the broker frames scanned in place.
 *
 * Built for the load generator never to be the bottleneck on a 2-core
 * machine it shares with the broker: the per-byte frame parser of lws 4.1
 * cost the bench more CPU per delivery than the broker spent sending it,
 * so the connections are lws RAW sockets and incoming frames are scanned
 * in place, a whole read at a time (only a frame cut by the end of a read
 * is copied); outgoing frames are masked with a zero key (valid framing,
 * no XOR) and many leave in one write; nothing is allocated per message:
 * frames are printed into one buffer. A scenario with hooks (bench.h)
 * hears of welcomes, subscribe acks, publish acks and counted messages.
 */
#include "bench.h"

#include "common/growbuf.h"
#include "common/wsframe.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RX_FRAME_LIMIT (64u << 20)

void bwire_note_error(struct bench *b, const char *fmt, const char *detail)
{
    if (!b->st.first_error[0])
        snprintf(b->st.first_error, sizeof(b->st.first_error), fmt, detail);
}

/* The unsigned integer after `key` (e.g. "\"id\":") in buf, or 0. */
static uint64_t scan_u64(const char *buf, size_t len, const char *key)
{
    size_t klen = strlen(key);
    const char *p = memmem(buf, len, key, klen);
    if (!p)
        return 0;
    p += klen;
    uint64_t v = 0;
    while (p < buf + len && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/* Keeps the store's epoch from a welcome, for subscribes with `since`. */
static void scan_epoch(struct bench *b, const char *buf, size_t len)
{
    const char *p = memmem(buf, len, "\"epoch\":\"", 9);
    if (!p)
        return;
    p += 9;
    size_t n = 0;
    while (p + n < buf + len && p[n] != '"' && p[n] != '\\' && n < sizeof(b->epoch) - 1)
        n++;
    memcpy(b->epoch, p, n);
    b->epoch[n] = '\0';
}

/* The broker writes "op" first: `{"op":"message",...`. */
static int frame_is(const char *buf, size_t len, const char *op)
{
    size_t n = strlen(op);
    return len > 8 + n && memcmp(buf, "{\"op\":\"", 7) == 0 && memcmp(buf + 7, op, n) == 0 &&
           buf[7 + n] == '"';
}

static void on_subscribe_ack(struct bench *b, struct bconn *c, const char *buf, size_t len,
                             int error)
{
    if (error) {
        b->st.ack_errors++;
        c->sub_refused = 1;
        bwire_note_error(b, "subscribe refused: %.120s", buf);
    } else if (c->phase == BC_OPEN) {
        c->phase = BC_SUBSCRIBED;
        b->st.subscribed++;
        if (c->slow) /* the broker's queue for it fills from now on */
            lws_rx_flow_control(c->wsi, 0);
        if (b->hooks)
            b->hooks->on_subscribed(b, c, memmem(buf, len, "\"recovered\":true", 16) != NULL,
                                    scan_u64(buf, len, "\"replayed\":"),
                                    scan_u64(buf, len, "\"seq\":"));
    }
}

static void on_ack(struct bench *b, struct bconn *c, const char *buf, size_t len, int error)
{
    uint64_t id = scan_u64(buf, len, "\"id\":");
    if (c->role != ROLE_PUB) {
        on_subscribe_ack(b, c, buf, len, error);
        return;
    }
    if (!id || !c->inflight)
        return;
    c->inflight--;
    if (error) {
        b->st.ack_errors++;
        bwire_note_error(b, "publish refused: %.120s", buf);
    } else {
        b->st.acked++;
        b->st.node_acked[c->node]++;
        int64_t sent = c->sent_us[id % ACK_RING];
        if (sent)
            hist_add(&b->st.ack_latency, (uint64_t)(clock_mono_us() - sent));
        if (b->hooks)
            b->hooks->on_published(b, id, scan_u64(buf, len, "\"seq\":"));
    }
    if (b->publishing)
        lws_callback_on_writable(c->wsi);
}

/* A scenario with hooks: the payload is {"t":T,"n":N,"p":...}. */
static void on_counted_message(struct bench *b, struct bconn *c, const char *buf, size_t len,
                               uint64_t seq)
{
    const char *data = memmem(buf, len, "\"data\":{\"t\":", 12);
    uint64_t t = 0, n = 0;
    if (data) {
        size_t rest = len - (size_t)(data - buf);
        t = scan_u64(data, rest, "\"t\":");
        n = scan_u64(data, rest, "\"n\":");
    }
    b->st.delivered++;
    b->st.node_delivered[c->node]++;
    b->hooks->on_message(b, c, seq, n, (int64_t)t);
}

static void on_message(struct bench *b, struct bconn *c, const char *buf, size_t len)
{
    uint64_t seq = scan_u64(buf, len, "\"seq\":");
    if (b->hooks) {
        on_counted_message(b, c, buf, len, seq);
        return;
    }
    const char *data = memmem(buf, len, "\"data\":{\"t\":", 12);
    /* A conflated message stands for the ones it replaced too; it took an
     * older one's place, so it is not held to the seq order. */
    uint64_t conflated = b->cfg.conflate ? scan_u64(buf, len, "\"conflated\":") : 0;
    b->st.delivered += 1 + conflated;
    b->st.node_delivered[c->node] += 1 + conflated;
    if (!conflated) {
        if (seq <= c->last_seq)
            b->st.dups++;
        else
            c->last_seq = seq;
    }
    if (data) {
        uint64_t t = scan_u64(data, len - (size_t)(data - buf), "\"t\":");
        int64_t now = clock_wall_us();
        if (t && now >= (int64_t)t)
            hist_add(&b->st.latency, (uint64_t)(now - (int64_t)t));
    }
}

static void on_text(struct bench *b, struct bconn *c, const char *buf, size_t len)
{
    if (frame_is(buf, len, "message")) {
        on_message(b, c, buf, len);
    } else if (frame_is(buf, len, "ack")) {
        on_ack(b, c, buf, len, 0);
    } else if (frame_is(buf, len, "error")) {
        if (memmem(buf, len, "\"id\":", 5))
            on_ack(b, c, buf, len, 1);
        else
            bwire_note_error(b, "broker error: %.120s", buf);
    } else if (frame_is(buf, len, "welcome") && c->phase == BC_CONNECTING) {
        c->phase = BC_OPEN;
        b->st.welcomed++;
        if (!b->epoch[0])
            scan_epoch(b, buf, len);
        if (b->hooks)
            b->hooks->on_welcome(b, c);
        if (c->role == ROLE_SUB || (c->role == ROLE_IDLE && b->cfg.subscribe_idle))
            lws_callback_on_writable(c->wsi);
    }
}

static void on_control(struct bench *b, struct bconn *c, int opcode, const unsigned char *p,
                       size_t len)
{
    if (opcode == WSFRAME_CLOSE && len >= 2) {
        c->close_code = (p[0] << 8) | p[1];
    } else if (opcode == WSFRAME_PING && len <= sizeof(c->pong)) {
        memcpy(c->pong, p, len);
        c->pong_len = len;
        c->pong_pending = 1;
        lws_callback_on_writable(c->wsi);
    }
    (void)b;
}

/* Handles every complete frame in buf; returns the bytes consumed, or -1
 * when the stream is broken. */
static long parse_frames(struct bench *b, struct bconn *c, const unsigned char *buf, size_t len)
{
    size_t at = 0;
    for (;;) {
        struct wsframe_header h;
        int got = wsframe_parse_header(buf + at, len - at, &h);
        if (got < 0 || (got > 0 && h.payload_len > RX_FRAME_LIMIT))
            return -1;
        /* A server never masks; a key that came anyway is skipped. */
        if (got == 0 || len - at - h.header_len < h.payload_len)
            break;
        const unsigned char *payload = buf + at + h.header_len;
        if (h.opcode == WSFRAME_TEXT)
            on_text(b, c, (const char *)payload, (size_t)h.payload_len);
        else if (h.opcode >= WSFRAME_CLOSE)
            on_control(b, c, h.opcode, payload, (size_t)h.payload_len);
        at += h.header_len + (size_t)h.payload_len;
    }
    return (long)at;
}

static int rx_keep(struct bconn *c, const unsigned char *p, size_t n)
{
    if (growbuf_reserve(&c->rx, &c->rx_cap, c->rx_len + n, 8192) < 0)
        return -1;
    memcpy(c->rx + c->rx_len, p, n);
    c->rx_len += n;
    return 0;
}

/* Frames straight from lws's buffer; only a cut frame is kept aside. */
static int on_frames(struct bench *b, struct bconn *c, const unsigned char *in, size_t len)
{
    if (c->rx_len == 0) {
        long used = parse_frames(b, c, in, len);
        if (used < 0)
            return -1;
        return rx_keep(c, in + used, len - (size_t)used);
    }
    if (rx_keep(c, in, len) < 0)
        return -1;
    long used = parse_frames(b, c, c->rx, c->rx_len);
    if (used < 0)
        return -1;
    memmove(c->rx, c->rx + used, c->rx_len - (size_t)used);
    c->rx_len -= (size_t)used;
    return 0;
}

/* Collects the HTTP answer to the upgrade; the frames after it go on. */
static int on_handshake(struct bench *b, struct bconn *c, const unsigned char *in, size_t len)
{
    if (rx_keep(c, in, len) < 0)
        return -1;
    const unsigned char *end = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
    if (!end)
        return c->rx_len > 16384 ? -1 : 0;
    if (c->rx_len < 12 || memcmp(c->rx + 9, "101", 3) != 0) {
        bwire_note_error(b, "upgrade refused: %.60s", (const char *)c->rx);
        return -1;
    }
    c->upgraded = 1;
    size_t head = (size_t)(end + 4 - c->rx);
    size_t rest = c->rx_len - head;
    c->rx_len = 0;
    if (!rest)
        return 0;
    /* Frames that came with the answer (the welcome): parse from a copy. */
    unsigned char *tail = malloc(rest);
    if (!tail)
        return -1;
    memcpy(tail, c->rx + head, rest);
    int rc = on_frames(b, c, tail, rest);
    free(tail);
    return rc;
}

/* Appends one frame to the batch in b->tx. */
static void tx_frame(struct bench *b, enum wsframe_opcode opcode, const void *payload, size_t len)
{
    b->tx_len += wsframe_put_header(b->tx + b->tx_len, opcode, len, true);
    memcpy(b->tx + b->tx_len, payload, len);
    b->tx_len += len;
}

/* Prints the next publish into the batch. */
static void add_publish(struct bench *b, struct bconn *c)
{
    char *p = b->scratch;
    size_t room = b->scratch_cap;
    uint64_t id = ++c->next_id;
    int n = snprintf(p, room, "{\"op\":\"publish\",\"id\":%llu,\"topic\":\"%s\"",
                     (unsigned long long)id, c->topic);
    if (b->use_key_now)
        n += snprintf(p + n, room - (size_t)n, ",\"key\":\"b%llx-%d-%llu\"",
                      (unsigned long long)b->key_nonce, c->index, (unsigned long long)id);
    if (b->hooks) /* the scenario counts messages by n */
        n += snprintf(p + n, room - (size_t)n, ",\"data\":{\"t\":%lld,\"n\":%llu,\"p\":\"",
                      (long long)clock_wall_us(), (unsigned long long)id);
    else
        n += snprintf(p + n, room - (size_t)n, ",\"data\":{\"t\":%lld,\"p\":\"",
                      (long long)clock_wall_us());
    memcpy(p + n, b->padding, (size_t)b->cfg.size);
    n += b->cfg.size;
    memcpy(p + n, "\"}}", 3);
    c->sent_us[id % ACK_RING] = clock_mono_us();
    tx_frame(b, WSFRAME_TEXT, p, (size_t)n + 3);
}

/* Prints a subscribe into the batch; a reopened subscriber resumes. */
static void add_subscribe(struct bench *b, struct bconn *c)
{
    char sub[256];
    int n = snprintf(sub, sizeof(sub), "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"%s\"", c->topic);
    if (c->resume)
        n += snprintf(sub + n, sizeof(sub) - (size_t)n, ",\"since\":%llu",
                      (unsigned long long)c->last_seq);
    if (c->resume && b->epoch[0])
        n += snprintf(sub + n, sizeof(sub) - (size_t)n, ",\"epoch\":\"%s\"", b->epoch);
    if (b->cfg.conflate)
        n += snprintf(sub + n, sizeof(sub) - (size_t)n, ",\"conflate\":true");
    n += snprintf(sub + n, sizeof(sub) - (size_t)n, "}");
    tx_frame(b, WSFRAME_TEXT, sub, (size_t)n);
}

static int may_publish(const struct bench *b, const struct bconn *c)
{
    return b->publishing && c->role == ROLE_PUB && c->inflight < (uint32_t)b->cfg.window &&
           (b->cfg.rate == 0 || c->credits > 0);
}

static int write_upgrade(struct bench *b, struct bconn *c, struct lws *wsi)
{
    char path[WSB_URL_PATH_MAX + 3 * BENCH_TOKEN_MAX + 16];
    const struct wsb_url *url = &b->cfg.urls[c->node];
    snprintf(path, sizeof(path), "%s", url->path);
    if (b->cfg.token)
        wsb_url_add_token(path, sizeof(path), b->cfg.token);
    int n = snprintf((char *)b->tx, b->tx_cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: d3NiLWJlbmNoLWtleS0xMg==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wsb.v1\r\n\r\n",
                     path, url->host, url->port);
    c->upgrade_sent = 1;
    return lws_write(wsi, b->tx, (size_t)n, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

int bwire_writeable(struct bench *b, struct bconn *c, struct lws *wsi)
{
    if (!c->upgrade_sent)
        return write_upgrade(b, c, wsi);
    if (!c->upgraded || lws_partial_buffered(wsi))
        return 0;
    b->tx_len = 0;
    if (c->pong_pending) {
        tx_frame(b, WSFRAME_PONG, c->pong, c->pong_len);
        c->pong_pending = 0;
    }
    if (c->phase == BC_OPEN && !c->sub_sent &&
        (c->role == ROLE_SUB || (c->role == ROLE_IDLE && b->cfg.subscribe_idle))) {
        add_subscribe(b, c);
        c->sub_sent = 1;
    }
    for (int n = 0; n < WRITE_BURST && may_publish(b, c); n++) {
        add_publish(b, c);
        c->inflight++;
        b->st.sent++;
        if (b->cfg.rate > 0)
            c->credits--;
    }
    if (b->tx_len && lws_write(wsi, b->tx, b->tx_len, LWS_WRITE_RAW) < 0)
        return -1;
    if (may_publish(b, c))
        lws_callback_on_writable(wsi);
    return 0;
}

int bwire_rx(struct bench *b, struct bconn *c, const unsigned char *in, size_t len)
{
    if (c->upgraded)
        return on_frames(b, c, in, len);
    return on_handshake(b, c, in, len);
}
