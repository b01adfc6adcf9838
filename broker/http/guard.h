/* SPDX-License-Identifier: MIT */
/*
 * guard.h: the checks a request passes before any endpoint sees it
 * (docs/limits.md): the length of its target (414), the Host it names
 * (--allow-host, against DNS rebinding), the Origin of a POST
 * (--allow-origin, against cross-site publishing), and the framing of a
 * POST body (one plain Content-Length: no chunked bodies, no smuggling
 * with two lengths).
 *
 * Owns: the rules only; it answers a refused request through reply.c and
 * keeps no state. The WebSocket upgrade (net/server.c) applies the same
 * Host and Origin rules through config_host_allowed and
 * config_origin_allowed.
 */
#ifndef WSB_HTTP_GUARD_H
#define WSB_HTTP_GUARD_H

#include <stdbool.h>

#include <libwebsockets.h>

#include "config/config.h"

/* Longer than any Host or Origin a browser sends (a 253-byte name with a
 * scheme and a port): one that does not fit is refused, never cut. */
#define GUARD_HEADER_MAX 1024

/* lws 4.1 has no name for it. */
#define GUARD_STATUS_MISDIRECTED 421

/* The longest piece of a request target (its path, or one query
 * parameter). lws 4.1 closes a connection whose request head overflows
 * its header buffer (4 KB) with no status and no callback; given these
 * limits as the context's `token_limits` it cuts a longer piece at this
 * length instead, skips the rest of that line, and guard_uri answers 414.
 * Other headers keep no limit of their own. */
#define GUARD_URI_PIECE_MAX 2048
const struct lws_token_limits *guard_token_limits(void);

enum guard_verdict {
    GUARD_PASS,          /* serve the request */
    GUARD_ANSWERED,      /* refused; the connection may carry more requests */
    GUARD_ANSWERED_LAST, /* refused; its framing cannot be trusted: close the connection */
};

/* Answers a request target cut at GUARD_URI_PIECE_MAX with 414. */
enum guard_verdict guard_uri(struct lws *wsi, const struct config *cfg, int *rc);

/* Answers a request whose Host is not served with 403. */
enum guard_verdict guard_host(struct lws *wsi, const struct config *cfg, int *rc);

/* Answers a POST that is cross-site (403), has no usable Content-Length
 * (411, 400) or declares a body over `body_max` (413). On GUARD_PASS,
 * `*body_len` holds the declared length; otherwise `*rc` holds what the
 * callback must return. */
enum guard_verdict guard_post(struct lws *wsi, const struct config *cfg, size_t body_max,
                              size_t *body_len, int *rc);

#endif
