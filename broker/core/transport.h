/* SPDX-License-Identifier: MIT */
/*
 * transport.h: how core reaches a connection.
 *
 * Core owns what a connection is sent (the session's send queue of shared
 * frames and its byte count, session.h); the transport (net/conn.c for
 * WebSocket and SSE, a fake in tests/unit/test_core.c) owns the socket and
 * drains that queue through session functions. Core asks it for three
 * things only: write what is queued, close, and hold off reading. Neither is called per
 * delivery: a fan-out appends to the queue directly, and the session lists
 * itself once per turn of the event loop (session_take_ready); the
 * transport's owner calls `wake` for each listed session as the turn ends,
 * so that everything a turn queued leaves in one write (docs/design.md
 * section 5).
 */
#ifndef WSB_TRANSPORT_H
#define WSB_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

struct transport {
    /* Frames were queued for the connection `conn`: write them (or ask to
     * be called back when the socket takes them). */
    void (*wake)(void *conn);
    /* Close `conn` with `code` and `reason` after what is queued is
     * written (the close handshake, or the end of an event stream). */
    void (*close)(void *conn, uint16_t code, const char *reason);
    /* Stop (true) or resume (false) reading requests from `conn`: its
     * unread replies passed SESSION_REPLY_MAX, or fell back to half. */
    void (*pause_reading)(void *conn, bool paused);
};

#endif
