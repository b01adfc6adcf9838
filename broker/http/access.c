/* SPDX-License-Identifier: MIT */
/*
 * access.c: the credential of an HTTP request and what it may do (see
 * access.h). Checks run once per request, before the endpoint reads or
 * publishes anything.
 */
#include "http/access.h"

#include <string.h>
#include <time.h>

#include "common/topic.h"
#include "http/guard.h"
#include "http/reply.h"
#include "http/query.h"
#include "proto/envelope.h"

#define BEARER "Bearer "
/* The longest credential read from a header: a token at its size limit
 * (8192 bytes) fits; a longer one arrives cut and fails verification. */
#define ACCESS_CREDENTIAL_MAX 8300

static int access_answer(const struct http_ctx *ctx, struct lws *wsi, unsigned int status,
                         const char *message, int *rc)
{
    const char *code = status == HTTP_STATUS_UNAUTHORIZED ? ERR_UNAUTHORIZED : ERR_FORBIDDEN;
    *rc = reply_send_error(wsi, ctx->cfg, status, code, message);
    return -1;
}

/* The presented credential into `out`: 1 when there is one, 0 when none. */
static int access_read_credential(struct lws *wsi, bool query_token, char *out, int outlen)
{
    int len = lws_hdr_copy(wsi, out, outlen, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (len > 0) {
        size_t skip = strlen(BEARER);
        if (strncasecmp(out, BEARER, skip) != 0)
            return 1; /* another scheme: resolved as given, it fails */
        memmove(out, out + skip, (size_t)len - skip + 1);
        return 1;
    }
    if (len < 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        out[0] = '\0'; /* too long to be a credential */
        return 1;
    }
    return query_token && query_arg(wsi, "token", out, outlen) >= 0 ? 1 : 0;
}

int http_access_resolve(const struct http_ctx *ctx, struct lws *wsi, bool query_token,
                        struct http_access *a, int *rc)
{
    memset(a, 0, sizeof(*a));
    if (!ctx->creds)
        return 0;
    a->grants = credentials_anonymous(ctx->creds);
    static char credential[ACCESS_CREDENTIAL_MAX]; /* service thread only */
    if (!access_read_credential(wsi, query_token, credential, sizeof(credential)))
        return 0;
    const char *why;
    if (credentials_resolve(ctx->creds, credential, strlen(credential), (int64_t)time(NULL),
                            &a->principal, &why) < 0) {
        char message[160];
        snprintf(message, sizeof(message), "invalid credential: %s", why);
        return access_answer(ctx, wsi, HTTP_STATUS_UNAUTHORIZED, message, rc);
    }
    a->has_credential = true;
    a->grants = &a->principal.grants;
    return 0;
}

unsigned int http_access_refusal(const struct http_access *a)
{
    return a->has_credential ? HTTP_STATUS_FORBIDDEN : HTTP_STATUS_UNAUTHORIZED;
}

bool http_access_may_publish(const struct http_access *a, const char *name)
{
    return !a->grants || grants_may_publish(a->grants, name);
}

/* Whether `a` may subscribe to `pattern`; an invalid pattern passes, for
 * the endpoint to answer 400. */
static bool access_may_subscribe(const struct http_access *a, const char *pattern)
{
    const char *why;
    if (!a->grants || topic_validate_pattern(pattern, strlen(pattern), &why) < 0)
        return true;
    return grants_may_subscribe(a->grants, pattern);
}

/* Subscribe rights on every `topic=` of the query. */
static bool access_topics_allowed(struct lws *wsi, const struct http_access *a)
{
    char arg[TOPIC_MAX_LEN + 8];
    for (int i = 0; lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
         i++)
        if (strncmp(arg, "topic=", 6) == 0 && !access_may_subscribe(a, arg + 6))
            return false;
    return true;
}

static bool access_is_admin(const char *uri)
{
    return strcmp(uri, "/api/stats") == 0 || strcmp(uri, "/metrics") == 0;
}

int http_access_admin(const struct http_ctx *ctx, struct lws *wsi, int *rc)
{
    if (!ctx->creds)
        return 0;
    struct http_access a;
    if (http_access_resolve(ctx, wsi, false, &a, rc) < 0)
        return -1;
    bool allowed = a.grants->everything;
    unsigned int status = http_access_refusal(&a);
    http_access_free(&a);
    return allowed ? 0 : access_answer(ctx, wsi, status, "this endpoint needs an API key", rc);
}

int http_access_get(const struct http_ctx *ctx, struct lws *wsi, const char *uri, int64_t *expires,
                    int *rc)
{
    *expires = 0;
    if (access_is_admin(uri))
        return ctx->cfg->public_metrics ? 0 : http_access_admin(ctx, wsi, rc);
    bool topics = strcmp(uri, "/api/history") == 0 || strcmp(uri, "/api/presence") == 0 ||
                  strcmp(uri, "/sse") == 0;
    if (!ctx->creds || !topics)
        return 0;
    struct http_access a;
    if (http_access_resolve(ctx, wsi, strcmp(uri, "/sse") == 0, &a, rc) < 0)
        return -1;
    bool allowed = access_topics_allowed(wsi, &a);
    unsigned int status = http_access_refusal(&a);
    *expires = a.principal.expires;
    http_access_free(&a);
    if (allowed)
        return 0;
    return access_answer(ctx, wsi, status, "the credential does not cover this topic", rc);
}

void http_access_free(struct http_access *a)
{
    principal_free(&a->principal);
    a->grants = NULL;
}
