/* SPDX-License-Identifier: MIT */
/*
 * store.c: the store's front: the calls of store.h, dispatched to the
 * engine behind a `struct store` (engine.h).
 *
 * Owns: the choice of engine at open (SQLite, or Redis with a redis_url), and
 * what belongs to the engine-neutral types of store.h (freeing a request
 * and a message, the commit latency buckets). Every call is one indirect
 * call per request or per batch of results; nothing here runs per delivery.
 */
#include "store/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_open(struct store **out, const struct store_config *cfg, char *err, size_t errlen)
{
    const struct store_engine_ops *engine = cfg->redis_url ? &store_engine_redis : &store_engine_sqlite;
    return engine->open(out, cfg, err, errlen);
}

void store_close(struct store *st)
{
    if (st)
        st->ops->close(st);
}

const char *store_epoch(const struct store *st)
{
    return st->ops->epoch(st);
}

uint64_t store_last_seq(const struct store *st)
{
    return st->ops->last_seq(st);
}

bool store_healthy(const struct store *st)
{
    return st->ops->healthy(st);
}

void store_submit(struct store *st, struct store_req *req)
{
    st->ops->submit(st, req);
}

struct store_req *store_take_done(struct store *st)
{
    return st->ops->take_done(st);
}

void store_get_stats(const struct store *st, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->engine = st->ops->name;
    st->ops->get_stats(st, out);
}

void store_presence_announce(struct store *st, bool join, const char *topic, const char *client,
                             const char *user)
{
    if (st->ops->presence_announce)
        st->ops->presence_announce(st, join, topic, client, user);
}

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
