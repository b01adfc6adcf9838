/* SPDX-License-Identifier: MIT */
/*
 * context.h: what the HTTP endpoints share, and what one HTTP connection
 * carries between lws callbacks.
 *
 * Types only: the router (http.c) and every endpoint (api.c, sse.c,
 * metrics.c, files.c) read these, so they sit below all of them and no
 * endpoint has to include the router. http.c fills `struct http_ctx` once;
 * the endpoints only read it, except `peers`, which api.c updates through
 * peers.c (the table is here so that it lives and dies with the server).
 */
#ifndef WSB_HTTP_CONTEXT_H
#define WSB_HTTP_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "http/peers.h"

struct core;
struct store;
struct api_call;
struct admin_call;
struct lws;
struct session;
struct credentials;

/* An SSE stream is a connection of the transport layer (net/), which
 * writes the stream's queued events and owns its lifetime. net/ calls into
 * this module, so it hands these three functions in rather than http/
 * calling net/: the arrows stay one way. */
struct http_streams {
    void *owner; /* passed to full() */
    /* True when no stream may open now for wsi's peer (the descriptors
     * are spoken for, or --max-conns-per-ip): the request is answered 503. */
    bool (*full)(void *owner, struct lws *wsi);
    /* Makes wsi a stream: its core session (NULL when out of memory), and
     * the stream itself in *stream. */
    struct session *(*open)(struct core *core, struct lws *wsi, void **stream);
    /* The socket takes more; -1 when the connection must close. */
    int (*writeable)(void *stream);
    /* lws closed it. */
    void (*closed)(void *stream, struct core *core);
};

struct http_ctx {
    const struct config *cfg;
    struct core *core;
    struct store *store;
    const struct http_streams *streams;
    char www_root[4096];             /* realpath of cfg->www, "" when missing */
    struct peers peers;              /* per client address: body bytes, publish rate */
    const struct credentials *creds; /* NULL: no auth configured (access.h) */
};

/* Lives in lws's per-connection user data; zeroed by lws, and freed and
 * zeroed again when a request's transaction completes. */
struct http_conn {
    struct api_call *call;       /* an API call in progress (api.c's) */
    struct admin_call *admin;    /* an admin call in progress (admin.c's) */
    void *sse;                   /* an SSE stream (sse.c's), from http_streams.open */
    struct session *sse_session; /* its core session */
    int64_t body_deadline_us;    /* http.c's: the body must be in by then (monotonic); 0: none */
};

#endif
