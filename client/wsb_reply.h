/* SPDX-License-Identifier: MIT */
/*
 * wsb_reply.h: the reply box and the decoding of broker frames into
 * replies and messages (see wsb_reply.c).
 *
 * Owns: the reply box, a struct wsb_reply together with everything its
 * pointers point into, so one free releases it all.
 */
#ifndef WSB_REPLY_H
#define WSB_REPLY_H

#include "wsb.h"

#include <jansson.h>

/* A reply and its storage. `r` comes first: wsb_reply_free() casts back. */
struct wsb_reply_box {
    struct wsb_reply r;
    json_t *root; /* the parsed ack/error: owns the strings of r */
    char *text;   /* owned copy of a local error message */
    char *topic;  /* owned copy of the topic asked, when the reply had none */
    struct wsb_message *messages;
    struct wsb_member *members;
    unsigned char *data; /* the history messages' data, each NUL-terminated */
};

/* A reply that did not come from the broker (timeout, closed, ...). */
struct wsb_reply_box *wsb_reply_local(int status, const char *message);

/* Decodes an `ack`, `error` or `pong` frame: text[0..len) is the frame as
 * received and root its parsed form (the box takes the reference). Returns
 * NULL only when out of memory. */
struct wsb_reply_box *wsb_reply_from_frame(const char *text, size_t len, json_t *root);

void wsb_reply_box_free(struct wsb_reply_box *box);

/* Fills reply.topic with the topic the request asked for when the broker's
 * reply did not name it (errors never do). */
void wsb_reply_set_topic(struct wsb_reply_box *box, const char *topic);

/* Fills m from a `message` object. text[0..len) is its JSON text, root its
 * parsed form. For a text message m->data points into text (not
 * NUL-terminated: *datalen gives the length and the caller terminates it);
 * for a base64 one the payload is decoded into a malloc'ed buffer returned
 * in *decoded (the caller frees it). 0, or -1 when a field is missing. */
int wsb_message_from_json(const char *text, size_t len, json_t *root, struct wsb_message *m,
                          unsigned char **decoded);

#endif
