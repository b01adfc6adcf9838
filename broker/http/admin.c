/* SPDX-License-Identifier: MIT */
/*
 * admin.c: POST /api/backup (see admin.h).
 *
 * The body is {"path": "FILE"}. FILE names the copy on the broker's
 * machine: relative to --backup-dir, or absolute and inside it, in a
 * directory that exists, not the database's own, and not an existing file
 * (a backup never replaces anything: the store writes FILE.partial and
 * renames it). Symbolic links are resolved before the checks, so no path
 * leads outside the directory the operator allowed. The answer comes when
 * the copy is complete: 200 {"path","seq","bytes"}, the path being the
 * resolved one and seq the newest message the copy holds.
 *
 * An admin call is freed by whichever of the connection and the store
 * request lets go of it last (`store_holds`).
 */
#include "http/admin.h"

#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "http/reply.h"
#include "proto/envelope.h"
#include "store/store.h"
#include "util/log.h"
#include "util/sbuf.h"

#define ADMIN_BODY_MAX 4096

struct admin_call {
    struct lws *wsi;  /* NULL once the client left */
    bool store_holds; /* the backup is out: its completion frees a call the client left */
    struct sbuf body;
    bool ready; /* the reply is set */
    unsigned int status;
    struct sbuf reply;
};

static void admin_call_free(struct admin_call *call)
{
    sbuf_free(&call->body);
    sbuf_free(&call->reply);
    free(call);
}

/* The reply in call->reply is complete: wakes the connection to send it. */
static void admin_call_ready(struct admin_call *call, unsigned int status)
{
    call->status = status;
    call->ready = true;
    if (call->wsi)
        lws_callback_on_writable(call->wsi);
}

/* Answers with {"error":{"code","message"}}. */
static void admin_call_refuse(struct admin_call *call, unsigned int status, const char *code,
                              const char *message)
{
    reply_error_body(&call->reply, code, message);
    admin_call_ready(call, status);
}

/* --- the target file ------------------------------------------------------ */

struct admin_target {
    char path[PATH_MAX]; /* resolved: the real directory and the name */
    unsigned int status; /* when refused: the HTTP status */
    const char *why;     /* when refused: the message */
};

static bool admin_refuse(struct admin_target *t, unsigned int status, const char *why)
{
    t->status = status;
    t->why = why;
    return false;
}

/* Whether the real directory `dir` is `root` or below it. */
static bool admin_dir_within(const char *dir, const char *root)
{
    size_t len = strlen(root);
    if (strcmp(root, "/") == 0)
        return true;
    return strncmp(dir, root, len) == 0 && (dir[len] == '\0' || dir[len] == '/');
}

/* Whether the real directory `dir` holds the database file `db`. */
static bool admin_dir_holds_db(const char *dir, const char *db)
{
    char copy[PATH_MAX], db_dir[PATH_MAX];
    if (strcmp(db, ":memory:") == 0 || snprintf(copy, sizeof(copy), "%s", db) >= (int)sizeof(copy))
        return false;
    return realpath(dirname(copy), db_dir) != NULL && strcmp(db_dir, dir) == 0;
}

/* Resolves `requested` per the rules at the top into t->path; false with
 * t->status and t->why when refused. */
static bool admin_resolve_target(const struct config *cfg, const char *requested,
                                 struct admin_target *t)
{
    char root[PATH_MAX], joined[PATH_MAX], dir[PATH_MAX];
    if (!realpath(cfg->backup_dir, root))
        return admin_refuse(t, HTTP_STATUS_INTERNAL_SERVER_ERROR, "--backup-dir does not exist");
    int n = requested[0] == '/' ? snprintf(joined, sizeof(joined), "%s", requested)
                                : snprintf(joined, sizeof(joined), "%s/%s", root, requested);
    if (!requested[0] || n < 0 || n >= (int)sizeof(joined))
        return admin_refuse(t, HTTP_STATUS_BAD_REQUEST, "\"path\" must name a file");
    char *slash = strrchr(joined, '/');
    const char *name = slash + 1;
    *slash = '\0';
    if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return admin_refuse(t, HTTP_STATUS_BAD_REQUEST, "\"path\" must name a file");
    if (!realpath(joined[0] ? joined : "/", dir))
        return admin_refuse(t, HTTP_STATUS_BAD_REQUEST, "the directory of \"path\" does not exist");
    if (!admin_dir_within(dir, root))
        return admin_refuse(t, HTTP_STATUS_FORBIDDEN, "\"path\" is outside --backup-dir");
    if (admin_dir_holds_db(dir, cfg->db))
        return admin_refuse(t, HTTP_STATUS_FORBIDDEN,
                            "a backup may not go into the database's own directory");
    n = snprintf(t->path, sizeof(t->path), "%s/%s", strcmp(dir, "/") ? dir : "", name);
    if (n < 0 || n >= (int)sizeof(t->path))
        return admin_refuse(t, HTTP_STATUS_BAD_REQUEST, "\"path\" is too long");
    struct stat sb;
    if (lstat(t->path, &sb) == 0)
        return admin_refuse(t, HTTP_STATUS_CONFLICT, "the file exists: a backup replaces nothing");
    return true;
}

/* --- the backup ----------------------------------------------------------- */

static void admin_backup_done(void *arg, struct store_req *sr)
{
    struct admin_call *call = arg;
    call->store_holds = false;
    if (!call->wsi) {
        admin_call_free(call);
        return;
    }
    if (sr->status != STORE_OK) {
        char why[sizeof(sr->backup_error) + 32];
        snprintf(why, sizeof(why), "the backup failed: %s", sr->backup_error);
        admin_call_refuse(call,
                          sr->status == STORE_UNAVAILABLE ? HTTP_STATUS_SERVICE_UNAVAILABLE
                                                          : HTTP_STATUS_INTERNAL_SERVER_ERROR,
                          sr->status == STORE_UNAVAILABLE ? ERR_UNAVAILABLE : ERR_INTERNAL, why);
        return;
    }
    char figures[64];
    snprintf(figures, sizeof(figures), ",\"seq\":%llu,\"bytes\":%llu}",
             (unsigned long long)sr->backup_seq, (unsigned long long)sr->backup_bytes);
    sbuf_add_str(&call->reply, "{\"path\":");
    sbuf_add_json_string(&call->reply, sr->backup_path);
    sbuf_add_str(&call->reply, figures);
    admin_call_ready(call, HTTP_STATUS_OK);
}

/* Reads {"path": ...}, checks it and hands the backup to the store. */
static void admin_backup_start(const struct http_ctx *ctx, struct admin_call *call)
{
    json_t *root = json_loadb(call->body.data ? call->body.data : "", call->body.len, 0, NULL);
    json_t *path = root ? json_object_get(root, "path") : NULL;
    struct admin_target target;
    if (!json_is_string(path)) {
        admin_call_refuse(call, HTTP_STATUS_BAD_REQUEST, ERR_BAD_REQUEST,
                          "the body must be {\"path\": \"FILE\"}");
    } else if (!admin_resolve_target(ctx->cfg, json_string_value(path), &target)) {
        admin_call_refuse(call, target.status,
                          target.status == HTTP_STATUS_FORBIDDEN ? ERR_FORBIDDEN : ERR_BAD_REQUEST,
                          target.why);
    } else {
        struct store_req *sr = calloc(1, sizeof(*sr));
        if (!sr || !(sr->backup_path = strdup(target.path))) {
            store_req_free(sr);
            admin_call_refuse(call, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL, "out of memory");
        } else {
            sr->op = STORE_BACKUP;
            call->store_holds = true;
            core_submit_external(ctx->core, sr, admin_backup_done, call);
        }
    }
    json_decref(root);
}

/* --- the call's callbacks --------------------------------------------------- */

int admin_backup_begin(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn,
                       size_t body_len)
{
    const struct config *cfg = ctx->cfg;
    if (!cfg->backup_dir)
        return reply_send_error(wsi, cfg, HTTP_STATUS_FORBIDDEN, ERR_FORBIDDEN,
                                "backups are off: start the broker with --backup-dir DIR");
    if (body_len > ADMIN_BODY_MAX)
        return reply_send_error(wsi, cfg, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, ERR_TOO_LARGE,
                                "the body is {\"path\": \"FILE\"}, at most 4 KiB");
    conn->admin = calloc(1, sizeof(*conn->admin));
    if (!conn->admin)
        return -1;
    conn->admin->wsi = wsi;
    return 0; /* the body follows */
}

int admin_body(struct http_conn *conn, const void *in, size_t len)
{
    struct admin_call *call = conn->admin;
    if (call->ready || call->store_holds || call->body.len + len > ADMIN_BODY_MAX)
        return -1;
    sbuf_add(&call->body, in, len);
    return 0;
}

int admin_body_done(const struct http_ctx *ctx, struct http_conn *conn)
{
    struct admin_call *call = conn->admin;
    if (call->ready || call->store_holds)
        return -1; /* a request pipelined behind the POST: see api_body_done */
    if (sbuf_failed(&call->body))
        admin_call_refuse(call, HTTP_STATUS_SERVICE_UNAVAILABLE, ERR_INTERNAL, "out of memory");
    else
        admin_backup_start(ctx, call);
    return 0;
}

int admin_writeable(const struct http_ctx *ctx, struct lws *wsi, struct http_conn *conn)
{
    struct admin_call *call = conn->admin;
    if (!call->ready)
        return 0;
    conn->admin = NULL; /* the connection may carry another request next */
    int rc = reply_send(wsi, ctx->cfg, call->status, "application/json",
                        call->reply.data ? call->reply.data : "", call->reply.len);
    admin_call_free(call);
    return rc;
}

void admin_release(struct http_conn *conn)
{
    struct admin_call *call = conn->admin;
    if (!call)
        return;
    conn->admin = NULL;
    call->wsi = NULL;
    if (!call->store_holds)
        admin_call_free(call);
}
