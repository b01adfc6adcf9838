/* SPDX-License-Identifier: MIT */
/*
 * wsb_api.c: the public request calls of libwsb (publish, subscribe,
 * unsubscribe, history, presence, ping, auth and their _sync forms) and the
 * frames they send.
 *
 * Runs on the caller's thread: it checks the arguments, prints the frame
 * (a publish gets a generated idempotency key unless the options say not
 * to; see wsb_request.c for why) and hands the request to the service
 * thread (wsb_submit); a _sync call then waits for the reply
 * (wsb_wait_for).
 */
#include "common/binframe.h"
#include "common/topic.h"
#include "wsb_frame.h"
#include "wsb_loop.h"
#include "wsb_request.h"
#include "wsb_sub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int topic_ok(const char *topic)
{
    return topic && topic[0] && strlen(topic) <= TOPIC_MAX_LEN;
}

/* Submits a request that expects a reply, or the blocking form of it. */
static int send_request(wsb_client *c, struct request *r, wsb_reply_fn cb, void *arg,
                        struct wsb_reply **reply)
{
    struct waiter *w = NULL;
    if (reply) {
        *reply = NULL;
        if (wsb_blocking_forbidden(c)) {
            wsb_req_free(r);
            return WSB_EBUSY;
        }
        if (!(w = wsb_waiter_new())) {
            wsb_req_free(r);
            return WSB_ENOMEM;
        }
    }
    r->cb = cb;
    r->arg = arg;
    r->waiter = w;
    r->counted = 1;
    atomic_fetch_add(&c->pending, 1);
    wsb_submit(c, r);
    if (!w)
        return WSB_OK;
    return wsb_sync_result(wsb_wait_for(c, w, c->opt.timeout_ms), reply);
}

/* Builds the publish frame: text, or binary with the length prefix. */
static int build_publish(wsb_client *c, struct request *r, const struct wsb_publish *p)
{
    char key[64];
    const char *k = p->key;
    struct frame f;

    if (!k && !c->opt.no_auto_key) {
        snprintf(key, sizeof(key), "wsb-%016llx-%llu", (unsigned long long)c->key_nonce,
                 (unsigned long long)r->id);
        k = key;
    }
    wsb_frame_init(&f, 128 + strlen(p->topic) + (k ? strlen(k) : 0) +
                           (p->json ? strlen(p->json) : p->len));
    if (!p->json)
        wsb_frame_add(&f, "\0\0", 2); /* the envelope's length, filled in below */
    wsb_frame_head(&f, "publish", r->id, p->topic);
    if (k) {
        wsb_frame_str(&f, ",\"key\":");
        wsb_frame_quoted(&f, k);
    }
    if (p->no_echo)
        wsb_frame_str(&f, ",\"echo\":false");
    if (p->has_expect_last) {
        char expect[48];
        snprintf(expect, sizeof(expect), ",\"expect_last\":%llu",
                 (unsigned long long)p->expect_last);
        wsb_frame_str(&f, expect);
    }
    if (p->json) {
        wsb_frame_str(&f, ",\"data\":");
        wsb_frame_str(&f, p->json);
        wsb_frame_str(&f, "}");
        return wsb_req_set_frame(r, &f, 0);
    }
    wsb_frame_str(&f, "}");
    if (!f.failed && binframe_put_prefix(f.buf + LWS_PRE, f.len - 2) < 0)
        f.failed = 1;
    wsb_frame_add(&f, p->payload, p->len);
    return wsb_req_set_frame(r, &f, 1);
}

static int publish_common(wsb_client *c, const struct wsb_publish *p, wsb_reply_fn cb, void *arg,
                          struct wsb_reply **reply)
{
    if (reply)
        *reply = NULL;
    if (!c || !p || !topic_ok(p->topic) || (!p->json && p->len && !p->payload))
        return WSB_EINVAL;
    if (p->json) {
        json_error_t jerr;
        json_t *v = json_loads(p->json, JSON_DECODE_ANY, &jerr);
        if (!v)
            return WSB_EINVAL;
        json_decref(v);
    }
    size_t max = atomic_load(&c->max_message);
    if (max && (p->json ? strlen(p->json) : p->len) > max)
        return WSB_ETOOBIG;
    struct request *r = wsb_req_new(REQ_PUBLISH);
    if (!r)
        return WSB_ENOMEM;
    r->id = wsb_take_id(c);
    int status = build_publish(c, r, p);
    if (status < 0) {
        wsb_req_free(r);
        return status;
    }
    return send_request(c, r, cb, arg, reply);
}

static int subscribe_common(wsb_client *c, const char *pattern, const struct wsb_sub_options *o,
                            struct wsb_reply **reply)
{
    if (reply)
        *reply = NULL;
    if (!c || !topic_ok(pattern))
        return WSB_EINVAL;
    if (reply && wsb_blocking_forbidden(c))
        return WSB_EBUSY;
    struct sub *s = wsb_sub_new(pattern, o);
    struct request *r = wsb_req_new(REQ_SUBSCRIBE);
    struct waiter *w = reply ? wsb_waiter_new() : NULL;
    int status = (!s || !r || (reply && !w)) ? WSB_ENOMEM : wsb_sub_registry_add(c, pattern);
    if (status != WSB_OK) {
        if (s)
            wsb_sub_free(s);
        wsb_req_free(r);
        free(w);
        return status;
    }
    r->sub = s;
    r->waiter = w;
    wsb_submit(c, r);
    if (!w)
        return WSB_OK;
    return wsb_sync_result(wsb_wait_for(c, w, c->opt.timeout_ms), reply);
}

static int unsubscribe_common(wsb_client *c, const char *pattern, wsb_reply_fn cb, void *arg,
                              struct wsb_reply **reply)
{
    if (reply)
        *reply = NULL;
    if (!c || !topic_ok(pattern))
        return WSB_EINVAL;
    if (reply && wsb_blocking_forbidden(c))
        return WSB_EBUSY;
    struct request *r = wsb_req_new(REQ_UNSUBSCRIBE);
    struct frame f;
    if (!r || !(r->text = strdup(pattern)) || !(r->topic = strdup(pattern))) {
        wsb_req_free(r);
        return WSB_ENOMEM;
    }
    if (!wsb_sub_registry_remove(c, pattern)) {
        wsb_req_free(r);
        return WSB_EINVAL;
    }
    r->id = wsb_take_id(c);
    wsb_frame_begin(&f, 64 + strlen(pattern), "unsubscribe", r->id, pattern);
    wsb_frame_str(&f, "}");
    if (wsb_req_set_frame(r, &f, 0) < 0) {
        wsb_req_free(r);
        return WSB_ENOMEM;
    }
    return send_request(c, r, cb, arg, reply);
}

/* A simple request: op, optional topic, then the extra fields text. */
static int simple_request(wsb_client *c, enum req_kind kind, const char *op, const char *topic,
                          const char *extra, wsb_reply_fn cb, void *arg, struct wsb_reply **reply)
{
    struct request *r = wsb_req_new(kind);
    struct frame f;
    if (!r || (topic && !(r->topic = strdup(topic)))) {
        wsb_req_free(r);
        return WSB_ENOMEM;
    }
    r->id = wsb_take_id(c);
    wsb_frame_begin(&f, 96 + (topic ? strlen(topic) : 0) + strlen(extra), op, r->id, topic);
    wsb_frame_str(&f, extra);
    wsb_frame_str(&f, "}");
    if (wsb_req_set_frame(r, &f, 0) < 0) {
        wsb_req_free(r);
        return WSB_ENOMEM;
    }
    return send_request(c, r, cb, arg, reply);
}

static int history_common(wsb_client *c, const char *topic, const struct wsb_history_options *o,
                          wsb_reply_fn cb, void *arg, struct wsb_reply **reply)
{
    char extra[96] = "";
    size_t n = 0;
    if (reply)
        *reply = NULL;
    if (!c || !topic_ok(topic))
        return WSB_EINVAL;
    if (o && o->has_since)
        n += (size_t)snprintf(extra + n, sizeof(extra) - n, ",\"since\":%llu",
                              (unsigned long long)o->since);
    if (o && o->limit)
        snprintf(extra + n, sizeof(extra) - n, ",\"limit\":%u", o->limit);
    return simple_request(c, REQ_HISTORY, "history", topic, extra, cb, arg, reply);
}

static int auth_common(wsb_client *c, const char *token, wsb_reply_fn cb, void *arg,
                       struct wsb_reply **reply)
{
    if (reply)
        *reply = NULL;
    if (!c || !token || !token[0] || strlen(token) > WSB_TOKEN_MAX)
        return WSB_EINVAL;
    struct request *r = wsb_req_auth(c, token);
    if (!r)
        return WSB_ENOMEM;
    return send_request(c, r, cb, arg, reply);
}

int wsb_publish(wsb_client *c, const struct wsb_publish *p, wsb_reply_fn cb, void *arg)
{
    return publish_common(c, p, cb, arg, NULL);
}

/* A blocking call's reply goes to the caller when it asked for it, or is
 * freed. Returns `status`. */
static int give_reply(int status, struct wsb_reply *r, struct wsb_reply **reply)
{
    if (reply)
        *reply = r;
    else
        wsb_reply_free(r);
    return status;
}

int wsb_publish_sync(wsb_client *c, const struct wsb_publish *p, uint64_t *seq,
                     struct wsb_reply **reply)
{
    struct wsb_reply *r = NULL;
    int status = publish_common(c, p, NULL, NULL, &r);
    if (seq)
        *seq = r && status == WSB_OK ? r->seq : 0;
    return give_reply(status, r, reply);
}

int wsb_publish_json(wsb_client *c, const char *topic, const char *json, wsb_reply_fn cb, void *arg)
{
    struct wsb_publish p = {.topic = topic, .json = json};
    return publish_common(c, &p, cb, arg, NULL);
}

int wsb_subscribe(wsb_client *c, const char *pattern, const struct wsb_sub_options *o)
{
    return subscribe_common(c, pattern, o, NULL);
}

int wsb_subscribe_sync(wsb_client *c, const char *pattern, const struct wsb_sub_options *o,
                       struct wsb_reply **reply)
{
    struct wsb_reply *r = NULL;
    int status = subscribe_common(c, pattern, o, &r);
    return give_reply(status, r, reply);
}

int wsb_unsubscribe(wsb_client *c, const char *pattern, wsb_reply_fn cb, void *arg)
{
    return unsubscribe_common(c, pattern, cb, arg, NULL);
}

int wsb_unsubscribe_sync(wsb_client *c, const char *pattern, struct wsb_reply **reply)
{
    struct wsb_reply *r = NULL;
    int status = unsubscribe_common(c, pattern, NULL, NULL, &r);
    return give_reply(status, r, reply);
}

int wsb_history(wsb_client *c, const char *topic, const struct wsb_history_options *o,
                wsb_reply_fn cb, void *arg)
{
    return history_common(c, topic, o, cb, arg, NULL);
}

int wsb_history_sync(wsb_client *c, const char *topic, const struct wsb_history_options *o,
                     struct wsb_reply **reply)
{
    struct wsb_reply *r = NULL;
    int status = history_common(c, topic, o, NULL, NULL, &r);
    return give_reply(status, r, reply);
}

int wsb_presence(wsb_client *c, const char *topic, wsb_reply_fn cb, void *arg)
{
    if (!c || !topic_ok(topic))
        return WSB_EINVAL;
    return simple_request(c, REQ_PRESENCE, "presence", topic, "", cb, arg, NULL);
}

int wsb_presence_sync(wsb_client *c, const char *topic, struct wsb_reply **reply)
{
    struct wsb_reply *r = NULL;
    if (!c || !topic_ok(topic))
        return WSB_EINVAL;
    int status = simple_request(c, REQ_PRESENCE, "presence", topic, "", NULL, NULL, &r);
    return give_reply(status, r, reply);
}

int wsb_ping(wsb_client *c, wsb_reply_fn cb, void *arg)
{
    if (!c)
        return WSB_EINVAL;
    return simple_request(c, REQ_PING, "ping", NULL, "", cb, arg, NULL);
}

int wsb_ping_sync(wsb_client *c)
{
    struct wsb_reply *r = NULL;
    if (!c)
        return WSB_EINVAL;
    int status = simple_request(c, REQ_PING, "ping", NULL, "", NULL, NULL, &r);
    wsb_reply_free(r);
    return status;
}

int wsb_auth(wsb_client *c, const char *token, wsb_reply_fn cb, void *arg)
{
    return auth_common(c, token, cb, arg, NULL);
}

int wsb_auth_sync(wsb_client *c, const char *token, struct wsb_reply **reply)
{
    struct wsb_reply *r = NULL;
    int status = auth_common(c, token, NULL, NULL, &r);
    return give_reply(status, r, reply);
}
