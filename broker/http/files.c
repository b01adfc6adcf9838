/* SPDX-License-Identifier: MIT */
/*
 * files.c: static files (see files.h).
 *
 * lws_serve_http_file streams a file from the writable callback; its end
 * comes back as LWS_CALLBACK_HTTP_FILE_COMPLETION.
 */
#include "http/files.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http/reply.h"
#include "util/log.h"

struct mime_type {
    const char *ext;
    const char *type;
};

void files_resolve_root(const char *www, char *root, size_t rootlen)
{
    char resolved[PATH_MAX];
    if (!realpath(www, resolved) || snprintf(root, rootlen, "%s", resolved) >= (int)rootlen) {
        log_warn("web root %s: not found; static files are off", www);
        root[0] = '\0';
    }
}

static const char *files_mime_type(const char *path)
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
static int files_resolve(const char *root, const char *uri, char *out, size_t outlen)
{
    char joined[PATH_MAX + 16];
    if (!root[0] || uri[0] != '/' || strstr(uri, ".."))
        return -1;
    const char *rel = strcmp(uri, "/") == 0 ? "/index.html" : uri;
    if (snprintf(joined, sizeof(joined), "%s%s", root, rel) >= (int)sizeof(joined))
        return -1;
    char resolved[PATH_MAX];
    if (!realpath(joined, resolved))
        return -1;
    size_t root_len = strlen(root);
    if (strncmp(resolved, root, root_len) != 0 || resolved[root_len] != '/')
        return -1;
    struct stat st;
    if (stat(resolved, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    snprintf(out, outlen, "%s", resolved);
    return 0;
}

int files_serve(const struct http_ctx *ctx, struct lws *wsi, const char *uri)
{
    char path[PATH_MAX];
    if (files_resolve(ctx->www_root, uri, path, sizeof(path)) < 0)
        return reply_send_error(wsi, ctx->cfg, HTTP_STATUS_NOT_FOUND, "not_found",
                                "no such resource");
    int n = lws_serve_http_file(wsi, path, files_mime_type(path), NULL, 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}
