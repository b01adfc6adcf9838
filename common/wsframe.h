/* SPDX-License-Identifier: MIT */
/*
 * wsframe.h: RFC 6455 frame headers, written and read by hand in the two
 * places where going through libwebsockets' framing costs too much: the
 * broker's coalesced fan-out writes (many frames in one send; see
 * docs/benchmarks.md, "why fan-out writes bypass lws_write") and the bench's
 * load generator, which drives thousands of client connections from one
 * thread. Everything else uses lws's own framing.
 *
 * Only final (FIN) frames are written. A client frame is masked with a zero
 * key: valid framing that leaves the payload bytes as they are, so that a
 * payload built once can be sent on many connections.
 */
#ifndef WSB_COMMON_WSFRAME_H
#define WSB_COMMON_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum wsframe_opcode {
    WSFRAME_CONT = 0,
    WSFRAME_TEXT = 1,
    WSFRAME_BINARY = 2,
    WSFRAME_CLOSE = 8,
    WSFRAME_PING = 9,
    WSFRAME_PONG = 10,
};

/* The largest header: 2 bytes, 8 length bytes, 4 mask bytes. */
#define WSFRAME_HEADER_MAX 14

/* Writes the header of a final frame of `len` payload bytes into out
 * (WSFRAME_HEADER_MAX bytes); masked frames carry a zero key. Returns its
 * size. Inline: the broker's coalesced write calls it once per delivered
 * frame. */
static inline size_t wsframe_put_header(unsigned char *out, enum wsframe_opcode opcode,
                                        uint64_t len, bool masked)
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

struct wsframe_header {
    bool fin;
    int opcode;
    bool masked;
    unsigned char mask[4];
    uint64_t payload_len;
    size_t header_len; /* bytes before the payload */
};

/* RFC 6455 section 7.4: the codes a peer may send in a close frame
 * (1000-1003, 1007-1011 and the 3000-4999 range for libraries and
 * applications). Anything else is a protocol error (1002). */
bool wsframe_close_code_valid(unsigned code);

/* Reads a header from in[0..avail): 1 with *h filled, 0 when more bytes
 * are needed, -1 when the header is malformed (a 64-bit length with its top
 * bit set). */
int wsframe_parse_header(const unsigned char *in, size_t avail, struct wsframe_header *h);

#endif
