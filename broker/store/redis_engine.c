/* SPDX-License-Identifier: MIT */
/*
 * redis_engine.c: the Redis engine's ops table (engine.h): several brokers
 * sharing one Redis act as one.
 *
 * Owns: open and close (the handles on the broker's loop, the link, the
 * tick), the dispatch of submitted requests to the writes and the reads,
 * and the getters (epoch, newest delivered seq, health, stats).
 *
 * Why an engine and not a layer beside the store: core must not learn
 * which engine runs (docs/design.md section 7). What is shared by the
 * nodes (the global seq, history, key dedupe, expect_last) is exactly what
 * the store answers for; what only a shared engine does (the others'
 * messages) reaches core as STORE_FEED entries on the same done list.
 *
 * The data set's layout in Redis (every key under REDIS_PREFIX, one hash
 * slot): seq (the global counter), epoch, msg (hash seq -> record), log
 * (zset of "SEQ TOPIC" by seq: what pattern reads scan), t:TOPIC (zset of
 * a topic's seqs), topics (zset topic -> newest seq: the live topics), exp
 * (zset of "SEQ TOPIC" by expiry), trim (hash topic -> newest seq removed
 * by retention), trim_mark, trim_count, d:TOPIC\nKEY (dedupe, with
 * expiry), feed (stream of the recent publish batches, about
 * REDIS_FEED_MAX seqs, for gap repair) and feed_top (its newest seq), the
 * presence keys (redis_presence.c), and the channels live:DB, presence:DB
 * and hb:NODE.
 */
#include "store/redis_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static struct redis_store *engine_of(struct store *st)
{
    return (struct redis_store *)st;
}

static const struct redis_store *engine_of_const(const struct store *st)
{
    return (const struct redis_store *)st;
}

static void tick_cb(uv_timer_t *timer)
{
    redis_link_tick(timer->data);
}

static int engine_open(struct store **out, const struct store_config *cfg, char *err, size_t errlen)
{
    if (!cfg->loop) {
        snprintf(err, errlen,
                 "wsbroker: --redis needs the libuv event loop (package "
                 "libwebsockets-evlib-uv)");
        return -1;
    }
    struct redis_store *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, errlen, "wsbroker: out of memory");
        return -1;
    }
    st->base.ops = &store_engine_redis;
    st->cfg = *cfg;
    st->loop = cfg->loop;
    if (redis_url_parse(cfg->redis_url, &st->url, err, errlen) < 0) {
        free(st);
        return -1;
    }
    redis_feed_init(st);
    redis_write_init(st);
    uv_timer_init(st->loop, &st->tick_timer);
    st->tick_timer.data = st;
    uv_timer_start(&st->tick_timer, tick_cb, REDIS_TICK_MS, REDIS_TICK_MS);
    if (redis_link_start(st) < 0) {
        snprintf(err, errlen, "wsbroker: cannot start the Redis engine");
        /* The handles are on the loop: close them as close does. */
        st->base.ops->close(&st->base);
        return -1;
    }
    *out = &st->base;
    return 0;
}

static void handle_closed(uv_handle_t *handle)
{
    struct redis_store *st = handle->data;
    st->handles_open--;
}

static void engine_close(struct store *base)
{
    struct redis_store *st = engine_of(base);
    redis_link_stop(st);
    uv_handle_t *handles[] = {(uv_handle_t *)&st->tick_timer, (uv_handle_t *)&st->gap_timer,
                              (uv_handle_t *)&st->flush_check, (uv_handle_t *)&st->reconnect_timer};
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++) {
        if (handles[i]->loop && !uv_is_closing(handles[i])) {
            handles[i]->data = st;
            st->handles_open++;
            uv_close(handles[i], handle_closed);
        }
    }
    for (int i = 0; i < 1000 && st->handles_open > 0; i++)
        uv_run(st->loop, UV_RUN_NOWAIT);
    /* What is still in flight was failed by the link's loss; reads left
     * unfinished have nobody to post to now. */
    while (st->reads_head) {
        struct redis_read *rd = st->reads_head;
        st->reads_head = redis_read_next(rd);
        store_req_free(redis_read_req(rd));
        redis_read_free(rd);
    }
    while (st->pubs_head) {
        struct redis_pub *p = st->pubs_head;
        st->pubs_head = p->next;
        store_req_free(p->req);
        free(p);
    }
    redis_feed_free(st);
    redis_presence_free(st);
    free(st);
}

static void engine_submit(struct store *base, struct store_req *req)
{
    struct redis_store *st = engine_of(base);
    req->next = NULL;
    req->status = STORE_OK;
    switch (req->op) {
    case STORE_PUBLISH:
        redis_write_submit(st, req);
        break;
    case STORE_REPLAY:
    case STORE_HISTORY:
        redis_read_submit(st, req);
        break;
    case STORE_BACKUP:
        req->status = STORE_UNAVAILABLE;
        snprintf(req->backup_error, sizeof(req->backup_error),
                 "backups of a Redis engine are Redis's own (its AOF and RDB files)");
        redis_feed_post_now(st, req);
        break;
    case STORE_FEED:
    case STORE_PRESENCE:
        req->status = STORE_INTERNAL;
        redis_feed_post_now(st, req);
        break;
    }
}

static struct store_req *engine_take_done(struct store *base)
{
    return redis_feed_take_done(engine_of(base));
}

static const char *engine_epoch(const struct store *base)
{
    const struct redis_store *st = engine_of_const(base);
    return st->epoch[0] ? st->epoch : "00000000";
}

static uint64_t engine_last_seq(const struct store *base)
{
    return engine_of_const(base)->delivered;
}

static bool engine_healthy(const struct store *base)
{
    return redis_link_ready(engine_of_const(base));
}

static void engine_get_stats(const struct store *base, struct store_stats *out)
{
    const struct redis_store *st = engine_of_const(base);
    out->commits = st->commits;
    out->messages_stored = st->messages_stored;
    out->duplicates = st->duplicates;
    out->commit_us_total = st->commit_us_total;
    memcpy(out->commit_buckets, st->commit_buckets, sizeof(out->commit_buckets));
    out->refused_full = st->refused_full;
    out->shared = true;
    memcpy(out->node, st->node, sizeof(out->node));
    out->connected = redis_link_ready(st);
    out->rtt_us = st->rtt_us;
    out->delivered_seq = st->delivered;
    out->gap_repairs = st->gap_repairs;
}

static void engine_presence_announce(struct store *base, bool join, const char *topic,
                                     const char *client, const char *user)
{
    redis_presence_announce(engine_of(base), join, topic, client, user);
}

const struct store_engine_ops store_engine_redis = {
    .name = "redis",
    .open = engine_open,
    .close = engine_close,
    .submit = engine_submit,
    .take_done = engine_take_done,
    .epoch = engine_epoch,
    .last_seq = engine_last_seq,
    .healthy = engine_healthy,
    .get_stats = engine_get_stats,
    .presence_announce = engine_presence_announce,
};
