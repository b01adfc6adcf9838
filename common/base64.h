/* SPDX-License-Identifier: MIT */
/*
 * base64.h: strict base64 (RFC 4648 standard alphabet), shared by the
 * broker's HTTP API and the clients.
 *
 * Owns the one rule for what base64 the project accepts: only the standard
 * alphabet, '=' padding optional but only at the end, no whitespace. lws's
 * decoder skips characters it does not know, so text is checked here first
 * and then handed to lws, which does the decoding and encoding.
 */
#ifndef WSB_COMMON_BASE64_H
#define WSB_COMMON_BASE64_H

#include <stddef.h>

/* Decodes text[0..len) strictly into a malloc'd buffer (*out, *out_len;
 * the buffer has a NUL after the bytes). 0, or -1 on bad input or no
 * memory (nothing allocated then). */
int base64_decode_strict(const char *text, size_t len, unsigned char **out, size_t *out_len);

/* Bytes base64_encode writes for n input bytes, with the NUL. */
size_t base64_encoded_size(size_t n);

/* Writes the padded base64 of in[0..n) and a NUL into out, which has
 * base64_encoded_size(n) bytes. Returns the text's length. */
size_t base64_encode(const unsigned char *in, size_t n, char *out);

#endif
