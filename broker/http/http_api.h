/*
 * http_api.h: the JSON endpoints and SSE of docs/protocol.md section 8.
 *
 * Owns: per-request state of an HTTP API call (body accumulation, the reply
 * waiting for the store), the SSE stream set-up and its heartbeat, and the
 * CORS headers. Broker logic (validation of publishes, fan-out, replay)
 * stays in core.c.
 */
#ifndef WSB_HTTP_API_H
#define WSB_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>

#include <libwebsockets.h>

#include "http/http.h"
#include "net/conn.h"

struct http_req;

/* What an HTTP connection carries between callbacks (in lws user data). */
struct http_conn {
    struct http_req *req;     /* an API call in progress */
    struct conn *sse;         /* an SSE stream */
};

/* Routes /api/... and /sse (LWS_CALLBACK_HTTP). Returns -2 when the URI is
 * not an API endpoint, else the callback's return value. */
int http_api_request(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                     struct http_conn *conn);

/* LWS_CALLBACK_HTTP_BODY, _BODY_COMPLETION, _HTTP_WRITEABLE, _TIMER,
 * _CLOSED_HTTP. Each returns the callback's return value. */
int http_api_body(struct http_ctx *ctx, struct http_conn *conn, const void *in, size_t len);
int http_api_body_done(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);
int http_api_writeable(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);
int http_api_timer(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);
void http_api_closed(struct http_ctx *ctx, struct http_conn *conn);

#endif
