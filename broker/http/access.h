/* SPDX-License-Identifier: MIT */
/*
 * access.h: who an HTTP request is and what it may do (docs/auth.md).
 *
 * Owns: reading the request's credential (`Authorization: Bearer`, and for
 * /sse `?token=`, since EventSource sends no headers) and the refusals of
 * docs/protocol.md section 10: no credential and outside the anonymous
 * patterns is 401, a credential that does not cover the topic is 403, a
 * credential that does not verify is 401; /api/stats and /metrics need an
 * API key unless --public-metrics. It keeps no state: the credentials are
 * the server's (http_ctx), the resolved principal the caller's.
 */
#ifndef WSB_HTTP_ACCESS_H
#define WSB_HTTP_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "auth/credentials.h"
#include "http/context.h"

/* What one request may do. */
struct http_access {
    const struct grants *grants; /* NULL: everything (no auth configured) */
    bool has_credential;         /* a valid credential was presented */
    struct principal principal;  /* its user and grants */
};

/* Resolves the request's credential (`?token=` too when query_token).
 * 0, or -1 after answering 401 (a credential that does not verify), with
 * *rc holding what the callback returns. Release with http_access_free. */
int http_access_resolve(const struct http_ctx *ctx, struct lws *wsi, bool query_token,
                        struct http_access *a, int *rc);

/* The status a refused request gets: 401 without credential, else 403. */
unsigned int http_access_refusal(const struct http_access *a);

bool http_access_may_publish(const struct http_access *a, const char *name);

/* An admin request (/api/stats, /metrics, POST /api/backup) needs an API
 * key when auth is configured: 0 to serve it, or -1 after answering 401
 * (no credential) or 403 (a token), with *rc holding what the callback
 * returns. */
int http_access_admin(const struct http_ctx *ctx, struct lws *wsi, int *rc);

/* The checks of a GET before its endpoint runs: subscribe rights on the
 * topics of /api/history, /api/presence and /sse, an API key for
 * /api/stats and /metrics. 0 to serve it, with *expires set to the
 * credential's `exp` (0: none, or no credential); or -1 after the answer,
 * with *rc holding what the callback returns. */
int http_access_get(const struct http_ctx *ctx, struct lws *wsi, const char *uri, int64_t *expires,
                    int *rc);

void http_access_free(struct http_access *a);

#endif
