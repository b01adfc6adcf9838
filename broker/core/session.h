/* SPDX-License-Identifier: MIT */
/*
 * session.h: one connection's state, as core sees it.
 *
 * Owns, per connection: its id, user, subscriptions, the send queue of
 * shared frames and its byte count (the slow-consumer backlog), the frames
 * held back while a replay is being read and their bytes, the requests
 * deferred behind that replay, the call a paced replay waits for (the queue
 * drained), the conflation slots of its conflated subscriptions (conflate.h),
 * the inbound rate limiter and the close code. The broker logic
 * lives in the rest of core/; this file only keeps the state consistent.
 * The socket is the transport's (transport.h): it drains the send queue
 * through the session_queue_* functions below. Service thread only.
 *
 * Lifetime: a session is created when the connection is established and
 * referenced by the transport and by each store request it has in flight;
 * it is freed when the last reference goes (session_unref), so a result that
 * arrives after the peer left finds a session marked closed, not freed
 * memory.
 */
#ifndef WSB_SESSION_H
#define WSB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/credentials.h"
#include "core/conflate.h"
#include "core/transport.h"
#include "proto/frame.h"

struct session;

/* Whether a subscription's live messages are conflated (docs/protocol.md
 * section 11): fixed at subscribe, from its `conflate` or the topic rules. */
enum sub_conflate {
    SUB_PLAIN,     /* never */
    SUB_CONFLATED, /* always */
    SUB_BY_RULE    /* when a topic rule with conflate=true governs the name */
};

struct subscription {
    struct session *session;
    struct subscription *next;
    char *pattern;
    uint64_t covers_after; /* this subscription delivers every match with seq > covers_after */
    bool presence;         /* member of the topic's presence set */
    bool presence_rejoin;  /* access.c's, during a change of user: to join again */
    uint8_t conflate;      /* enum sub_conflate */
};

/* What a queued frame is, for the accounting: live messages count toward
 * the backlog limit, replies toward it and toward the reply bound, replay
 * frames (and pings, SSE comments) toward neither, nor do conflated
 * messages (at most one per topic while backlogged). A SEND_SLOT entry holds
 * a conflation slot (conflate.h) instead of a frame: the topic's newest
 * message, replaced in place; a SEND_CONFLATED one a conflated message
 * queued when nothing was waiting, which no slot needed. */
enum send_kind { SEND_LIVE, SEND_REPLY, SEND_REPLAY, SEND_CONFLATED, SEND_SLOT };

struct send_entry {
    union {
        struct frame *frame;        /* every kind but SEND_SLOT */
        struct conflate_slot *slot; /* SEND_SLOT */
    };
    uint32_t cost; /* bytes charged while queued (session_frame_cost); a slot keeps its own */
    uint8_t kind;  /* enum send_kind */
};

/* Replies a connection may have queued before its input is paused: a
 * client that sends requests and never reads its answers is held up by TCP
 * instead of growing the broker's memory. Reading resumes below half. */
#define SESSION_REPLY_MAX (256 * 1024)

struct send_ring {
    struct send_entry *entries;
    size_t head, count, cap;
};

struct deferred_request {
    struct deferred_request *next;
    bool is_binary;
    size_t len;
    unsigned char bytes[];
};

struct session {
    const struct transport *transport;
    void *conn;  /* the transport's connection; NULL once it is gone */
    char id[16]; /* "c-" + 10 hex digits */
    uint32_t refs;
    struct session *prev, *next; /* core's list of live sessions */
    bool is_sse;                 /* an SSE stream: message events only, no replies */

    struct subscription *subs;
    size_t n_subs;

    struct send_ring queue;
    size_t queued_bytes; /* bytes charged for `queue`: frames and entries */
    size_t replay_bytes; /* of which replay frames */
    size_t reply_bytes;  /* of which replies */
    bool reading_paused; /* reply_bytes passed SESSION_REPLY_MAX */
    size_t max_backlog;
    uint64_t last_seq_queued; /* once-per-connection stamp for live fan-out */
    bool in_ready_list;       /* queued during this turn: the transport is woken as it ends */
    struct session *ready_next;

    /* Conflated subscriptions (docs/protocol.md section 11). */
    size_t conflated_bytes;          /* of queued_bytes: conflated messages, not in the backlog */
    struct conflate_index conflated; /* replaceable slots of `queue` and `held` */
    /* Fan-out's list of sessions whose matches of message `conflate_seq`
     * are all conflated so far (publish.c: a plain match wins). */
    uint64_t conflate_seq;
    struct session *conflate_next;

    bool replay_pending;   /* a subscribe's replay is being read */
    struct send_ring held; /* live frames held while replay_pending */
    size_t held_bytes;     /* bytes in `held`: they count toward the backlog */
    /* A paced replay waits for replay_bytes to fall to drain_below (or the
     * session to close): then drained(drained_arg) is called, once. */
    void (*drained)(void *arg);
    void *drained_arg;
    size_t drain_below;
    struct deferred_request *deferred, **deferred_tail;
    size_t n_deferred;

    double rate_tokens; /* inbound token bucket */
    int64_t rate_refill_ms;
    int64_t refusal_window_ms; /* start of the current 10 s refusal window */
    uint32_t refusals;

    /* What its credential allows (core/access.c writes these). */
    uint8_t access;              /* enum access_state */
    const struct grants *grants; /* NULL: everything (no auth configured) */
    struct principal principal;  /* the presented credential, when there is one; its user
                                    (NULL when anonymous) is the session's */
    int64_t access_due_ms;       /* 0, or when the access state moves on (access.c) */

    uint64_t *dropped_counter;   /* counts frames dropped by a 4000 close */
    uint64_t *conflated_counter; /* counts messages a newer one replaced (conflation) */
    uint16_t close_code;         /* != 0: close once the queue is written */
    bool peer_closed;            /* the peer's close frame came: nothing more is sent */
    _Atomic bool gone;           /* no longer open: the store thread skips reads for it */
};

struct session *session_new(const struct transport *transport, void *conn, size_t max_backlog);
void session_ref(struct session *s);
void session_unref(struct session *s);
bool session_is_open(const struct session *s);

/* Queues a reply (takes the caller's reference). SSE sessions take no
 * replies: the frame is dropped. */
void session_send(struct session *s, struct frame *f);
/* Queues a frame exempt from the backlog limit: a replayed message, or
 * bytes as they are (an SSE comment, a ping). Takes the reference. */
void session_send_raw(struct session *s, struct frame *f);
/* Queues a live message frame (adds a reference), or holds it while a
 * replay is pending. Closes the session with 4000 when the backlog (the
 * queued frames that are not replayed ones, and the held ones) passes the
 * limit. */
void session_deliver(struct session *s, struct frame *f);
/* Queues a live message of a conflated subscription of topic name `topic`
 * (adds a reference), or holds it while a replay is pending. When an
 * unsent message of the topic waits in a slot, this one takes its place
 * and the slot counts one more dropped. Never a reason for 4000. */
void session_deliver_conflated(struct session *s, struct frame *f, const char *topic);
/* Moves the held frames to the send queue (after a replay). */
void session_release_held(struct session *s);

/* Calls drained(arg) once, when the replay frames queued fall to `below`
 * bytes (session_written) or the session closes; a paced replay reads its
 * next chunk then (core/replay.c). At most one waits. */
void session_wait_drained(struct session *s, size_t below, void (*drained)(void *arg), void *arg);
/* Calls and forgets the waiting drained() (session_written). */
void session_call_drained(struct session *s);

/* Asks the transport to close with `code` once what is queued has been
 * written (for 4000 the queue is dropped first). */
void session_close(struct session *s, uint16_t code, const char *reason);
/* The peer's close frame came: nothing more is queued. */
void session_peer_closed(struct session *s);
/* The connection is gone: the session no longer reaches it. */
void session_detach(struct session *s);

/* Wakes the transport of every session that had frames queued since the
 * last call (each once), and empties that list. The transport's owner calls
 * it as every turn of the event loop ends. */
void session_wake_ready(void);

/* The transport's side of the send queue: the oldest frame (NULL when the
 * queue is empty), and dropping it once written. Inline: the coalesced
 * write visits every queued frame. A slot's frame is asked for when it is
 * about to be written: its newest message, marked with its count. */
static inline struct frame *session_queue_head(const struct session *s)
{
    if (!s->queue.count)
        return NULL;
    const struct send_entry *e = &s->queue.entries[s->queue.head];
    return e->kind == SEND_SLOT ? conflate_frame(e->slot) : e->frame;
}

static inline size_t session_queue_count(const struct session *s)
{
    return s->queue.count;
}

/* A reply left the queue: reading resumes once half the bound is free. */
void session_reply_written(struct session *s, size_t cost);
/* A slot's message left the queue. */
void session_slot_written(struct session *s, struct conflate_slot *slot);

static inline void session_queue_pop(struct session *s)
{
    struct send_entry e = s->queue.entries[s->queue.head];
    s->queue.head = (s->queue.head + 1) % s->queue.cap;
    s->queue.count--;
    if (e.kind == SEND_SLOT) {
        session_slot_written(s, e.slot);
        return;
    }
    s->queued_bytes -= e.cost;
    if (e.kind != SEND_LIVE) {
        if (e.kind == SEND_CONFLATED)
            s->conflated_bytes -= e.cost;
        else if (e.kind == SEND_REPLAY)
            s->replay_bytes -= e.cost;
        else if (e.kind == SEND_REPLY)
            session_reply_written(s, e.cost);
    }
    frame_unref(e.frame);
}

/* The transport wrote from the queue (once per write, not per frame). */
static inline void session_written(struct session *s)
{
    if (s->drained && s->replay_bytes <= s->drain_below)
        session_call_drained(s);
}

/* Inbound rate limit: true when this frame may be processed. Counts
 * refusals; *abusive is set when they pass the 4029 threshold. */
bool session_rate_allow(struct session *s, long rate, int64_t now_ms, bool *abusive);

/* Subscriptions. */
struct subscription *session_find_sub(const struct session *s, const char *pattern);
struct subscription *session_add_sub(struct session *s, const char *pattern);
void session_remove_sub(struct session *s, struct subscription *sub);

/* Requests received while a replay is pending wait here. */
int session_defer(struct session *s, const void *bytes, size_t len, bool is_binary);
struct deferred_request *session_take_deferred(struct session *s);

#endif
