/* SPDX-License-Identifier: MIT */
/*
 * listener.h: the listening socket and the pace at which it is accepted.
 *
 * Owns: the server's listening socket (once attached, lws closes it with
 * the context) and the raw lws connection that watches it.
 *
 * Why it exists: lws 4.1 accepts every connection waiting in the kernel's
 * queue in one go (thousands in a reconnect storm), and its handshake
 * bookkeeping is linear in the connections handshaking at the same time:
 * each handshake timeout is inserted into one sorted list by walking it
 * from the head, and each header table is freed by walking the list of all
 * of them. 10,000 clients reconnecting at once spent ~1.5 s of CPU in those
 * two walks. Taking at most LISTENER_ACCEPT_BATCH connections per turn of
 * the loop keeps the handshakes in flight near two batches; the others wait
 * in the kernel's accept queue, where waiting costs the broker nothing.
 */
#ifndef WSB_LISTENER_H
#define WSB_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

#define LISTENER_ACCEPT_BATCH 512

struct listener {
    int fd;          /* the listening socket, -1 when none */
    struct lws *wsi; /* lws's raw-file connection watching fd */
    struct lws_vhost *vhost;
    lws_sorted_usec_list_t resume; /* re-arms accepting after EMFILE */
    bool paused;
    unsigned long pauses; /* times accept() ran out of descriptors */
    lws_usec_t warned_at; /* when that was last logged */
};

/* Binds `bind` (an IPv4 or IPv6 address; "0.0.0.0" is every IPv4
 * address, "::" every IPv6 and IPv4 one) and listens. */
int listener_open(struct listener *l, const char *bind, int port, char *err, size_t errlen);

/* Hands the socket to lws to watch, as a raw file bound to `protocol`:
 * its readiness arrives as LWS_CALLBACK_RAW_RX_FILE on that wsi. */
int listener_attach(struct listener *l, struct lws_vhost *vhost, const char *protocol);

bool listener_owns(const struct listener *l, const struct lws *wsi);

/* Accepts up to LISTENER_ACCEPT_BATCH waiting connections and gives them
 * to lws as HTTP connections (which may upgrade to WebSocket); when
 * `admit` is false each is closed at once instead (shutting down). */
void listener_accept(struct listener *l, bool admit);

/* lws closed the socket (LWS_CALLBACK_RAW_CLOSE_FILE): forget it. */
void listener_forget(struct listener *l);

/* Closes the socket when it was never attached. */
void listener_close(struct listener *l);

#endif
