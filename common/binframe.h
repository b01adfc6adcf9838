/* SPDX-License-Identifier: MIT */
/*
 * binframe.h: the binary WebSocket frame of docs/protocol.md section 2,
 * [u16 big-endian H][H bytes of JSON envelope][payload], split and built
 * by one piece of code for the broker and the clients.
 */
#ifndef WSB_COMMON_BINFRAME_H
#define WSB_COMMON_BINFRAME_H

#include <stddef.h>

/* The largest envelope a binary frame can carry. */
#define BINFRAME_MAX_ENVELOPE 65535

/* Splits frame[0..len): 0, or -1 when the length prefix does not fit. An
 * empty envelope (H = 0) is returned as such; the caller's JSON parser
 * refuses it. */
int binframe_split(const unsigned char *frame, size_t len, const char **env, size_t *env_len,
                   const unsigned char **payload, size_t *payload_len);

/* Writes the 2-byte length prefix for an envelope of env_len bytes into
 * out[0..2); -1 when env_len is over BINFRAME_MAX_ENVELOPE. */
int binframe_put_prefix(unsigned char out[2], size_t env_len);

#endif
