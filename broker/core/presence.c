/* SPDX-License-Identifier: MIT */
/*
 * presence.c: presence members per topic (see presence.h).
 *
 * The member sets reuse the subscription trie keyed by exact topic names:
 * a lookup of a name visits exactly that name's members. Members of other
 * nodes (a shared engine) sit in a second trie of their own kind, and in a
 * map by "TOPIC\nCLIENT" for their leave.
 */
#include "core/presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"
#include "common/topic.h"
#include "proto/answer.h"

/* A member of another node. */
struct remote_member {
    char *topic;
    char *client;
    char *user; /* NULL: anonymous */
    bool seen;  /* in the snapshot being applied */
    size_t key_len;
    char key[]; /* TOPIC\nCLIENT */
};

struct presence {
    struct topic_trie *members; /* topic name -> struct subscription * */
    struct topic_trie *remote;  /* topic name -> struct remote_member * */
    struct strmap remote_by_key;
    struct store *store; /* told of this node's joins and leaves */
};

struct presence *presence_new(struct store *store)
{
    struct presence *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->store = store;
    p->members = topic_trie_new();
    p->remote = topic_trie_new();
    strmap_init(&p->remote_by_key);
    if (!p->members || !p->remote) {
        presence_free(p);
        return NULL;
    }
    return p;
}

static void remote_member_free(struct remote_member *m)
{
    free(m->topic);
    free(m->client);
    free(m->user);
    free(m);
}

void presence_free(struct presence *p)
{
    if (!p)
        return;
    size_t pos = 0;
    struct remote_member *m;
    while ((m = strmap_next(&p->remote_by_key, &pos)))
        remote_member_free(m);
    strmap_free(&p->remote_by_key);
    topic_trie_free(p->members);
    topic_trie_free(p->remote);
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
    if (p->store)
        store_presence_announce(p->store, true, sub->pattern, sub->session->id,
                                sub->session->principal.user);
    return 0;
}

void presence_leave(struct presence *p, struct subscription *sub)
{
    if (!sub->presence)
        return;
    sub->presence = false;
    topic_trie_remove(p->members, sub->pattern, sub);
    presence_broadcast(p, sub, "leave");
    if (p->store)
        store_presence_announce(p->store, false, sub->pattern, sub->session->id,
                                sub->session->principal.user);
}

/* --- members of other nodes ---------------------------------------------- */

static void remote_send_one(void *subscriber, void *arg)
{
    struct subscription *member = subscriber;
    session_send(member->session, frame_ref(arg));
}

/* Tells this node's members of the topic that m joined or left. */
static void remote_broadcast(struct presence *p, const struct remote_member *m, const char *op)
{
    struct frame *f = answer_presence_event(op, m->topic, m->client, m->user);
    if (!f)
        return;
    topic_trie_match(p->members, m->topic, remote_send_one, f);
    frame_unref(f);
}

static struct remote_member *remote_find(const struct presence *p, const struct store_presence *ev,
                                         char *key, size_t cap, size_t *len)
{
    *len = 0;
    int n = snprintf(key, cap, "%s\n%s", ev->topic, ev->client);
    if (n < 0 || (size_t)n >= cap)
        return NULL;
    *len = (size_t)n;
    return strmap_get(&p->remote_by_key, key, *len);
}

static void remote_join(struct presence *p, const struct store_presence *ev)
{
    char key[TOPIC_MAX_LEN + 128];
    size_t len;
    struct remote_member *m = remote_find(p, ev, key, sizeof(key), &len);
    if (m) {
        m->seen = true;
        return;
    }
    if (len == 0 || !(m = calloc(1, sizeof(*m) + len + 1)))
        return;
    memcpy(m->key, key, len + 1);
    m->key_len = len;
    m->seen = true;
    m->topic = strdup(ev->topic);
    m->client = strdup(ev->client);
    m->user = ev->user ? strdup(ev->user) : NULL;
    if (!m->topic || !m->client || (ev->user && !m->user) ||
        strmap_add(&p->remote_by_key, m->key, len, m) != 0) {
        remote_member_free(m);
        return;
    }
    if (topic_trie_add(p->remote, m->topic, m) < 0) {
        strmap_remove(&p->remote_by_key, m->key, len);
        remote_member_free(m);
        return;
    }
    remote_broadcast(p, m, "join");
}

static void remote_drop(struct presence *p, struct remote_member *m)
{
    strmap_remove(&p->remote_by_key, m->key, m->key_len);
    topic_trie_remove(p->remote, m->topic, m);
    remote_broadcast(p, m, "leave");
    remote_member_free(m);
}

static void remote_leave(struct presence *p, const struct store_presence *ev)
{
    char key[TOPIC_MAX_LEN + 128];
    size_t len;
    struct remote_member *m = remote_find(p, ev, key, sizeof(key), &len);
    if (m)
        remote_drop(p, m);
}

void presence_remote(struct presence *p, const struct store_presence *events, size_t n,
                     bool snapshot)
{
    size_t pos = 0;
    struct remote_member *m;
    if (snapshot)
        while ((m = strmap_next(&p->remote_by_key, &pos)))
            m->seen = false;
    for (size_t i = 0; i < n; i++) {
        if (events[i].join || snapshot)
            remote_join(p, &events[i]);
        else
            remote_leave(p, &events[i]);
    }
    if (!snapshot)
        return;
    /* Whoever the snapshot does not hold left while this node was away. */
    for (;;) {
        pos = 0;
        while ((m = strmap_next(&p->remote_by_key, &pos)) && m->seen)
            ;
        if (!m)
            break;
        remote_drop(p, m);
    }
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

static void list_remote_one(void *subscriber, void *arg)
{
    struct remote_member *member = subscriber;
    struct list_ctx *ctx = arg;
    if (ctx->count++)
        sbuf_add(ctx->out, ",", 1);
    answer_append_member(ctx->out, member->client, member->user);
}

void presence_append_members(const struct presence *p, const char *topic, struct sbuf *out)
{
    struct list_ctx ctx = {out, 0};
    sbuf_add(out, "[", 1);
    topic_trie_match(p->members, topic, list_one, &ctx);
    topic_trie_match(p->remote, topic, list_remote_one, &ctx);
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
    topic_trie_match(p->remote, topic, count_one, &n);
    return n;
}
