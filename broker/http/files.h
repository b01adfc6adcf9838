/* SPDX-License-Identifier: MIT */
/*
 * files.h: static files from the web root (--www), e.g. the demo page.
 *
 * Owns: mapping a URI to a regular file inside the root (no "..", no
 * symlink out of it) and its Content-Type.
 */
#ifndef WSB_FILES_H
#define WSB_FILES_H

#include <stddef.h>

#include <libwebsockets.h>

#include "http/context.h"

/* Resolves the web root into `root` (its realpath, "" when missing). */
void files_resolve_root(const char *www, char *root, size_t rootlen);

/* Serves `uri` from the root, or a JSON 404. Returns the callback's value. */
int files_serve(const struct http_ctx *ctx, struct lws *wsi, const char *uri);

#endif
