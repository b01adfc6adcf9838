/* SPDX-License-Identifier: MIT */
/*
 * conn.h: one connection as libwebsockets sees it, WebSocket or SSE.
 *
 * Owns, per connection: the `struct lws *`, the reassembly of fragmented
 * input, the write path (coalesced raw writes, lws's framing otherwise),
 * the close handshake, and the links of heartbeat.c's list and of the
 * read-again list. It is the transport of the connection's core session
 * (core/transport.h): core queues frames in the session, this file writes
 * them. Service thread only.
 *
 * Lifetime: lws's per-connection data points to the conn (one reference),
 * and so does the read-again list while it is listed; the conn is freed
 * with the last reference. The session is referenced until the conn
 * closes (core_session_closed releases it).
 */
#ifndef WSB_CONN_H
#define WSB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "core/core.h"
#include "util/sbuf.h"

/* The largest coalesced write (many frames in one send). The protocol's
 * tx_packet_size must be at least this, or lws sends it 2 KiB at a time and
 * copies the rest (server.c). */
#define CONN_COALESCE_BYTES (256 * 1024)

struct conn {
    struct lws *wsi;         /* NULL once lws closed the connection */
    struct session *session; /* NULL once closed */
    uint32_t refs;
    bool is_sse;         /* an event stream: HTTP writes */
    bool can_coalesce;   /* several frames may leave in one raw write (no
                            permessage-deflate, not an HTTP/2 stream) */
    uint16_t close_code; /* != 0: close once the queue is written */
    bool close_sent;     /* our close frame is out; waiting for the peer's */
    char close_reason[64];

    struct sbuf rx; /* reassembly of fragmented frames */
    bool rx_active; /* inside a message whose last fragment is still to come */
    bool rx_binary;

    struct conn *hb_prev, *hb_next; /* heartbeat.c's list, by last heard from */
    int64_t hb_heard_ms;
    bool hb_listed, hb_pinged;

    bool in_read_list; /* received during this turn: may have more to read */
    struct conn *read_next;
};

/* A WebSocket was established / an SSE stream starts: the conn and its
 * core session (NULL when out of memory). */
struct conn *conn_open_ws(struct core *core, struct lws *wsi);
struct conn *conn_open_sse(struct core *core, struct lws *wsi);

/* lws closed the connection: the session goes, the conn when unreferenced. */
void conn_closed(struct conn *c, struct core *core);

/* LWS_CALLBACK_RECEIVE: a fragment of a message of at most `max` bytes;
 * whole messages go to core. Returns the callback's return value. */
int conn_receive(struct conn *c, struct core *core, size_t max, const void *in, size_t len);

/* The socket takes more (SERVER_WRITEABLE, HTTP_WRITEABLE). Returns -1 when
 * the connection must now be closed, 0 otherwise. */
int conn_writeable(struct conn *c);

/* LWS_CALLBACK_WS_PEER_INITIATED_CLOSE. Returns the callback's value. */
int conn_peer_close(struct conn *c);

/* Heartbeat: queues a ping / drops a silent peer (TCP close, no frame). */
void conn_send_ping(struct conn *c);
void conn_drop(struct conn *c);

/* Connections that received during this turn are read again, up to 64 KiB
 * each, until a read finds nothing (see conn.c). */
void conn_mark_received(struct conn *c);
void conn_read_more(struct lws_context *context);

#endif
