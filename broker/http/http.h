/*
 * http.h: the plain HTTP side of the one port (docs/protocol.md section 8).
 *
 * Owns: request routing, JSON error bodies, /healthz, and static files from
 * the web root. The HTTP API and SSE endpoints hang off this router.
 */
#ifndef WSB_HTTP_H
#define WSB_HTTP_H

#include <libwebsockets.h>

#include "config/config.h"
#include "core/core.h"
#include "store/store.h"

struct http_ctx;
extern struct http_ctx *http_cors_ctx; /* the one context CORS reads its list from */

struct http_ctx {
    const struct config *cfg;
    struct core *core;
    struct store *store;
    char www_root[4096];   /* realpath of cfg->www, "" when missing */
};

/* Sets up the context (resolves the web root). */
void http_ctx_init(struct http_ctx *ctx, const struct config *cfg, struct core *core,
                   struct store *store);

struct http_conn;

/* LWS_CALLBACK_HTTP: answers the request (API calls may answer later).
 * Returns what the callback must return (non-zero closes the connection). */
int http_handle_request(struct http_ctx *ctx, struct lws *wsi, const char *uri,
                        struct http_conn *conn);

/* Adds Access-Control-Allow-Origin per --allow-origin (any origin when the
 * list is empty). Returns 0 or -1 when out of room. */
int http_add_cors_headers(struct lws *wsi, unsigned char **p, unsigned char *end);

/* Sends a complete response. Returns the callback's return value. */
int http_respond(struct lws *wsi, unsigned int status, const char *content_type,
                 const char *body, size_t len);

/* Appends {"error":{"code":..,"message":..}}, the body of every HTTP error. */
struct sbuf;
void http_error_body(struct sbuf *b, const char *code, const char *message);

/* Sends {"error":{"code":..,"message":..}} with `status`. */
int http_respond_error(struct lws *wsi, unsigned int status, const char *code,
                       const char *message);

#endif
