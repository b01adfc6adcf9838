/* SPDX-License-Identifier: MIT */
/*
 * conflate.c: a connection's conflation slots (see conflate.h).
 */
#include "core/conflate.h"

#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "util/log.h"

/* A slot is charged like a live entry of its frame, plus itself. */
static uint32_t conflate_cost(const struct conflate_slot *slot)
{
    size_t bytes = slot->frame->len + sizeof(*slot) + slot->topic_len + 1;
    return bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

struct conflate_slot *conflate_find(const struct conflate_index *ix, const char *topic, size_t len)
{
    return ix->by_topic.count ? strmap_get(&ix->by_topic, topic, len) : NULL;
}

struct conflate_slot *conflate_add(struct conflate_index *ix, struct frame *f, const char *topic,
                                   size_t len, bool held)
{
    struct conflate_slot *slot = malloc(sizeof(*slot) + len + 1);
    if (!slot)
        return NULL;
    memset(slot, 0, sizeof(*slot));
    memcpy(slot->topic, topic, len);
    slot->topic[len] = '\0';
    slot->topic_len = len;
    slot->held = held;
    if (strmap_add(&ix->by_topic, slot->topic, len, slot) < 0) {
        free(slot);
        return NULL;
    }
    slot->indexed = true;
    slot->frame = frame_ref(f);
    slot->cost = conflate_cost(slot);
    return slot;
}

void conflate_replace(struct conflate_slot *slot, struct frame *f)
{
    frame_unref(slot->frame);
    slot->frame = frame_ref(f);
    slot->marked = false;
    slot->dropped++;
    slot->cost = conflate_cost(slot);
}

void conflate_forget(struct conflate_index *ix, struct conflate_slot *slot)
{
    if (!slot->indexed)
        return;
    strmap_remove(&ix->by_topic, slot->topic, slot->topic_len);
    slot->indexed = false;
}

void conflate_forget_all(struct conflate_index *ix)
{
    struct conflate_slot *slot;
    size_t pos = 0;
    while ((slot = strmap_next(&ix->by_topic, &pos)))
        slot->indexed = false;
    strmap_free(&ix->by_topic);
}

struct frame *conflate_frame(struct conflate_slot *slot)
{
    if (slot->dropped == 0 || slot->marked)
        return slot->frame;
    struct frame *marked = envelope_mark_conflated(slot->frame, slot->dropped);
    if (!marked) {
        log_error("out of memory marking a conflated message: sent without its count");
        return slot->frame;
    }
    frame_unref(slot->frame);
    slot->frame = marked;
    slot->marked = true;
    return marked;
}

void conflate_release(struct conflate_index *ix, struct conflate_slot *slot)
{
    conflate_forget(ix, slot);
    frame_unref(slot->frame);
    free(slot);
}

void conflate_free(struct conflate_index *ix)
{
    strmap_free(&ix->by_topic);
}
