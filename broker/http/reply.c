/* SPDX-License-Identifier: MIT */
/*
 * reply.c: complete HTTP responses, CORS headers and JSON errors (see
 * reply.h).
 *
 * Every response here is small and complete: headers and body go out in
 * two lws_write calls from the HTTP callback.
 */
#include "http/reply.h"

#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"

/* As guard.c reads it: longer than any Origin a browser sends. */
#define REPLY_ORIGIN_MAX 1024

int reply_add_cors(struct lws *wsi, const struct config *cfg, unsigned char **p, unsigned char *end)
{
    char origin[REPLY_ORIGIN_MAX] = "*";
    if (cfg->allow_origin.count > 0) {
        int len = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
        if (len <= 0 || !config_origin_allowed(cfg, origin, len))
            return 0; /* none, or one too long to echo, or not allowed */
    }
    return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCESS_CONTROL_ALLOW_ORIGIN,
                                        (unsigned char *)origin, (int)strlen(origin), p, end);
}

int reply_send(struct lws *wsi, const struct config *cfg, unsigned int status,
               const char *content_type, const char *body, size_t len)
{
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers) - 1;
    if (lws_add_http_common_headers(wsi, status, content_type, (lws_filepos_t)len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        reply_add_cors(wsi, cfg, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (len > 0) {
        unsigned char *copy = malloc(LWS_PRE + len);
        if (!copy)
            return -1;
        memcpy(copy + LWS_PRE, body, len);
        int n = lws_write(wsi, copy + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
        free(copy);
        if (n < 0)
            return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void reply_error_body(struct sbuf *b, const char *code, const char *message)
{
    sbuf_add_str(b, "{\"error\":{\"code\":");
    sbuf_add_json_string(b, code);
    sbuf_add_str(b, ",\"message\":");
    sbuf_add_json_string(b, message);
    sbuf_add_str(b, "}}");
}

int reply_send_error(struct lws *wsi, const struct config *cfg, unsigned int status,
                     const char *code, const char *message)
{
    struct sbuf b;
    sbuf_init(&b);
    reply_error_body(&b, code, message);
    int rc = sbuf_failed(&b) ? -1 : reply_send(wsi, cfg, status, "application/json", b.data, b.len);
    sbuf_free(&b);
    return rc;
}

int reply_preflight(struct lws *wsi, const struct config *cfg)
{
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers) - 1;
    static const char methods[] = "GET, POST, OPTIONS";
    static const char allow[] = "content-type, authorization, last-event-id";
    if (lws_add_http_header_status(wsi, HTTP_STATUS_NO_CONTENT, &p, end) ||
        reply_add_cors(wsi, cfg, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-methods:",
                                    (const unsigned char *)methods, sizeof(methods) - 1, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-headers:",
                                    (const unsigned char *)allow, sizeof(allow) - 1, &p, end) ||
        lws_add_http_header_content_length(wsi, 0, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
