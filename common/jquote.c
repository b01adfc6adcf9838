/* SPDX-License-Identifier: MIT */
/*
 * jquote.c: see jquote.h.
 */
#include "common/jquote.h"

/* Stores ch when it fits (the last byte is kept for the NUL) and counts it
 * either way. */
static void jquote_put(char *out, size_t size, size_t *n, char ch)
{
    if (*n + 1 < size)
        out[*n] = ch;
    (*n)++;
}

size_t jquote_string(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    jquote_put(out, size, &n, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            jquote_put(out, size, &n, '\\');
            jquote_put(out, size, &n, (char)*p);
        } else if (*p < 0x20) {
            const char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            for (int i = 0; i < 6; i++)
                jquote_put(out, size, &n, esc[i]);
        } else {
            jquote_put(out, size, &n, (char)*p);
        }
    }
    jquote_put(out, size, &n, '"');
    if (size)
        out[n < size ? n : size - 1] = '\0';
    return n;
}
