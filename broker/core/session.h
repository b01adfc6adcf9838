/*
 * session.h: one WebSocket connection's state.
 *
 * Owns, per connection: its id, user, subscriptions, the send queue of
 * shared frames and its byte count (the slow-consumer backlog), the frames
 * held back while a replay is being read, the requests deferred behind that
 * replay, the reassembly buffer for fragmented input, the inbound rate
 * limiter and the close code. The broker logic lives in core.c; this file
 * only keeps the state consistent. Service thread only.
 *
 * Lifetime: a session is created when the WebSocket is established and
 * referenced by the connection and by each store request it has in flight;
 * it is freed when the last reference goes (session_unref), so a result that
 * arrives after the peer left finds a session marked closed, not freed
 * memory.
 */
#ifndef WSB_SESSION_H
#define WSB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "proto/frame.h"

struct session;

/* The largest coalesced write (many frames in one send). The protocol's
 * tx_packet_size must be at least this, or lws sends it 2 KiB at a time and
 * copies the rest (server.c). */
#define SESSION_COALESCE_BYTES (256 * 1024)

struct subscription {
    struct session *session;
    struct subscription *next;
    char *pattern;
    uint64_t covers_after; /* this subscription delivers every match with seq > covers_after */
    bool presence;         /* member of the topic's presence set */
};

struct send_entry {
    struct frame *frame;
    bool is_replay; /* replay frames do not count toward the backlog limit */
};

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
    struct lws *wsi; /* NULL once the connection is gone */
    char id[16];     /* "c-" + 10 hex digits */
    char *user;      /* authenticated user, NULL when anonymous */
    uint32_t refs;
    struct session *prev, *next; /* core's list of live sessions */
    bool is_sse;                 /* an SSE stream: HTTP writes, message events only */
    bool can_coalesce;           /* several frames may leave in one raw write (no
                                    permessage-deflate, not an HTTP/2 stream) */

    struct subscription *subs;
    size_t n_subs;

    struct send_ring queue;
    size_t queued_bytes; /* bytes in `queue` */
    size_t replay_bytes; /* of which replay frames */
    size_t max_backlog;
    uint64_t last_seq_queued; /* once-per-connection stamp for live fan-out */
    bool in_flush_list;       /* queued during this turn: written when it ends */
    struct session *flush_next;
    struct session *hb_prev, *hb_next; /* heartbeat.c's list, by last heard from */
    int64_t hb_heard_ms;
    bool hb_listed, hb_pinged;
    bool in_read_list; /* received during this turn: may have more to read */
    struct session *read_next;

    bool replay_pending;   /* a subscribe's replay is being read */
    struct send_ring held; /* live frames held while replay_pending */
    struct deferred_request *deferred, **deferred_tail;
    size_t n_deferred;

    unsigned char *rx; /* reassembly of fragmented frames */
    size_t rx_len, rx_cap;
    bool rx_active; /* inside a message whose last fragment is still to come */
    bool rx_binary;

    double rate_tokens; /* inbound token bucket */
    int64_t rate_refill_ms;
    int64_t refusal_window_ms; /* start of the current 10 s refusal window */
    uint32_t refusals;

    uint64_t *dropped_counter; /* counts frames dropped by a 4000 close */
    uint16_t close_code;       /* != 0: close once the queue is written */
    bool close_sent;           /* our close frame is out; waiting for the peer's */
    bool peer_closed;          /* the peer's close frame came: lws answers it, we send no more */
    char close_reason[64];
};

struct session *session_new(struct lws *wsi, size_t max_backlog);
void session_ref(struct session *s);
void session_unref(struct session *s);
bool session_is_open(const struct session *s);

/* Queues a reply (takes the caller's reference). SSE sessions take no
 * replies: the frame is dropped. */
void session_send(struct session *s, struct frame *f);
/* Queues a replay frame: exempt from the backlog limit (takes the reference). */
void session_send_replay(struct session *s, struct frame *f);
/* Queues a live message frame (adds a reference), or holds it while a
 * replay is pending. Closes the session with 4000 when the backlog passes
 * the limit. */
void session_deliver(struct session *s, struct frame *f);
/* Queues bytes as they are (an SSE comment), exempt from the backlog. */
void session_send_raw(struct session *s, struct frame *f);
/* Queues a WebSocket ping (a shared pre-built frame), exempt from the
 * backlog. */
void session_send_ping(struct session *s);
/* Moves the held frames to the send queue (after a replay). */
void session_release_held(struct session *s);

/* Asks for the connection to be closed with `code` once what is queued has
 * been written (for 4000 the queue is dropped first). */
void session_close(struct session *s, uint16_t code, const char *reason);

/* Writes queued frames while the socket takes them. Returns -1 when the
 * connection must now be closed (the close reason is set), 0 otherwise. */
int session_write(struct session *s);

/* Writes, directly, what the current turn of the event loop queued for
 * coalescing sessions. server.c calls it as every turn ends. */
void session_flush_pending(void);

/* Connections that received data during this turn (each listed with a
 * reference): server.c reads again from those whose socket holds more. */
void session_mark_received(struct session *s);
/* Takes the list (linked by read_next); the caller clears in_read_list and
 * drops each reference. */
struct session *session_take_received(void);

/* Reassembly: appends a fragment; returns -1 when the total would pass max. */
int session_rx_append(struct session *s, const void *in, size_t len, size_t max);

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
