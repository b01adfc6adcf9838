/* SPDX-License-Identifier: MIT */
/*
 * pool.h: a free list of equal-sized heap blocks, for one thread.
 *
 * Owns: the blocks on its free list (at most max_free of them). Why: with
 * hundreds of publishes in flight, the blocks a publish needs (its store
 * request, its ack frame) outnumber glibc's per-thread cache (7 per size)
 * and every malloc and free went through the arena's bins: 5-6% of the
 * broker's CPU per durable ack. A block taken from a pool is an ordinary
 * malloc'd block of block_size bytes, so free() is also a valid way to
 * release it.
 */
#ifndef WSB_POOL_H
#define WSB_POOL_H

#include <stddef.h>

struct pool {
    void *free_list; /* each free block starts with the pointer to the next */
    size_t n_free;
    size_t max_free;
    size_t block_size;
};

void pool_init(struct pool *p, size_t block_size, size_t max_free);
/* A block of block_size bytes (uninitialized); NULL when out of memory. */
void *pool_get(struct pool *p);
/* Keeps `block` for the next pool_get, or frees it when the list is full. */
void pool_put(struct pool *p, void *block);
/* Frees every block on the free list. */
void pool_drain(struct pool *p);

#endif
