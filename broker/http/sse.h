/* SPDX-License-Identifier: MIT */
/*
 * sse.h: GET /sse, a Server-Sent Events stream (docs/protocol.md section 8).
 *
 * Owns: the stream's set-up (topics, resume point, response headers), its
 * heartbeat comment, and `conn->sse`. The stream itself is a core session
 * that only takes message events; fan-out and replay stay in core.c.
 */
#ifndef WSB_SSE_H
#define WSB_SSE_H

#include <stdint.h>

#include <libwebsockets.h>

#include "http/context.h"

/* Opens a stream on `wsi` (LWS_CALLBACK_HTTP for /sse), whose credential
 * expires at `expires` (seconds since the epoch; 0: never). Returns the
 * callback's return value. */
int sse_open(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn, int64_t expires);

/* LWS_CALLBACK_HTTP_WRITEABLE on a stream: sends what is queued. */
int sse_writeable(const struct http_ctx *ctx, struct http_conn *conn);

/* LWS_CALLBACK_TIMER: a comment line, so proxies keep the stream open. */
int sse_timer(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);

/* LWS_CALLBACK_CLOSED_HTTP: ends the stream's session, if any. */
void sse_closed(const struct http_ctx *ctx, struct http_conn *conn);

#endif
