/* SPDX-License-Identifier: MIT */
/*
 * evloop.h: the event loop the lws context runs on.
 *
 * Owns: the libuv loop (epoll) that libwebsockets services its sockets on,
 * and the timer that bounds each wait. Why it exists: lws 4.1's own loop is
 * poll(), which scans every connection's socket at every wake-up; with 1000
 * connections that measured ~400 µs per wake-up, a fifth of the broker's CPU
 * at 50 messages/s. epoll's cost follows the sockets that are ready, not
 * the ones that are open. When the lws libuv plugin cannot be loaded the
 * context falls back to lws's poll() loop (evloop_fallback).
 */
#ifndef WSB_EVLOOP_H
#define WSB_EVLOOP_H

#include <stdbool.h>

#include <libwebsockets.h>

struct evloop;

struct evloop *evloop_new(void);

/* The libuv loop itself (uv_loop_t *), for what else runs on it. */
void *evloop_uv(struct evloop *loop);

/* Points the context creation info at the loop (foreign libuv loop).
 * `pcontext` is where the context will be stored: lws clears it once the
 * context is really gone (teardown on libuv takes two steps). */
void evloop_attach(struct evloop *loop, struct lws_context_creation_info *info, void **loops,
                   struct lws_context **pcontext);

/* After lws_create_context() failed with the loop attached: detaches it, so
 * the context can be created again on lws's poll() loop. */
void evloop_fallback(struct evloop *loop, struct lws_context_creation_info *info);

/* Services what is ready, waiting at most max_ms for something to be. */
void evloop_service(struct evloop *loop, struct lws_context *context, int max_ms);

/* Destroys the context (*pcontext, if any) and then the loop. */
void evloop_free(struct evloop *loop, struct lws_context **pcontext);

#endif
