/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.c: the request, error and message invariants the envelope
 * fuzz targets share (see fuzz_common.h).
 *
 * Each check restates a rule of docs/protocol.md or envelope.h independently of
 * how envelope.c implements it: fields within their documented ranges, a
 * topic that topic.c accepts, `data` that serializes to JSON equal to what
 * the client sent, replies that are JSON objects, and binary payloads that
 * come back byte for byte (in a frame and as base64 in history).
 */
#include "fuzz_common.h"
#include "proto/answer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"
#include "common/topic.h"

#define FUZZ_TS 1764000000123LL

void fuzz_require(bool ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz invariant violated: %s\n", what);
    fflush(stderr);
    abort();
}

/* ---- Requests ----------------------------------------------------------- */

static void check_topic(const struct request *req)
{
    fuzz_require(req->topic != NULL, "request without topic");
    size_t len = strlen(req->topic);
    fuzz_require(topic_validate_pattern(req->topic, len, NULL) == 0,
                 "topic is not a valid pattern");
    bool name_only = req->op == OP_PUBLISH || req->op == OP_PRESENCE ||
                     (req->op == OP_SUBSCRIBE && req->presence);
    if (name_only)
        fuzz_require(topic_validate_name(req->topic, len, NULL) == 0, "topic is not a valid name");
}

/* `data` serialized by the broker parses back to a value equal to the one
 * the client sent (the shortest float form must still round-trip). */
static void check_text_data(const struct request *req)
{
    fuzz_require(req->data_text != NULL, "text publish without data_text");
    fuzz_require(req->payload == NULL, "text publish with a binary payload");
    fuzz_require(strlen(req->data_text) == req->data_len, "data_len differs from data_text");
    json_error_t jerr;
    json_t *reparsed = json_loads(req->data_text, JSON_DECODE_ANY, &jerr);
    if (reparsed == NULL)
        fprintf(stderr, "data_text: %s\njansson: %s\n", req->data_text, jerr.text);
    fuzz_require(reparsed != NULL, "data_text is not valid JSON");
    json_t *sent = json_object_get(req->root, "data");
    fuzz_require(json_equal(reparsed, sent), "data_text differs from the data sent");
    json_decref(reparsed);
}

static void check_publish(const struct request *req)
{
    if (req->key != NULL) {
        size_t key_len = strlen(req->key);
        fuzz_require(key_len >= 1 && key_len <= ENVELOPE_MAX_KEY, "key length out of range");
    }
    if (json_object_get(req->root, "echo") == NULL)
        fuzz_require(req->echo, "echo must default to true");
    if (req->is_binary) {
        fuzz_require(req->data_text == NULL, "binary publish with data_text");
        fuzz_require(req->payload != NULL, "binary publish without payload");
    } else {
        check_text_data(req);
    }
}

void fuzz_check_request(const struct request *req)
{
    fuzz_require(req->op >= OP_SUBSCRIBE && req->op <= OP_PING, "op out of range");
    fuzz_require(json_is_object(req->root), "root is not an object");
    if (req->has_id)
        fuzz_require(req->id >= 1 && req->id <= ENVELOPE_MAX_ID, "id out of range");
    if (req->op != OP_AUTH && req->op != OP_PING)
        check_topic(req);
    if (req->is_binary)
        fuzz_require(req->op == OP_PUBLISH, "binary frame parsed as something but a publish");
    switch (req->op) {
    case OP_SUBSCRIBE:
        fuzz_require(!(req->has_since && req->has_last), "both since and last");
        fuzz_require(req->last <= ENVELOPE_HISTORY_MAX * 1000U, "last out of range");
        break;
    case OP_PUBLISH:
        check_publish(req);
        break;
    case OP_HISTORY:
        fuzz_require(req->limit >= 1 && req->limit <= ENVELOPE_HISTORY_MAX, "limit out of range");
        break;
    case OP_AUTH:
        fuzz_require(req->token != NULL, "auth without token");
        break;
    case OP_UNSUBSCRIBE:
    case OP_PRESENCE:
    case OP_PING:
        break;
    }
}

/* ---- Errors ------------------------------------------------------------- */

static bool is_known_code(const char *code)
{
    static const char *const codes[] = {
        ERR_BAD_REQUEST,   ERR_UNKNOWN_OP,     ERR_INVALID_TOPIC,
        ERR_TOO_LARGE,     ERR_RATE_LIMITED,   ERR_UNAUTHORIZED,
        ERR_FORBIDDEN,     ERR_NOT_SUBSCRIBED, ERR_TOO_MANY_SUBSCRIPTIONS,
        ERR_TOKEN_EXPIRED, ERR_UNAVAILABLE,    ERR_INTERNAL,
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strcmp(code, codes[i]) == 0)
            return true;
    }
    return false;
}

/* Parses a frame's whole payload as one JSON object (NULL when it is not). */
static json_t *frame_json(struct frame *f, size_t offset, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)frame_payload(f) + offset, len, 0, &jerr);
    if (root == NULL)
        fprintf(stderr, "reply: %.*s\njansson: %s\n", (int)len,
                (const char *)frame_payload(f) + offset, jerr.text);
    fuzz_require(root != NULL, "encoded frame is not valid JSON");
    fuzz_require(json_is_object(root), "encoded frame is not a JSON object");
    return root;
}

static bool string_field_is(json_t *obj, const char *field, const char *want)
{
    const char *have = json_string_value(json_object_get(obj, field));
    return have != NULL && strcmp(have, want) == 0;
}

/* The reply's "message" is err->message, or "error" when that is not valid
 * UTF-8 (a quoted client string may have been cut in the middle of a
 * character). */
static void check_error_message(json_t *reply, const struct request_error *err)
{
    json_t *expected = json_string(err->message);
    const char *want = expected != NULL ? err->message : "error";
    fuzz_require(string_field_is(reply, "message", want), "error reply has the wrong message");
    json_decref(expected);
}

void fuzz_check_error(const struct request_error *err)
{
    fuzz_require(err->code != NULL && is_known_code(err->code), "unknown error code");
    fuzz_require(memchr(err->message, '\0', sizeof(err->message)) != NULL,
                 "error message not terminated");
    if (err->has_id)
        fuzz_require(err->id >= 1 && err->id <= ENVELOPE_MAX_ID, "error id out of range");
    struct frame *f = answer_error(err);
    fuzz_require(f != NULL, "answer_error returned NULL");
    fuzz_require(!f->is_binary, "error reply is a binary frame");
    json_t *reply = frame_json(f, 0, f->len);
    fuzz_require(string_field_is(reply, "op", "error"), "error reply without op error");
    fuzz_require(string_field_is(reply, "code", err->code), "error reply with the wrong code");
    json_t *id = json_object_get(reply, "id");
    if (err->has_id)
        fuzz_require(json_is_integer(id) && (uint64_t)json_integer_value(id) == err->id,
                     "error reply lost the id");
    else
        fuzz_require(id == NULL, "error reply has an id it was not given");
    check_error_message(reply, err);
    json_decref(reply);
    frame_unref(f);
}

/* ---- Messages ----------------------------------------------------------- */

static int base64_value(unsigned char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *hit = c != '\0' ? strchr(alphabet, c) : NULL;
    return hit != NULL ? (int)(hit - alphabet) : -1;
}

/* Decodes padded standard base64 into a malloc'd buffer; NULL when the text
 * is not well-formed. */
static unsigned char *base64_decode(const char *text, size_t len, size_t *out_len)
{
    if (len % 4 != 0)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; out != NULL && i < len; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            bool is_pad = text[i + k] == '=' && i + 4 == len && k >= 2;
            pad += is_pad;
            v[k] = is_pad ? 0 : base64_value((unsigned char)text[i + k]);
            if (v[k] < 0 || (!is_pad && pad > 0)) {
                free(out);
                return NULL;
            }
        }
        uint32_t triple =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char bytes[3] = {triple >> 16, (triple >> 8) & 0xff, triple & 0xff};
        memcpy(out + n, bytes, 3 - pad);
        n += 3 - pad;
    }
    *out_len = n;
    return out;
}

/* Fields every message object carries, whatever its encoding. */
static void check_message_head(json_t *obj, const struct store_msg *msg)
{
    fuzz_require(string_field_is(obj, "op", "message"), "message without op message");
    fuzz_require(string_field_is(obj, "topic", msg->topic), "message with the wrong topic");
    json_t *seq = json_object_get(obj, "seq");
    fuzz_require(json_is_integer(seq) && (uint64_t)json_integer_value(seq) == msg->seq,
                 "message with the wrong seq");
    json_t *ts = json_object_get(obj, "ts");
    fuzz_require(json_is_integer(ts) && json_integer_value(ts) == msg->ts,
                 "message with the wrong ts");
    if (msg->from_user != NULL)
        fuzz_require(string_field_is(obj, "from", msg->from_user), "message with the wrong from");
    else
        fuzz_require(json_object_get(obj, "from") == NULL, "message with an unexpected from");
}

static void check_text_frame(struct frame *f, const struct store_msg *msg, json_t *sent)
{
    fuzz_require(!f->is_binary, "text message in a binary frame");
    json_t *obj = frame_json(f, 0, f->len);
    check_message_head(obj, msg);
    fuzz_require(json_equal(json_object_get(obj, "data"), sent), "message data differs");
    json_decref(obj);
}

/* [u16 H][H bytes of JSON][payload], the payload byte for byte. */
static void check_binary_frame(struct frame *f, const struct store_msg *msg)
{
    fuzz_require(f->is_binary, "binary message in a text frame");
    fuzz_require(f->len >= 2, "binary frame shorter than its length header");
    const unsigned char *bytes = frame_payload(f);
    size_t header_len = (size_t)bytes[0] << 8 | bytes[1];
    fuzz_require(header_len + 2 <= f->len, "binary frame header longer than the frame");
    json_t *header = frame_json(f, 2, header_len);
    check_message_head(header, msg);
    fuzz_require(json_object_get(header, "data") == NULL, "binary envelope carries data");
    json_decref(header);
    fuzz_require(f->len - 2 - header_len == msg->data_len, "binary payload length changed");
    fuzz_require(memcmp(bytes + 2 + header_len, msg->data, msg->data_len) == 0,
                 "binary payload bytes changed");
}

/* The history form: `data` as JSON, or base64 with "encoding":"base64". */
static void check_history_json(const struct store_msg *msg, json_t *sent)
{
    struct sbuf b;
    sbuf_init(&b);
    envelope_append_message_json(&b, msg);
    fuzz_require(!sbuf_failed(&b), "history encoding failed");
    json_error_t jerr;
    json_t *obj = json_loadb(b.data, b.len, 0, &jerr);
    if (obj == NULL)
        fprintf(stderr, "history: %.*s\njansson: %s\n", (int)b.len, b.data, jerr.text);
    fuzz_require(json_is_object(obj), "history message is not a JSON object");
    check_message_head(obj, msg);
    json_t *data = json_object_get(obj, "data");
    if (msg->is_binary) {
        fuzz_require(string_field_is(obj, "encoding", "base64"), "history without base64");
        fuzz_require(json_is_string(data), "history base64 data is not a string");
        size_t len = 0;
        unsigned char *decoded =
            base64_decode(json_string_value(data), json_string_length(data), &len);
        fuzz_require(decoded != NULL, "history data is not valid base64");
        fuzz_require(len == msg->data_len && memcmp(decoded, msg->data, len) == 0,
                     "history base64 does not decode to the payload");
        free(decoded);
    } else {
        fuzz_require(json_object_get(obj, "encoding") == NULL, "text history with an encoding");
        fuzz_require(json_equal(data, sent), "history data differs");
    }
    json_decref(obj);
    sbuf_free(&b);
}

void fuzz_check_message_round_trip(const struct request *req, uint64_t seq)
{
    struct store_msg msg = {
        .seq = seq,
        .ts = FUZZ_TS,
        .topic = (char *)req->topic,
        .from_user = (char *)req->key,
        .is_binary = req->is_binary,
        .data = req->is_binary ? (unsigned char *)req->payload : (unsigned char *)req->data_text,
        .data_len = req->data_len,
    };
    json_t *sent = req->is_binary ? NULL : json_object_get(req->root, "data");
    struct frame *f = envelope_encode_message(&msg);
    fuzz_require(f != NULL, "envelope_encode_message returned NULL");
    size_t estimate = envelope_message_size(msg.topic, msg.from_user, msg.is_binary, msg.data_len);
    fuzz_require(f->len <= estimate, "envelope_message_size is below the real size");
    if (msg.is_binary)
        check_binary_frame(f, &msg);
    else
        check_text_frame(f, &msg, sent);
    frame_unref(f);
    check_history_json(&msg, sent);
}
