/* SPDX-License-Identifier: MIT */
/*
 * jscan.h: strict JSON (RFC 8259) scanning over a buffer, without building
 * values.
 *
 * Owns nothing but code. It exists for the publish hot path: jansson builds
 * a tree of every value (a hashtable per object, an allocation per node)
 * and serializing `data` back costs as much again; a published message's
 * `data` only needs to be checked and kept as the bytes it arrived as. The
 * scanner validates exactly what a JSON parser would (grammar, escapes,
 * surrogate pairs, UTF-8, nesting depth, numbers too large for a double) and reports where each
 * value starts and ends. Everything else is parsed with jansson.
 */
#ifndef WSB_JSCAN_H
#define WSB_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* jansson's nesting limit, so both parsers accept the same documents. */
#define JSCAN_MAX_DEPTH 2048

/* Skips JSON whitespace. */
const char *jscan_skip_ws(const char *p, const char *end);

/* p at '"': returns the byte after the closing quote, or NULL when the
 * string is not valid. *escaped is set when it holds any escape. */
const char *jscan_string(const char *p, const char *end, bool *escaped);

/* p at the first byte of a value nested `depth` containers deep (0 for a
 * whole document): returns the byte after it, or NULL when it is not a
 * valid JSON value. */
const char *jscan_value(const char *p, const char *end, int depth);

/* A span of bytes in a scanned buffer. */
struct jspan {
    const char *p, *end;
};

/* In the (valid) JSON object at p: the value of member `name`, the last one
 * when it repeats (as jansson keeps it). False when it is absent, p is not
 * an object, or a member name has escapes (it could be `name` spelled
 * otherwise: the caller must then not rely on the span). */
bool jscan_member(const char *p, const char *end, const char *name, struct jspan *value);

/* The items of the (valid) JSON array at p, up to max: their count, or -1
 * when p is not an array or it holds more than max. */
long jscan_items(const char *p, const char *end, struct jspan *items, size_t max);

/* Length of the well-formed UTF-8 sequence at p (at most end - p bytes,
 * RFC 3629), or 0. */
size_t jscan_utf8_len(const unsigned char *p, const unsigned char *end);

/* True when the len bytes at p are well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). ASCII runs are
 * checked 8 bytes at a time. */
bool jscan_utf8_valid(const unsigned char *p, size_t len);

#endif
