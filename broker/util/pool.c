/* SPDX-License-Identifier: MIT */
/*
 * pool.c: free lists of equal-sized blocks (see pool.h).
 */
#include "util/pool.h"

#include <stdlib.h>

void pool_init(struct pool *p, size_t block_size, size_t max_free)
{
    p->free_list = NULL;
    p->n_free = 0;
    p->max_free = max_free;
    p->block_size = block_size < sizeof(void *) ? sizeof(void *) : block_size;
}

void *pool_get(struct pool *p)
{
    void *block = p->free_list;
    if (!block)
        return malloc(p->block_size);
    p->free_list = *(void **)block;
    p->n_free--;
    /* The next get reads the link inside the new head: a block that has
     * often left this core's cache since it was put back. */
    if (p->free_list)
        __builtin_prefetch(p->free_list);
    return block;
}

void pool_put(struct pool *p, void *block)
{
    if (!block)
        return;
    if (p->n_free >= p->max_free) {
        free(block);
        return;
    }
    *(void **)block = p->free_list;
    p->free_list = block;
    p->n_free++;
}

void pool_drain(struct pool *p)
{
    while (p->free_list) {
        void *next = *(void **)p->free_list;
        free(p->free_list);
        p->free_list = next;
    }
    p->n_free = 0;
}
