/* SPDX-License-Identifier: MIT */
/*
 * redis_presence.c: presence across the nodes of a Redis engine.
 *
 * Owns: what this node announced (its members, to announce again when
 * Redis forgot them: a node found dead, an emptied Redis), the heartbeat,
 * the snapshot of everyone's members taken at each connection, and the
 * turning of other nodes' joins and leaves into STORE_PRESENCE entries for
 * core (which owns the members: core/presence.c).
 *
 * A node beats every REDIS_BEAT_TICKS ticks; one silent for
 * REDIS_PRESENCE_TTL_MS is dead, and the first survivor to beat after that
 * removes its members and publishes their leaves (presence.lua). Events
 * that arrive while the snapshot is read are held and applied after it:
 * each is a join or a leave of one member, so applying it late gives the
 * state it described.
 */
#include "store/redis_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* "TOPIC\nCLIENT" and "NODE\n0" or "NODE\n1USER". */
static char *presence_field(const char *topic, const char *client)
{
    size_t len = strlen(topic) + strlen(client) + 2;
    char *f = malloc(len);
    if (f)
        snprintf(f, len, "%s\n%s", topic, client);
    return f;
}

static char *presence_value(const char *node, const char *user)
{
    size_t len = strlen(node) + (user ? strlen(user) : 0) + 3;
    char *v = malloc(len);
    if (v)
        snprintf(v, len, "%s\n%s%s", node, user ? "1" : "0", user ? user : "");
    return v;
}

static void presence_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_store *st = priv;
    if (reply)
        redis_link_answered(st);
}

static void presence_send(struct redis_store *st, const char *op, const char *field,
                          const char *value)
{
    const char *argv[] = {"EVALSHA", st->sha_presence,     "1",      REDIS_PREFIX,
                          op,        st->presence_channel, st->node, field,
                          value};
    size_t lens[9];
    int argc = value ? 9 : 8;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redis_link_command(st, presence_cb, st, argc, argv, lens);
}

/* A member this node announced; the map's key is its field. */
struct own_member {
    char *value;
    size_t field_len;
    char field[];
};

static void own_member_free(struct own_member *m)
{
    if (m)
        free(m->value);
    free(m);
}

void redis_presence_announce(struct redis_store *st, bool join, const char *topic,
                             const char *client, const char *user)
{
    char *field = presence_field(topic, client);
    if (!field)
        return;
    size_t len = strlen(field);
    own_member_free(strmap_remove(&st->own_members, field, len));
    if (!join) {
        if (redis_link_ready(st))
            presence_send(st, "leave", field, NULL);
        free(field);
        return;
    }
    struct own_member *m = calloc(1, sizeof(*m) + len + 1);
    if (m) {
        memcpy(m->field, field, len + 1);
        m->field_len = len;
        m->value = presence_value(st->node, user);
    }
    if (!m || !m->value || strmap_add(&st->own_members, m->field, len, m) != 0)
        own_member_free(m);
    else if (redis_link_ready(st))
        presence_send(st, "join", m->field, m->value);
    free(field);
}

/* --- what other nodes say ------------------------------------------------ */

/* "TOPIC\nCLIENT\nNODE\n0|1USER" into ev (copies); false when it is not
 * one, or is this node's. */
static bool presence_parse(const struct redis_store *st, const char *s, size_t len, bool join,
                           struct store_presence *ev)
{
    const char *end = s + len;
    const char *nl1 = memchr(s, '\n', len);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    const char *nl3 = nl2 ? memchr(nl2 + 1, '\n', (size_t)(end - nl2 - 1)) : NULL;
    if (!nl3 || nl3 + 1 >= end || nl1 == s || nl2 == nl1 + 1)
        return false;
    size_t node_len = (size_t)(nl3 - nl2 - 1);
    if (node_len == 16 && memcmp(nl2 + 1, st->node, 16) == 0)
        return false;
    bool has_user = nl3[1] == '1';
    memset(ev, 0, sizeof(*ev));
    ev->join = join;
    ev->topic = strndup(s, (size_t)(nl1 - s));
    ev->client = strndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
    ev->user = has_user ? strndup(nl3 + 2, (size_t)(end - nl3 - 2)) : NULL;
    if (!ev->topic || !ev->client || (has_user && !ev->user)) {
        free(ev->topic), free(ev->client), free(ev->user);
        return false;
    }
    return true;
}

/* Appends ev (taken over) to req's events; the array doubles at 8, 16, ... */
static int events_push(struct store_req *req, const struct store_presence *ev)
{
    size_t n = req->n_presence;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        struct store_presence *p = realloc(req->presence, (n ? n * 2 : 8) * sizeof(*p));
        if (!p)
            return -1;
        req->presence = p;
    }
    req->presence[req->n_presence++] = *ev;
    return 0;
}

static struct store_req *presence_entry(bool snapshot)
{
    struct store_req *req = calloc(1, sizeof(*req));
    if (req) {
        req->op = STORE_PRESENCE;
        req->presence_snapshot = snapshot;
    }
    return req;
}

void redis_presence_message(struct redis_store *st, const char *payload, size_t len)
{
    if (len < 3 || (payload[0] != 'J' && payload[0] != 'L') || payload[1] != '\n')
        return;
    struct store_presence ev;
    if (!presence_parse(st, payload + 2, len - 2, payload[0] == 'J', &ev))
        return;
    struct store_req *req = st->presence_held ? st->presence_held : presence_entry(false);
    if (!req || events_push(req, &ev) < 0) {
        free(ev.topic), free(ev.client), free(ev.user);
        return;
    }
    if (st->snapshot_in_flight) {
        st->presence_held = req;
        return;
    }
    redis_feed_post_now(st, req);
}

static void snapshot_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_store *st = priv;
    redisReply *r = reply;
    st->snapshot_in_flight = false;
    if (r)
        redis_link_answered(st);
    struct store_req *held = st->presence_held;
    st->presence_held = NULL;
    struct store_req *snap = r && r->type == REDIS_REPLY_ARRAY ? presence_entry(true) : NULL;
    for (size_t i = 0; snap && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        /* field + "\n" + value, as an event reads */
        size_t len = f->len + 1 + v->len;
        char *joined = malloc(len);
        struct store_presence ev;
        if (!joined)
            continue;
        memcpy(joined, f->str, f->len);
        joined[f->len] = '\n';
        memcpy(joined + f->len + 1, v->str, v->len);
        if (presence_parse(st, joined, len, true, &ev) && events_push(snap, &ev) < 0)
            free(ev.topic), free(ev.client), free(ev.user);
        free(joined);
    }
    if (snap)
        redis_feed_post_now(st, snap);
    if (held)
        redis_feed_post_now(st, held);
}

/* --- connection and heartbeat -------------------------------------------- */

static void announce_all(struct redis_store *st)
{
    size_t pos = 0;
    struct own_member *m;
    while ((m = strmap_next(&st->own_members, &pos)))
        presence_send(st, "join", m->field, m->value);
}

static void beat_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_store *st = priv;
    redisReply *r = reply;
    st->beat_in_flight = false;
    if (!r)
        return;
    redis_link_answered(st);
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        announce_all(st);
}

void redis_presence_beat(struct redis_store *st)
{
    if (st->beat_in_flight || !redis_link_ready(st))
        return;
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", REDIS_PRESENCE_TTL_MS);
    const char *argv[] = {"EVALSHA", st->sha_presence,     "1",      REDIS_PREFIX,
                          "beat",    st->presence_channel, st->node, ttl};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    if (redis_link_command(st, beat_cb, st, 8, argv, lens) == 0)
        st->beat_in_flight = true;
}

void redis_presence_connected(struct redis_store *st)
{
    st->beat_in_flight = false;
    redis_presence_beat(st);
    const char *argv[] = {"HGETALL", REDIS_PREFIX "pres"};
    size_t lens[] = {7, strlen(argv[1])};
    if (redis_link_command(st, snapshot_cb, st, 2, argv, lens) == 0)
        st->snapshot_in_flight = true;
}

void redis_presence_lost(struct redis_store *st)
{
    st->snapshot_in_flight = false;
    st->beat_in_flight = false;
    struct store_req *held = st->presence_held;
    st->presence_held = NULL;
    store_req_free(held);
}

void redis_presence_free(struct redis_store *st)
{
    size_t pos = 0;
    struct own_member *m;
    while ((m = strmap_next(&st->own_members, &pos)))
        own_member_free(m);
    strmap_free(&st->own_members);
    redis_presence_lost(st);
}
