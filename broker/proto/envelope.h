/* SPDX-License-Identifier: MIT */
/*
 * envelope.h: the wire format of docs/protocol.md section 2-4.
 *
 * Owns: turning a received frame into a validated `struct request` (or an
 * error code of section 7), and turning messages into frames (replies are
 * answer.h's).
 * Parsing uses jansson, except for the common shape of a text `publish`,
 * which a scanner (jscan.c) checks and takes apart without building a tree;
 * `data` is kept as the bytes it arrived as. A published message is encoded
 * ONCE into a shared frame by concatenating that text, so fan-out never
 * touches JSON. No sockets, no state. The parser is envelope.c, the
 * message encoder message.c.
 */
#ifndef WSB_ENVELOPE_H
#define WSB_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "proto/frame.h"
#include "common/jscan.h"
#include "util/sbuf.h"
#include "store/store.h"

#define ENVELOPE_MAX_ID 9007199254740991ULL /* 2^53 - 1 */
#define ENVELOPE_MAX_KEY 255
#define ENVELOPE_HISTORY_DEFAULT 100
#define ENVELOPE_HISTORY_MAX 1000
/* A publish's topic, key and data up to this many bytes in all (with their
 * NULs) are kept in the request itself instead of on the heap. */
#define ENVELOPE_INLINE_BYTES 640

enum request_op {
    OP_SUBSCRIBE,
    OP_UNSUBSCRIBE,
    OP_PUBLISH,
    OP_HISTORY,
    OP_PRESENCE,
    OP_AUTH,
    OP_PING,
};

/* A parsed request. String fields point into `root`, `strings` (the
 * publish fast path), `inline_bytes` or the frame (the binary payload), and
 * live until request_clear(). A request is not to be copied by value. */
struct request {
    enum request_op op;
    bool has_id;
    uint64_t id;
    const char *topic;
    bool has_since;
    uint64_t since;
    const char *epoch; /* NULL when absent */
    bool has_last;
    uint32_t last;
    bool presence;
    bool has_conflate; /* subscribe: conflated or not, else the topic rules decide */
    bool conflate;
    bool echo;                    /* default true */
    const char *key;              /* NULL when absent */
    bool has_expect_last;         /* publish: conditional (docs/protocol.md section 11) */
    uint64_t expect_last;         /* the seq the topic's newest message must have */
    uint32_t limit;               /* history: default 100 */
    const char *token;            /* auth */
    bool is_binary;               /* publish from a binary frame */
    char *data_text;              /* publish, text: `data` as it arrived (malloc'd) */
    char *strings;                /* fast path: topic and key copies (malloc'd) */
    const unsigned char *payload; /* publish, binary: the bytes after the envelope */
    size_t data_len;              /* bytes of data_text or payload */
    json_t *root;
    struct jspan raw; /* while parsing: the request's JSON text */
    /* Last (not cleared by request_clear): where the fast path puts
     * `strings` and `data_text` when they fit. */
    char inline_bytes[ENVELOPE_INLINE_BYTES];
};

/* Error codes of docs/protocol.md section 7. */
#define ERR_BAD_REQUEST "bad_request"
#define ERR_UNKNOWN_OP "unknown_op"
#define ERR_INVALID_TOPIC "invalid_topic"
#define ERR_TOO_LARGE "too_large"
#define ERR_RATE_LIMITED "rate_limited"
#define ERR_UNAUTHORIZED "unauthorized"
#define ERR_FORBIDDEN "forbidden"
#define ERR_NOT_SUBSCRIBED "not_subscribed"
#define ERR_TOO_MANY_SUBSCRIPTIONS "too_many_subscriptions"
#define ERR_TOKEN_EXPIRED "token_expired"
#define ERR_UNAVAILABLE "unavailable"
#define ERR_INTERNAL "internal"
#define ERR_CONFLICT "conflict" /* expect_last did not hold (section 11) */

struct request_error {
    const char *code; /* one of ERR_* */
    char message[200];
    bool has_id; /* the reply carries the request's id */
    uint64_t id;
};

/* Parse a text frame / a binary frame. 0 on success (release with
 * request_clear), -1 with `err` filled otherwise (nothing to release). */
int envelope_parse_text(const char *buf, size_t len, struct request *req,
                        struct request_error *err);
/* The same with jansson alone (no publish fast path): the reference the
 * tests and the fuzzer hold the fast path to. */
int envelope_parse_text_jansson(const char *buf, size_t len, struct request *req,
                                struct request_error *err);
int envelope_parse_binary(const unsigned char *buf, size_t len, struct request *req,
                          struct request_error *err);
void request_clear(struct request *req);

/* Serializes a JSON value compactly, with the shortest float form that
 * round-trips (15 significant digits when exact, 17 otherwise). */
char *envelope_dump_value(const json_t *value);

/* Bytes of the `message` object (or binary frame) a message would encode to. */
size_t envelope_message_size(const char *topic, const char *from_user, bool is_binary,
                             size_t data_len);

/* The `message` frame of a stored message: text JSON, or the binary framing
 * of section 2 for binary messages. NULL when out of memory. */
struct frame *envelope_encode_message(const struct store_msg *msg);

/* The message frame f (envelope_encode_message's) of a conflated
 * subscription, copied with "conflated": n, the messages of its topic it
 * replaced (docs/protocol.md section 11). NULL when out of memory. */
struct frame *envelope_mark_conflated(const struct frame *f, uint64_t n);

/* Appends a message as a JSON object (binary data as base64 with
 * "encoding":"base64"), for history replies. */
void envelope_append_message_json(struct sbuf *b, const struct store_msg *msg);

/* The SSE event of a message: "id: SEQ\nevent: message\ndata: JSON\n\n"
 * (binary data as base64 in the JSON). */
struct frame *envelope_encode_sse(const struct store_msg *msg);

/* Fills an error; `fmt` is printf-like. */
void request_error_set(struct request_error *err, const struct request *req, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
