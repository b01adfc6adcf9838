/* SPDX-License-Identifier: MIT */
/*
 * message.c: encoding a stored message for its three destinations: the
 * WebSocket `message` frame (text JSON, or the binary framing of
 * docs/protocol.md section 2), the JSON object of a history reply, and the
 * SSE event. Declared in envelope.h with the parser, which is envelope.c.
 */
#include "proto/envelope.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/binframe.h"

#define MESSAGE_HEAD "{\"op\":\"message\""

/* {"op":"message","topic":T,"seq":N,"ts":N[,"from":U]  (no closing brace) */
static void append_message_head(struct sbuf *b, const struct store_msg *msg)
{
    sbuf_add_str(b, MESSAGE_HEAD ",\"topic\":");
    sbuf_add_json_string(b, msg->topic);
    sbuf_add_str(b, ",\"seq\":");
    sbuf_add_u64(b, msg->seq);
    sbuf_add_str(b, ",\"ts\":");
    sbuf_add_i64(b, msg->ts);
    if (msg->from_user) {
        sbuf_add_str(b, ",\"from\":");
        sbuf_add_json_string(b, msg->from_user);
    }
}

size_t envelope_message_size(const char *topic, const char *from_user, bool is_binary,
                             size_t data_len)
{
    /* Fixed text, a 20-digit seq, a 15-digit ts; names need no escaping
     * (topic characters), a user may need up to 6 bytes per byte. */
    size_t n = sizeof("{\"op\":\"message\",\"topic\":\"\",\"seq\":,\"ts\":,\"data\":}") + 35;
    n += strlen(topic) + data_len;
    if (from_user)
        n += sizeof(",\"from\":\"\"") + 6 * strlen(from_user);
    if (is_binary)
        n += 2;
    return n;
}

struct frame *envelope_encode_message(const struct store_msg *msg)
{
    struct sbuf b;
    sbuf_init(&b);
    if (msg->is_binary)
        sbuf_add(&b, "\0\0", 2);
    append_message_head(&b, msg);
    if (msg->is_binary) {
        sbuf_add(&b, "}", 1);
        if (binframe_put_prefix((unsigned char *)b.data, b.len - 2) < 0) {
            sbuf_free(&b);
            return NULL;
        }
    } else {
        sbuf_add_str(&b, ",\"data\":");
    }
    sbuf_add(&b, msg->data, msg->data_len);
    if (!msg->is_binary)
        sbuf_add(&b, "}", 1);
    struct frame *f = frame_from_sbuf(&b);
    if (f)
        f->is_binary = msg->is_binary;
    return f;
}

/* The count goes right after "op", a place every message frame has at the
 * same offset, so the shared frame is copied around it without parsing. */
struct frame *envelope_mark_conflated(const struct frame *f, uint64_t n)
{
    const unsigned char *in = frame_payload((struct frame *)f);
    size_t at = (f->is_binary ? 2 : 0) + sizeof(MESSAGE_HEAD) - 1;
    char count[40];
    size_t count_len = (size_t)snprintf(count, sizeof(count), ",\"conflated\":%" PRIu64, n);
    struct frame *out = frame_new(f->len + count_len, f->is_binary);
    if (!out)
        return NULL;
    unsigned char *p = frame_payload(out);
    memcpy(p, in, at);
    memcpy(p + at, count, count_len);
    memcpy(p + at + count_len, in + at, f->len - at);
    size_t envelope_len = f->is_binary ? (((size_t)in[0] << 8) | in[1]) + count_len : 0;
    if (f->is_binary && binframe_put_prefix(p, envelope_len) < 0) {
        frame_unref(out);
        return NULL;
    }
    return out;
}

void envelope_append_message_json(struct sbuf *b, const struct store_msg *msg)
{
    append_message_head(b, msg);
    sbuf_add_str(b, ",\"data\":");
    if (msg->is_binary) {
        sbuf_add_base64(b, msg->data, msg->data_len);
        sbuf_add_str(b, ",\"encoding\":\"base64\"");
    } else {
        sbuf_add(b, msg->data, msg->data_len);
    }
    sbuf_add(b, "}", 1);
}

struct frame *envelope_encode_sse(const struct store_msg *msg)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_str(&b, "id: ");
    sbuf_add_u64(&b, msg->seq);
    sbuf_add_str(&b, "\nevent: message\ndata: ");
    size_t json_start = b.len;
    envelope_append_message_json(&b, msg);
    /* data is kept as published and may hold line breaks between its
     * tokens; a line break ends an SSE data line. In valid JSON a raw CR or
     * LF can only be whitespace between tokens, so a space replaces it. */
    for (size_t i = json_start; !sbuf_failed(&b) && i < b.len; i++)
        if (b.data[i] == '\n' || b.data[i] == '\r')
            b.data[i] = ' ';
    sbuf_add_str(&b, "\n\n");
    return frame_from_sbuf(&b);
}
