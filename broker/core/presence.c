/* SPDX-License-Identifier: MIT */
/*
 * presence.c: presence members per topic (see presence.h).
 *
 * The member sets reuse the subscription trie keyed by exact topic names:
 * a lookup of a name visits exactly that name's members.
 */
#include "core/presence.h"

#include <stdlib.h>

#include "proto/answer.h"
#include "common/topic.h"

struct presence {
    struct topic_trie *members; /* topic name -> struct subscription * */
};

struct presence *presence_new(void)
{
    struct presence *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->members = topic_trie_new();
    if (!p->members) {
        free(p);
        return NULL;
    }
    return p;
}

void presence_free(struct presence *p)
{
    if (!p)
        return;
    topic_trie_free(p->members);
    free(p);
}

struct event_ctx {
    const struct subscription *about;
    struct frame *frame;
};

static void event_send_one(void *subscriber, void *arg)
{
    struct subscription *member = subscriber;
    struct event_ctx *ctx = arg;
    if (member->session != ctx->about->session)
        session_send(member->session, frame_ref(ctx->frame));
}

static void presence_broadcast(struct presence *p, const struct subscription *sub, const char *op)
{
    const struct session *s = sub->session;
    struct event_ctx ctx = {sub, answer_presence_event(op, sub->pattern, s->id, s->principal.user)};
    if (!ctx.frame)
        return;
    topic_trie_match(p->members, sub->pattern, event_send_one, &ctx);
    frame_unref(ctx.frame);
}

int presence_join(struct presence *p, struct subscription *sub)
{
    if (topic_trie_add(p->members, sub->pattern, sub) < 0)
        return -1;
    sub->presence = true;
    presence_broadcast(p, sub, "join");
    return 0;
}

void presence_leave(struct presence *p, struct subscription *sub)
{
    if (!sub->presence)
        return;
    sub->presence = false;
    topic_trie_remove(p->members, sub->pattern, sub);
    presence_broadcast(p, sub, "leave");
}

struct list_ctx {
    struct sbuf *out;
    size_t count;
};

static void list_one(void *subscriber, void *arg)
{
    struct subscription *member = subscriber;
    struct list_ctx *ctx = arg;
    if (ctx->count++)
        sbuf_add(ctx->out, ",", 1);
    answer_append_member(ctx->out, member->session->id, member->session->principal.user);
}

void presence_append_members(const struct presence *p, const char *topic, struct sbuf *out)
{
    struct list_ctx ctx = {out, 0};
    sbuf_add(out, "[", 1);
    topic_trie_match(p->members, topic, list_one, &ctx);
    sbuf_add(out, "]", 1);
}

static void count_one(void *subscriber, void *arg)
{
    (void)subscriber;
    (*(size_t *)arg)++;
}

size_t presence_count(const struct presence *p, const char *topic)
{
    size_t n = 0;
    topic_trie_match(p->members, topic, count_one, &n);
    return n;
}
