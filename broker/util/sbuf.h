/* SPDX-License-Identifier: MIT */
/*
 * sbuf.h: a growable byte buffer for building JSON text by hand.
 *
 * Owns: nothing beyond its own bytes. The message encoder uses it to join
 * pre-serialized pieces (the stored `data` text) without re-parsing them.
 * Allocation failure is sticky: sbuf_failed() tells, and the content is
 * then not to be used.
 */
#ifndef WSB_SBUF_H
#define WSB_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
    bool borrowed; /* `data` is the caller's buffer (see sbuf_init_on) */
};

void sbuf_init(struct sbuf *b);
/* Starts in the caller's `cap` bytes at `buf` (e.g. on the stack) and moves
 * to the heap only when they run out; sbuf_free then frees only the heap
 * copy. The content must not be taken over with free(). */
void sbuf_init_on(struct sbuf *b, char *buf, size_t cap);
void sbuf_free(struct sbuf *b);
/* Empties the buffer and clears a failure; keeps the allocation. */
void sbuf_reset(struct sbuf *b);
void sbuf_add(struct sbuf *b, const void *bytes, size_t len);
void sbuf_add_str(struct sbuf *b, const char *s);
void sbuf_add_u64(struct sbuf *b, uint64_t v);
void sbuf_add_i64(struct sbuf *b, int64_t v);
/* Adds `s` as a JSON string literal, quoted and escaped. */
void sbuf_add_json_string(struct sbuf *b, const char *s);
/* Adds `len` bytes as a quoted base64 JSON string. */
void sbuf_add_base64(struct sbuf *b, const unsigned char *bytes, size_t len);
bool sbuf_failed(const struct sbuf *b);

#endif
