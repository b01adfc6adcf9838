/* SPDX-License-Identifier: MIT */
/*
 * http.h: the plain HTTP side of the one port (docs/protocol.md section 8).
 *
 * Owns: `struct http_ctx` (filled once here, read by the endpoints) and the
 * routing: which endpoint answers a request, and which one each later lws
 * callback of that connection belongs to. The endpoints are api.c (JSON
 * calls and /healthz), sse.c (/sse), metrics.c (/api/stats, /metrics) and
 * files.c (the web root); reply.c formats what they send.
 */
#ifndef WSB_HTTP_H
#define WSB_HTTP_H

#include <stddef.h>

#include <libwebsockets.h>

#include "config/config.h"
#include "http/context.h"

/* Sets up the context (resolves the web root). */
void http_ctx_init(struct http_ctx *ctx, const struct config *cfg, struct core *core,
                   struct store *store, const struct http_streams *streams);
/* Turns auth on for the HTTP API (http/access.h); `creds` outlives ctx. */
void http_ctx_set_credentials(struct http_ctx *ctx, const struct credentials *creds);

/* LWS_CALLBACK_HTTP: answers the request (API calls may answer later).
 * Each function returns what the callback must return (non-zero closes the
 * connection). */
int http_handle_request(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                        struct http_conn *conn);

/* LWS_CALLBACK_HTTP_BODY, _BODY_COMPLETION, _HTTP_WRITEABLE, _TIMER and
 * _CLOSED_HTTP. */
int http_on_body(struct http_ctx *ctx, struct http_conn *conn, const void *in, size_t len);
int http_on_body_done(struct http_ctx *ctx, struct http_conn *conn);
int http_on_writeable(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);
int http_on_timer(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);
void http_on_closed(struct http_ctx *ctx, struct http_conn *conn);

#endif
