/* SPDX-License-Identifier: MIT */
/*
 * http.c: routing of plain HTTP requests (see http.h).
 *
 * The router is the only file that knows every endpoint; the endpoints
 * know only reply.c and the context, so the calls go one way. A connection
 * carries at most one of an API call (`conn->call`), an admin call
 * (`conn->admin`) or an event stream (`conn->sse`), which tells the later callbacks where they
 * belong.
 *
 * Every request passes guard.c first (its target's length, Host, and for
 * a POST its Origin and body framing). After a refused framing the
 * connection is closed once the answer is written: what follows a body of
 * unknown length is not a request. Nothing of `conn` may be written after
 * an answer: lws may free and zero it when the transaction completes.
 */
#include "http/http.h"

#include <stdbool.h>
#include <string.h>

#include "common/clock.h"
#include "http/access.h"
#include "http/admin.h"
#include "http/api.h"
#include "http/files.h"
#include "http/guard.h"
#include "http/metrics.h"
#include "http/reply.h"
#include "http/sse.h"
#include "proto/envelope.h"
#include "util/log.h"

void http_ctx_init(struct http_ctx *ctx, const struct config *cfg, struct core *core,
                   struct store *store, const struct http_streams *streams)
{
    ctx->streams = streams;
    ctx->cfg = cfg;
    ctx->core = core;
    ctx->store = store;
    files_resolve_root(cfg->www, ctx->www_root, sizeof(ctx->www_root));
    peers_init(&ctx->peers, (size_t)cfg->http_body_budget, (size_t)cfg->http_body_budget_per_ip);
}

void http_ctx_set_credentials(struct http_ctx *ctx, const struct credentials *creds)
{
    ctx->creds = creds;
}

static int http_route_get(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                          struct http_conn *conn)
{
    const struct config *cfg = ctx->cfg;
    int rc = 0;
    int64_t expires;
    if (http_access_get(ctx, wsi, uri, &expires, &rc) < 0)
        return rc;
    if (strcmp(uri, "/api/history") == 0)
        return api_history(ctx, wsi, conn);
    if (strcmp(uri, "/api/presence") == 0)
        return api_presence(ctx, wsi);
    if (strcmp(uri, "/api/stats") == 0)
        return metrics_serve(ctx, wsi, false);
    if (strcmp(uri, "/metrics") == 0)
        return metrics_serve(ctx, wsi, true);
    if (strcmp(uri, "/sse") == 0)
        return sse_open(ctx, wsi, conn, expires);
    if (strncmp(uri, "/api/", 5) == 0)
        return reply_send_error(wsi, cfg, HTTP_STATUS_NOT_FOUND, "not_found", "no such endpoint");
    if (strcmp(uri, "/healthz") == 0)
        return api_healthz(ctx, wsi);
    if (strcmp(uri, "/ws") == 0)
        return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, "bad_request",
                                "/ws is the WebSocket endpoint: send an Upgrade request");
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) == 0)
        return reply_send_error(wsi, cfg, HTTP_STATUS_NOT_FOUND, "not_found",
                                "only GET is served here");
    return files_serve(ctx, wsi, uri);
}

/* A POST: its deadline and checks, then /api/publish or /api/backup (the
 * endpoints that take one). */
static int http_route_post(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                           struct http_conn *conn)
{
    const struct config *cfg = ctx->cfg;
    size_t body_len = 0;
    int rc = 0;
    /* The whole body, kept or discarded after a refusal, has this long.
     * lws 4.1 cannot cancel a connection's timer (LWS_SET_TIMER_USEC_CANCEL
     * fires it at once), so the deadline is cleared instead and a timer
     * that finds none does nothing. */
    lws_usec_t timeout_us = (lws_usec_t)cfg->http_body_timeout * LWS_USEC_PER_SEC;
    conn->body_deadline_us = clock_mono_us() + timeout_us;
    lws_set_timer_usecs(wsi, timeout_us);
    switch (guard_post(wsi, cfg, api_body_max(ctx), &body_len, &rc)) {
    case GUARD_PASS:
        break;
    case GUARD_ANSWERED_LAST:
        return -1; /* lws shuts the socket down after the answer */
    case GUARD_ANSWERED:
        return rc;
    }
    if (strcmp(uri, "/api/backup") == 0)
        return http_access_admin(ctx, wsi, &rc) < 0 ? rc
                                                    : admin_backup_begin(ctx, wsi, conn, body_len);
    if (strcmp(uri, "/api/publish") != 0)
        return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                "only /api/publish and /api/backup take POST");
    struct http_access access;
    if (http_access_resolve(ctx, wsi, false, &access, &rc) < 0)
        return rc;
    return api_publish_begin(ctx, wsi, conn, body_len, &access);
}

int http_handle_request(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                        struct http_conn *conn)
{
    const struct config *cfg = ctx->cfg;
    log_debug("http %s", uri);
    conn->body_deadline_us = 0; /* a new request: the last body is over */
    int rc = 0;
    if (guard_uri(wsi, cfg, &rc) != GUARD_PASS || guard_host(wsi, cfg, &rc) != GUARD_PASS)
        return rc;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
        return reply_preflight(wsi, cfg);
    api_release(conn); /* a keep-alive request that left before its reply */
    admin_release(conn);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
        return http_route_post(ctx, wsi, uri, conn);
    if (strcmp(uri, "/api/publish") == 0)
        return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                "POST a JSON body to /api/publish");
    return http_route_get(ctx, wsi, uri, conn);
}

int http_on_body(struct http_ctx *ctx, struct http_conn *conn, const void *in, size_t len)
{
    (void)ctx;
    if (conn->admin)
        return admin_body(conn, in, len);
    return api_body(conn, in, len);
}

int http_on_body_done(struct http_ctx *ctx, struct http_conn *conn)
{
    conn->body_deadline_us = 0; /* the body came in time */
    if (conn->admin)
        return admin_body_done(ctx, conn);
    return api_body_done(ctx, conn);
}

int http_on_writeable(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    if (conn->sse)
        return sse_writeable(ctx, conn);
    if (conn->admin)
        return admin_writeable(ctx, wsi, conn);
    return api_writeable(ctx, wsi, conn);
}

int http_on_timer(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    if (conn->sse)
        return sse_timer(ctx, wsi, conn);
    /* The body deadline (http_route_post): the body is late, or the
     * request was refused and the client is still sending its body. */
    if (conn->body_deadline_us == 0 || clock_mono_us() < conn->body_deadline_us)
        return 0;
    log_info("http: a request body took over %d s; closing its connection",
             ctx->cfg->http_body_timeout);
    return -1;
}

void http_on_closed(struct http_ctx *ctx, struct http_conn *conn)
{
    sse_closed(ctx, conn);
    api_release(conn);
    admin_release(conn);
}
