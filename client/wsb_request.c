/* SPDX-License-Identifier: MIT */
/*
 * wsb_request.c: the requests of a libwsb client and the records shared
 * with the caller threads.
 *
 * Owns the requests in flight (a list in the order they were made, a hash
 * by id for the replies, and the queue of frames still to write), the
 * waiters that blocking calls sleep on, the request ids and last error
 * (under c->lock), and the calls into the application (callbacks and
 * events), which count c->callback_depth so that a blocking call from a
 * callback is refused.
 *
 * A request that expects a reply stays in flight until the reply comes or
 * the client gives up; after a reconnect it is sent again, same frame, same
 * idempotency key, so a publish whose ack was lost is answered `duplicate`
 * instead of being stored twice.
 */
#include "wsb_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t wsb_take_id(wsb_client *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t id = ++c->next_id;
    pthread_mutex_unlock(&c->lock);
    return id;
}

/* Blocking calls would deadlock (or re-enter lws) from these places. */
int wsb_blocking_forbidden(wsb_client *c)
{
    if (c->thread_running)
        return pthread_equal(pthread_self(), c->thread);
    return c->callback_depth > 0;
}

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

/* The `auth` request presenting token (docs/protocol.md section 6), with
 * its id and frame; NULL when out of memory. */
struct request *wsb_req_auth(wsb_client *c, const char *token)
{
    struct request *r = wsb_req_new(REQ_AUTH);
    struct frame f;
    if (!r || !(r->text = strdup(token))) {
        wsb_req_free(r);
        return NULL;
    }
    r->id = wsb_take_id(c);
    wsb_frame_begin(&f, 64 + strlen(token) * 2, "auth", r->id, NULL);
    wsb_frame_str(&f, ",\"token\":");
    wsb_frame_quoted(&f, token);
    wsb_frame_str(&f, "}");
    if (wsb_req_set_frame(r, &f, 0) < 0) {
        wsb_req_free(r);
        return NULL;
    }
    return r;
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
struct wsb_reply_box *wsb_waiter_release(wsb_client *c, struct waiter *w, int *done)
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

struct request *wsb_req_find(wsb_client *c, uint64_t id)
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

struct request *wsb_outq_pop(wsb_client *c)
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

void wsb_outq_clear(wsb_client *c)
{
    while (wsb_outq_pop(c))
        ;
}

static void outq_want_write(wsb_client *c)
{
    if (c->wsi && c->state == CONN_READY && c->outq_head)
        lws_callback_on_writable(c->wsi);
}

/* After a welcome: queues every request still in flight, in order. The
 * subscribes are not among them: each subscription sends a new one
 * (wsb_sub_resend_all), before these. */
void wsb_outq_requeue(wsb_client *c)
{
    for (struct request *r = c->inflight_head; r; r = r->next)
        if (r->kind != REQ_SUBSCRIBE)
            outq_push(c, r);
    outq_want_write(c);
}

/* Starts tracking a request that expects a reply: it is sent now when
 * connected, else after the next welcome. */
int wsb_req_track(wsb_client *c, struct request *r)
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
        outq_want_write(c);
    }
    return 0;
}

void wsb_req_untrack(wsb_client *c, struct request *r)
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

void wsb_emit(wsb_client *c, const struct wsb_event *ev)
{
    if (!c->opt.on_event || c->destroying)
        return;
    c->callback_depth++;
    c->opt.on_event(c, ev, c->opt.user);
    c->callback_depth--;
}

int wsb_call_token_fn(wsb_client *c, char *buf, size_t size)
{
    if (!c->opt.token_fn || c->destroying)
        return -1;
    buf[0] = '\0';
    c->callback_depth++;
    int rc = c->opt.token_fn(c, buf, size, c->opt.token_arg);
    c->callback_depth--;
    buf[size - 1] = '\0';
    return rc == 0 && buf[0] ? 0 : -1;
}

/* Finishes an (untracked) request: its callback or waiter gets the box. */
void wsb_req_finish(wsb_client *c, struct request *r, struct wsb_reply_box *box)
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

void wsb_req_complete(wsb_client *c, struct request *r, struct wsb_reply_box *box)
{
    wsb_req_untrack(c, r);
    wsb_req_finish(c, r, box);
}

void wsb_req_fail(wsb_client *c, struct request *r, int status, const char *message)
{
    wsb_req_complete(c, r, wsb_reply_local(status, message));
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

void wsb_set_last_error(wsb_client *c, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&c->lock);
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&c->lock);
}
