/* SPDX-License-Identifier: MIT */
/*
 * envelope.c: parsing requests (messages are encoded by message.c).
 *
 * Owns nothing but code: see envelope.h. Every way a frame can be malformed
 * ends in a request_error with a code of docs/protocol.md section 7; nothing here
 * can close a connection.
 */
#include "proto/envelope.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/binframe.h"
#include "common/jscan.h"
#include "common/topic.h"

struct op_name {
    const char *name;
    enum request_op op;
};

static const struct op_name op_names[] = {
    {"subscribe", OP_SUBSCRIBE}, {"unsubscribe", OP_UNSUBSCRIBE}, {"publish", OP_PUBLISH},
    {"history", OP_HISTORY},     {"presence", OP_PRESENCE},       {"auth", OP_AUTH},
    {"ping", OP_PING},
};

/* Replaces every byte that is not part of well-formed UTF-8 with '?': an
 * error message quotes client input cut at a byte count (%.60s, snprintf),
 * and it must stay valid UTF-8 for the text frame that carries it. */
static void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    const unsigned char *end = p + strlen(s);
    while (*p) {
        size_t n = jscan_utf8_len(p, end);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void request_error_set(struct request_error *err, const struct request *req, const char *code,
                       const char *fmt, ...)
{
    err->code = code;
    err->has_id = req && req->has_id;
    err->id = req ? req->id : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    utf8_sanitize(err->message);
}

/* Zeroes every field but the inline bytes. */
static void request_reset(struct request *req)
{
    memset(req, 0, offsetof(struct request, inline_bytes));
}

static bool request_owns(const struct request *req, const char *bytes)
{
    return bytes &&
           (bytes < req->inline_bytes || bytes >= req->inline_bytes + ENVELOPE_INLINE_BYTES);
}

void request_clear(struct request *req)
{
    json_decref(req->root);
    if (request_owns(req, req->data_text))
        free(req->data_text);
    if (request_owns(req, req->strings))
        free(req->strings);
    request_reset(req);
}

/* --- value serialization ------------------------------------------------ */

static bool reals_exact_at_15(const json_t *v)
{
    if (json_is_real(v)) {
        double d = json_real_value(v);
        char text[40];
        snprintf(text, sizeof(text), "%.15g", d);
        return strtod(text, NULL) == d;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) if (!reals_exact_at_15(item)) return false;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item) if (!reals_exact_at_15(item)) return false;
    }
    return true;
}

char *envelope_dump_value(const json_t *value)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    flags |= reals_exact_at_15(value) ? JSON_REAL_PRECISION(15) : JSON_REAL_PRECISION(17);
    return json_dumps(value, flags);
}

/* --- field readers: each returns 0, or -1 with err set ------------------- */

static int read_uint(const struct request *req, const char *field, uint64_t max, bool *present,
                     uint64_t *out, struct request_error *err)
{
    json_t *v = json_object_get(req->root, field);
    *present = v != NULL;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
        request_error_set(err, req, ERR_BAD_REQUEST, "\"%s\" must be an integer 0..%llu", field,
                          (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int read_bool(const struct request *req, const char *field, bool dflt, bool *out,
                     struct request_error *err)
{
    json_t *v = json_object_get(req->root, field);
    *out = dflt;
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        request_error_set(err, req, ERR_BAD_REQUEST, "\"%s\" must be true or false", field);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int read_string(const struct request *req, const char *field, bool required,
                       const char **out, struct request_error *err)
{
    json_t *v = json_object_get(req->root, field);
    *out = NULL;
    if (!v) {
        if (!required)
            return 0;
        request_error_set(err, req, ERR_BAD_REQUEST, "\"%s\" is required", field);
        return -1;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        request_error_set(err, req, ERR_BAD_REQUEST, "\"%s\" must be a string", field);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* `topic`: required; a name, or a pattern when `pattern_ok`. */
static int read_topic(struct request *req, bool pattern_ok, struct request_error *err)
{
    if (read_string(req, "topic", true, &req->topic, err) < 0)
        return -1;
    const char *why = NULL;
    size_t len = strlen(req->topic);
    if (topic_validate_pattern(req->topic, len, &why) < 0) {
        request_error_set(err, req, ERR_INVALID_TOPIC, "invalid topic: %s", why);
        return -1;
    }
    if (!pattern_ok && topic_is_pattern(req->topic)) {
        request_error_set(err, req, ERR_INVALID_TOPIC,
                          "%s needs a topic name, not a pattern with '*' or '>'",
                          req->op == OP_PUBLISH ? "publish" : "this request");
        return -1;
    }
    return 0;
}

/* --- per-op validation --------------------------------------------------- */

static int parse_subscribe(struct request *req, struct request_error *err)
{
    uint64_t last = 0;
    if (read_topic(req, true, err) < 0 ||
        read_uint(req, "since", UINT64_MAX >> 1, &req->has_since, &req->since, err) < 0 ||
        read_uint(req, "last", ENVELOPE_HISTORY_MAX * 1000ULL, &req->has_last, &last, err) < 0 ||
        read_string(req, "epoch", false, &req->epoch, err) < 0 ||
        read_bool(req, "presence", false, &req->presence, err) < 0 ||
        read_bool(req, "conflate", false, &req->conflate, err) < 0)
        return -1;
    req->has_conflate = json_object_get(req->root, "conflate") != NULL;
    req->last = (uint32_t)last;
    if (req->has_since && req->has_last) {
        request_error_set(err, req, ERR_BAD_REQUEST, "give \"since\" or \"last\", not both");
        return -1;
    }
    if (req->presence && topic_is_pattern(req->topic)) {
        request_error_set(err, req, ERR_BAD_REQUEST, "presence needs a topic name, not a pattern");
        return -1;
    }
    return 0;
}

static int parse_publish_text(struct request *req, struct request_error *err)
{
    json_t *data = json_object_get(req->root, "data");
    if (!data) {
        request_error_set(err, req, ERR_BAD_REQUEST, "\"data\" is required");
        return -1;
    }
    /* Its bytes as sent, as on the fast path; re-serialized only when they
     * cannot be told (a member name written with escapes). */
    struct jspan span;
    if (req->raw.p && jscan_member(req->raw.p, req->raw.end, "data", &span)) {
        size_t len = (size_t)(span.end - span.p);
        if ((req->data_text = malloc(len + 1))) {
            memcpy(req->data_text, span.p, len);
            req->data_text[len] = '\0';
        }
    } else {
        req->data_text = envelope_dump_value(data);
    }
    if (!req->data_text) {
        request_error_set(err, req, ERR_INTERNAL, "cannot encode data");
        return -1;
    }
    req->data_len = strlen(req->data_text);
    return 0;
}

static int parse_publish(struct request *req, struct request_error *err)
{
    if (read_topic(req, false, err) < 0 || read_string(req, "key", false, &req->key, err) < 0 ||
        read_bool(req, "echo", true, &req->echo, err) < 0 ||
        read_uint(req, "expect_last", ENVELOPE_MAX_ID, &req->has_expect_last, &req->expect_last,
                  err) < 0)
        return -1;
    if (req->key && (req->key[0] == '\0' || strlen(req->key) > ENVELOPE_MAX_KEY)) {
        request_error_set(err, req, ERR_BAD_REQUEST, "\"key\" must be 1..%d bytes",
                          ENVELOPE_MAX_KEY);
        return -1;
    }
    return req->is_binary ? 0 : parse_publish_text(req, err);
}

static int parse_history(struct request *req, struct request_error *err)
{
    bool has_limit = false;
    uint64_t limit = ENVELOPE_HISTORY_DEFAULT;
    if (read_topic(req, true, err) < 0 ||
        read_uint(req, "since", UINT64_MAX >> 1, &req->has_since, &req->since, err) < 0 ||
        read_uint(req, "limit", UINT32_MAX, &has_limit, &limit, err) < 0)
        return -1;
    if (has_limit && (limit < 1 || limit > ENVELOPE_HISTORY_MAX)) {
        request_error_set(err, req, ERR_BAD_REQUEST, "\"limit\" must be 1..%d",
                          ENVELOPE_HISTORY_MAX);
        return -1;
    }
    req->limit = (uint32_t)limit;
    return 0;
}

static int parse_presence(struct request *req, struct request_error *err)
{
    if (read_topic(req, true, err) < 0)
        return -1;
    if (topic_is_pattern(req->topic)) {
        request_error_set(err, req, ERR_BAD_REQUEST, "presence needs a topic name, not a pattern");
        return -1;
    }
    return 0;
}

static int parse_op_fields(struct request *req, struct request_error *err)
{
    switch (req->op) {
    case OP_SUBSCRIBE:
        return parse_subscribe(req, err);
    case OP_UNSUBSCRIBE:
        return read_topic(req, true, err);
    case OP_PUBLISH:
        return parse_publish(req, err);
    case OP_HISTORY:
        return parse_history(req, err);
    case OP_PRESENCE:
        return parse_presence(req, err);
    case OP_AUTH:
        return read_string(req, "token", true, &req->token, err);
    case OP_PING:
        return 0;
    }
    return 0;
}

/* `id` and `op`, then the op's own fields. */
static int parse_object(struct request *req, struct request_error *err)
{
    json_t *id = json_object_get(req->root, "id");
    if (id) {
        if (!json_is_integer(id) || json_integer_value(id) < 1 ||
            (uint64_t)json_integer_value(id) > ENVELOPE_MAX_ID) {
            request_error_set(err, NULL, ERR_BAD_REQUEST,
                              "\"id\" must be an integer 1..9007199254740991");
            return -1;
        }
        req->has_id = true;
        req->id = (uint64_t)json_integer_value(id);
    }
    const char *op = NULL;
    if (read_string(req, "op", true, &op, err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        if (strcmp(op, op_names[i].name) == 0) {
            req->op = op_names[i].op;
            return parse_op_fields(req, err);
        }
    }
    request_error_set(err, req, ERR_UNKNOWN_OP, "unknown op \"%.60s\"", op);
    return -1;
}

static int parse_json(const char *buf, size_t len, struct request *req, struct request_error *err)
{
    json_error_t jerr;
    req->root = json_loadb(buf, len, 0, &jerr);
    if (!req->root) {
        request_error_set(err, NULL, ERR_BAD_REQUEST, "not valid JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(req->root)) {
        request_error_set(err, NULL, ERR_BAD_REQUEST, "a request must be a JSON object");
        return -1;
    }
    req->echo = true;
    req->limit = ENVELOPE_HISTORY_DEFAULT;
    req->raw = (struct jspan){buf, buf + len};
    int rc = parse_object(req, err);
    req->raw = (struct jspan){NULL, NULL}; /* the caller's buffer, not kept */
    return rc;
}

/* --- the publish fast path ------------------------------------------------
 *
 * A text publish in its usual shape is checked and taken apart by jscan
 * alone: one pass, no tree, `data` kept as sent. Anything else (another op,
 * escapes in member names or in op/topic/key, a repeated member, an id or
 * echo of another type, an invalid topic or key, malformed JSON) returns
 * "not handled" and goes through jansson, which then gives the same answer
 * and the same error as before. */

struct publish_fields {
    const char *topic, *key, *data;
    size_t topic_len, key_len, data_len;
    bool has_op, has_id, has_echo, has_expect_last;
    uint64_t id;
    uint64_t expect_last;
    bool echo;
};

static bool span_is(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) == n && memcmp(p, word, n) == 0;
}

/* A plain string value (no escapes): its content, or NULL. */
static const char *plain_string(const char *p, const char *end, size_t *len)
{
    bool escaped;
    if (*p != '"' || jscan_string(p, end, &escaped) != end || escaped)
        return NULL;
    *len = (size_t)(end - p) - 2;
    return p + 1;
}

/* An id as jansson reads it: digits only, 1..2^53-1 (0 too when zero_ok). */
static bool plain_uint(const char *p, const char *end, bool zero_ok, uint64_t *id)
{
    if (zero_ok && end - p == 1 && *p == '0') {
        *id = 0;
        return true;
    }
    if (p == end || *p < '1' || *p > '9' || end - p > 16)
        return false;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *id = v;
    return v <= ENVELOPE_MAX_ID;
}

/* One member; false when the fast path must give up. */
static bool publish_member(struct publish_fields *f, const char *name, const char *name_end,
                           const char *v, const char *v_end)
{
    if (span_is(name, name_end, "op")) {
        if (f->has_op || !span_is(v, v_end, "\"publish\""))
            return false;
        f->has_op = true;
    } else if (span_is(name, name_end, "id")) {
        if (f->has_id || !plain_uint(v, v_end, false, &f->id))
            return false;
        f->has_id = true;
    } else if (span_is(name, name_end, "expect_last")) {
        if (f->has_expect_last || !plain_uint(v, v_end, true, &f->expect_last))
            return false;
        f->has_expect_last = true;
    } else if (span_is(name, name_end, "topic")) {
        if (f->topic || !(f->topic = plain_string(v, v_end, &f->topic_len)))
            return false;
    } else if (span_is(name, name_end, "key")) {
        if (f->key || !(f->key = plain_string(v, v_end, &f->key_len)))
            return false;
    } else if (span_is(name, name_end, "echo")) {
        if (f->has_echo || !(span_is(v, v_end, "true") || span_is(v, v_end, "false")))
            return false;
        f->has_echo = true;
        f->echo = *v == 't';
    } else if (span_is(name, name_end, "data")) {
        if (f->data)
            return false;
        f->data = v;
        f->data_len = (size_t)(v_end - v);
    }
    return true; /* other members are ignored, as on the jansson path */
}

static bool scan_publish_members(const char *p, const char *end, struct publish_fields *f)
{
    p = jscan_skip_ws(p, end);
    if (p >= end || *p != '{')
        return false;
    p = jscan_skip_ws(p + 1, end);
    for (;;) {
        bool escaped;
        const char *name = p;
        if (p >= end || *p != '"' || !(p = jscan_string(p, end, &escaped)) || escaped)
            return false;
        const char *name_end = p - 1;
        p = jscan_skip_ws(p, end);
        if (p >= end || *p != ':')
            return false;
        const char *v = jscan_skip_ws(p + 1, end);
        if (!(p = jscan_value(v, end, 1)) || !publish_member(f, name + 1, name_end, v, p))
            return false;
        p = jscan_skip_ws(p, end);
        if (p < end && *p == '}')
            return jscan_skip_ws(p + 1, end) == end;
        if (p >= end || *p != ',')
            return false;
        p = jscan_skip_ws(p + 1, end);
    }
}

/* 0: req is a parsed publish; -1: not handled here (req untouched). */
static int publish_fast_path(const char *buf, size_t len, struct request *req)
{
    struct publish_fields f = {.echo = true};
    const char *why = NULL;
    if (!scan_publish_members(buf, buf + len, &f) || !f.has_op || !f.topic || !f.data)
        return -1;
    if (topic_validate_pattern(f.topic, f.topic_len, &why) < 0 || f.topic_len == 0 ||
        memchr(f.topic, '*', f.topic_len) || memchr(f.topic, '>', f.topic_len))
        return -1;
    if (f.key && (f.key_len == 0 || f.key_len > ENVELOPE_MAX_KEY))
        return -1;
    size_t strings_len = f.topic_len + f.key_len + 2;
    char *strings = req->inline_bytes;
    char *data = strings + strings_len;
    if (strings_len + f.data_len + 1 > ENVELOPE_INLINE_BYTES) {
        strings = malloc(strings_len);
        data = malloc(f.data_len + 1);
        if (!strings || !data) {
            free(strings);
            free(data);
            return -1;
        }
    }
    memcpy(strings, f.topic, f.topic_len);
    strings[f.topic_len] = '\0';
    memcpy(data, f.data, f.data_len);
    data[f.data_len] = '\0';
    req->op = OP_PUBLISH;
    req->has_id = f.has_id;
    req->id = f.id;
    req->topic = strings;
    if (f.key) {
        char *key = strings + f.topic_len + 1;
        memcpy(key, f.key, f.key_len);
        key[f.key_len] = '\0';
        req->key = key;
    }
    req->echo = f.echo;
    req->has_expect_last = f.has_expect_last;
    req->expect_last = f.expect_last;
    req->limit = ENVELOPE_HISTORY_DEFAULT;
    req->strings = strings;
    req->data_text = data;
    req->data_len = f.data_len;
    return 0;
}

int envelope_parse_text(const char *buf, size_t len, struct request *req, struct request_error *err)
{
    request_reset(req);
    if (publish_fast_path(buf, len, req) == 0)
        return 0;
    return envelope_parse_text_jansson(buf, len, req, err);
}

int envelope_parse_text_jansson(const char *buf, size_t len, struct request *req,
                                struct request_error *err)
{
    request_reset(req);
    if (parse_json(buf, len, req, err) == 0)
        return 0;
    request_clear(req);
    return -1;
}

int envelope_parse_binary(const unsigned char *buf, size_t len, struct request *req,
                          struct request_error *err)
{
    request_reset(req);
    const char *env;
    size_t env_len;
    if (binframe_split(buf, len, &env, &env_len, &req->payload, &req->data_len) < 0) {
        request_error_set(err, NULL, ERR_BAD_REQUEST,
                          "a binary frame is [u16 length][JSON envelope][payload]");
        return -1;
    }
    req->is_binary = true;
    if (parse_json(env, env_len, req, err) < 0)
        goto fail;
    if (req->op != OP_PUBLISH) {
        request_error_set(err, req, ERR_BAD_REQUEST, "a binary frame carries only a publish");
        goto fail;
    }
    return 0;
fail:
    request_clear(req);
    return -1;
}
