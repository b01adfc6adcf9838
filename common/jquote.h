/* SPDX-License-Identifier: MIT */
/*
 * jquote.h: writing a C string as a JSON string literal (RFC 8259), the
 * one escaping rule of the project's hand-built frames: '"' and '\\' are
 * escaped with a backslash, the other bytes below 0x20 as \u00XX, every
 * other byte is copied as it is (the text is UTF-8 already).
 */
#ifndef WSB_COMMON_JQUOTE_H
#define WSB_COMMON_JQUOTE_H

#include <stddef.h>

/* Writes s, quoted and escaped, and a NUL into out, at most size bytes
 * with the NUL (size may be 0). Returns the length the whole literal
 * needs, without the NUL, as snprintf does: the result was cut when it is
 * size or more. */
size_t jquote_string(const char *s, char *out, size_t size);

#endif
