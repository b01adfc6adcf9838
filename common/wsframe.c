/*
 * wsframe.c: see wsframe.h.
 */
#include "common/wsframe.h"

#include <string.h>

size_t wsframe_put_header(unsigned char *out, enum wsframe_opcode opcode, uint64_t len, bool masked)
{
    unsigned char mask_bit = masked ? 0x80 : 0;
    size_t n;
    out[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        out[1] = (unsigned char)(mask_bit | len);
        n = 2;
    } else if (len < 65536) {
        out[1] = mask_bit | 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        n = 4;
    } else {
        out[1] = mask_bit | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    if (masked) {
        memset(out + n, 0, 4);
        n += 4;
    }
    return n;
}

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
