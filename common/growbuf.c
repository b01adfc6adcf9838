/* SPDX-License-Identifier: MIT */
/*
 * growbuf.c: see growbuf.h.
 */
#include "common/growbuf.h"

#include <stdlib.h>

int growbuf_reserve(unsigned char **buf, size_t *cap, size_t need, size_t first_cap)
{
    if (need <= *cap)
        return 0;
    size_t new_cap = *cap ? *cap : first_cap;
    while (new_cap < need)
        new_cap *= 2;
    unsigned char *grown = realloc(*buf, new_cap);
    if (!grown)
        return -1;
    *buf = grown;
    *cap = new_cap;
    return 0;
}
