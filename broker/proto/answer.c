/* SPDX-License-Identifier: MIT */
/*
 * answer.c: encoding the broker's replies and events (see answer.h).
 *
 * Replies are short and built by concatenation like messages; only an
 * error's message, which may quote client input, goes through jansson to be
 * escaped. The acks of publish and unsubscribe, one per durable publish,
 * are built on the stack so that the only allocation is the frame.
 */
#include "proto/answer.h"

#include <stdlib.h>

#include "common/base64.h"

/* Room for the fixed-size replies (an ack with two 20-digit numbers). */
#define REPLY_STACK_BYTES 128

static void begin_ack(struct sbuf *b, uint64_t id)
{
    sbuf_add_str(b, "{\"op\":\"ack\",\"id\":");
    sbuf_add_u64(b, id);
}

/* {"op":"ack","id":N,"topic":T  (no closing brace) */
static void begin_topic_ack(struct sbuf *b, uint64_t id, const char *topic)
{
    begin_ack(b, id);
    sbuf_add_str(b, ",\"topic\":");
    sbuf_add_json_string(b, topic);
}

/* Closes the object and turns the text into a frame. */
static struct frame *end_reply(struct sbuf *b)
{
    sbuf_add(b, "}", 1);
    return frame_from_sbuf(b);
}

struct frame *answer_welcome(const struct answer_welcome *w)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_str(&b, "{\"op\":\"welcome\",\"v\":1,\"client\":");
    sbuf_add_json_string(&b, w->client);
    sbuf_add_str(&b, ",\"server\":\"wsbroker " WSB_VERSION "\",\"epoch\":");
    sbuf_add_json_string(&b, w->epoch);
    sbuf_add_str(&b, ",\"seq\":");
    sbuf_add_u64(&b, w->seq);
    sbuf_add_str(&b, ",\"heartbeat\":");
    sbuf_add_u64(&b, (uint64_t)w->heartbeat);
    sbuf_add_str(&b, ",\"max_message\":");
    sbuf_add_u64(&b, (uint64_t)w->max_message);
    sbuf_add_str(&b, ",\"features\":[" ANSWER_FEATURES "]");
    return end_reply(&b);
}

struct frame *answer_pong(uint64_t id)
{
    char stack[REPLY_STACK_BYTES];
    struct sbuf b;
    sbuf_init_on(&b, stack, sizeof(stack));
    sbuf_add_str(&b, "{\"op\":\"pong\",\"id\":");
    sbuf_add_u64(&b, id);
    return end_reply(&b);
}

struct frame *answer_ack(uint64_t id)
{
    char stack[REPLY_STACK_BYTES];
    struct sbuf b;
    sbuf_init_on(&b, stack, sizeof(stack));
    begin_ack(&b, id);
    return end_reply(&b);
}

struct frame *answer_auth_ack(uint64_t id, const char *user, int64_t exp)
{
    struct sbuf b;
    sbuf_init(&b);
    begin_ack(&b, id);
    sbuf_add_str(&b, ",\"user\":");
    if (user)
        sbuf_add_json_string(&b, user);
    else
        sbuf_add_str(&b, "null");
    sbuf_add_str(&b, ",\"exp\":");
    if (exp > 0)
        sbuf_add_u64(&b, (uint64_t)exp);
    else
        sbuf_add_str(&b, "null");
    return end_reply(&b);
}

struct frame *answer_publish_ack(uint64_t id, uint64_t seq, bool duplicate)
{
    char stack[REPLY_STACK_BYTES];
    struct sbuf b;
    sbuf_init_on(&b, stack, sizeof(stack));
    begin_ack(&b, id);
    sbuf_add_str(&b, ",\"seq\":");
    sbuf_add_u64(&b, seq);
    if (duplicate)
        sbuf_add_str(&b, ",\"duplicate\":true");
    return end_reply(&b);
}

struct frame *answer_subscribe_ack(uint64_t id, const char *topic, size_t replayed, bool recovered,
                                   uint64_t seq)
{
    struct sbuf b;
    sbuf_init(&b);
    begin_topic_ack(&b, id, topic);
    sbuf_add_str(&b, ",\"replayed\":");
    sbuf_add_u64(&b, replayed);
    sbuf_add_str(&b, recovered ? ",\"recovered\":true" : ",\"recovered\":false");
    sbuf_add_str(&b, ",\"seq\":");
    sbuf_add_u64(&b, seq);
    return end_reply(&b);
}

/* The most bytes one message takes in a history reply: its message
 * object (as a message frame spells it) with base64 data and the encoding
 * field when binary, and the comma before it. */
static size_t history_message_size(const struct store_msg *msg)
{
    size_t data_len = msg->is_binary ? base64_encoded_size(msg->data_len) : msg->data_len;
    size_t n = envelope_message_size(msg->topic, msg->from_user, false, data_len) + 1;
    if (msg->is_binary)
        n += sizeof(",\"encoding\":\"base64\"");
    return n;
}

void answer_append_messages(struct sbuf *b, const struct store_msg *msgs, size_t n_msgs)
{
    sbuf_add_str(b, "\"messages\":[");
    for (size_t i = 0; i < n_msgs; i++) {
        if (i)
            sbuf_add(b, ",", 1);
        envelope_append_message_json(b, &msgs[i]);
    }
    sbuf_add(b, "]", 1);
}

size_t answer_history_fit(const struct store_msg *msgs, size_t n_msgs, size_t max_bytes)
{
    /* The ack around the messages: its id, more and recovered. */
    size_t used = sizeof("{\"op\":\"ack\",\"id\":,\"messages\":[],\"more\":false,"
                         "\"recovered\":false}") +
                  20;
    size_t n = 0;
    while (n < n_msgs) {
        used += history_message_size(&msgs[n]);
        if (n > 0 && used > max_bytes)
            break;
        n++;
    }
    return n;
}

struct frame *answer_history(uint64_t id, const struct store_msg *msgs, size_t n_msgs, bool more,
                             bool recovered)
{
    struct sbuf b;
    sbuf_init(&b);
    begin_ack(&b, id);
    sbuf_add(&b, ",", 1);
    answer_append_messages(&b, msgs, n_msgs);
    sbuf_add_str(&b, more ? ",\"more\":true" : ",\"more\":false");
    sbuf_add_str(&b, recovered ? ",\"recovered\":true" : ",\"recovered\":false");
    return end_reply(&b);
}

struct frame *answer_presence(uint64_t id, const char *topic, const struct sbuf *members)
{
    if (sbuf_failed(members))
        return NULL;
    struct sbuf b;
    sbuf_init(&b);
    begin_topic_ack(&b, id, topic);
    sbuf_add_str(&b, ",\"members\":");
    sbuf_add(&b, members->data, members->len);
    return end_reply(&b);
}

/* "client":C,"user":U (null when anonymous) */
static void append_member_fields(struct sbuf *b, const char *client, const char *user)
{
    sbuf_add_str(b, "\"client\":");
    sbuf_add_json_string(b, client);
    sbuf_add_str(b, ",\"user\":");
    if (user)
        sbuf_add_json_string(b, user);
    else
        sbuf_add_str(b, "null");
}

void answer_append_member(struct sbuf *b, const char *client, const char *user)
{
    sbuf_add(b, "{", 1);
    append_member_fields(b, client, user);
    sbuf_add(b, "}", 1);
}

struct frame *answer_presence_event(const char *op, const char *topic, const char *client,
                                    const char *user)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_str(&b, "{\"op\":\"");
    sbuf_add_str(&b, op);
    sbuf_add_str(&b, "\",\"topic\":");
    sbuf_add_json_string(&b, topic);
    sbuf_add(&b, ",", 1);
    append_member_fields(&b, client, user);
    return end_reply(&b);
}

/* {"op":"error","id":N,"code":C,"message":M  (no closing brace) */
static void begin_error(struct sbuf *b, const struct request_error *err)
{
    sbuf_add_str(b, "{\"op\":\"error\"");
    if (err->has_id) {
        sbuf_add_str(b, ",\"id\":");
        sbuf_add_u64(b, err->id);
    }
    sbuf_add_str(b, ",\"code\":");
    sbuf_add_json_string(b, err->code);
    sbuf_add_str(b, ",\"message\":");
    /* The message may quote client input: let jansson escape it properly. */
    json_t *msg = json_string(err->message);
    char *text = msg ? json_dumps(msg, JSON_ENCODE_ANY) : NULL;
    sbuf_add_str(b, text ? text : "\"error\"");
    free(text);
    json_decref(msg);
}

struct frame *answer_error(const struct request_error *err)
{
    struct sbuf b;
    sbuf_init(&b);
    begin_error(&b, err);
    return end_reply(&b);
}

struct frame *answer_conflict(const struct request_error *err, uint64_t last)
{
    struct sbuf b;
    sbuf_init(&b);
    begin_error(&b, err);
    sbuf_add_str(&b, ",\"last\":");
    sbuf_add_u64(&b, last);
    return end_reply(&b);
}
