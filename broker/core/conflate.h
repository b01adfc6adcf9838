/* SPDX-License-Identifier: MIT */
/*
 * conflate.h: the conflated messages of one connection's send queue
 * (docs/protocol.md section 11, conflated subscriptions).
 *
 * Owns: the slots and their index by topic name. A slot is one entry of the
 * session's send queue (or of its held frames) that stands for a topic's
 * newest message not yet sent: a newer message of the topic swaps the
 * slot's frame in place, so it keeps the older one's place, and the slot
 * counts what it dropped. The index finds a topic's slot in O(1). Slots
 * exist only while the connection is backlogged (its queue holds unsent
 * frames): a connection that keeps up never makes one. Why a file of its
 * own: session.c keeps the queue's accounting; what a slot holds and how
 * its frame gets `"conflated": N` is this file's alone. Called by session.c
 * only; service thread only.
 */
#ifndef WSB_CONFLATE_H
#define WSB_CONFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strmap.h"
#include "proto/frame.h"

struct conflate_slot {
    struct frame *frame; /* the topic's newest message not yet sent */
    uint64_t dropped;    /* messages it replaced since the topic's last one was sent */
    bool marked;         /* frame is this slot's own copy carrying "conflated" */
    bool held;           /* an entry of the held frames (a replay is pending) */
    bool indexed;        /* in the index: a newer message of the topic replaces it */
    uint32_t cost;       /* bytes charged while queued */
    size_t topic_len;
    char topic[]; /* the index's key */
};

/* The slots of one connection that a newer message may still replace. */
struct conflate_index {
    struct strmap by_topic; /* topic name -> struct conflate_slot * */
};

/* The replaceable slot of `topic`, or NULL. */
struct conflate_slot *conflate_find(const struct conflate_index *ix, const char *topic, size_t len);

/* A new slot holding f (adds a reference), in the index; NULL when out of
 * memory. */
struct conflate_slot *conflate_add(struct conflate_index *ix, struct frame *f, const char *topic,
                                   size_t len, bool held);

/* A newer message of the slot's topic replaces its frame (adds a reference). */
void conflate_replace(struct conflate_slot *slot, struct frame *f);

/* The slot is no longer replaceable: it stays queued and is sent as it is.
 * Every slot, when a subscription goes (a topic's next message may be
 * delivered plain, and must not overtake a queued one). */
void conflate_forget(struct conflate_index *ix, struct conflate_slot *slot);
void conflate_forget_all(struct conflate_index *ix);

/* The frame to write for the slot: its message, with "conflated": N when it
 * replaced N others (made once, when it is first asked for). */
struct frame *conflate_frame(struct conflate_slot *slot);

/* The slot was sent or dropped: out of the index, and freed. */
void conflate_release(struct conflate_index *ix, struct conflate_slot *slot);

/* Frees the index (its slots are released with their entries). */
void conflate_free(struct conflate_index *ix);

#endif
