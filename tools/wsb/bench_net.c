/*
 * bench_net.c: the network side of `wsb bench`: one libwebsockets context
 * with every connection of the run.
 *
 * Built for the load generator never to be the bottleneck on a 2-core
 * machine it shares with the broker:
 *   - the connections are lws RAW client sockets and this file speaks the
 *     WebSocket framing itself: the per-byte frame parser of lws 4.1 cost
 *     the bench more CPU per delivery than the broker spent sending it.
 *     Incoming frames are scanned in place, a whole read at a time; only a
 *     frame cut by the end of a read is copied.
 *   - outgoing frames are masked with a zero key (valid framing, no XOR)
 *     and many of them leave in one write.
 *   - no allocation per message: frames are printed into one buffer.
 *   - with libuv (WSB_BENCH_LIBUV) the context runs on an epoll loop of
 *     ours instead of poll(), whose cost grows with the connection count
 *     at every wakeup.
 * It does not use libwsb's reconnect machinery: a connection the broker
 * closes is counted, not revived; only the reconnect scenario drops and
 * reopens its subscribers on purpose (bnet_drop, bnet_reopen). More
 * connections than one source address has ephemeral ports are spread over
 * 127.0.0.1, 127.0.0.2, ... (bound before connect: lws's `iface`). It
 * shares URL handling and clocks with libwsb (wsb_util).
 */
#include "bench.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#if defined(WSB_BENCH_LIBUV)
#include <uv.h>
#endif

#define WRITE_BURST 64    /* publish frames per write */
#define TX_HEADROOM 512   /* envelope bytes around the padding */
#define FRAME_HEAD_MAX 14 /* 2 + 8 length bytes + 4 mask bytes */
#define RX_FRAME_LIMIT (64u << 20)
#define MAX_SOURCES 250 /* 127.0.0.1 .. 127.0.0.250 */

enum ws_opcode { WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

static int bench_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len);

static const struct lws_protocols bench_protocols[] = {
    {"wsb-bench-raw", bench_callback, 0, 65536, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

static void note_error(struct bench *b, const char *fmt, const char *detail)
{
    if (!b->st.first_error[0])
        snprintf(b->st.first_error, sizeof(b->st.first_error), fmt, detail);
}

/* ---- scanning broker frames in place ---- */

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
        note_error(b, "subscribe refused: %.120s", buf);
    } else if (c->phase == BC_OPEN) {
        c->phase = BC_SUBSCRIBED;
        b->st.subscribed++;
        if (b->rc)
            brc_on_subscribed(b, c, memmem(buf, len, "\"recovered\":true", 16) != NULL,
                              scan_u64(buf, len, "\"replayed\":"), scan_u64(buf, len, "\"seq\":"));
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
        note_error(b, "publish refused: %.120s", buf);
    } else {
        b->st.acked++;
        int64_t sent = c->sent_us[id % ACK_RING];
        if (sent)
            hist_add(&b->st.ack_latency, (uint64_t)(clock_mono_us() - sent));
        if (b->rc)
            brc_on_published(b, id, scan_u64(buf, len, "\"seq\":"));
    }
    if (b->publishing)
        lws_callback_on_writable(c->wsi);
}

/* Reconnect scenario: the payload is {"t":T,"n":N,"p":...}. */
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
    brc_on_message(b, c, seq, n, (int64_t)t);
}

static void on_message(struct bench *b, struct bconn *c, const char *buf, size_t len)
{
    uint64_t seq = scan_u64(buf, len, "\"seq\":");
    if (b->rc) {
        on_counted_message(b, c, buf, len, seq);
        return;
    }
    const char *data = memmem(buf, len, "\"data\":{\"t\":", 12);
    b->st.delivered++;
    if (seq <= c->last_seq)
        b->st.dups++;
    else
        c->last_seq = seq;
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
            note_error(b, "broker error: %.120s", buf);
    } else if (frame_is(buf, len, "welcome") && c->phase == BC_CONNECTING) {
        c->phase = BC_OPEN;
        b->st.welcomed++;
        if (!b->epoch[0])
            scan_epoch(b, buf, len);
        if (b->rc)
            brc_on_welcome(b, c);
        if (c->role == ROLE_SUB || (c->role == ROLE_IDLE && b->cfg.subscribe_idle))
            lws_callback_on_writable(c->wsi);
    }
}

/* ---- WebSocket framing ---- */

static void on_control(struct bench *b, struct bconn *c, int opcode, const unsigned char *p,
                       size_t len)
{
    if (opcode == WS_CLOSE && len >= 2) {
        c->close_code = (p[0] << 8) | p[1];
    } else if (opcode == WS_PING && len <= sizeof(c->pong)) {
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
    while (len - at >= 2) {
        const unsigned char *f = buf + at;
        int opcode = f[0] & 0x0f;
        size_t head = 2, plen = f[1] & 0x7f;
        if (plen == 126) {
            if (len - at < 4)
                break;
            plen = ((size_t)f[2] << 8) | f[3];
            head = 4;
        } else if (plen == 127) {
            if (len - at < 10)
                break;
            plen = 0;
            for (int i = 2; i < 10; i++)
                plen = (plen << 8) | f[i];
            head = 10;
        }
        if (f[1] & 0x80)
            head += 4; /* a server never masks; skip a key if one came */
        if (plen > RX_FRAME_LIMIT)
            return -1;
        if (len - at < head + plen)
            break;
        if (opcode == WS_TEXT)
            on_text(b, c, (const char *)f + head, plen);
        else if (opcode >= WS_CLOSE)
            on_control(b, c, opcode, f + head, plen);
        at += head + plen;
    }
    return (long)at;
}

static int rx_keep(struct bconn *c, const unsigned char *p, size_t n)
{
    if (c->rx_len + n > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 8192;
        while (cap < c->rx_len + n)
            cap *= 2;
        unsigned char *rx = realloc(c->rx, cap);
        if (!rx)
            return -1;
        c->rx = rx;
        c->rx_cap = cap;
    }
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
        note_error(b, "upgrade refused: %.60s", (const char *)c->rx);
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

/* Writes a client frame header (FIN, masked with a zero key). */
static size_t frame_head(unsigned char *h, int opcode, size_t len)
{
    size_t n;
    h[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        h[1] = (unsigned char)(0x80 | len);
        n = 2;
    } else if (len < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        n = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    memset(h + n, 0, 4);
    return n + 4;
}

/* Appends one frame to the batch in b->tx. */
static void tx_frame(struct bench *b, int opcode, const void *payload, size_t len)
{
    b->tx_len += frame_head(b->tx + b->tx_len, opcode, len);
    memcpy(b->tx + b->tx_len, payload, len);
    b->tx_len += len;
}

/* ---- writing ---- */

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
    if (b->rc) /* the reconnect scenario counts messages by n */
        n += snprintf(p + n, room - (size_t)n, ",\"data\":{\"t\":%lld,\"n\":%llu,\"p\":\"",
                      (long long)clock_wall_us(), (unsigned long long)id);
    else
        n += snprintf(p + n, room - (size_t)n, ",\"data\":{\"t\":%lld,\"p\":\"",
                      (long long)clock_wall_us());
    memcpy(p + n, b->padding, (size_t)b->cfg.size);
    n += b->cfg.size;
    memcpy(p + n, "\"}}", 3);
    c->sent_us[id % ACK_RING] = clock_mono_us();
    tx_frame(b, WS_TEXT, p, (size_t)n + 3);
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
    n += snprintf(sub + n, sizeof(sub) - (size_t)n, "}");
    tx_frame(b, WS_TEXT, sub, (size_t)n);
}

static int may_publish(const struct bench *b, const struct bconn *c)
{
    return b->publishing && c->role == ROLE_PUB && c->inflight < (uint32_t)b->cfg.window &&
           (b->cfg.rate == 0 || c->credits > 0);
}

static int write_upgrade(struct bench *b, struct bconn *c, struct lws *wsi)
{
    char path[WSB_URL_PATH_MAX + 1024];
    snprintf(path, sizeof(path), "%s", b->cfg.url.path);
    if (b->cfg.token)
        wsb_url_add_token(path, sizeof(path), b->cfg.token);
    int n = snprintf((char *)b->tx, b->tx_cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: d3NiLWJlbmNoLWtleS0xMg==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wsb.v1\r\n\r\n",
                     path, b->cfg.url.host, b->cfg.url.port);
    c->upgrade_sent = 1;
    return lws_write(wsi, b->tx, (size_t)n, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

static int on_writeable(struct bench *b, struct bconn *c, struct lws *wsi)
{
    if (!c->upgrade_sent)
        return write_upgrade(b, c, wsi);
    if (!c->upgraded || lws_partial_buffered(wsi))
        return 0;
    b->tx_len = 0;
    if (c->pong_pending) {
        tx_frame(b, WS_PONG, c->pong, c->pong_len);
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

static void on_closed(struct bench *b, struct bconn *c)
{
    if (c->phase == BC_CLOSED)
        return;
    if (c->dropping) {
        c->dropping = 0;
    } else if (c->phase == BC_CONNECTING) {
        b->st.connect_failed++;
    } else {
        b->st.broker_closed++;
        if (c->close_code) {
            char code[16];
            snprintf(code, sizeof(code), "%d", c->close_code);
            note_error(b, "the broker closed a connection with code %s", code);
        }
    }
    c->phase = BC_CLOSED;
    c->wsi = NULL;
}

static int bench_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    (void)user;
    struct bconn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!c)
        return 0;
    struct bench *b = c->b;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        note_error(b, "cannot connect: %s", in ? (const char *)in : "connection failed");
        on_closed(b, c);
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    case LWS_CALLBACK_RAW_CONNECTED:
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        if (c->upgraded)
            return on_frames(b, c, in, len);
        return on_handshake(b, c, in, len);
    case LWS_CALLBACK_RAW_WRITEABLE:
        return on_writeable(b, c, wsi);
    case LWS_CALLBACK_RAW_CLOSE:
        on_closed(b, c);
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    default:
        return 0;
    }
}

/* ---- the context and the connections ---- */

static void assign_roles(struct bench *b)
{
    int i = 0;
    /* Subscribers first, so they are ready before anyone publishes. */
    for (int k = 0; k < b->cfg.subscribers; k++, i++) {
        b->conns[i].role = ROLE_SUB;
        b->conns[i].index = k;
        b->conns[i].topic = b->cfg.pattern ? b->topics[0] : b->cfg.topic;
    }
    for (int k = 0; k < b->cfg.publishers; k++, i++) {
        b->conns[i].role = ROLE_PUB;
        b->conns[i].index = k;
        b->conns[i].topic = b->cfg.pattern ? b->topics[1 + k] : b->cfg.topic;
    }
    for (int k = 0; k < b->cfg.connections; k++, i++) {
        b->conns[i].role = ROLE_IDLE;
        b->conns[i].index = k;
        b->conns[i].topic = b->idle_topics ? b->idle_topics[k] : b->cfg.topic;
    }
}

static int make_topics(struct bench *b)
{
    if (b->cfg.pattern) {
        b->topics = calloc((size_t)b->cfg.publishers + 1, sizeof(*b->topics));
        if (!b->topics)
            return -1;
        snprintf(b->topics[0], sizeof(b->topics[0]), "%s.>", b->cfg.topic);
        for (int k = 0; k < b->cfg.publishers; k++)
            snprintf(b->topics[1 + k], sizeof(b->topics[0]), "%s.p%d", b->cfg.topic, k);
    }
    if (b->cfg.subscribe_idle) {
        b->idle_topics = calloc((size_t)b->cfg.connections, sizeof(*b->idle_topics));
        if (!b->idle_topics)
            return -1;
        for (int k = 0; k < b->cfg.connections; k++)
            snprintf(b->idle_topics[k], sizeof(b->idle_topics[0]), "%.40s.c%d", b->cfg.topic, k);
    }
    return 0;
}

static int alloc_buffers(struct bench *b)
{
    b->n_conns = b->cfg.publishers + b->cfg.subscribers + b->cfg.connections;
    b->conns = calloc((size_t)b->n_conns, sizeof(*b->conns));
    b->padding = malloc((size_t)b->cfg.size + 1);
    b->scratch_cap = TX_HEADROOM + (size_t)b->cfg.size;
    b->scratch = malloc(b->scratch_cap);
    /* One batch buffer for the whole run: lws copies what it cannot send. */
    b->tx_cap = WRITE_BURST * (b->scratch_cap + FRAME_HEAD_MAX) + 4096 + WSB_URL_PATH_MAX;
    b->tx = malloc(b->tx_cap);
    if (!b->conns || !b->padding || !b->scratch || !b->tx || make_topics(b) < 0)
        return -1;
    memset(b->padding, 'x', (size_t)b->cfg.size);
    for (int i = 0; i < b->n_conns; i++)
        b->conns[i].b = b;
    assign_roles(b);
    for (int i = 0; i < b->n_conns; i++) {
        if (b->conns[i].role != ROLE_PUB)
            continue;
        b->conns[i].sent_us = calloc(ACK_RING, sizeof(int64_t));
        if (!b->conns[i].sent_us)
            return -1;
    }
    return 0;
}

static int use_event_loop(struct bench *b, struct lws_context_creation_info *info,
                          void **foreign_loops)
{
#if defined(WSB_BENCH_LIBUV)
    b->loop = calloc(1, sizeof(uv_loop_t));
    b->wake = calloc(1, sizeof(uv_timer_t));
    if (!b->loop || !b->wake || uv_loop_init(b->loop) != 0) {
        free(b->loop);
        free(b->wake);
        b->loop = b->wake = NULL;
        return -1;
    }
    /* Our own timer bounds each wait: lws 4.1 does not re-arm its libuv
     * timer when a sooner sul is scheduled from outside a callback. */
    uv_timer_init(b->loop, b->wake);
    foreign_loops[0] = b->loop;
    info->foreign_loops = foreign_loops;
    info->pcontext = &b->ctx; /* lws clears it when the context is gone */
    info->options |= LWS_SERVER_OPTION_LIBUV;
#else
    (void)b;
    (void)info;
    (void)foreign_loops;
#endif
    return 0;
}

/* A loopback IPv4 destination: any 127.0.0.x source reaches it. */
static int loopback_v4(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0;
}

/* One source address gives one destination at most the ephemeral port
 * range (about 28k); more connections than that get several sources.
 * A bound socket gets its port at bind() time, from a search of the range
 * for a port free on that address; past about half full that search in
 * the kernel dominates (70 % of the bench's CPU at 83 % full), so each
 * source takes at most half the range, which also leaves room for the
 * TIME_WAIT ports of a previous run. */
static int plan_sources(struct bench *b, char *err, size_t errlen)
{
    long ports = proc_ephemeral_ports();
    if (ports <= 0)
        ports = 28232; /* 32768-60999, the Linux default */
    long per_src = ports / 2;
    int want = b->cfg.source_addrs;
    if (!want)
        want = (int)((b->n_conns + per_src - 1) / per_src);
    if (want <= 1)
        return 0;
    if (!loopback_v4(b->cfg.url.host)) {
        if (b->cfg.source_addrs) {
            snprintf(err, errlen, "--source-addrs needs a 127.x.x.x (loopback) URL");
            return -1;
        }
        fprintf(stderr,
                "wsb bench: %d connections exceed the %ld ephemeral ports of one source "
                "address; only a loopback URL gets more sources, expect failures\n",
                b->n_conns, ports);
        return 0;
    }
    if (want > MAX_SOURCES) {
        snprintf(err, errlen, "%d source addresses needed, at most %d", want, MAX_SOURCES);
        return -1;
    }
    b->src_addrs = calloc((size_t)want, sizeof(*b->src_addrs));
    if (!b->src_addrs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < want; i++)
        snprintf(b->src_addrs[i], sizeof(b->src_addrs[i]), "127.0.0.%d", i + 1);
    b->n_src = want;
    return 0;
}

/* Room for every connection and some for lws and stdio, and no more: the
 * lws 4.1 of Debian scans its whole fd table (as long as the limit) at
 * every connect and close, a sanity check built in. */
static long set_fd_limit(struct bench *b, char *err, size_t errlen)
{
    long need = (long)b->n_conns + 256;
    long fds = proc_set_fd_limit(need);
    if (fds < need) {
        snprintf(err, errlen,
                 "%d connections need %ld open files; the limit is %ld and only root (with "
                 "CAP_SYS_RESOURCE) may raise it: as root `ulimit -Hn %ld; ulimit -n %ld` in "
                 "the shell that runs wsb, or `prlimit --pid PID --nofile=%ld:%ld` on it; in "
                 "a container start it with `--ulimit nofile=%ld:%ld`",
                 b->n_conns, need, fds, need, need, need, need, need, need);
        return -1;
    }
    return fds;
}

int bnet_init(struct bench *b, char *err, size_t errlen)
{
    struct lws_context_creation_info info;
    void *foreign_loops[1];

    if (alloc_buffers(b) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long fds = set_fd_limit(b, err, errlen);
    if (fds < 0 || plan_sources(b, err, errlen) < 0)
        return -1;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = bench_protocols;
    info.gid = -1;
    info.uid = -1;
    /* As many as the open-file limit: lws then finds a socket's wsi by
     * indexing its fd; below the limit it scans its table at every insert,
     * removal and (poll) event. */
    info.fd_limit_per_thread = (unsigned int)fds;
    info.timeout_secs = 30;
    if (b->cfg.url.tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (use_event_loop(b, &info, foreign_loops) < 0) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    b->ctx = lws_create_context(&info);
    if (!b->ctx) {
        snprintf(err, errlen, "cannot create the libwebsockets context");
        return -1;
    }
    return 0;
}

void bnet_free(struct bench *b)
{
    if (b->ctx)
        lws_context_destroy(b->ctx);
#if defined(WSB_BENCH_LIBUV)
    if (b->loop) {
        uv_close((uv_handle_t *)b->wake, NULL);
        /* Let lws and the timer close their handles, for a bounded time. */
        for (int i = 0; i < 1000 && uv_run(b->loop, UV_RUN_NOWAIT); i++)
            ;
        if (b->ctx) /* lws 4.1 may wait for a second call to finish */
            lws_context_destroy(b->ctx);
        uv_loop_close(b->loop);
        free(b->loop);
        free(b->wake);
    }
#endif
    for (int i = 0; b->conns && i < b->n_conns; i++) {
        free(b->conns[i].sent_us);
        free(b->conns[i].rx);
    }
    free(b->conns);
    free(b->padding);
    free(b->scratch);
    free(b->tx);
    free(b->topics);
    free(b->idle_topics);
    free(b->src_addrs);
}

#if defined(WSB_BENCH_LIBUV)
static void wake_cb(uv_timer_t *timer)
{
    (void)timer;
}

void bnet_service(struct bench *b, int ms)
{
    /* Repeating: a timer that fires at the top of uv_run(UV_RUN_ONCE)
     * (the loop clock is stale) would otherwise leave the poll unbounded. */
    uv_update_time(b->loop);
    uv_timer_start(b->wake, wake_cb, (uint64_t)ms, (uint64_t)ms);
    uv_run(b->loop, UV_RUN_ONCE);
    uv_timer_stop(b->wake);
}
#else
struct wake {
    lws_sorted_usec_list_t sul;
    struct lws_context *ctx;
    lws_usec_t us;
};

/* Schedules itself again, for the same reason as the repeating timer. */
static void wake_cb(lws_sorted_usec_list_t *sul)
{
    struct wake *w = lws_container_of(sul, struct wake, sul);
    lws_sul_schedule(w->ctx, 0, &w->sul, wake_cb, w->us);
}

void bnet_service(struct bench *b, int ms)
{
    struct wake w;
    memset(&w, 0, sizeof(w));
    w.ctx = b->ctx;
    w.us = (lws_usec_t)ms * 1000;
    lws_sul_schedule(b->ctx, 0, &w.sul, wake_cb, w.us);
    lws_service(b->ctx, 0);
    lws_sul_cancel(&w.sul);
}
#endif

static void connect_one(struct bench *b, struct bconn *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = b->ctx;
    ci.address = b->cfg.url.host;
    ci.port = b->cfg.url.port;
    ci.path = "";
    ci.host = b->cfg.url.host;
    ci.method = "RAW";
    ci.protocol = "wsb-bench-raw";
    ci.local_protocol_name = "wsb-bench-raw";
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    if (b->n_src > 1) /* lws binds the socket to it before connecting */
        ci.iface = b->src_addrs[(c - b->conns) % b->n_src];
    if (b->cfg.url.tls)
        ci.ssl_connection =
            LCCSCF_USE_SSL |
            (b->cfg.insecure ? LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK
                             : 0);
    c->phase = BC_CONNECTING;
    if (!lws_client_connect_via_info(&ci) && c->phase == BC_CONNECTING) {
        note_error(b, "cannot connect: %s", "no connection started (out of local ports?)");
        b->st.connect_failed++;
        c->phase = BC_CLOSED;
    }
}

int bnet_connect_batch(struct bench *b, int batch)
{
    for (int n = 0; n < batch && b->next_connect < b->n_conns; n++)
        connect_one(b, &b->conns[b->next_connect++]);
    return b->n_conns - b->next_connect;
}

void bnet_start_publishing(struct bench *b, int use_key)
{
    b->publishing = 1;
    b->use_key_now = use_key;
    b->key_nonce = (uint64_t)clock_wall_us();
    b->phase_start_us = clock_mono_us();
    b->issued = 0;
    for (int i = 0; i < b->n_conns; i++) {
        struct bconn *c = &b->conns[i];
        c->credits = 0;
        if (c->role == ROLE_PUB && c->phase == BC_OPEN && b->cfg.rate == 0)
            lws_callback_on_writable(c->wsi);
    }
}

void bnet_stop_publishing(struct bench *b)
{
    b->publishing = 0;
}

void bnet_pace(struct bench *b)
{
    if (!b->publishing || b->cfg.rate <= 0 || b->cfg.publishers == 0)
        return;
    double elapsed = (double)(clock_mono_us() - b->phase_start_us) / 1e6;
    uint64_t due = (uint64_t)(elapsed * b->cfg.rate);
    int first_pub = b->cfg.subscribers;
    while (b->issued < due) {
        struct bconn *c = &b->conns[first_pub + b->pub_rr];
        b->pub_rr = (b->pub_rr + 1) % b->cfg.publishers;
        b->issued++;
        if (c->phase != BC_OPEN)
            continue;
        c->credits++;
        lws_callback_on_writable(c->wsi);
    }
}

void bnet_drop(struct bench *b, struct bconn *c)
{
    if (!c->wsi || c->phase == BC_CLOSED)
        return;
    if (b->cfg.reset) {
        /* Linger 0: close() sends a RST instead of a FIN. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(lws_get_socket_fd(c->wsi), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    c->dropping = 1;
    /* Closes now (a raw socket sends no close frame), calling RAW_CLOSE. */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void bnet_reopen(struct bench *b, struct bconn *c)
{
    if (c->phase != BC_CLOSED)
        return;
    c->sub_sent = c->sub_refused = 0;
    c->upgrade_sent = c->upgraded = 0;
    c->close_code = 0;
    c->pong_pending = 0;
    c->rx_len = 0;
    c->resume = 1;
    connect_one(b, c);
}

uint64_t bnet_inflight(const struct bench *b)
{
    uint64_t n = 0;
    for (int i = 0; i < b->n_conns; i++)
        if (b->conns[i].role == ROLE_PUB && b->conns[i].phase != BC_CLOSED)
            n += b->conns[i].inflight;
    return n;
}
