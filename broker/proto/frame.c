/* SPDX-License-Identifier: MIT */
/*
 * frame.c: reference-counted outgoing messages (see frame.h).
 */
#include "proto/frame.h"

#include "util/pool.h"

#include <stdlib.h>
#include <string.h>

/* Frames of up to FRAME_POOL_BLOCK bytes in all (acks, most message frames)
 * are recycled. Frames are made and released on the service thread only,
 * so one pool for the process, emptied by frame_pool_drain(). */
#define FRAME_POOL_BLOCK 256
#define FRAME_POOL_MAX 4096
static struct pool frame_pool = {.max_free = FRAME_POOL_MAX, .block_size = FRAME_POOL_BLOCK};

static size_t frame_alloc_size(size_t len)
{
    return sizeof(struct frame) + FRAME_HEADROOM + len;
}

struct frame *frame_new(size_t len, bool is_binary)
{
    size_t size = frame_alloc_size(len);
    struct frame *f = size <= FRAME_POOL_BLOCK ? pool_get(&frame_pool) : malloc(size);
    if (!f)
        return NULL;
    f->refs = 1;
    f->is_binary = is_binary;
    f->is_ping = false;
    f->len = len;
    return f;
}

size_t frame_memory(const struct frame *f)
{
    size_t size = frame_alloc_size(f->len);
    return size <= FRAME_POOL_BLOCK ? FRAME_POOL_BLOCK : size + 16;
}

struct frame *frame_from_text(const char *text, size_t len)
{
    struct frame *f = frame_new(len, false);
    if (f)
        memcpy(frame_payload(f), text, len);
    return f;
}

struct frame *frame_from_sbuf(struct sbuf *b)
{
    struct frame *f = NULL;
    if (!sbuf_failed(b))
        f = frame_from_text(b->data ? b->data : "", b->len);
    sbuf_free(b);
    return f;
}

void frame_unref(struct frame *f)
{
    if (!f || --f->refs > 0)
        return;
    if (frame_alloc_size(f->len) <= FRAME_POOL_BLOCK)
        pool_put(&frame_pool, f);
    else
        free(f);
}

void frame_pool_drain(void)
{
    pool_drain(&frame_pool);
}

struct frame *frame_cache_get(struct frame_cache *c, uint64_t seq)
{
    size_t i = seq % FRAME_CACHE_SLOTS;
    if (!c->frames[i] || c->seqs[i] != seq)
        return NULL;
    return frame_ref(c->frames[i]);
}

void frame_cache_put(struct frame_cache *c, uint64_t seq, struct frame *f)
{
    if (!f || f->len > FRAME_CACHE_MAX_BYTES)
        return;
    size_t i = seq % FRAME_CACHE_SLOTS;
    frame_unref(c->frames[i]);
    c->frames[i] = frame_ref(f);
    c->seqs[i] = seq;
}

void frame_cache_clear(struct frame_cache *c)
{
    for (size_t i = 0; i < FRAME_CACHE_SLOTS; i++) {
        frame_unref(c->frames[i]);
        c->frames[i] = NULL;
    }
}
