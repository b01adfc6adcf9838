/*
 * http.c: routing of plain HTTP requests (see http.h).
 *
 * The router is the only file that knows every endpoint; the endpoints
 * know only reply.c and the context, so the calls go one way. A connection
 * carries at most one of an API call (`conn->call`) or an event stream
 * (`conn->sse`), which tells the later callbacks where they belong.
 */
#include "http/http.h"

#include <stdbool.h>
#include <string.h>

#include "http/api.h"
#include "http/files.h"
#include "http/metrics.h"
#include "http/reply.h"
#include "http/sse.h"
#include "proto/envelope.h"
#include "util/log.h"

void http_ctx_init(struct http_ctx *ctx, const struct config *cfg, struct core *core,
                   struct store *store)
{
    ctx->cfg = cfg;
    ctx->core = core;
    ctx->store = store;
    files_resolve_root(cfg->www, ctx->www_root, sizeof(ctx->www_root));
}

static int http_route_get(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                          struct http_conn *conn)
{
    const struct config *cfg = ctx->cfg;
    if (strcmp(uri, "/api/history") == 0)
        return api_history(ctx, wsi, conn);
    if (strcmp(uri, "/api/presence") == 0)
        return api_presence(ctx, wsi);
    if (strcmp(uri, "/api/stats") == 0)
        return metrics_serve(ctx, wsi, false);
    if (strcmp(uri, "/metrics") == 0)
        return metrics_serve(ctx, wsi, true);
    if (strcmp(uri, "/sse") == 0)
        return sse_open(ctx, wsi, conn);
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

int http_handle_request(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                        struct http_conn *conn)
{
    const struct config *cfg = ctx->cfg;
    log_debug("http %s", uri);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
        return reply_preflight(wsi, cfg);
    api_release(conn); /* a keep-alive request that left before its reply */
    bool is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    if (strcmp(uri, "/api/publish") == 0) {
        if (!is_post)
            return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                    "POST a JSON body to /api/publish");
        return api_publish_begin(wsi, conn);
    }
    if (is_post)
        return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                "only /api/publish takes POST");
    return http_route_get(ctx, wsi, uri, conn);
}

int http_on_body(struct http_ctx *ctx, struct http_conn *conn, const void *in, size_t len)
{
    return api_body(ctx, conn, in, len);
}

int http_on_body_done(struct http_ctx *ctx, struct http_conn *conn)
{
    return api_body_done(ctx, conn);
}

int http_on_writeable(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    if (conn->sse)
        return sse_writeable(conn);
    return api_writeable(ctx, wsi, conn);
}

int http_on_timer(struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    return sse_timer(ctx, wsi, conn);
}

void http_on_closed(struct http_ctx *ctx, struct http_conn *conn)
{
    sse_closed(ctx, conn);
    api_release(conn);
}
