/* SPDX-License-Identifier: MIT */
/*
 * admin.h: the operator's endpoints: POST /api/backup
 * (docs/operations.md section 4).
 *
 * Owns: the state of an admin call in progress (`conn->admin`: the body
 * being received, the reply waiting for the store). A backup writes a copy
 * of the store on the broker's machine, so the path it takes must lie in
 * the directory --backup-dir names; without --backup-dir the endpoint
 * answers 403.
 */
#ifndef WSB_ADMIN_H
#define WSB_ADMIN_H

#include <stddef.h>

#include <libwebsockets.h>

#include "http/context.h"

/* POST /api/backup with a body of `body_len` bytes: refuses it at once
 * (403 without --backup-dir, 413 for a body over 4 KiB), or starts a call
 * whose body follows. */
int admin_backup_begin(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn,
                       size_t body_len);

/* LWS_CALLBACK_HTTP_BODY and _BODY_COMPLETION of an admin call. */
int admin_body(struct http_conn *conn, const void *in, size_t len);
int admin_body_done(const struct http_ctx *ctx, struct http_conn *conn);

/* LWS_CALLBACK_HTTP_WRITEABLE: sends the reply once it is ready. */
int admin_writeable(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn);

/* Lets go of the call in progress, if any (the client left, or sent its
 * next request). A backup already started goes on; its reply is dropped. */
void admin_release(struct http_conn *conn);

#endif
