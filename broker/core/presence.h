/* SPDX-License-Identifier: MIT */
/*
 * presence.h: who is present on which topic.
 *
 * Owns: the set of presence members per topic name (subscriptions made with
 * presence:true), the members other nodes told of (a shared engine: they
 * are listed, and their joins and leaves sent, as this node's own), and
 * the join/leave events sent to the other members. Service thread only.
 */
#ifndef WSB_PRESENCE_H
#define WSB_PRESENCE_H

#include "util/sbuf.h"
#include "core/session.h"
#include "store/store.h"

struct presence;

/* `store` is told of this node's joins and leaves (NULL: nobody is). */
struct presence *presence_new(struct store *store);
void presence_free(struct presence *p);

/* Adds the subscription as a member of its topic and sends `join` to the
 * other members' connections. */
int presence_join(struct presence *p, struct subscription *sub);

/* Removes it and sends `leave` to the remaining members. */
void presence_leave(struct presence *p, struct subscription *sub);

/* Members of other nodes joined or left (a STORE_PRESENCE entry); with
 * `snapshot`, `events` are all of them now: the others left. This node's
 * members of each topic are told. */
void presence_remote(struct presence *p, const struct store_presence *events, size_t n,
                     bool snapshot);

/* Appends `[{"client":..,"user":..},...]` for the topic name. */
void presence_append_members(const struct presence *p, const char *topic, struct sbuf *out);

/* Number of members of a topic. */
size_t presence_count(const struct presence *p, const char *topic);

#endif
