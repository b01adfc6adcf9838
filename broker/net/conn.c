/* SPDX-License-Identifier: MIT */
/*
 * conn.c: a connection's lws side (see conn.h): reassembly, the write path
 * and the close handshake.
 */
#include "net/conn.h"

#include <stdlib.h>
#include <string.h>

#include "common/jscan.h"
#include "common/wsframe.h"
#include "util/log.h"

_Static_assert(FRAME_HEADROOM >= LWS_PRE, "lws_write needs LWS_PRE bytes before a payload");

static void conn_wake(void *arg);
static void conn_close(void *arg, uint16_t code, const char *reason);
static void conn_pause_reading(void *arg, bool paused);

static const struct transport conn_transport = {
    .wake = conn_wake, .close = conn_close, .pause_reading = conn_pause_reading};

/* --- lifetime ------------------------------------------------------------ */

static void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    sbuf_free(&c->rx);
    free(c);
}

/* Raw coalesced writes need the plain framing: no permessage-deflate (the
 * extension must compress each message) and not a stream inside HTTP/2.
 * The server accepts deflate whenever the client offers it. */
static bool conn_can_coalesce(struct lws *wsi)
{
    char extensions[256];
    if (lws_get_network_wsi(wsi) != wsi)
        return false;
    if (lws_hdr_copy(wsi, extensions, sizeof(extensions), WSI_TOKEN_EXTENSIONS) > 0 &&
        strstr(extensions, "permessage-deflate"))
        return false;
    return true;
}

static struct conn *conn_open(struct core *core, struct lws *wsi, bool is_sse, const char *token)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->wsi = wsi;
    c->refs = 1;
    c->is_sse = is_sse;
    c->can_coalesce = !is_sse && conn_can_coalesce(wsi);
    c->session = is_sse ? core_sse_open(core, &conn_transport, c)
                        : core_session_open(core, &conn_transport, c, token);
    if (!c->session) {
        conn_unref(c);
        return NULL;
    }
    return c;
}

/* The longest `?token=` the upgrade URL carries: lws cuts a query
 * argument at the guard's limit (http/guard.h), so a longer token arrives
 * cut and fails verification. */
#define CONN_TOKEN_MAX 2100

struct conn *conn_open_ws(struct core *core, struct lws *wsi)
{
    char arg[CONN_TOKEN_MAX];
    const char *token = lws_get_urlarg_by_name(wsi, "token=", arg, sizeof(arg));
    return conn_open(core, wsi, false, token);
}

struct conn *conn_open_sse(struct core *core, struct lws *wsi)
{
    return conn_open(core, wsi, true, NULL);
}

void conn_closed(struct conn *c, struct core *core)
{
    if (c->session)
        core_session_closed(core, c->session);
    c->session = NULL;
    c->wsi = NULL;
    conn_unref(c);
}

/* --- receiving ----------------------------------------------------------- */

/* Forgets a message being reassembled (its buffer too, when large). */
static void conn_rx_reset(struct conn *c)
{
    c->rx_active = false;
    if (c->rx.cap > 65536)
        sbuf_free(&c->rx);
    else
        sbuf_reset(&c->rx);
}

/* Appends a fragment; -1 when the total would pass max. */
static int conn_rx_append(struct conn *c, const void *in, size_t len, size_t max)
{
    if (c->rx.len + len > max)
        return -1;
    sbuf_add(&c->rx, in, len);
    return sbuf_failed(&c->rx) ? -1 : 0;
}

/* A text message that is not UTF-8 fails the connection with 1007 (RFC 6455
 * section 8.1), through the broker's own close like 1009: lws's check
 * (LWS_SERVER_OPTION_VALIDATE_UTF8) closes by itself, and batched writes to
 * a subscriber could then follow its close frame. Checked on the whole
 * message, so a sequence split between fragments is whole again. */
static int conn_refuse_utf8(struct conn *c)
{
    conn_rx_reset(c);
    session_close(c->session, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "invalid UTF-8");
    return 0;
}

int conn_receive(struct conn *c, struct core *core, size_t max, const void *in, size_t len)
{
    if (c->close_code != 0)
        return 0; /* closing: what the peer still sends is read and dropped */
    if (!c->rx_active) {
        c->rx_active = true;
        c->rx_binary = lws_frame_is_binary(c->wsi);
        sbuf_reset(&c->rx);
    }
    bool final = lws_is_final_fragment(c->wsi);
    if (final && c->rx.len == 0 && len <= max) {
        c->rx_active = false;
        if (!c->rx_binary && !jscan_utf8_valid(in, len))
            return conn_refuse_utf8(c);
        core_session_receive(core, c->session, in, len, c->rx_binary);
        return 0;
    }
    if (conn_rx_append(c, in, len, max) < 0) {
        /* Our close, as for 4000 and 4029 (session_close): the replies
         * queued before it, then the close frame, then the peer's close is
         * awaited. lws's own close (lws_close_reason and -1) would leave
         * corked writes free to follow its close frame, and the peer would
         * see 1006 instead of 1009. */
        conn_rx_reset(c);
        session_close(c->session, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over max_message");
        return 0;
    }
    if (!final)
        return 0;
    const unsigned char *message = (const unsigned char *)c->rx.data;
    if (!c->rx_binary && !jscan_utf8_valid(message, c->rx.len))
        return conn_refuse_utf8(c);
    core_session_receive(core, c->session, message, c->rx.len, c->rx_binary);
    conn_rx_reset(c);
    return 0;
}

/* --- writing ------------------------------------------------------------- */

/* At most this many frames per writable callback when each goes through
 * its own lws_write, so that one busy connection cannot starve the others. */
#define WRITES_PER_CALLBACK 64

/* Coalesced writes: server frames are unmasked, so a frame's bytes are the
 * same for every subscriber; several queued frames are framed into one
 * buffer and leave in ONE send (LWS_WRITE_RAW skips lws's framing). This is
 * what takes fan-out from one syscall per delivery to one per batch
 * (docs/design.md section 5). The buffer is scratch space of the service
 * thread, refilled by every call. */
#define COALESCE_FRAMES 512
#define UNMASKED_HEADER_MAX 10 /* a server frame's header: no mask key */
static unsigned char coalesce_buf[LWS_PRE + CONN_COALESCE_BYTES];

/* One frame through lws's own framing (deflate, SSE, large frames). */
static int conn_write_one(struct conn *c)
{
    struct session *s = c->session;
    struct frame *f = session_queue_head(s);
    if (f->is_ping) {
        unsigned char ping[LWS_PRE + 2];
        memcpy(ping + LWS_PRE, "hb", 2);
        int n = lws_write(c->wsi, ping + LWS_PRE, 2, LWS_WRITE_PING);
        session_queue_pop(s);
        return n < 0 ? -1 : 0;
    }
    enum lws_write_protocol kind = c->is_sse      ? LWS_WRITE_HTTP
                                   : f->is_binary ? LWS_WRITE_BINARY
                                                  : LWS_WRITE_TEXT;
    int n = lws_write(c->wsi, frame_payload(f), f->len, kind);
    session_queue_pop(s);
    return n < 0 ? -1 : 0;
}

/* Frames the queue's head into coalesce_buf and sends it in one write. */
static int conn_write_coalesced(struct conn *c)
{
    struct session *s = c->session;
    unsigned char *out = coalesce_buf + LWS_PRE;
    size_t used = 0, frames = 0;
    struct frame *f;
    while ((f = session_queue_head(s)) && frames < COALESCE_FRAMES) {
        if (used + f->len + UNMASKED_HEADER_MAX > CONN_COALESCE_BYTES)
            break;
        if (!f->is_ping) /* a ping's payload is already its whole frame */
            used += wsframe_put_header(out + used, f->is_binary ? WSFRAME_BINARY : WSFRAME_TEXT,
                                       f->len, false);
        memcpy(out + used, frame_payload(f), f->len);
        used += f->len;
        frames++;
        session_queue_pop(s);
    }
    if (frames == 0)
        return conn_write_one(c); /* a frame too large to coalesce */
    return lws_write(c->wsi, out, used, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

/* Sends our close frame and waits for the peer's (RFC 6455 section 7):
 * closing the socket while the peer is still sending makes the kernel
 * answer with a reset, and the peer then loses the replies and the close
 * frame still in flight to it. lws kills the connection if the peer has not
 * answered within 5 s; its close frame ends it at once
 * (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE). */
static int conn_send_close(struct conn *c)
{
    /* lws 4.1 exposes no close-without-hangup call, so the frame goes out
     * raw, framed here. */
    unsigned char frame[LWS_PRE + WSFRAME_HEADER_MAX + 2 + sizeof(c->close_reason)];
    unsigned char *p = frame + LWS_PRE;
    size_t reason_len = strlen(c->close_reason);
    size_t n = wsframe_put_header(p, WSFRAME_CLOSE, 2 + reason_len, false);
    p[n++] = (unsigned char)(c->close_code >> 8);
    p[n++] = (unsigned char)(c->close_code & 0xff);
    memcpy(p + n, c->close_reason, reason_len);
    if (lws_write(c->wsi, p, n + reason_len, LWS_WRITE_RAW) < 0)
        return -1;
    c->close_sent = true;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
    return 0;
}

int conn_writeable(struct conn *c)
{
    struct session *s = c->session;
    if (!s)
        return 0;
    if (lws_partial_buffered(c->wsi)) {
        /* lws still holds bytes of the last write: nothing may pass them. */
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (session_queue_count(s) > 0 && c->can_coalesce) {
        if (conn_write_coalesced(c) < 0)
            return -1;
    } else {
        for (int written = 0; session_queue_count(s) > 0 && written < WRITES_PER_CALLBACK;
             written++) {
            if (conn_write_one(c) < 0)
                return -1;
            if (lws_partial_buffered(c->wsi) || lws_send_pipe_choked(c->wsi))
                break;
        }
    }
    session_written(s); /* a paced replay may read on */
    if (session_queue_count(s) > 0 || lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (c->close_code != 0 && c->is_sse)
        return -1; /* an event stream just ends */
    if (c->close_code != 0)
        return c->close_sent ? 0 : conn_send_close(c);
    return 0;
}

/* The transport's wake, once per turn for a connection that had frames
 * queued (session_wake_ready). A coalescing connection is written at once,
 * outside the WRITEABLE callback: lws_issue_raw keeps an unsent tail itself
 * and asks for WRITEABLE. The others (deflate, SSE), and one with bytes
 * still buffered or a close in progress, wait for WRITEABLE. */
static void conn_wake(void *arg)
{
    struct conn *c = arg;
    if (!c->wsi || !c->session)
        return;
    if (!c->can_coalesce || c->close_code != 0 || lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (session_queue_count(c->session) == 0)
        return;
    if (conn_write_coalesced(c) < 0) {
        /* The socket failed: lws closes it from its own loop. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        return;
    }
    session_written(c->session);
    if (session_queue_count(c->session) > 0)
        lws_callback_on_writable(c->wsi);
}

/* lws stops taking the socket's input (what it already read stays
 * buffered for later): TCP then holds the client back. */
static void conn_pause_reading(void *arg, bool paused)
{
    struct conn *c = arg;
    if (c->wsi)
        lws_rx_flow_control(c->wsi, paused ? 0 : 1);
}

static void conn_close(void *arg, uint16_t code, const char *reason)
{
    struct conn *c = arg;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

int conn_peer_close(struct conn *c)
{
    if (!c->session)
        return 0;
    /* The answer to a close we sent: done, no echo needed. */
    if (c->close_sent)
        return -1;
    /* lws echoes the peer's close; nothing may follow it (fan-out and
     * replies stop queuing, corked writes stop). */
    session_peer_closed(c->session);
    return 0;
}

/* --- heartbeat ----------------------------------------------------------- */

void conn_send_ping(struct conn *c)
{
    /* A final ping frame with a 2-byte payload, unmasked: the same bytes
     * for everyone, one frame for the process (never freed). It carries a
     * payload: lws 4.1 does not report an empty pong to the callback. */
    static struct frame *ping;
    if (!ping) {
        unsigned char bytes[WSFRAME_HEADER_MAX + 2];
        size_t n = wsframe_put_header(bytes, WSFRAME_PING, 2, false);
        memcpy(bytes + n, "hb", 2);
        if ((ping = frame_new(n + 2, false))) {
            memcpy(frame_payload(ping), bytes, n + 2);
            ping->is_ping = true;
        }
    }
    if (ping && c->session)
        session_send_raw(c->session, frame_ref(ping));
}

/* A peer silent for 3 x heartbeat: closed without a close frame (it is
 * not reading anyway), from lws's own loop. */
void conn_drop(struct conn *c)
{
    if (c->session)
        log_info("%s: silent for 3 x heartbeat: dropped", c->session->id);
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_WS_PONG_CHECK_GET_PONG, LWS_TO_KILL_ASYNC);
}

/* --- reading again ------------------------------------------------------- */

/* lws reads at most rx_buffer_size (1 KiB, kept small for the memory of
 * idle connections) from a socket per turn of the loop. A busy publisher
 * would then get ~5 messages in per turn, while a turn that fans out to
 * thousands of subscribers takes milliseconds: the broker would write many
 * small batches. So after the turn, connections that received are read
 * again, up to READ_MORE_ROUNDS times (64 KiB), until a read finds nothing
 * (lws takes EAGAIN as "nothing yet"). Asking first (FIONREAD) costs one
 * more syscall per read. The list is the service thread's, like the
 * connections on it; each listed conn holds a reference. */
#define READ_MORE_ROUNDS 63
static struct conn *received_head;

void conn_mark_received(struct conn *c)
{
    if (c->in_read_list)
        return;
    c->in_read_list = true;
    c->read_next = received_head;
    received_head = c;
    c->refs++;
}

static void conn_read_again(struct lws_context *context, struct conn *c)
{
    int fd = c->wsi ? (int)lws_get_socket_fd(c->wsi) : -1;
    if (fd < 0 || c->close_code != 0)
        return;
    struct lws_pollfd pfd = {.fd = fd, .events = LWS_POLLIN, .revents = LWS_POLLIN};
    lws_service_fd(context, &pfd);
}

void conn_read_more(struct lws_context *context)
{
    for (int round = 0; round <= READ_MORE_ROUNDS; round++) {
        struct conn *list = received_head;
        received_head = NULL;
        while (list) {
            struct conn *c = list;
            list = c->read_next;
            c->read_next = NULL;
            c->in_read_list = false;
            if (round < READ_MORE_ROUNDS)
                conn_read_again(context, c);
            conn_unref(c);
        }
    }
}
