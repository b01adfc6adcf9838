/* SPDX-License-Identifier: MIT */
/*
 * request.c: what belongs to the engine-neutral types of store.h: freeing
 * a message and a request, a read's results as it starts and when it
 * fails, the one-line reason of a failed request, the commit latency
 * buckets.
 *
 * Why apart from store.c: these touch no engine, so a program that only
 * handles requests and messages (the Redis wire fuzz target) links this
 * file without both engines and their libraries.
 */
#include "store/engine.h"

#include <stdio.h>
#include <stdlib.h>

void store_msg_clear(struct store_msg *msg)
{
    free(msg->topic);
    free(msg->from_user);
    free(msg->data);
    msg->topic = NULL;
    msg->from_user = NULL;
    msg->data = NULL;
    msg->data_len = 0;
}

void store_read_begin(struct store_req *req)
{
    req->msgs = NULL;
    req->n_msgs = 0;
    req->more = false;
    req->recovered = true;
    req->has_total = false;
    req->total = 0;
}

void store_read_drop(struct store_req *req)
{
    for (size_t i = 0; i < req->n_msgs; i++)
        store_msg_clear(&req->msgs[i]);
    free(req->msgs);
    req->msgs = NULL;
    req->n_msgs = 0;
    req->more = false;
    req->has_total = false;
}

void store_req_free(struct store_req *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->n_pubs && !req->pubs_inline; i++) {
        store_msg_clear(&req->pubs[i].msg);
        free(req->pubs[i].key);
    }
    if (!req->pubs_inline)
        free(req->pubs);
    free(req->pattern);
    free(req->backup_path);
    for (size_t i = 0; i < req->n_msgs; i++)
        store_msg_clear(&req->msgs[i]);
    free(req->msgs);
    for (size_t i = 0; i < req->n_presence; i++) {
        free(req->presence[i].topic);
        free(req->presence[i].client);
        free(req->presence[i].user);
    }
    free(req->presence);
    free(req);
}

const uint64_t store_commit_bucket_us[STORE_COMMIT_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, UINT64_MAX};

static const char *store_full_limit_name(enum store_full_reason reason)
{
    switch (reason) {
    case STORE_FULL_DB_SIZE:
        return "max_db_size";
    case STORE_FULL_TOPICS:
        return "max_topics";
    case STORE_FULL_NONE:
        break;
    }
    return "none";
}

void store_failure_text(const struct store_req *sr, const char *what, char *out, size_t len)
{
    if (sr && sr->status == STORE_FULL)
        snprintf(out, len, "publish refused: the store reached its %s limit",
                 store_full_limit_name(sr->full_reason));
    else
        snprintf(out, len, "the message store cannot be %s now", what);
}
