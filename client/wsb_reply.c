/* SPDX-License-Identifier: MIT */
/*
 * wsb_reply.c: decoding broker frames into wsb_reply and wsb_message.
 *
 * Exists so that the frame reader (wsb_io.c) never looks inside
 * reply objects: it hands a parsed `ack`, `error` or `pong` here and gets
 * back one self-contained box that a callback can read and a _sync caller
 * can keep until wsb_reply_free().
 */
#include "wsb_reply.h"

#include "common/base64.h"
#include "common/jscan.h"

#include <stdlib.h>
#include <string.h>

static const char *status_text[] = {
    "success",
    "invalid argument",
    "out of memory",
    "could not connect to the broker",
    "client closed",
    "timed out",
    "the broker answered with an error",
    "protocol error: unexpected frame from the broker",
    "message larger than the broker's max_message",
    "blocking call from a callback or while a service thread runs",
    "authentication failed or expired",
    "token expired: present a fresh one",
};

const char *wsb_strerror(int status)
{
    int i = -status;
    if (i < 0 || i >= (int)(sizeof(status_text) / sizeof(status_text[0])))
        return "unknown error";
    return status_text[i];
}

struct wsb_reply_box *wsb_reply_local(int status, const char *message)
{
    struct wsb_reply_box *box = calloc(1, sizeof(*box));
    if (!box)
        return NULL;
    box->text = strdup(message ? message : wsb_strerror(status));
    box->r.status = status;
    box->r.message = box->text ? box->text : "";
    return box;
}

void wsb_reply_box_free(struct wsb_reply_box *box)
{
    if (!box)
        return;
    json_decref(box->root);
    free(box->text);
    free(box->topic);
    free(box->messages);
    free(box->members);
    free(box->data);
    free(box);
}

void wsb_reply_set_topic(struct wsb_reply_box *box, const char *topic)
{
    if (!box || box->r.topic || !topic)
        return;
    box->topic = strdup(topic);
    box->r.topic = box->topic;
}

void wsb_reply_free(struct wsb_reply *reply)
{
    wsb_reply_box_free((struct wsb_reply_box *)reply);
}

static const char *get_string(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static uint64_t get_u64(json_t *obj, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(obj, key));
    return v > 0 ? (uint64_t)v : 0;
}

int wsb_message_from_json(const char *text, size_t len, json_t *root, struct wsb_message *m,
                          unsigned char **decoded)
{
    struct jspan data;

    memset(m, 0, sizeof(*m));
    *decoded = NULL;
    m->topic = get_string(root, "topic");
    m->seq = get_u64(root, "seq");
    m->ts = json_integer_value(json_object_get(root, "ts"));
    m->from = get_string(root, "from");
    m->conflated = get_u64(root, "conflated");
    if (!m->topic || !m->seq)
        return -1;
    const char *encoding = get_string(root, "encoding");
    if (encoding && strcmp(encoding, "base64") == 0) {
        json_t *b64 = json_object_get(root, "data");
        unsigned char *out;
        size_t n;
        if (!json_is_string(b64) ||
            base64_decode_strict(json_string_value(b64), json_string_length(b64), &out, &n) < 0)
            return -1;
        *decoded = out;
        m->data = (const char *)out;
        m->len = n;
        m->binary = 1;
        return 0;
    }
    if (!jscan_member(text, text + len, "data", &data)) {
        static const char null_text[] = "null";
        data = (struct jspan){null_text, null_text + 4};
    }
    m->data = data.p;
    m->len = (size_t)(data.end - data.p);
    return 0;
}

/* The history messages of an ack: each one's data is copied (text) or
 * decoded (base64) into box->data so every message is NUL-terminated. */
static int reply_messages(struct wsb_reply_box *box, const char *text, size_t len, json_t *arr)
{
    struct jspan raw;
    size_t n = json_array_size(arr);

    if (n == 0 || !jscan_member(text, text + len, "messages", &raw))
        return 0;
    size_t rawlen = (size_t)(raw.end - raw.p);
    struct jspan *items = malloc(n * sizeof(*items));
    long found = items ? jscan_items(raw.p, raw.end, items, n) : -1;
    box->messages = calloc(n, sizeof(*box->messages));
    box->data = malloc(rawlen + n + 1);
    if (found < 0 || !box->messages || !box->data) {
        free(items);
        return -1;
    }
    size_t used = 0, i = 0;
    for (; i < (size_t)found; i++) {
        struct wsb_message *m = &box->messages[i];
        unsigned char *decoded;
        if (wsb_message_from_json(items[i].p, (size_t)(items[i].end - items[i].p),
                                  json_array_get(arr, i), m, &decoded) < 0) {
            free(items);
            return -1;
        }
        /* Base64 decodes to fewer bytes than its text: it fits in place. */
        memcpy(box->data + used, m->data, m->len);
        box->data[used + m->len] = '\0';
        m->data = (const char *)box->data + used;
        used += m->len + 1;
        free(decoded);
    }
    free(items);
    box->r.messages = box->messages;
    box->r.n_messages = i;
    return 0;
}

static int reply_members(struct wsb_reply_box *box, json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    box->members = calloc(n, sizeof(*box->members));
    if (!box->members)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *member = json_array_get(arr, i);
        box->members[i].client = get_string(member, "client");
        box->members[i].user = get_string(member, "user");
        if (!box->members[i].client)
            box->members[i].client = "";
    }
    box->r.members = box->members;
    box->r.n_members = n;
    return 0;
}

struct wsb_reply_box *wsb_reply_from_frame(const char *text, size_t len, json_t *root)
{
    struct wsb_reply_box *box = calloc(1, sizeof(*box));
    if (!box) {
        json_decref(root);
        return NULL;
    }
    box->root = root;
    struct wsb_reply *r = &box->r;
    const char *op = get_string(root, "op");
    r->message = "";
    if (op && strcmp(op, "error") == 0) {
        r->code = get_string(root, "code");
        r->status = r->code && strcmp(r->code, "token_expired") == 0 ? WSB_EEXPIRED : WSB_EBROKER;
        r->message = get_string(root, "message");
        if (!r->code)
            r->code = "internal";
        if (!r->message)
            r->message = r->code;
        r->last = get_u64(root, "last");
        return box;
    }
    r->seq = get_u64(root, "seq");
    r->duplicate = json_is_true(json_object_get(root, "duplicate"));
    r->topic = get_string(root, "topic");
    r->replayed = (int)json_integer_value(json_object_get(root, "replayed"));
    json_t *recovered = json_object_get(root, "recovered");
    r->recovered = recovered ? json_is_true(recovered) : 1;
    r->more = json_is_true(json_object_get(root, "more"));
    r->user = get_string(root, "user");
    r->exp = json_integer_value(json_object_get(root, "exp"));
    if (reply_messages(box, text, len, json_object_get(root, "messages")) < 0 ||
        reply_members(box, json_object_get(root, "members")) < 0) {
        wsb_reply_box_free(box);
        return wsb_reply_local(WSB_EPROTO, "malformed reply from the broker");
    }
    return box;
}
