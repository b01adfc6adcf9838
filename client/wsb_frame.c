/* SPDX-License-Identifier: MIT */
/*
 * wsb_frame.c: building the JSON text of a request frame, with the
 * LWS_PRE bytes of headroom lws writes its header into.
 *
 * Exists apart from the request calls because the connection (heartbeat
 * pings) and the subscriptions (subscribe on every connection) build
 * frames too. Allocation failure is sticky: f->failed, and
 * wsb_req_set_frame then refuses the frame.
 */
#include "wsb_frame.h"

#include "common/jquote.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wsb_frame_init(struct frame *f, size_t hint)
{
    f->len = 0;
    f->cap = hint < 128 ? 128 : hint;
    f->failed = 0;
    f->buf = malloc(LWS_PRE + f->cap);
    if (!f->buf)
        f->failed = 1;
}

void wsb_frame_add(struct frame *f, const void *p, size_t n)
{
    if (f->failed || n == 0)
        return;
    if (f->len + n > f->cap) {
        size_t cap = f->cap * 2 > f->len + n ? f->cap * 2 : f->len + n;
        unsigned char *buf = realloc(f->buf, LWS_PRE + cap);
        if (!buf) {
            f->failed = 1;
            return;
        }
        f->buf = buf;
        f->cap = cap;
    }
    memcpy(f->buf + LWS_PRE + f->len, p, n);
    f->len += n;
}

void wsb_frame_str(struct frame *f, const char *s)
{
    wsb_frame_add(f, s, strlen(s));
}

void wsb_frame_u64(struct frame *f, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    wsb_frame_add(f, num, (size_t)n);
}

void wsb_frame_quoted(struct frame *f, const char *s)
{
    char small[256];
    size_t need = jquote_string(s, small, sizeof(small));
    if (need < sizeof(small)) {
        wsb_frame_add(f, small, need);
        return;
    }
    char *big = malloc(need + 1);
    if (!big) {
        f->failed = 1;
        return;
    }
    jquote_string(s, big, need + 1);
    wsb_frame_add(f, big, need);
    free(big);
}

/* Appends `{"op":OP,"id":ID,"topic":TOPIC` (topic may be NULL). */
void wsb_frame_head(struct frame *f, const char *op, uint64_t id, const char *topic)
{
    wsb_frame_str(f, "{\"op\":\"");
    wsb_frame_str(f, op);
    wsb_frame_str(f, "\",\"id\":");
    wsb_frame_u64(f, id);
    if (topic) {
        wsb_frame_str(f, ",\"topic\":");
        wsb_frame_quoted(f, topic);
    }
}

void wsb_frame_begin(struct frame *f, size_t hint, const char *op, uint64_t id, const char *topic)
{
    wsb_frame_init(f, hint);
    wsb_frame_head(f, op, id, topic);
}
