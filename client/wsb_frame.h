/* SPDX-License-Identifier: MIT */
/*
 * wsb_frame.h: the JSON text of a request frame, built by hand behind
 * LWS_PRE bytes of headroom (see wsb_frame.c).
 */
#ifndef WSB_FRAME_H
#define WSB_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct frame {
    unsigned char *buf;
    size_t len; /* bytes after LWS_PRE */
    size_t cap; /* bytes after LWS_PRE */
    int failed;
};

void wsb_frame_init(struct frame *f, size_t hint);
void wsb_frame_add(struct frame *f, const void *p, size_t n);
void wsb_frame_str(struct frame *f, const char *s);
void wsb_frame_u64(struct frame *f, uint64_t v);
/* Appends s as a JSON string literal. */
void wsb_frame_quoted(struct frame *f, const char *s);
/* Appends `{"op":OP,"id":ID,"topic":TOPIC` (topic may be NULL). */
void wsb_frame_head(struct frame *f, const char *op, uint64_t id, const char *topic);
void wsb_frame_begin(struct frame *f, size_t hint, const char *op, uint64_t id, const char *topic);

#endif
