/*
 * frame.c: reference-counted outgoing messages (see frame.h).
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

struct frame *frame_new(size_t len, bool is_binary)
{
    struct frame *f = malloc(sizeof(*f) + LWS_PRE + len);
    if (!f)
        return NULL;
    f->refs = 1;
    f->is_binary = is_binary;
    f->is_ping = false;
    f->len = len;
    return f;
}

struct frame *frame_from_text(const char *text, size_t len)
{
    struct frame *f = frame_new(len, false);
    if (f)
        memcpy(frame_payload(f), text, len);
    return f;
}

void frame_unref(struct frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}
