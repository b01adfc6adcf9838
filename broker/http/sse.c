/* SPDX-License-Identifier: MIT */
/*
 * sse.c: GET /sse event streams (see sse.h).
 *
 * A stream answers with open-ended headers, then gets a core session: core
 * queues each message as an SSE event on it and the writable callback
 * sends them, like a WebSocket connection's. The heartbeat is a comment
 * line every --heartbeat seconds on lws's per-connection timer.
 */
#include "http/sse.h"

#include <stdio.h>
#include <string.h>

#include "common/topic.h"
#include "core/core.h"
#include "core/session.h"
#include "http/query.h"
#include "http/reply.h"
#include "proto/envelope.h"
#include "store/store.h"

#define SSE_MAX_TOPICS 16

static int sse_headers(const struct http_ctx *ctx, struct lws *wsi)
{
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers) - 1;
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/event-stream",
                                    LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-cache", 8, &p, end) ||
        reply_add_cors(wsi, ctx->cfg, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

/* The resume point: Last-Event-ID (sent by EventSource on reconnect) wins
 * over ?since=. Returns 0 none, 1 found, -1 malformed. */
static int sse_since(struct lws *wsi, uint64_t *since)
{
    char id[32];
    if (lws_hdr_custom_copy(wsi, id, sizeof(id), "last-event-id:", 14) > 0)
        return query_parse_u64(id, since) < 0 ? -1 : 1;
    return query_arg_u64(wsi, "since", since);
}

static void sse_send(struct session *s, const char *text)
{
    session_send_raw(s, frame_from_text(text, strlen(text)));
}

static void sse_arm_heartbeat(const struct http_ctx *ctx, struct lws *wsi)
{
    lws_set_timer_usecs(wsi, (lws_usec_t)ctx->cfg->heartbeat * LWS_USEC_PER_SEC);
}

int sse_open(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn, int64_t expires)
{
    const struct config *cfg = ctx->cfg;
    char topics[SSE_MAX_TOPICS][TOPIC_MAX_LEN + 8];
    int n_topics = 0;
    for (int i = 0;; i++) {
        char arg[TOPIC_MAX_LEN + 8];
        if (lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            break;
        if (strncmp(arg, "topic=", 6) != 0)
            continue;
        if (n_topics == SSE_MAX_TOPICS)
            return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                    "at most 16 topic parameters");
        const char *why = NULL;
        if (topic_validate_pattern(arg + 6, strlen(arg + 6), &why) < 0)
            return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_INVALID_TOPIC, why);
        snprintf(topics[n_topics++], sizeof(topics[0]), "%s", arg + 6);
    }
    uint64_t since = 0;
    int has_since = sse_since(wsi, &since);
    if (n_topics == 0 || has_since < 0)
        return reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                                "give 1..16 topic= parameters and an optional numeric since");
    if (ctx->streams->full(ctx->streams->owner, wsi))
        return reply_send_error(wsi, cfg, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_UNAVAILABLE,
                                "too many open connections; retry later");
    if (sse_headers(ctx, wsi) < 0)
        return -1;
    /* An event stream is long-lived: no idle timeout (lws_http_mark_sse
     * is for h2 streams in lws 4.1). */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    conn->sse_session = ctx->streams->open(ctx->core, wsi, &conn->sse);
    if (!conn->sse_session)
        return -1;
    char hello[160];
    snprintf(hello, sizeof(hello), "retry: 2000\n: wsbroker client %s epoch %s\n\n",
             conn->sse_session->id, store_epoch(ctx->store));
    sse_send(conn->sse_session, hello);
    char *patterns[SSE_MAX_TOPICS];
    for (int i = 0; i < n_topics; i++)
        patterns[i] = topics[i];
    core_sse_subscribe(ctx->core, conn->sse_session, patterns, (size_t)n_topics, has_since > 0,
                       since);
    core_session_expires(ctx->core, conn->sse_session, expires);
    sse_arm_heartbeat(ctx, wsi);
    return 0;
}

int sse_writeable(const struct http_ctx *ctx, struct http_conn *conn)
{
    return ctx->streams->writeable(conn->sse);
}

int sse_timer(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    if (!conn->sse)
        return 0;
    sse_send(conn->sse_session, ": ping\n\n");
    sse_arm_heartbeat(ctx, wsi);
    return 0;
}

void sse_closed(const struct http_ctx *ctx, struct http_conn *conn)
{
    if (conn->sse)
        ctx->streams->closed(conn->sse, ctx->core);
    conn->sse = NULL;
    conn->sse_session = NULL;
}
