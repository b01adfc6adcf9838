/* SPDX-License-Identifier: MIT */
/*
 * sbuf.c: growable byte buffer (see sbuf.h).
 */
#include "util/sbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/jquote.h"

void sbuf_init(struct sbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void sbuf_init_on(struct sbuf *b, char *buf, size_t cap)
{
    sbuf_init(b);
    b->data = buf;
    b->cap = cap;
    b->borrowed = true;
    if (cap > 0)
        buf[0] = '\0';
}

void sbuf_free(struct sbuf *b)
{
    if (!b->borrowed)
        free(b->data);
    sbuf_init(b);
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

static bool sbuf_reserve(struct sbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = b->borrowed ? malloc(cap) : realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    if (b->borrowed && b->len > 0)
        memcpy(data, b->data, b->len);
    b->data = data;
    b->cap = cap;
    b->borrowed = false;
    return true;
}

void sbuf_add(struct sbuf *b, const void *bytes, size_t len)
{
    if (len == 0 && b->data)
        return;
    if (!sbuf_reserve(b, len))
        return;
    if (len > 0)
        memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void sbuf_add_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

/* Decimal digits by hand: every message frame and ack carries a seq and a
 * timestamp, and snprintf cost ~1000 instructions each (callgrind). */
void sbuf_add_u64(struct sbuf *b, uint64_t v)
{
    char num[24];
    char *p = num + sizeof(num);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sbuf_add(b, p, (size_t)(num + sizeof(num) - p));
}

void sbuf_add_i64(struct sbuf *b, int64_t v)
{
    if (v < 0) {
        sbuf_add(b, "-", 1);
        sbuf_add_u64(b, (uint64_t)0 - (uint64_t)v);
        return;
    }
    sbuf_add_u64(b, (uint64_t)v);
}

/* The escaping rule is common/jquote's, shared with the clients: one pass
 * to size the literal, one to write it in place. */
void sbuf_add_json_string(struct sbuf *b, const char *s)
{
    size_t need = jquote_string(s, NULL, 0);
    if (!sbuf_reserve(b, need))
        return;
    jquote_string(s, b->data + b->len, need + 1);
    b->len += need;
}

void sbuf_add_base64(struct sbuf *b, const unsigned char *bytes, size_t len)
{
    sbuf_add(b, "\"", 1);
    if (!sbuf_reserve(b, base64_encoded_size(len)))
        return;
    b->len += base64_encode(bytes, len, b->data + b->len);
    sbuf_add(b, "\"", 1);
}

bool sbuf_failed(const struct sbuf *b)
{
    return b->failed;
}
