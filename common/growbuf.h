/* SPDX-License-Identifier: MIT */
/*
 * growbuf.h: growing a byte buffer by doubling, for the receive buffers
 * that gather a frame cut by the end of a read (libwsb, the bench; the
 * broker's sessions have the same need).
 */
#ifndef WSB_COMMON_GROWBUF_H
#define WSB_COMMON_GROWBUF_H

#include <stddef.h>

/* Makes *buf (malloc'd or NULL, *cap bytes) at least `need` bytes long:
 * the capacity doubles, from first_cap when the buffer is empty; the bytes
 * held are kept. 0, or -1 when out of memory (the buffer is unchanged). */
int growbuf_reserve(unsigned char **buf, size_t *cap, size_t need, size_t first_cap);

#endif
