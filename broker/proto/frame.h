/* SPDX-License-Identifier: MIT */
/*
 * frame.h: an outgoing WebSocket message, encoded once and shared.
 *
 * Owns: the reference-counted buffer that carries one outgoing message with
 * FRAME_HEADROOM bytes in front of the payload, so that lws_write() can
 * put the frame header there without a copy. A published message becomes
 * one frame shared by every subscriber's send queue (encode once); replies
 * are frames with a single reference. Only the service thread touches
 * frames, so the count needs no atomics.
 */
#ifndef WSB_FRAME_H
#define WSB_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/sbuf.h"

/* Headroom in front of every payload: lws_write() puts the frame header
 * there without a copy. It must be at least lws's LWS_PRE (checked where
 * lws is, net/conn.c), and is a constant here so that proto/ and core/ do
 * not depend on libwebsockets. */
#define FRAME_HEADROOM 16

struct frame {
    uint32_t refs;
    bool is_binary;
    bool is_ping;        /* a WebSocket ping: the payload is the whole frame */
    size_t len;          /* payload bytes (after the headroom) */
    unsigned char buf[]; /* FRAME_HEADROOM + len payload bytes */
};

/* The heap memory a frame takes (a pooled block, or its allocation and
 * the allocator's header): what holding it really costs. */
size_t frame_memory(const struct frame *f);

/* A frame with room for `len` payload bytes and one reference. */
struct frame *frame_new(size_t len, bool is_binary);

/* A text frame holding a copy of `text`. */
struct frame *frame_from_text(const char *text, size_t len);

/* A text frame of b's bytes (NULL when b failed); frees b's data. */
struct frame *frame_from_sbuf(struct sbuf *b);

/* Frees the small frames kept for reuse (at shutdown). */
void frame_pool_drain(void);

static inline unsigned char *frame_payload(struct frame *f)
{
    return f->buf + FRAME_HEADROOM;
}

static inline struct frame *frame_ref(struct frame *f)
{
    f->refs++;
    return f;
}

void frame_unref(struct frame *f);

/* Recently encoded message frames by seq, so that replays to many
 * subscribers (a mass reconnect) share one frame per message instead of
 * encoding and holding a copy each. A slot per seq modulo the size; frames
 * over FRAME_CACHE_MAX_BYTES are not kept, which bounds the memory. */
#define FRAME_CACHE_SLOTS 1024
#define FRAME_CACHE_MAX_BYTES (16 * 1024)

struct frame_cache {
    struct frame *frames[FRAME_CACHE_SLOTS];
    uint64_t seqs[FRAME_CACHE_SLOTS];
};

/* A new reference to the frame of `seq`, or NULL. */
struct frame *frame_cache_get(struct frame_cache *c, uint64_t seq);
/* Keeps a reference to f as the frame of `seq` (when small enough). */
void frame_cache_put(struct frame_cache *c, uint64_t seq, struct frame *f);
void frame_cache_clear(struct frame_cache *c);

#endif
