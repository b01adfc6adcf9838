/* SPDX-License-Identifier: MIT */
/*
 * reply.h: the bytes every HTTP answer shares (docs/protocol.md section 8).
 *
 * Owns: status lines and headers of complete responses, the CORS headers
 * per --allow-origin, the preflight answer, and the JSON error body
 * {"error":{"code":..,"message":..}}. It is a leaf: it calls nothing else
 * in http/, and the settings (for --allow-origin) are passed in by the
 * caller, so every endpoint can answer without reaching back into the
 * router.
 */
#ifndef WSB_REPLY_H
#define WSB_REPLY_H

#include <stddef.h>

#include <libwebsockets.h>

#include "config/config.h"

struct sbuf;

/* Adds Access-Control-Allow-Origin per cfg->allow_origin ("*" when the
 * list is empty; none when the request's Origin is not allowed). Returns 0
 * or -1 when out of room. */
int reply_add_cors(struct lws *wsi, const struct config *cfg, unsigned char **p,
                   unsigned char *end);

/* Sends a complete response. Returns the callback's return value. */
int reply_send(struct lws *wsi, const struct config *cfg, unsigned int status,
               const char *content_type, const char *body, size_t len);

/* Appends {"error":{"code":..,"message":..}}, the body of every HTTP error. */
void reply_error_body(struct sbuf *b, const char *code, const char *message);

/* Sends {"error":{"code":..,"message":..}} with `status`. */
int reply_send_error(struct lws *wsi, const struct config *cfg, unsigned int status,
                     const char *code, const char *message);

/* Answers a CORS preflight: any method and Content-Type/Authorization. */
int reply_preflight(struct lws *wsi, const struct config *cfg);

#endif
