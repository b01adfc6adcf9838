/* SPDX-License-Identifier: MIT */
/*
 * session.c: one connection's state (see session.h).
 */
#include "core/session.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct session *session_new(const struct transport *transport, void *conn, size_t max_backlog)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->transport = transport;
    s->conn = conn;
    s->refs = 1;
    s->max_backlog = max_backlog;
    s->deferred_tail = &s->deferred;
    return s;
}

void session_ref(struct session *s)
{
    s->refs++;
}

/* Releases what an entry holds: its frame, or its slot. */
static void session_entry_free(struct session *s, struct send_entry e)
{
    if (e.kind == SEND_SLOT)
        conflate_release(&s->conflated, e.slot);
    else
        frame_unref(e.frame);
}

static void ring_clear(struct session *s, struct send_ring *r)
{
    for (size_t i = 0; i < r->count; i++)
        session_entry_free(s, r->entries[(r->head + i) % r->cap]);
    free(r->entries);
    memset(r, 0, sizeof(*r));
}

static int ring_push(struct send_ring *r, struct send_entry entry)
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
    r->entries[(r->head + r->count) % r->cap] = entry;
    r->count++;
    return 0;
}

/* The same step as session_queue_pop (session.h), for the held frames. */
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
    ring_clear(s, &s->queue);
    ring_clear(s, &s->held);
    conflate_free(&s->conflated);
    struct deferred_request *d;
    while ((d = session_take_deferred(s)))
        free(d);
    while (s->subs)
        session_remove_sub(s, s->subs);
    principal_free(&s->principal);
    free(s);
}

bool session_is_open(const struct session *s)
{
    return s->conn != NULL && s->close_code == 0 && !s->peer_closed;
}

/* Sessions with frames queued during the current turn of the event loop,
 * whose transports session_wake_ready() wakes when the turn ends
 * ("corking", as uWebSockets calls it): everything a turn queued for a
 * connection (committed messages, replies) leaves in one send, without a
 * round through the poller and a WRITEABLE callback per connection (with
 * epoll that round is two epoll_ctl calls per delivery). Each listed
 * session holds a reference. A list for the process, like the service
 * thread that alone touches it. */
static struct session *ready_head;

static void session_list_ready(struct session *s)
{
    if (s->in_ready_list)
        return;
    s->in_ready_list = true;
    s->ready_next = ready_head;
    ready_head = s;
    session_ref(s);
}

void session_wake_ready(void)
{
    while (ready_head) {
        struct session *s = ready_head;
        ready_head = s->ready_next;
        s->ready_next = NULL;
        s->in_ready_list = false;
        if (s->conn && !s->peer_closed)
            s->transport->wake(s->conn);
        session_unref(s);
    }
}

/* The backlog: live messages, queued and held. Past the limit the session
 * is closed with 4000 (true). Replies have their own, smaller bound, which
 * pauses reading instead (SESSION_REPLY_MAX); replay frames are paced. */
static bool session_over_backlog(struct session *s)
{
    size_t backlog = s->queued_bytes - s->replay_bytes - s->reply_bytes - s->conflated_bytes;
    if (backlog + s->held_bytes <= s->max_backlog)
        return false;
    session_close(s, 4000, "slow consumer: backlog over the limit");
    return true;
}

/* What a queued frame costs this connection: a live message is shared by
 * every subscriber, so each is charged its payload and its queue entry; a
 * reply or a replay frame is this connection's alone, so it is charged the
 * memory it takes (a 20-byte pong takes a 256-byte pooled block). */
static uint32_t session_frame_cost(const struct frame *f, enum send_kind kind)
{
    bool shared = kind == SEND_LIVE || kind == SEND_CONFLATED;
    size_t bytes = shared ? f->len : frame_memory(f);
    bytes += sizeof(struct send_entry);
    return bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

static void session_pause_reading(struct session *s, bool paused)
{
    s->reading_paused = paused;
    if (s->conn)
        s->transport->pause_reading(s->conn, paused);
}

void session_reply_written(struct session *s, size_t cost)
{
    s->reply_bytes -= cost;
    if (s->reading_paused && s->reply_bytes <= SESSION_REPLY_MAX / 2)
        session_pause_reading(s, false);
}

/* Appends an entry to the send queue and charges it; releases it when the
 * session is closed or out of memory. */
static void session_enqueue_entry(struct session *s, struct send_entry e)
{
    if (!session_is_open(s) || ring_push(&s->queue, e) < 0) {
        session_entry_free(s, e);
        return;
    }
    uint32_t cost = e.kind == SEND_SLOT ? e.slot->cost : e.cost;
    enum send_kind kind = e.kind;
    s->queued_bytes += cost;
    if (kind == SEND_CONFLATED || kind == SEND_SLOT)
        s->conflated_bytes += cost;
    if (kind == SEND_REPLAY)
        s->replay_bytes += cost;
    if (kind == SEND_REPLY) {
        s->reply_bytes += cost;
        if (s->reply_bytes > SESSION_REPLY_MAX && !s->reading_paused)
            session_pause_reading(s, true);
    }
    if (session_over_backlog(s))
        return;
    if (s->queue.count == 1)
        session_list_ready(s);
}

static void session_enqueue(struct session *s, struct frame *f, enum send_kind kind)
{
    session_enqueue_entry(s, (struct send_entry){.frame = f,
                                                 .cost = session_frame_cost(f, kind),
                                                 .kind = (uint8_t)kind});
}

void session_send(struct session *s, struct frame *f)
{
    if (f && s->is_sse)
        frame_unref(f);
    else if (f)
        session_enqueue(s, f, SEND_REPLY);
}

void session_send_raw(struct session *s, struct frame *f)
{
    if (f)
        session_enqueue(s, f, SEND_REPLAY);
}

/* Holds a live frame behind a pending replay: memory like a queued frame,
 * so it counts toward the backlog (a paced replay to a client that does
 * not read must not make its held frames unbounded). */
static void session_hold(struct session *s, struct frame *f, uint32_t cost)
{
    struct send_entry e = {.frame = frame_ref(f), .cost = cost, .kind = SEND_LIVE};
    if (ring_push(&s->held, e) < 0) {
        frame_unref(f);
        return;
    }
    s->held_bytes += cost;
    session_over_backlog(s);
}

/* The fan-out's path, once per delivery: session_enqueue's work for a live
 * frame, without its branches for the other kinds. */
void session_deliver(struct session *s, struct frame *f)
{
    if (!session_is_open(s))
        return;
    uint32_t cost = session_frame_cost(f, SEND_LIVE);
    if (s->replay_pending) {
        session_hold(s, f, cost);
        return;
    }
    if (ring_push(&s->queue, (struct send_entry){.frame = f, .cost = cost, .kind = SEND_LIVE}) < 0)
        return;
    frame_ref(f);
    s->queued_bytes += cost;
    if (session_over_backlog(s))
        return;
    if (s->queue.count == 1)
        session_list_ready(s);
}

/* A newer message of a slot's topic takes the slot's place; the slot is
 * charged for its new frame. */
static void session_replace(struct session *s, struct conflate_slot *slot, struct frame *f)
{
    uint32_t old_cost = slot->cost;
    conflate_replace(slot, f);
    if (s->conflated_counter)
        (*s->conflated_counter)++;
    if (slot->held)
        return;
    s->queued_bytes = s->queued_bytes - old_cost + slot->cost;
    s->conflated_bytes = s->conflated_bytes - old_cost + slot->cost;
}

/* Conflation happens only behind unsent frames: into an empty queue the
 * message goes as it is (no slot, no index), so a connection that keeps
 * up pays nothing for it. Held frames are always behind the replay. */
void session_deliver_conflated(struct session *s, struct frame *f, const char *topic)
{
    if (!session_is_open(s))
        return;
    bool held = s->replay_pending;
    if (!held && s->queue.count == 0) {
        session_enqueue(s, frame_ref(f), SEND_CONFLATED);
        return;
    }
    size_t len = strlen(topic);
    struct conflate_slot *slot = conflate_find(&s->conflated, topic, len);
    if (slot && slot->held == held) {
        session_replace(s, slot, f);
        return;
    }
    if (slot) /* queued before the replay: sent before it, as it is */
        conflate_forget(&s->conflated, slot);
    slot = conflate_add(&s->conflated, f, topic, len, held);
    if (!slot) {
        log_error("%s: out of memory queuing a conflated message", s->id);
        return;
    }
    struct send_entry e = {.slot = slot, .kind = SEND_SLOT};
    if (!held) {
        session_enqueue_entry(s, e);
    } else if (ring_push(&s->held, e) < 0) {
        conflate_release(&s->conflated, slot);
        log_error("%s: out of memory holding a conflated message", s->id);
    }
}

void session_slot_written(struct session *s, struct conflate_slot *slot)
{
    s->queued_bytes -= slot->cost;
    s->conflated_bytes -= slot->cost;
    conflate_release(&s->conflated, slot);
}

void session_release_held(struct session *s)
{
    while (s->held.count > 0) {
        struct send_entry e = ring_pop(&s->held);
        if (e.kind == SEND_SLOT)
            e.slot->held = false;
        else
            s->held_bytes -= e.cost;
        session_enqueue_entry(s, e);
    }
    ring_clear(s, &s->held);
    s->held_bytes = 0;
}

void session_wait_drained(struct session *s, size_t below, void (*drained)(void *arg), void *arg)
{
    s->drained = drained;
    s->drained_arg = arg;
    s->drain_below = below;
}

void session_call_drained(struct session *s)
{
    void (*drained)(void *arg) = s->drained;
    s->drained = NULL;
    if (drained)
        drained(s->drained_arg);
}

void session_close(struct session *s, uint16_t code, const char *reason)
{
    if (s->close_code != 0 || !s->conn)
        return;
    log_info("%s: closing with %u (%s)", s->id, code, reason);
    s->close_code = code;
    s->gone = true;
    if (code == 4000) {
        if (s->dropped_counter)
            *s->dropped_counter += s->queue.count + s->held.count;
        ring_clear(s, &s->queue);
        s->queued_bytes = s->replay_bytes = s->reply_bytes = s->conflated_bytes = 0;
    }
    ring_clear(s, &s->held);
    s->held_bytes = 0;
    s->transport->close(s->conn, code, reason);
    session_call_drained(s); /* a paced replay ends with the session */
}

void session_peer_closed(struct session *s)
{
    s->peer_closed = true;
    s->gone = true;
}

void session_detach(struct session *s)
{
    s->conn = NULL;
    s->gone = true;
    session_call_drained(s);
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
    /* A topic this subscription kept plain may be conflated from now on:
     * its next message must not take the place of a slot queued before
     * plain messages of that topic. */
    conflate_forget_all(&s->conflated);
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
