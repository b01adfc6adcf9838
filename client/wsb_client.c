/*
 * wsb_client.c: the libwsb client: connection, requests in flight,
 * reconnect, the service thread, and the blocking API on top of the
 * callback one.
 *
 * Owns one libwebsockets context per client and everything that happens
 * on its service thread. Threads other than the service thread never touch
 * lws or the connection state: they build a request (frame included) and
 * hand it over through c->submitted under c->lock, then wake the service
 * thread with lws_cancel_service(). When no service thread runs, the
 * caller is the service thread and requests are taken at once.
 *
 * Exactly-once publish: every publish carries an idempotency key (generated
 * when the application gave none, see wsb_api.c) and stays in c->inflight
 * until its ack; after a reconnect the same frame, same key, is sent again,
 * so a publish whose ack was lost is answered `duplicate` instead of being
 * stored twice. Subscriptions resume without loss (wsb_sub.c).
 */
#include "common/binframe.h"
#include "common/clock.h"
#include "wsb_client_int.h"
#include "wsb_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len);

/* ---- small helpers ---- */

static void set_last_error(wsb_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_last_error(wsb_client *c, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&c->lock);
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&c->lock);
}

uint64_t wsb_take_id(wsb_client *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t id = ++c->next_id;
    pthread_mutex_unlock(&c->lock);
    return id;
}

static int on_service_thread(wsb_client *c)
{
    return !c->thread_running || pthread_equal(pthread_self(), c->thread);
}

/* Blocking calls would deadlock (or re-enter lws) from these places. */
int wsb_blocking_forbidden(wsb_client *c)
{
    if (c->thread_running)
        return pthread_equal(pthread_self(), c->thread);
    return c->callback_depth > 0;
}

/* ---- requests ---- */

struct request *wsb_req_new(enum req_kind kind)
{
    struct request *r = calloc(1, sizeof(*r));
    if (r)
        r->kind = kind;
    return r;
}

void wsb_req_free(struct request *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->text);
    free(r->topic);
    free(r);
}

/* Gives the finished frame to the request; fails when building failed. */
int wsb_req_set_frame(struct request *r, struct frame *f, int binary)
{
    if (f->failed) {
        free(f->buf);
        return WSB_ENOMEM;
    }
    r->buf = f->buf;
    r->len = f->len;
    r->binary = binary;
    return WSB_OK;
}

struct waiter *wsb_waiter_new(void)
{
    struct waiter *w = calloc(1, sizeof(*w));
    if (w)
        w->refs = 2;
    return w;
}

/* Hands the box to a waiter (service side); frees what nobody holds. */
void wsb_waiter_complete(wsb_client *c, struct waiter *w, struct wsb_reply_box *box)
{
    pthread_mutex_lock(&c->lock);
    w->box = box;
    w->done = 1;
    if (--w->refs == 0) {
        wsb_reply_box_free(w->box);
        free(w);
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* The caller side: takes the box (may be NULL) and drops its reference. */
static struct wsb_reply_box *waiter_release(wsb_client *c, struct waiter *w, int *done)
{
    pthread_mutex_lock(&c->lock);
    struct wsb_reply_box *box = w->box;
    *done = w->done;
    w->box = NULL;
    if (--w->refs == 0)
        free(w);
    pthread_mutex_unlock(&c->lock);
    return box;
}

static size_t hash_slot(wsb_client *c, uint64_t id)
{
    return (size_t)(id * 0x9e3779b97f4a7c15ULL >> 20) & (c->hsize - 1);
}

static int hash_grow(wsb_client *c)
{
    size_t size = c->hsize ? c->hsize * 2 : 64;
    struct request **tab = calloc(size, sizeof(*tab));
    if (!tab)
        return -1;
    struct request **old = c->htab;
    size_t oldsize = c->hsize;
    c->htab = tab;
    c->hsize = size;
    for (size_t i = 0; i < oldsize; i++) {
        struct request *r = old[i];
        while (r) {
            struct request *next = r->hnext;
            size_t slot = hash_slot(c, r->id);
            r->hnext = tab[slot];
            tab[slot] = r;
            r = next;
        }
    }
    free(old);
    return 0;
}

static struct request *hash_find(wsb_client *c, uint64_t id)
{
    if (!c->hsize)
        return NULL;
    for (struct request *r = c->htab[hash_slot(c, id)]; r; r = r->hnext)
        if (r->id == id)
            return r;
    return NULL;
}

static void hash_remove(wsb_client *c, struct request *r)
{
    if (!c->hsize)
        return;
    struct request **pp = &c->htab[hash_slot(c, r->id)];
    while (*pp && *pp != r)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = r->hnext;
        c->hcount--;
    }
    r->hnext = NULL;
}

static void outq_push(wsb_client *c, struct request *r)
{
    if (r->queued)
        return;
    r->queued = 1;
    r->qnext = NULL;
    if (c->outq_tail)
        c->outq_tail->qnext = r;
    else
        c->outq_head = r;
    c->outq_tail = r;
}

static struct request *outq_pop(wsb_client *c)
{
    struct request *r = c->outq_head;
    if (!r)
        return NULL;
    c->outq_head = r->qnext;
    if (!c->outq_head)
        c->outq_tail = NULL;
    r->qnext = NULL;
    r->queued = 0;
    return r;
}

static void outq_remove(wsb_client *c, struct request *r)
{
    if (!r->queued)
        return;
    struct request *prev = NULL;
    for (struct request *q = c->outq_head; q; prev = q, q = q->qnext) {
        if (q != r)
            continue;
        if (prev)
            prev->qnext = q->qnext;
        else
            c->outq_head = q->qnext;
        if (c->outq_tail == q)
            c->outq_tail = prev;
        break;
    }
    r->queued = 0;
    r->qnext = NULL;
}

static void outq_clear(wsb_client *c)
{
    while (outq_pop(c))
        ;
}

static void want_write(wsb_client *c)
{
    if (c->wsi && c->state == CONN_READY && c->outq_head)
        lws_callback_on_writable(c->wsi);
}

/* Starts tracking a request that expects a reply: it is sent now when
 * connected, else after the next welcome. */
int wsb_track(wsb_client *c, struct request *r)
{
    if (c->hcount + 1 > c->hsize && hash_grow(c) < 0)
        return -1;
    size_t slot = hash_slot(c, r->id);
    r->hnext = c->htab[slot];
    c->htab[slot] = r;
    c->hcount++;
    r->next = NULL;
    r->prev = c->inflight_tail;
    if (c->inflight_tail)
        c->inflight_tail->next = r;
    else
        c->inflight_head = r;
    c->inflight_tail = r;
    if (c->state == CONN_READY) {
        outq_push(c, r);
        want_write(c);
    }
    return 0;
}

static void untrack(wsb_client *c, struct request *r)
{
    hash_remove(c, r);
    outq_remove(c, r);
    if (r->prev)
        r->prev->next = r->next;
    else if (c->inflight_head == r)
        c->inflight_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else if (c->inflight_tail == r)
        c->inflight_tail = r->prev;
    r->prev = r->next = NULL;
}

void wsb_call_reply(wsb_client *c, wsb_reply_fn cb, void *arg, const struct wsb_reply *reply)
{
    if (!cb)
        return;
    c->callback_depth++;
    cb(c, reply, arg);
    c->callback_depth--;
}

/* Finishes an (untracked) request: its callback or waiter gets the box. */
static void finish(wsb_client *c, struct request *r, struct wsb_reply_box *box)
{
    if (!box)
        box = wsb_reply_local(WSB_ENOMEM, NULL);
    if (r->counted)
        atomic_fetch_sub(&c->pending, 1);
    wsb_reply_set_topic(box, r->topic);
    if (r->waiter) {
        wsb_waiter_complete(c, r->waiter, box);
    } else {
        if (box)
            wsb_call_reply(c, r->cb, r->arg, &box->r);
        wsb_reply_box_free(box);
    }
    wsb_req_free(r);
}

static void complete(wsb_client *c, struct request *r, struct wsb_reply_box *box)
{
    untrack(c, r);
    finish(c, r, box);
}

static void complete_local(wsb_client *c, struct request *r, int status, const char *message)
{
    complete(c, r, wsb_reply_local(status, message));
}

/* ---- events ---- */

void wsb_emit(wsb_client *c, const struct wsb_event *ev)
{
    if (!c->opt.on_event || c->destroying)
        return;
    c->callback_depth++;
    c->opt.on_event(c, ev, c->opt.user);
    c->callback_depth--;
}

/* ---- connection ---- */

static void give_up(wsb_client *c, int status, const char *message);

static int backoff_ms(wsb_client *c)
{
    int64_t delay = c->opt.reconnect_min_ms;
    for (int i = 1; i < c->failures && delay < c->opt.reconnect_max_ms; i++)
        delay *= 2;
    if (delay > c->opt.reconnect_max_ms)
        delay = c->opt.reconnect_max_ms;
    /* Equal jitter: half fixed, half random, so a crowd spreads out. */
    int64_t half = delay / 2;
    return (int)(half + (int64_t)(wsb_prng_next(&c->prng) % (uint64_t)(half + 1)));
}

static void conn_open(wsb_client *c);

static void retry_cb(lws_sorted_usec_list_t *sul)
{
    wsb_client *c = lws_container_of(sul, wsb_client, retry_sul);
    if (c->state == CONN_BACKOFF)
        conn_open(c);
}

/* Every subscription must be made again on the next connection; the
 * requests that need a reply are kept and sent again. */
static void reset_for_reconnect(wsb_client *c)
{
    outq_clear(c);
    for (struct sub *s = c->subs; s; s = s->next) {
        s->state = SUB_IDLE;
        s->pending = NULL;
        s->replay_left = 0;
    }
    struct request *r = c->inflight_head;
    while (r) {
        struct request *next = r->next;
        if (r->kind == REQ_SUBSCRIBE || r->internal) {
            untrack(c, r);
            wsb_req_free(r);
        } else if (r->kind == REQ_UNSUBSCRIBE) {
            /* The next connection simply does not subscribe. */
            complete(c, r, wsb_reply_local(WSB_OK, ""));
        }
        r = next;
    }
    c->rx_len = 0;
}

static void conn_lost(wsb_client *c, const char *reason, int close_code)
{
    if (c->state != CONN_CONNECTING && c->state != CONN_WELCOME && c->state != CONN_READY)
        return;
    int was_ready = c->state == CONN_READY;
    c->wsi = NULL;
    c->state = CONN_IDLE;
    atomic_store(&c->connected, 0);
    lws_sul_cancel(&c->heartbeat_sul);
    reset_for_reconnect(c);
    if (was_ready)
        c->failures = 0;
    c->failures++;

    char msg[384];
    if (close_code)
        snprintf(msg, sizeof(msg), "%s (close code %d)", reason, close_code);
    else
        snprintf(msg, sizeof(msg), "%s", reason);
    set_last_error(c, "%s", msg);

    if (c->fail_fast && !c->ever_connected) {
        give_up(c, close_code == 4001 || close_code == 4003 ? WSB_EAUTH : WSB_ECONNECT, msg);
        return;
    }
    if (close_code == 4001 || close_code == 4003) {
        give_up(c, WSB_EAUTH, msg);
        return;
    }
    if (c->opt.max_reconnects > 0 && c->failures > c->opt.max_reconnects) {
        give_up(c, WSB_ECONNECT, msg);
        return;
    }
    int delay = backoff_ms(c);
    c->state = CONN_BACKOFF;
    lws_sul_schedule(c->ctx, 0, &c->retry_sul, retry_cb, (lws_usec_t)delay * 1000);
    struct wsb_event ev = {.type = WSB_EVENT_DISCONNECTED,
                           .message = msg,
                           .close_code = close_code,
                           .retry_ms = delay};
    wsb_emit(c, &ev);
}

/* Closes the current connection from our side; conn_lost follows now. */
static void conn_drop(wsb_client *c, const char *reason)
{
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    conn_lost(c, reason, 0);
}

static void connect_waiter_done(wsb_client *c, int status, const char *message)
{
    if (!c->connect_waiter)
        return;
    wsb_waiter_complete(c, c->connect_waiter, wsb_reply_local(status, message));
    c->connect_waiter = NULL;
}

static void fail_all(wsb_client *c, int status, const char *message)
{
    while (c->inflight_head) {
        struct request *r = c->inflight_head;
        if (r->sub)
            r->sub->pending = NULL;
        complete_local(c, r, status, message);
    }
    outq_clear(c);
}

static void give_up(wsb_client *c, int status, const char *message)
{
    /* A failed first attempt of wsb_client_connect() is its return value. */
    int silent = c->fail_fast && !c->ever_connected;
    c->state = CONN_IDLE;
    c->fail_fast = 0;
    lws_sul_cancel(&c->retry_sul);
    connect_waiter_done(c, status, message);
    fail_all(c, status, message);
    struct wsb_event ev = {.type = WSB_EVENT_GAVE_UP, .message = message, .retry_ms = -1};
    if (!silent)
        wsb_emit(c, &ev);
}

static void conn_open(wsb_client *c)
{
    struct lws_client_connect_info ci;
    char path[WSB_URL_PATH_MAX + 1024];

    snprintf(path, sizeof(path), "%s", c->url.path);
    if (c->token && wsb_url_add_token(path, sizeof(path), c->token) < 0) {
        give_up(c, WSB_EINVAL, "token too long");
        return;
    }
    memset(&ci, 0, sizeof(ci));
    ci.context = c->ctx;
    ci.address = c->url.host;
    ci.port = c->url.port;
    ci.path = path;
    ci.host = c->url.host;
    ci.protocol = "wsb.v1";
    ci.local_protocol_name = "wsb.v1";
    ci.pwsi = &c->wsi;
    if (c->url.tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (c->opt.tls_insecure)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->state = CONN_CONNECTING;
    c->close_code = 0;
    c->attempt_us = clock_mono_us();
    if (!lws_client_connect_via_info(&ci) && c->state == CONN_CONNECTING) {
        c->wsi = NULL;
        char msg[WSB_URL_HOST_MAX + 64];
        snprintf(msg, sizeof(msg), "cannot connect to %s:%d", c->url.host, c->url.port);
        conn_lost(c, msg, 0);
    }
}

static void send_internal_ping(wsb_client *c)
{
    struct request *r = wsb_req_new(REQ_PING);
    struct frame f;
    if (!r)
        return;
    r->id = wsb_take_id(c);
    r->internal = 1;
    wsb_frame_begin(&f, 64, "ping", r->id, NULL);
    wsb_frame_str(&f, "}");
    if (wsb_req_set_frame(r, &f, 0) < 0 || wsb_track(c, r) < 0)
        wsb_req_free(r);
}

/* Watches a connection that should be talking: no welcome in time, or a
 * broker silent for three heartbeats, means the connection is dead. */
static void heartbeat_cb(lws_sorted_usec_list_t *sul)
{
    wsb_client *c = lws_container_of(sul, wsb_client, heartbeat_sul);
    int64_t now = clock_mono_us();

    if (c->state == CONN_WELCOME) {
        if (now - c->attempt_us > (int64_t)c->opt.timeout_ms * 1000) {
            conn_drop(c, "no welcome from the broker");
            return;
        }
        lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb, 200 * 1000);
        return;
    }
    if (c->state != CONN_READY)
        return;
    int64_t idle = now - c->last_rx_us;
    int64_t beat = (int64_t)c->heartbeat_s * 1000000;
    if (idle > 3 * beat) {
        conn_drop(c, "the broker stopped answering");
        return;
    }
    if (idle > beat)
        send_internal_ping(c);
    lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb, beat / 2);
}

static void handle_welcome(wsb_client *c, json_t *root)
{
    const char *epoch = json_string_value(json_object_get(root, "epoch"));
    json_int_t hb = json_integer_value(json_object_get(root, "heartbeat"));
    json_int_t max = json_integer_value(json_object_get(root, "max_message"));

    if (c->state != CONN_WELCOME)
        return;
    snprintf(c->epoch, sizeof(c->epoch), "%s", epoch ? epoch : "");
    c->welcome_seq = (uint64_t)json_integer_value(json_object_get(root, "seq"));
    c->heartbeat_s = hb > 0 ? (int)hb : 25;
    if (max > 0)
        atomic_store(&c->max_message, (size_t)max);
    c->state = CONN_READY;
    c->failures = 0;
    c->fail_fast = 0;
    int reconnects = c->ever_connected ? ++c->reconnects : 0;
    c->ever_connected = 1;
    atomic_store(&c->connected, 1);
    set_last_error(c, "%s", "");
    lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb,
                     (lws_usec_t)c->heartbeat_s * 500000);

    /* Subscriptions first, then every request still waiting, in order. */
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->dead)
            wsb_sub_send(c, s);
    for (struct request *r = c->inflight_head; r; r = r->next)
        if (r->kind != REQ_SUBSCRIBE)
            outq_push(c, r);
    want_write(c);

    struct wsb_event ev = {.type = WSB_EVENT_CONNECTED,
                           .message = "connected",
                           .retry_ms = -1,
                           .reconnects = reconnects,
                           .epoch = c->epoch,
                           .seq = c->welcome_seq};
    connect_waiter_done(c, WSB_OK, "");
    wsb_emit(c, &ev);
}

/* ---- incoming frames ---- */

static void handle_binary(wsb_client *c, unsigned char *buf, size_t len)
{
    const char *env;
    const unsigned char *payload;
    size_t envlen, paylen;
    struct wsb_message m;
    unsigned char *decoded;

    /* binframe_split leaves an empty envelope to the JSON parser; the
     * client refuses it here, with the malformed prefix, as one error. */
    if (binframe_split(buf, len, &env, &envlen, &payload, &paylen) < 0 || envlen == 0) {
        struct wsb_event ev = {.type = WSB_EVENT_ERROR,
                               .code = "bad_request",
                               .message = "malformed binary frame from the broker",
                               .retry_ms = -1};
        wsb_emit(c, &ev);
        return;
    }
    json_t *root = json_loadb(env, envlen, 0, NULL);
    const char *op = json_string_value(json_object_get(root, "op"));
    if (op && strcmp(op, "message") == 0 &&
        wsb_message_from_json(env, envlen, root, &m, &decoded) == 0) {
        free(decoded);
        buf[len] = '\0'; /* the rx buffer always has room for it */
        m.data = (const char *)payload;
        m.len = paylen;
        m.binary = 1;
        wsb_dispatch_message(c, &m);
    }
    json_decref(root);
}

static void handle_text_message(wsb_client *c, char *text, size_t len, json_t *root)
{
    struct wsb_message m;
    unsigned char *decoded;

    if (wsb_message_from_json(text, len, root, &m, &decoded) < 0)
        return;
    if (decoded) {
        wsb_dispatch_message(c, &m);
        free(decoded);
        return;
    }
    /* Terminate the data in place for the callback, then restore it. */
    char *end = (char *)m.data + m.len;
    char saved = *end;
    *end = '\0';
    wsb_dispatch_message(c, &m);
    *end = saved;
}

static void handle_reply(wsb_client *c, char *text, size_t len, json_t *root)
{
    json_int_t id = json_integer_value(json_object_get(root, "id"));
    struct request *r = id > 0 ? hash_find(c, (uint64_t)id) : NULL;

    if (!r) {
        const char *op = json_string_value(json_object_get(root, "op"));
        if (op && strcmp(op, "error") == 0 && id <= 0) {
            struct wsb_event ev = {
                .type = WSB_EVENT_ERROR,
                .code = json_string_value(json_object_get(root, "code")),
                .message = json_string_value(json_object_get(root, "message")),
                .retry_ms = -1,
            };
            if (!ev.message)
                ev.message = "error from the broker";
            wsb_emit(c, &ev);
        }
        json_decref(root);
        return;
    }
    struct wsb_reply_box *box = wsb_reply_from_frame(text, len, root);
    if (r->kind == REQ_SUBSCRIBE) {
        struct sub *s = r->sub;
        untrack(c, r);
        wsb_req_free(r);
        if (!s || !box) {
            wsb_reply_box_free(box);
            return;
        }
        /* The callbacks may unsubscribe: keep s alive until they return. */
        c->dispatching++;
        wsb_sub_on_ack(c, s, box);
        if (--c->dispatching == 0)
            wsb_sub_sweep(c);
        return;
    }
    complete(c, r, box);
}

static void handle_text(wsb_client *c, char *text, size_t len)
{
    json_t *root = json_loadb(text, len, 0, NULL);
    const char *op = json_string_value(json_object_get(root, "op"));

    if (!op) {
        json_decref(root);
        return;
    }
    if (strcmp(op, "message") == 0) {
        handle_text_message(c, text, len, root);
    } else if (strcmp(op, "ack") == 0 || strcmp(op, "error") == 0 || strcmp(op, "pong") == 0) {
        handle_reply(c, text, len, root);
        return; /* handle_reply owns root */
    } else if (strcmp(op, "welcome") == 0) {
        handle_welcome(c, root);
    } else if (strcmp(op, "join") == 0 || strcmp(op, "leave") == 0) {
        wsb_dispatch_presence(c, root, op[0] == 'j');
    }
    json_decref(root);
}

static int rx_append(wsb_client *c, const void *in, size_t len)
{
    if (c->rx_len + len + 1 > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 4096;
        while (cap < c->rx_len + len + 1)
            cap *= 2;
        if (cap > RX_LIMIT)
            return -1;
        unsigned char *rx = realloc(c->rx, cap);
        if (!rx)
            return -1;
        c->rx = rx;
        c->rx_cap = cap;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    return 0;
}

static void on_receive(wsb_client *c, struct lws *wsi, void *in, size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        c->rx_len = 0;
        c->rx_binary = lws_frame_is_binary(wsi);
    }
    if (rx_append(c, in, len) < 0) {
        conn_drop(c, "frame from the broker too large");
        return;
    }
    if (!lws_is_final_fragment(wsi))
        return;
    size_t n = c->rx_len;
    c->rx_len = 0;
    c->last_rx_us = clock_mono_us();
    if (c->rx_binary)
        handle_binary(c, c->rx, n);
    else
        handle_text(c, (char *)c->rx, n);
}

/* Writes queued frames while the socket takes them. */
static int on_writeable(wsb_client *c, struct lws *wsi)
{
    size_t max = atomic_load(&c->max_message);
    for (int n = 0; n < WRITE_BURST && c->outq_head; n++) {
        if (lws_partial_buffered(wsi))
            break;
        struct request *r = outq_pop(c);
        if (max && r->len > max) {
            complete_local(c, r, WSB_ETOOBIG, "frame larger than the broker's max_message");
            continue;
        }
        /* lws masks a client frame in place: write a copy, so that the
         * original can be sent again after a reconnect. */
        if (LWS_PRE + r->len > c->tx_cap) {
            unsigned char *tx = realloc(c->tx, LWS_PRE + r->len);
            if (!tx)
                return -1;
            c->tx = tx;
            c->tx_cap = LWS_PRE + r->len;
        }
        memcpy(c->tx + LWS_PRE, r->buf + LWS_PRE, r->len);
        int type = r->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
        if (lws_write(wsi, c->tx + LWS_PRE, r->len, (enum lws_write_protocol)type) < 0)
            return -1;
        if (lws_send_pipe_choked(wsi))
            break;
    }
    if (c->outq_head)
        lws_callback_on_writable(wsi);
    return 0;
}

/* ---- taking requests on the service thread ---- */

static void do_connect(wsb_client *c, struct request *r)
{
    if (c->connect_waiter && c->connect_waiter != r->waiter)
        connect_waiter_done(c, WSB_ECLOSED, "superseded by another connect");
    c->connect_waiter = r->waiter;
    r->waiter = NULL;
    if (c->state == CONN_READY) {
        connect_waiter_done(c, WSB_OK, "");
        return;
    }
    if (c->state == CONN_IDLE) {
        c->ever_connected = 0;
        c->failures = 0;
        c->fail_fast = r->fail_fast;
        conn_open(c);
    } else if (c->state == CONN_BACKOFF) {
        lws_sul_cancel(&c->retry_sul);
        conn_open(c);
    }
}

static void do_close(wsb_client *c)
{
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    c->wsi = NULL;
    c->state = CONN_IDLE;
    atomic_store(&c->connected, 0);
    lws_sul_cancel(&c->retry_sul);
    lws_sul_cancel(&c->heartbeat_sul);
    reset_for_reconnect(c);
    connect_waiter_done(c, WSB_ECLOSED, "closed by the application");
    fail_all(c, WSB_ECLOSED, "closed by the application");
}

static void take_request(wsb_client *c, struct request *r)
{
    switch (r->kind) {
    case REQ_CONNECT:
        do_connect(c, r);
        wsb_req_free(r);
        return;
    case REQ_CLOSE:
        do_close(c);
        wsb_req_free(r);
        return;
    case REQ_SUBSCRIBE: {
        struct sub *s = r->sub, **pp = &c->subs;
        s->first_waiter = r->waiter;
        while (*pp)
            pp = &(*pp)->next;
        *pp = s;
        if (c->state == CONN_READY)
            wsb_sub_send(c, s);
        wsb_req_free(r);
        return;
    }
    case REQ_UNSUBSCRIBE: {
        struct sub *s = wsb_sub_find(c, r->text);
        if (s)
            wsb_sub_kill(c, s);
        if (c->state != CONN_READY || !s) {
            finish(c, r, wsb_reply_local(WSB_OK, ""));
            return;
        }
        break;
    }
    case REQ_AUTH:
        free(c->token);
        c->token = strdup(r->text);
        break;
    default:
        break;
    }
    if (wsb_track(c, r) < 0)
        finish(c, r, NULL);
}

static void drain_submitted(wsb_client *c)
{
    pthread_mutex_lock(&c->lock);
    struct request *r = c->submitted_head;
    c->submitted_head = c->submitted_tail = NULL;
    pthread_mutex_unlock(&c->lock);
    while (r) {
        struct request *next = r->next;
        r->next = r->prev = NULL;
        take_request(c, r);
        r = next;
    }
}

void wsb_submit(wsb_client *c, struct request *r)
{
    if (on_service_thread(c)) {
        take_request(c, r);
        return;
    }
    pthread_mutex_lock(&c->lock);
    r->next = NULL;
    if (c->submitted_tail)
        c->submitted_tail->next = r;
    else
        c->submitted_head = r;
    c->submitted_tail = r;
    pthread_mutex_unlock(&c->lock);
    lws_cancel_service(c->ctx);
}

/* ---- the lws callback ---- */

static int lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    (void)user;
    struct lws_context *ctx = lws_get_context(wsi);
    wsb_client *c = ctx ? lws_context_user(ctx) : NULL;

    if (!c || c->destroying)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        drain_submitted(c);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi == c->wsi) {
            char msg[512];
            snprintf(msg, sizeof(msg), "cannot connect to %s:%d: %s", c->url.host, c->url.port,
                     in ? (const char *)in : "connection failed");
            conn_lost(c, msg, 0);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (wsi == c->wsi && c->state == CONN_CONNECTING) {
            c->state = CONN_WELCOME;
            lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb, 200 * 1000);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (wsi == c->wsi)
            on_receive(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        if (wsi == c->wsi)
            c->last_rx_us = clock_mono_us();
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (wsi != c->wsi || c->state != CONN_READY)
            return 0;
        return on_writeable(c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (wsi == c->wsi && len >= 2) {
            const unsigned char *p = in;
            c->close_code = (p[0] << 8) | p[1];
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == c->wsi)
            conn_lost(c, "connection closed", c->close_code);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (wsi == c->wsi)
            conn_lost(c, "connection closed", c->close_code);
        return 0;
    default:
        return 0;
    }
}

/* ---- public API: lifecycle ---- */

/* Bounds the wait of wsb_client_service(). It schedules itself again: if
 * it was already due when lws looked (a slow caller), lws would otherwise
 * compute the poll timeout from the next sul alone (seconds away). */
static void wake_cb(lws_sorted_usec_list_t *sul)
{
    wsb_client *c = lws_container_of(sul, wsb_client, wake_sul);
    lws_sul_schedule(c->ctx, 0, &c->wake_sul, wake_cb, c->wake_us);
}

static void options_defaults(struct wsb_options *o)
{
    if (!o->url)
        o->url = WSB_DEFAULT_URL;
    if (o->timeout_ms <= 0)
        o->timeout_ms = 10000;
    if (o->reconnect_min_ms <= 0)
        o->reconnect_min_ms = 100;
    if (o->reconnect_max_ms <= 0)
        o->reconnect_max_ms = 10000;
    if (o->reconnect_max_ms < o->reconnect_min_ms)
        o->reconnect_max_ms = o->reconnect_min_ms;
}

static const struct lws_extension deflate_ext[] = {{"permessage-deflate",
                                                    lws_extension_callback_pm_deflate,
                                                    "permessage-deflate; client_max_window_bits"},
                                                   {NULL, NULL, NULL}};

static int create_context(wsb_client *c)
{
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof(info));
    c->protocols[0].name = "wsb.v1";
    c->protocols[0].callback = lws_callback;
    c->protocols[0].rx_buffer_size = 65536;
    c->protocols[0].tx_packet_size = 0;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = c->protocols;
    info.gid = -1;
    info.uid = -1;
    info.user = c;
    info.timeout_secs = (unsigned int)(c->opt.timeout_ms + 999) / 1000;
    info.fd_limit_per_thread = 64;
    if (c->url.tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = c->ca_file;
    }
    if (c->opt.compress)
        info.extensions = deflate_ext;
    c->ctx = lws_create_context(&info);
    return c->ctx ? 0 : -1;
}

wsb_client *wsb_client_new(const struct wsb_options *opts, char *err, size_t errlen)
{
    wsb_client *c = calloc(1, sizeof(*c));
    if (!c) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (opts)
        c->opt = *opts;
    options_defaults(&c->opt);
    c->url_text = strdup(c->opt.url);
    c->token = c->opt.token ? strdup(c->opt.token) : NULL;
    c->ca_file = c->opt.ca_file ? strdup(c->opt.ca_file) : NULL;
    c->opt.url = c->url_text;
    c->opt.token = NULL;
    c->opt.ca_file = c->ca_file;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    c->prng = c->opt.seed
                  ? c->opt.seed
                  : (uint64_t)clock_wall_us() ^ (uint64_t)(uintptr_t)c ^ ((uint64_t)getpid() << 32);
    c->key_nonce = wsb_prng_next(&c->prng);
    if (!c->url_text) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        wsb_client_free(c);
        return NULL;
    }
    if (wsb_url_parse(c->url_text, &c->url, err, errlen) < 0) {
        wsb_client_free(c);
        return NULL;
    }
    if (create_context(c) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "cannot create the libwebsockets context");
        wsb_client_free(c);
        return NULL;
    }
    return c;
}

void wsb_client_free(wsb_client *c)
{
    if (!c)
        return;
    wsb_client_stop_thread(c);
    drain_submitted(c);
    c->destroying = 1;
    if (c->ctx) {
        lws_sul_cancel(&c->retry_sul);
        lws_sul_cancel(&c->heartbeat_sul);
        lws_sul_cancel(&c->wake_sul);
        lws_context_destroy(c->ctx);
    }
    c->destroying = 0; /* callbacks of the failed requests run below */
    c->state = CONN_IDLE;
    connect_waiter_done(c, WSB_ECLOSED, "client freed");
    fail_all(c, WSB_ECLOSED, "client freed");
    c->dispatching = 1;
    for (struct sub *s = c->subs; s; s = s->next)
        wsb_sub_kill(c, s);
    c->dispatching = 0;
    wsb_sub_sweep(c);
    while (c->registry) {
        struct pattern_entry *e = c->registry;
        c->registry = e->next;
        free(e->pattern);
        free(e);
    }
    free(c->htab);
    free(c->rx);
    free(c->tx);
    free(c->url_text);
    free(c->token);
    free(c->ca_file);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* Waits for a waiter, servicing the client when no service thread runs. */
struct wsb_reply_box *wsb_wait_for(wsb_client *c, struct waiter *w, int timeout_ms)
{
    int64_t deadline = clock_mono_us() + (int64_t)timeout_ms * 1000;
    int done;

    if (c->thread_running) {
        struct timespec ts;
        ts.tv_sec = deadline / 1000000;
        ts.tv_nsec = (deadline % 1000000) * 1000;
        pthread_mutex_lock(&c->lock);
        while (!w->done && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
            ;
        pthread_mutex_unlock(&c->lock);
    } else {
        for (;;) {
            pthread_mutex_lock(&c->lock);
            done = w->done;
            pthread_mutex_unlock(&c->lock);
            int64_t left = deadline - clock_mono_us();
            if (done || left <= 0)
                break;
            wsb_client_service(c, (int)((left + 999) / 1000));
        }
    }
    struct wsb_reply_box *box = waiter_release(c, w, &done);
    if (!done)
        return wsb_reply_local(WSB_ETIMEDOUT, "timed out waiting for the broker");
    return box;
}

/* Ends a _sync call: the status, and the reply to the caller or freed. */
int wsb_sync_result(struct wsb_reply_box *box, struct wsb_reply **reply)
{
    int status = box ? box->r.status : WSB_ENOMEM;
    if (reply)
        *reply = box ? &box->r : NULL;
    else
        wsb_reply_box_free(box);
    return status;
}

static int connect_common(wsb_client *c, int fail_fast, struct waiter *w)
{
    struct request *r = wsb_req_new(REQ_CONNECT);
    if (!r)
        return WSB_ENOMEM;
    r->fail_fast = fail_fast;
    r->waiter = w;
    wsb_submit(c, r);
    return WSB_OK;
}

int wsb_client_connect(wsb_client *c)
{
    if (!c)
        return WSB_EINVAL;
    if (wsb_blocking_forbidden(c))
        return WSB_EBUSY;
    struct waiter *w = wsb_waiter_new();
    if (!w)
        return WSB_ENOMEM;
    if (connect_common(c, 1, w) < 0) {
        free(w);
        return WSB_ENOMEM;
    }
    struct wsb_reply_box *box = wsb_wait_for(c, w, c->opt.timeout_ms);
    int status = box ? box->r.status : WSB_ENOMEM;
    if (status == WSB_ETIMEDOUT) {
        set_last_error(c, "no welcome from the broker within %d ms", c->opt.timeout_ms);
        wsb_client_close(c);
    } else if (status != WSB_OK && box) {
        set_last_error(c, "%s", box->r.message);
    }
    wsb_reply_box_free(box);
    return status;
}

int wsb_client_connect_async(wsb_client *c)
{
    if (!c)
        return WSB_EINVAL;
    return connect_common(c, 0, NULL);
}

void wsb_client_close(wsb_client *c)
{
    struct request *r = c ? wsb_req_new(REQ_CLOSE) : NULL;
    if (r)
        wsb_submit(c, r);
}

int wsb_client_service(wsb_client *c, int timeout_ms)
{
    if (!c)
        return WSB_EINVAL;
    if (c->thread_running || c->callback_depth > 0)
        return WSB_EBUSY;
    drain_submitted(c);
    if (timeout_ms > 0) {
        c->wake_us = (lws_usec_t)timeout_ms * 1000;
        lws_sul_schedule(c->ctx, 0, &c->wake_sul, wake_cb, c->wake_us);
    }
    lws_service(c->ctx, timeout_ms > 0 ? 0 : -1);
    lws_sul_cancel(&c->wake_sul);
    return WSB_OK;
}

static void *service_main(void *arg)
{
    wsb_client *c = arg;
    while (!atomic_load(&c->stop))
        lws_service(c->ctx, 0);
    return NULL;
}

int wsb_client_start_thread(wsb_client *c)
{
    if (!c || c->thread_running || c->callback_depth > 0)
        return WSB_EINVAL;
    atomic_store(&c->stop, 0);
    c->thread_running = 1;
    if (pthread_create(&c->thread, NULL, service_main, c) != 0) {
        c->thread_running = 0;
        return WSB_ENOMEM;
    }
    return WSB_OK;
}

void wsb_client_stop_thread(wsb_client *c)
{
    if (!c || !c->thread_running || pthread_equal(pthread_self(), c->thread))
        return;
    atomic_store(&c->stop, 1);
    lws_cancel_service(c->ctx);
    pthread_join(c->thread, NULL);
    c->thread_running = 0;
    drain_submitted(c);
}

int wsb_client_is_connected(wsb_client *c)
{
    return c ? atomic_load(&c->connected) : 0;
}

void wsb_client_last_error(wsb_client *c, char *buf, size_t len)
{
    if (!c || !buf || !len)
        return;
    pthread_mutex_lock(&c->lock);
    snprintf(buf, len, "%s", c->last_error);
    pthread_mutex_unlock(&c->lock);
}

size_t wsb_client_pending(wsb_client *c)
{
    return c ? atomic_load(&c->pending) : 0;
}
