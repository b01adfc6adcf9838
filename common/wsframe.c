/* SPDX-License-Identifier: MIT */
/*
 * wsframe.c: see wsframe.h.
 */
#include "common/wsframe.h"

#include <string.h>

int wsframe_parse_header(const unsigned char *in, size_t avail, struct wsframe_header *h)
{
    if (avail < 2)
        return 0;
    h->fin = (in[0] & 0x80) != 0;
    h->opcode = in[0] & 0x0f;
    h->masked = (in[1] & 0x80) != 0;
    uint64_t len = in[1] & 0x7f;
    size_t n = 2;
    if (len == 126) {
        if (avail < 4)
            return 0;
        len = ((uint64_t)in[2] << 8) | in[3];
        n = 4;
    } else if (len == 127) {
        if (avail < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | in[2 + i];
        if (len >> 63)
            return -1;
        n = 10;
    }
    if (h->masked) {
        if (avail < n + 4)
            return 0;
        memcpy(h->mask, in + n, 4);
        n += 4;
    }
    h->payload_len = len;
    h->header_len = n;
    return 1;
}

bool wsframe_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}
