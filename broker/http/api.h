/* SPDX-License-Identifier: MIT */
/*
 * api.h: the JSON endpoints of docs/protocol.md section 8: POST
 * /api/publish, GET /api/history, /api/presence and /healthz.
 *
 * Owns: the state of an API call in progress (`conn->call`: the body being
 * received, the reply waiting for the store). Broker logic (validation of
 * publishes, fan-out, replay) stays in core.c; the router (http.c) decides
 * which of these runs.
 */
#ifndef WSB_API_H
#define WSB_API_H

#include <stddef.h>

#include <libwebsockets.h>

#include "http/access.h"
#include "http/context.h"

/* The largest body /api/publish takes (a batch near max_message each). */
size_t api_body_max(const struct http_ctx *ctx);

/* POST /api/publish with a body of `body_len` bytes: admits it (the
 * address's --max-rate, the body budgets) and starts a call whose body
 * follows, or answers the refusal at once. The call takes over `access`
 * (what the request's credential may publish, and its user). */
int api_publish_begin(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn,
                      size_t body_len, struct http_access *access);

/* GET /api/history: answered when the store has read it. */
int api_history(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);

/* GET /api/presence and GET /healthz: answered at once. */
int api_presence(const struct http_ctx *ctx, struct lws *wsi);
int api_healthz(const struct http_ctx *ctx, struct lws *wsi);

/* LWS_CALLBACK_HTTP_BODY and _BODY_COMPLETION of a publish. */
int api_body(struct http_conn *conn, const void *in, size_t len);
int api_body_done(const struct http_ctx *ctx, struct http_conn *conn);

/* LWS_CALLBACK_HTTP_WRITEABLE: sends the reply once it is ready. */
int api_writeable(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);

/* Lets go of the call in progress, if any: the client left, or sent the
 * next request on a keep-alive connection before this one's reply. */
void api_release(struct http_conn *conn);

#endif
