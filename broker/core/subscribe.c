/* SPDX-License-Identifier: MIT */
/*
 * subscribe.c: subscribe and unsubscribe of a WebSocket session. A
 * subscription enters the trie at once; with `since` or `last` its past is
 * read by a replay (replay.c) that joins it to live delivery. Service
 * thread only.
 */
#include "core/core_int.h"

#include <string.h>

#include "proto/answer.h"

struct subscription *core_add_sub(struct core *core, struct session *s, const char *pattern)
{
    struct subscription *sub = session_add_sub(s, pattern);
    if (sub && topic_trie_add(core->subs, pattern, sub) < 0) {
        session_remove_sub(s, sub);
        return NULL;
    }
    return sub;
}

void core_unsubscribe_sub(struct core *core, struct session *s, struct subscription *sub)
{
    presence_leave(core->presence, sub);
    topic_trie_remove(core->subs, sub->pattern, sub);
    session_remove_sub(s, sub);
}

/* A subscription's `conflate`, or the topic rules' when it says none. */
static enum sub_conflate core_sub_conflate(const struct core *core, const struct request *req)
{
    if (req->has_conflate)
        return req->conflate ? SUB_CONFLATED : SUB_PLAIN;
    const struct topic_rules *rules = &core->cfg->topic_rules;
    for (size_t i = 0; i < rules->count; i++)
        if (rules->items[i].conflate == 1)
            return SUB_BY_RULE;
    return SUB_PLAIN;
}

static bool core_epoch_differs(const struct core *core, const struct request *req)
{
    return req->epoch && strcmp(req->epoch, store_epoch(core->store)) != 0;
}

static void core_subscribe_ack(struct core *core, struct session *s, const struct request *req,
                               bool recovered)
{
    if (req->has_id)
        core_reply(
            core, s, true, req->id,
            answer_subscribe_ack(req->id, req->topic, 0, recovered, core->last_delivered_seq));
}

/* The subscription's past: the matches after `since` (from 0 when the
 * client's epoch is not the store's), or its `last` newest. */
static void core_subscribe_replay(struct core *core, struct session *s, const struct request *req,
                                  struct subscription *sub)
{
    struct replay_ack ack = {
        .has_id = req->has_id,
        .id = req->id,
        .epoch_mismatch = core_epoch_differs(core, req),
    };
    struct replay *r = replay_new(core, s, 1, core->last_delivered_seq, &ack);
    uint64_t since = ack.epoch_mismatch ? 0 : req->since;
    uint32_t last = req->has_last ? req->last : 0;
    if (!r) {
        core_reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    replay_add(r, sub, since, last); /* the one read of a replay of 1 */
    replay_start(r);
}

void core_subscribe(struct core *core, struct session *s, struct request *req)
{
    if (session_find_sub(s, req->topic)) {
        core_subscribe_ack(core, s, req, true);
        return;
    }
    if (s->n_subs >= (size_t)core->cfg->max_subscriptions) {
        core_reply_error_code(core, s, req, ERR_TOO_MANY_SUBSCRIPTIONS,
                              "this connection holds the most subscriptions allowed");
        return;
    }
    struct subscription *sub = core_add_sub(core, s, req->topic);
    if (!sub) {
        core_reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    sub->conflate = (uint8_t)core_sub_conflate(core, req);
    if (req->presence)
        presence_join(core->presence, sub);
    /* Nothing was ever stored when the newest seq is 0 (and upto = 0 would
     * mean "no bound" to the store): no replay to read. */
    bool wants_replay =
        (req->has_since || (req->has_last && req->last > 0)) && core->last_delivered_seq > 0;
    if (wants_replay) {
        core_subscribe_replay(core, s, req, sub);
        return;
    }
    sub->covers_after = core->last_delivered_seq;
    core_subscribe_ack(core, s, req, !core_epoch_differs(core, req));
}

void core_unsubscribe(struct core *core, struct session *s, struct request *req)
{
    struct subscription *sub = session_find_sub(s, req->topic);
    if (!sub) {
        core_reply_error_code(core, s, req, ERR_NOT_SUBSCRIBED,
                              "this connection holds no such subscription");
        return;
    }
    core_unsubscribe_sub(core, s, sub);
    if (req->has_id)
        core_reply(core, s, true, req->id, answer_ack(req->id));
}
