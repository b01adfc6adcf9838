/* SPDX-License-Identifier: MIT */
/*
 * memtrim.c: see memtrim.h.
 */
#include "util/memtrim.h"

#include <malloc.h>
#include <stdbool.h>

#define MEMTRIM_PERIOD_MS 1000

/* When the next look is due: the only state, owned by the service thread. */
static int64_t memtrim_next_ms;

bool memtrim_tick(int64_t now_ms)
{
    if (now_ms < memtrim_next_ms)
        return false;
    memtrim_next_ms = now_ms + MEMTRIM_PERIOD_MS;
    /* mallinfo2 walks the arenas' bin heads, not the heap: cheap. fordblks
     * counts free bytes inside the heap, which is what malloc_trim can
     * return (memory above the top is returned by free itself). */
    struct mallinfo2 info = mallinfo2();
    if (info.fordblks < MEMTRIM_KEEP_BYTES)
        return false;
    malloc_trim(0);
    return true;
}
