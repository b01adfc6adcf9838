/* SPDX-License-Identifier: MIT */
/*
 * memtrim.h: gives memory the broker freed back to the system.
 *
 * glibc keeps freed heap memory in its arenas for reuse, so after a burst
 * (a crowd of slow consumers whose queues were dropped, large replays) the
 * resident size would stay at its peak for good. memtrim_tick, called at
 * the end of every event-loop turn, costs a clock read; at most once a
 * second it asks glibc how much the arenas hold free and, past a threshold,
 * returns the free pages with malloc_trim. Service thread only.
 */
#ifndef WSB_MEMTRIM_H
#define WSB_MEMTRIM_H

#include <stdbool.h>
#include <stdint.h>

/* Free bytes the arenas may keep before a trim. */
#define MEMTRIM_KEEP_BYTES (8u * 1024 * 1024)

/* now_ms: a monotonic clock in milliseconds. Returns true when it trimmed. */
bool memtrim_tick(int64_t now_ms);

#endif
