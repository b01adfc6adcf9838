/* SPDX-License-Identifier: MIT */
/*
 * guard.c: request checks before routing (see guard.h).
 *
 * lws 4.1 reads a POST without Content-Length as a body of up to 100 MiB,
 * joins repeated Content-Length headers with commas and takes the first
 * number, and ignores Transfer-Encoding on requests. So the only body
 * framing taken here is one Content-Length of digits alone; anything else
 * is refused before a byte of body is kept, and the connection is closed
 * after the answer (what follows cannot be told apart from a body).
 */
#include "http/guard.h"

#include <string.h>

#include "http/reply.h"
#include "proto/envelope.h"

#define GUARD_LENGTH_DIGITS 18 /* below 2^63 */
/* More query parameters than any endpoint reads (/sse: 16 topics, since). */
#define GUARD_URI_ARGS_MAX 64

/* A constant: lws keeps the pointer for the context's life. */
static const struct lws_token_limits guard_limits = {
    .token_limit =
        {
            [WSI_TOKEN_GET_URI] = GUARD_URI_PIECE_MAX,
            [WSI_TOKEN_POST_URI] = GUARD_URI_PIECE_MAX,
            [WSI_TOKEN_OPTIONS_URI] = GUARD_URI_PIECE_MAX,
        },
};

const struct lws_token_limits *guard_token_limits(void)
{
    return &guard_limits;
}

/* Whether lws cut a piece of the target: a piece at the limit was cut. */
static bool guard_uri_was_cut(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) >= GUARD_URI_PIECE_MAX ||
        lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) >= GUARD_URI_PIECE_MAX ||
        lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) >= GUARD_URI_PIECE_MAX)
        return true;
    for (int i = 0; i < GUARD_URI_ARGS_MAX; i++) {
        if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) >= GUARD_URI_PIECE_MAX)
            return true;
    }
    return false;
}

enum guard_verdict guard_uri(struct lws *wsi, const struct config *cfg, int *rc)
{
    if (!guard_uri_was_cut(wsi))
        return GUARD_PASS;
    *rc = reply_send_error(wsi, cfg, HTTP_STATUS_REQ_URI_TOO_LONG, ERR_BAD_REQUEST,
                           "the request target is too long");
    return GUARD_ANSWERED;
}

enum guard_verdict guard_host(struct lws *wsi, const struct config *cfg, int *rc)
{
    char host[GUARD_HEADER_MAX];
    if (cfg->allow_host.count == 0)
        return GUARD_PASS;
    int len = lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST);
    if (config_host_allowed(cfg, host, len))
        return GUARD_PASS;
    /* 421 Misdirected Request (RFC 9110 15.5.20): the name is not this
     * server's, which is what a DNS-rebinding page looks like. */
    *rc = reply_send_error(wsi, cfg, GUARD_STATUS_MISDIRECTED, ERR_FORBIDDEN,
                           "this Host is not served here (--allow-host)");
    return GUARD_ANSWERED;
}

/* The declared body length: 0 with *len set, -1 when the header is
 * missing, repeated or not a plain number. */
static int guard_content_length(struct lws *wsi, size_t *len)
{
    char text[GUARD_LENGTH_DIGITS + 2];
    int n = lws_hdr_copy(wsi, text, sizeof(text), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (n <= 0 || n > GUARD_LENGTH_DIGITS)
        return -1;
    size_t value = 0;
    for (int i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (size_t)(text[i] - '0');
    }
    *len = value;
    return 0;
}

enum guard_verdict guard_post(struct lws *wsi, const struct config *cfg, size_t body_max,
                              size_t *body_len, int *rc)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) == 0) {
        *rc = reply_send_error(wsi, cfg, HTTP_STATUS_LENGTH_REQUIRED, ERR_BAD_REQUEST,
                               "send the body with one Content-Length (chunked bodies are "
                               "not taken)");
        return GUARD_ANSWERED_LAST;
    }
    if (guard_content_length(wsi, body_len) < 0) {
        *rc = reply_send_error(wsi, cfg, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                               "Content-Length must be one plain number");
        return GUARD_ANSWERED_LAST;
    }
    char origin[GUARD_HEADER_MAX];
    int origin_len = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
    if (!config_origin_allowed(cfg, origin, origin_len)) {
        *rc = reply_send_error(wsi, cfg, HTTP_STATUS_FORBIDDEN, ERR_FORBIDDEN,
                               "requests from this Origin may not change anything "
                               "(--allow-origin)");
        return GUARD_ANSWERED;
    }
    if (*body_len > body_max) {
        *rc = reply_send_error(wsi, cfg, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, ERR_TOO_LARGE,
                               "the request body is over the limit");
        return GUARD_ANSWERED;
    }
    return GUARD_PASS;
}
