/* SPDX-License-Identifier: MIT */
/*
 * answer.h: the frames the broker sends that are not messages: replies
 * to requests and events (docs/protocol.md sections 3 and 7).
 *
 * Owns nothing but code: the welcome, the acks of each request, pong, the
 * presence events and members, and errors, each encoded into one frame.
 * core/ decides what to answer; this file alone knows how the answer is
 * spelled on the wire. Each function returns NULL when out of memory.
 */
#ifndef WSB_PROTO_ANSWER_H
#define WSB_PROTO_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/envelope.h"
#include "proto/frame.h"
#include "store/store.h"
#include "util/sbuf.h"

/* What `welcome` tells a new connection (section 3). */
struct answer_welcome {
    const char *client;
    const char *epoch;
    uint64_t seq;
    long heartbeat;
    long max_message;
};

struct frame *answer_welcome(const struct answer_welcome *w);
struct frame *answer_pong(uint64_t id);
/* {"op":"ack","id":N}: unsubscribe. */
struct frame *answer_ack(uint64_t id);
/* The `auth` ack: the token's user (null for an API key) and `exp` (null
 * when it never expires). */
struct frame *answer_auth_ack(uint64_t id, const char *user, int64_t exp);
struct frame *answer_publish_ack(uint64_t id, uint64_t seq, bool duplicate);
struct frame *answer_subscribe_ack(uint64_t id, const char *topic, size_t replayed, bool recovered,
                                   uint64_t seq);
struct frame *answer_history(uint64_t id, const struct store_msg *msgs, size_t n_msgs, bool more,
                             bool recovered);
/* Appends "messages":[...] (each as delivered): the history reply's list,
 * shared with the HTTP API's. */
void answer_append_messages(struct sbuf *b, const struct store_msg *msgs, size_t n_msgs);

/* How many of msgs[0..n_msgs) a history reply of at most max_bytes holds
 * (at least one, even when it alone is larger). */
size_t answer_history_fit(const struct store_msg *msgs, size_t n_msgs, size_t max_bytes);
/* `members` holds the array answer_append_member built. */
struct frame *answer_presence(uint64_t id, const char *topic, const struct sbuf *members);
/* `join` or `leave` of a member, sent to the topic's other members. */
struct frame *answer_presence_event(const char *op, const char *topic, const char *client,
                                    const char *user);
/* Appends {"client":..,"user":..} (user null when anonymous). */
void answer_append_member(struct sbuf *b, const char *client, const char *user);
struct frame *answer_error(const struct request_error *err);
/* `error` code `conflict` of a publish whose expect_last did not hold,
 * with "last": the topic's newest seq (docs/protocol.md section 11). */
struct frame *answer_conflict(const struct request_error *err, uint64_t last);

/* What `welcome` lists in "features": what this broker supports,
 * configured or not (docs/protocol.md section 11). JSON strings. */
#define ANSWER_FEATURES "\"conflate\",\"expect_last\",\"auth\",\"redis\""

#endif
