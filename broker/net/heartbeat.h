/* SPDX-License-Identifier: MIT */
/*
 * heartbeat.h: WebSocket pings to idle connections, and dropping the silent.
 *
 * Owns: the list of WebSocket connections in the order they were last heard
 * from. A connection that has sent nothing for `interval` seconds gets a ping;
 * one silent for 3 x `interval` is dropped (TCP close, no close frame:
 * docs/protocol.md section 1). Why not lws's own idle policy: lws 4.1 keeps a
 * timer per connection in one sorted list, and every re-arm (each new
 * connection, each pong) walks that list, O(connections): with 10,000
 * connections reconnecting at once that is a fifth of the broker's CPU. Here
 * hearing from a connection moves it to the tail in O(1), and a tick only
 * visits the connections that are overdue. Service thread only.
 */
#ifndef WSB_HEARTBEAT_H
#define WSB_HEARTBEAT_H

#include <stdint.h>

struct conn;

struct heartbeat {
    struct conn *head, *tail; /* least recently heard from first */
    int64_t interval_ms;
    int64_t next_tick_ms;
};

void heartbeat_init(struct heartbeat *hb, int interval_s);

/* A connection is heard from (added at the tail when new). */
void heartbeat_touch(struct heartbeat *hb, struct conn *s, int64_t now_ms);

/* The connection is gone. */
void heartbeat_remove(struct heartbeat *hb, struct conn *s);

/* Pings connections silent for `interval` and calls drop() for those silent
 * for 3 x `interval`; does nothing until its next tick is due. */
void heartbeat_tick(struct heartbeat *hb, int64_t now_ms, void (*ping)(struct conn *),
                    void (*drop)(struct conn *));

/* Milliseconds until the next tick is due (at least 1). */
int heartbeat_wait_ms(const struct heartbeat *hb, int64_t now_ms);

#endif
