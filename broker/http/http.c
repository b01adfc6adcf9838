/*
 * http.c: routing of plain HTTP requests, static files and JSON errors.
 *
 * Every response here is small and complete: headers and body go out in
 * two lws_write calls from the HTTP callback. Static files go through
 * lws_serve_http_file, which streams them from the writable callback.
 */
#include "http/http.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http/http_api.h"
#include "util/log.h"
#include "util/sbuf.h"

struct http_ctx *http_cors_ctx;

void http_ctx_init(struct http_ctx *ctx, const struct config *cfg, struct core *core,
                   struct store *store)
{
    http_cors_ctx = ctx;
    ctx->cfg = cfg;
    ctx->core = core;
    ctx->store = store;
    if (!realpath(cfg->www, ctx->www_root)) {
        log_warn("web root %s: not found; static files are off", cfg->www);
        ctx->www_root[0] = '\0';
    }
}

int http_add_cors_headers(struct lws *wsi, unsigned char **p, unsigned char *end)
{
    const struct config_list *allowed = &http_cors_ctx->cfg->allow_origin;
    char origin[256] = "*";
    if (allowed->count > 0) {
        if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
            return 0;
        size_t i = 0;
        while (i < allowed->count && strcmp(allowed->items[i], origin) != 0 &&
               strcmp(allowed->items[i], "*") != 0)
            i++;
        if (i == allowed->count)
            return 0;
    }
    return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCESS_CONTROL_ALLOW_ORIGIN,
                                        (unsigned char *)origin, (int)strlen(origin), p, end);
}

int http_respond(struct lws *wsi, unsigned int status, const char *content_type,
                 const char *body, size_t len)
{
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers) - 1;
    if (lws_add_http_common_headers(wsi, status, content_type, (lws_filepos_t)len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        http_add_cors_headers(wsi, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
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

void http_error_body(struct sbuf *b, const char *code, const char *message)
{
    sbuf_add_str(b, "{\"error\":{\"code\":");
    sbuf_add_json_string(b, code);
    sbuf_add_str(b, ",\"message\":");
    sbuf_add_json_string(b, message);
    sbuf_add_str(b, "}}");
}

int http_respond_error(struct lws *wsi, unsigned int status, const char *code,
                       const char *message)
{
    struct sbuf b;
    sbuf_init(&b);
    http_error_body(&b, code, message);
    int rc = sbuf_failed(&b) ? -1
                             : http_respond(wsi, status, "application/json", b.data, b.len);
    sbuf_free(&b);
    return rc;
}

static int http_healthz(struct http_ctx *ctx, struct lws *wsi)
{
    if (store_healthy(ctx->store)) {
        static const char ok[] = "{\"status\":\"ok\"}";
        return http_respond(wsi, HTTP_STATUS_OK, "application/json", ok, sizeof(ok) - 1);
    }
    static const char bad[] = "{\"status\":\"unavailable\",\"error\":{\"code\":\"unavailable\","
                              "\"message\":\"the message store cannot be written\"}}";
    return http_respond(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "application/json", bad,
                        sizeof(bad) - 1);
}

struct mime_type {
    const char *ext;
    const char *type;
};

static const char *http_mime_type(const char *path)
{
    static const struct mime_type types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* Resolves `uri` under the web root; 0 with `out` set, -1 when there is no
 * such regular file inside the root. */
static int http_resolve_static(const struct http_ctx *ctx, const char *uri, char *out,
                               size_t outlen)
{
    char joined[PATH_MAX + 16];
    if (!ctx->www_root[0] || uri[0] != '/' || strstr(uri, ".."))
        return -1;
    const char *rel = strcmp(uri, "/") == 0 ? "/index.html" : uri;
    if (snprintf(joined, sizeof(joined), "%s%s", ctx->www_root, rel) >= (int)sizeof(joined))
        return -1;
    char resolved[PATH_MAX];
    if (!realpath(joined, resolved))
        return -1;
    size_t root_len = strlen(ctx->www_root);
    if (strncmp(resolved, ctx->www_root, root_len) != 0 || resolved[root_len] != '/')
        return -1;
    struct stat st;
    if (stat(resolved, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    snprintf(out, outlen, "%s", resolved);
    return 0;
}

static int http_static(struct http_ctx *ctx, struct lws *wsi, const char *uri)
{
    char path[PATH_MAX];
    if (http_resolve_static(ctx, uri, path, sizeof(path)) < 0)
        return http_respond_error(wsi, HTTP_STATUS_NOT_FOUND, "not_found", "no such resource");
    int n = lws_serve_http_file(wsi, path, http_mime_type(path), NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

/* CORS preflight for the API: any method and Content-Type/Authorization. */
static int http_preflight(struct lws *wsi)
{
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers) - 1;
    static const char methods[] = "GET, POST, OPTIONS";
    static const char allow[] = "content-type, authorization, last-event-id";
    if (lws_add_http_header_status(wsi, HTTP_STATUS_NO_CONTENT, &p, end) ||
        http_add_cors_headers(wsi, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-methods:",
                                    (const unsigned char *)methods, sizeof(methods) - 1, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-headers:",
                                    (const unsigned char *)allow, sizeof(allow) - 1, &p, end) ||
        lws_add_http_header_content_length(wsi, 0, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int http_handle_request(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                        struct http_conn *conn)
{
    log_debug("http %s", uri);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
        return http_preflight(wsi);
    int rc = http_api_request(ctx, wsi, uri, conn);
    if (rc != -2)
        return rc;
    if (strcmp(uri, "/healthz") == 0)
        return http_healthz(ctx, wsi);
    if (strcmp(uri, "/ws") == 0)
        return http_respond_error(wsi, HTTP_STATUS_BAD_REQUEST, "bad_request",
                                  "/ws is the WebSocket endpoint: send an Upgrade request");
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) == 0)
        return http_respond_error(wsi, HTTP_STATUS_NOT_FOUND, "not_found",
                                  "only GET is served here");
    return http_static(ctx, wsi, uri);
}
