/* SPDX-License-Identifier: MIT */
/*
 * presence.h: who is present on which topic.
 *
 * Owns: the set of presence members per topic name (subscriptions made with
 * presence:true), and the join/leave events sent to the other members.
 * Service thread only.
 */
#ifndef WSB_PRESENCE_H
#define WSB_PRESENCE_H

#include "util/sbuf.h"
#include "core/session.h"

struct presence;

struct presence *presence_new(void);
void presence_free(struct presence *p);

/* Adds the subscription as a member of its topic and sends `join` to the
 * other members' connections. */
int presence_join(struct presence *p, struct subscription *sub);

/* Removes it and sends `leave` to the remaining members. */
void presence_leave(struct presence *p, struct subscription *sub);

/* Appends `[{"client":..,"user":..},...]` for the topic name. */
void presence_append_members(const struct presence *p, const char *topic, struct sbuf *out);

/* Number of members of a topic. */
size_t presence_count(const struct presence *p, const char *topic);

#endif
