/*
 * session.c: one connection's state (see session.h).
 */
#include "core/session.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct session *session_new(struct lws *wsi, size_t max_backlog)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->wsi = wsi;
    s->refs = 1;
    s->max_backlog = max_backlog;
    s->deferred_tail = &s->deferred;
    return s;
}

void session_ref(struct session *s)
{
    s->refs++;
}

static void ring_clear(struct send_ring *r)
{
    for (size_t i = 0; i < r->count; i++)
        frame_unref(r->entries[(r->head + i) % r->cap].frame);
    free(r->entries);
    memset(r, 0, sizeof(*r));
}

static int ring_push(struct send_ring *r, struct frame *f, bool is_replay)
{
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        struct send_entry *entries = malloc(cap * sizeof(*entries));
        if (!entries)
            return -1;
        for (size_t i = 0; i < r->count; i++)
            entries[i] = r->entries[(r->head + i) % r->cap];
        free(r->entries);
        r->entries = entries;
        r->head = 0;
        r->cap = cap;
    }
    r->entries[(r->head + r->count) % r->cap] = (struct send_entry){f, is_replay};
    r->count++;
    return 0;
}

static struct send_entry ring_pop(struct send_ring *r)
{
    struct send_entry e = r->entries[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return e;
}

void session_unref(struct session *s)
{
    if (--s->refs > 0)
        return;
    ring_clear(&s->queue);
    ring_clear(&s->held);
    struct deferred_request *d;
    while ((d = session_take_deferred(s)))
        free(d);
    while (s->subs)
        session_remove_sub(s, s->subs);
    free(s->rx);
    free(s->user);
    free(s);
}

bool session_is_open(const struct session *s)
{
    return s->wsi != NULL && s->close_code == 0 && !s->peer_closed;
}

static void session_wake_writer(struct session *s)
{
    if (s->wsi)
        lws_callback_on_writable(s->wsi);
}

/* Sessions with frames queued during the current turn of the event loop,
 * written directly by session_flush_pending() when the turn ends
 * ("corking", as uWebSockets calls it): everything a turn queued for a
 * connection (committed messages, replies) leaves in one send, without a
 * round through the poller and a WRITEABLE callback per connection (with
 * epoll that round is two epoll_ctl calls per delivery). Each listed
 * session holds a reference. Service thread only. */
static struct session *flush_head;

static void session_schedule_write(struct session *s)
{
    if (!s->can_coalesce || s->is_sse) {
        session_wake_writer(s); /* deflate and HTTP writes go through lws */
        return;
    }
    if (s->in_flush_list)
        return;
    s->in_flush_list = true;
    s->flush_next = flush_head;
    flush_head = s;
    session_ref(s);
}

static void session_enqueue(struct session *s, struct frame *f, bool is_replay)
{
    if (!session_is_open(s) || ring_push(&s->queue, f, is_replay) < 0) {
        frame_unref(f);
        return;
    }
    s->queued_bytes += f->len;
    if (is_replay)
        s->replay_bytes += f->len;
    if (s->queued_bytes - s->replay_bytes > s->max_backlog) {
        session_close(s, 4000, "slow consumer: backlog over the limit");
        return;
    }
    if (s->queue.count == 1)
        session_schedule_write(s);
}

void session_send(struct session *s, struct frame *f)
{
    if (f && s->is_sse)
        frame_unref(f);
    else if (f)
        session_enqueue(s, f, false);
}

void session_send_raw(struct session *s, struct frame *f)
{
    if (f)
        session_enqueue(s, f, true);
}

void session_send_ping(struct session *s)
{
    /* FIN + opcode 9, unmasked, the same bytes for everyone. It carries a
     * payload: lws 4.1 does not report an empty pong to the callback. */
    static struct frame *ping;
    if (!ping && (ping = frame_new(4, false))) {
        ping->is_ping = true;
        memcpy(frame_payload(ping), "\x89\x02hb", 4);
        frame_ref(ping); /* never freed: one frame for the process */
    }
    if (ping && !s->is_sse)
        session_enqueue(s, frame_ref(ping), true);
}

void session_send_replay(struct session *s, struct frame *f)
{
    if (f)
        session_enqueue(s, f, true);
}

void session_deliver(struct session *s, struct frame *f)
{
    if (!session_is_open(s))
        return;
    if (s->replay_pending) {
        if (ring_push(&s->held, frame_ref(f), false) < 0)
            frame_unref(f);
        return;
    }
    session_enqueue(s, frame_ref(f), false);
}

void session_release_held(struct session *s)
{
    while (s->held.count > 0)
        session_enqueue(s, ring_pop(&s->held).frame, false);
    ring_clear(&s->held);
}

void session_close(struct session *s, uint16_t code, const char *reason)
{
    if (s->close_code != 0 || !s->wsi)
        return;
    log_info("%s: closing with %u (%s)", s->id, code, reason);
    s->close_code = code;
    snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
    if (code == 4000) {
        if (s->dropped_counter)
            *s->dropped_counter += s->queue.count + s->held.count;
        ring_clear(&s->queue);
        s->queued_bytes = s->replay_bytes = 0;
    }
    ring_clear(&s->held);
    session_wake_writer(s);
}

/* Sends our close frame and waits for the peer's (RFC 6455 section 7):
 * closing the socket while the peer is still sending makes the kernel
 * answer with a reset, and the peer then loses the replies and the close
 * frame still in flight to it. lws kills the connection if the peer has not
 * answered within 5 s; its close frame ends it at once
 * (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE). */
static int session_send_close(struct session *s)
{
    /* lws 4.1 exposes no close-without-hangup call, so the frame (FIN +
     * opcode 8, unmasked, payload under 126 bytes) goes out pre-built. */
    unsigned char frame[LWS_PRE + 4 + sizeof(s->close_reason)];
    unsigned char *p = frame + LWS_PRE;
    size_t reason_len = strlen(s->close_reason);
    p[0] = 0x88;
    p[1] = (unsigned char)(2 + reason_len);
    p[2] = (unsigned char)(s->close_code >> 8);
    p[3] = (unsigned char)(s->close_code & 0xff);
    memcpy(p + 4, s->close_reason, reason_len);
    if (lws_write(s->wsi, p, 4 + reason_len, LWS_WRITE_RAW) < 0)
        return -1;
    s->close_sent = true;
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
    return 0;
}

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
static unsigned char coalesce_buf[LWS_PRE + SESSION_COALESCE_BYTES];

static void session_pop_written(struct session *s)
{
    struct send_entry e = ring_pop(&s->queue);
    s->queued_bytes -= e.frame->len;
    if (e.is_replay)
        s->replay_bytes -= e.frame->len;
    frame_unref(e.frame);
}

/* Writes the RFC 6455 header of an unmasked, final frame; returns its size. */
static size_t ws_frame_header(unsigned char *out, size_t len, bool is_binary)
{
    out[0] = is_binary ? 0x82 : 0x81;
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* One frame through lws's own framing (deflate, SSE, large frames). */
static int session_write_one(struct session *s)
{
    struct frame *f = s->queue.entries[s->queue.head].frame;
    if (f->is_ping) {
        unsigned char ping[LWS_PRE + 2];
        memcpy(ping + LWS_PRE, "hb", 2);
        int n = lws_write(s->wsi, ping + LWS_PRE, 2, LWS_WRITE_PING);
        session_pop_written(s);
        return n < 0 ? -1 : 0;
    }
    enum lws_write_protocol kind = s->is_sse      ? LWS_WRITE_HTTP
                                   : f->is_binary ? LWS_WRITE_BINARY
                                                  : LWS_WRITE_TEXT;
    int n = lws_write(s->wsi, frame_payload(f), f->len, kind);
    session_pop_written(s);
    return n < 0 ? -1 : 0;
}

/* Frames the queue's head into coalesce_buf and sends it in one write. */
static int session_write_coalesced(struct session *s)
{
    unsigned char *out = coalesce_buf + LWS_PRE;
    size_t used = 0, frames = 0;
    while (s->queue.count > 0 && frames < COALESCE_FRAMES) {
        struct frame *f = s->queue.entries[s->queue.head].frame;
        if (used + f->len + 10 > SESSION_COALESCE_BYTES)
            break;
        if (!f->is_ping) /* a ping's payload is already its whole frame */
            used += ws_frame_header(out + used, f->len, f->is_binary);
        memcpy(out + used, frame_payload(f), f->len);
        used += f->len;
        frames++;
        session_pop_written(s);
    }
    if (frames == 0)
        return session_write_one(s); /* a frame too large to coalesce */
    return lws_write(s->wsi, out, used, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

int session_write(struct session *s)
{
    if (lws_partial_buffered(s->wsi)) {
        /* lws still holds bytes of the last write: nothing may pass them. */
        lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->queue.count > 0 && s->can_coalesce) {
        if (session_write_coalesced(s) < 0)
            return -1;
    } else {
        for (int written = 0; s->queue.count > 0 && written < WRITES_PER_CALLBACK; written++) {
            if (session_write_one(s) < 0)
                return -1;
            if (lws_partial_buffered(s->wsi) || lws_send_pipe_choked(s->wsi))
                break;
        }
    }
    if (s->queue.count > 0 || lws_partial_buffered(s->wsi)) {
        lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->close_code != 0 && s->is_sse)
        return -1; /* an event stream just ends */
    if (s->close_code != 0)
        return s->close_sent ? 0 : session_send_close(s);
    return 0;
}

/* A direct write outside the WRITEABLE callback: lws_issue_raw keeps an
 * unsent tail itself and asks for WRITEABLE, so only coalescing sessions
 * with nothing buffered and no close in progress write here. */
static void session_flush_one(struct session *s)
{
    if (!s->wsi || s->queue.count == 0 || s->peer_closed)
        return;
    if (s->close_code != 0 || lws_partial_buffered(s->wsi)) {
        lws_callback_on_writable(s->wsi);
        return;
    }
    if (session_write_coalesced(s) < 0) {
        /* The socket failed: lws closes it from its own loop. */
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        return;
    }
    if (s->queue.count > 0)
        lws_callback_on_writable(s->wsi);
}

void session_flush_pending(void)
{
    while (flush_head) {
        struct session *s = flush_head;
        flush_head = s->flush_next;
        s->flush_next = NULL;
        s->in_flush_list = false;
        session_flush_one(s);
        session_unref(s);
    }
}

static struct session *received_head;

void session_mark_received(struct session *s)
{
    if (s->in_read_list)
        return;
    s->in_read_list = true;
    s->read_next = received_head;
    received_head = s;
    session_ref(s);
}

struct session *session_take_received(void)
{
    struct session *list = received_head;
    received_head = NULL;
    return list;
}

int session_rx_append(struct session *s, const void *in, size_t len, size_t max)
{
    if (s->rx_len + len > max)
        return -1;
    if (s->rx_len + len > s->rx_cap) {
        size_t cap = s->rx_cap ? s->rx_cap : 1024;
        while (cap < s->rx_len + len)
            cap *= 2;
        unsigned char *rx = realloc(s->rx, cap);
        if (!rx)
            return -1;
        s->rx = rx;
        s->rx_cap = cap;
    }
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    return 0;
}

#define REFUSAL_WINDOW_MS 10000

bool session_rate_allow(struct session *s, long rate, int64_t now_ms, bool *abusive)
{
    *abusive = false;
    if (rate <= 0)
        return true;
    if (s->rate_refill_ms == 0) {
        s->rate_tokens = (double)rate;
        s->rate_refill_ms = now_ms;
    }
    s->rate_tokens += (double)(now_ms - s->rate_refill_ms) * (double)rate / 1000.0;
    if (s->rate_tokens > (double)rate)
        s->rate_tokens = (double)rate;
    s->rate_refill_ms = now_ms;
    if (s->rate_tokens >= 1.0) {
        s->rate_tokens -= 1.0;
        return true;
    }
    if (now_ms - s->refusal_window_ms > REFUSAL_WINDOW_MS) {
        s->refusal_window_ms = now_ms;
        s->refusals = 0;
    }
    s->refusals++;
    long limit = 5 * rate > 100 ? 5 * rate : 100;
    *abusive = s->refusals > (uint32_t)limit;
    return false;
}

struct subscription *session_find_sub(const struct session *s, const char *pattern)
{
    for (struct subscription *sub = s->subs; sub; sub = sub->next)
        if (strcmp(sub->pattern, pattern) == 0)
            return sub;
    return NULL;
}

struct subscription *session_add_sub(struct session *s, const char *pattern)
{
    struct subscription *sub = calloc(1, sizeof(*sub));
    if (!sub)
        return NULL;
    sub->pattern = strdup(pattern);
    if (!sub->pattern) {
        free(sub);
        return NULL;
    }
    sub->session = s;
    sub->next = s->subs;
    s->subs = sub;
    s->n_subs++;
    return sub;
}

void session_remove_sub(struct session *s, struct subscription *sub)
{
    for (struct subscription **p = &s->subs; *p; p = &(*p)->next) {
        if (*p == sub) {
            *p = sub->next;
            s->n_subs--;
            break;
        }
    }
    free(sub->pattern);
    free(sub);
}

int session_defer(struct session *s, const void *bytes, size_t len, bool is_binary)
{
    struct deferred_request *d = malloc(sizeof(*d) + len);
    if (!d)
        return -1;
    d->next = NULL;
    d->is_binary = is_binary;
    d->len = len;
    memcpy(d->bytes, bytes, len);
    *s->deferred_tail = d;
    s->deferred_tail = &d->next;
    s->n_deferred++;
    return 0;
}

struct deferred_request *session_take_deferred(struct session *s)
{
    struct deferred_request *d = s->deferred;
    if (!d)
        return NULL;
    s->deferred = d->next;
    if (!s->deferred)
        s->deferred_tail = &s->deferred;
    s->n_deferred--;
    return d;
}
