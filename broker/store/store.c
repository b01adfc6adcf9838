/* SPDX-License-Identifier: MIT */
/*
 * store.c: the store's front: the calls of store.h, dispatched to the
 * engine behind a `struct store` (engine.h).
 *
 * Owns: the choice of engine at open (SQLite, or Redis with a redis_url).
 * Every call is one indirect call per request or per batch of results;
 * nothing here runs per delivery. The engine-neutral types themselves are
 * request.c's.
 */
#include "store/engine.h"

#include <string.h>

int store_open(struct store **out, const struct store_config *cfg, char *err, size_t errlen)
{
    const struct store_engine_ops *engine =
        cfg->redis_url ? &store_engine_redis : &store_engine_sqlite;
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
