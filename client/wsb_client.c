/* SPDX-License-Identifier: MIT */
/*
 * wsb_client.c: the lifecycle calls of libwsb's public API: creating and
 * freeing a client, connecting and closing, servicing it from the caller's
 * thread or from a service thread of its own, and the accessors.
 *
 * The layers below, each called only from above: wsb_api.c (the request
 * calls) and this file on top; wsb_loop.c (lws context and callback,
 * hand-over between threads); wsb_io.c (frames in and out); wsb_conn.c
 * (the connection); wsb_sub.c (subscriptions); wsb_request.c (requests in
 * flight, waiters, callbacks); wsb_frame.c and wsb_reply.c (building
 * request frames, decoding replies). wsb_client_int.h holds the state they
 * share, each part of it written by one of them.
 */
#include "common/clock.h"
#include "wsb_conn.h"
#include "wsb_loop.h"
#include "wsb_request.h"
#include "wsb_sub.h"
#include "wsb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void options_defaults(struct wsb_options *o)
{
    if (!o->url)
        o->url = WSB_DEFAULT_URL;
    if (!o->urls)
        o->n_urls = 0;
    if (o->timeout_ms <= 0)
        o->timeout_ms = 10000;
    if (o->reconnect_min_ms <= 0)
        o->reconnect_min_ms = 100;
    if (o->reconnect_max_ms <= 0)
        o->reconnect_max_ms = 10000;
    if (o->reconnect_max_ms < o->reconnect_min_ms)
        o->reconnect_max_ms = o->reconnect_min_ms;
}

/* Copies and parses the broker URLs: wsb_options.urls when it has any,
 * else the one `url`. 0, or -1 with the reason in err. */
static int urls_take(wsb_client *c, char *err, size_t errlen)
{
    size_t n = c->opt.n_urls > 0 ? c->opt.n_urls : 1;
    c->url_texts = calloc(n, sizeof(*c->url_texts));
    c->urls = calloc(n, sizeof(*c->urls));
    if (!c->url_texts || !c->urls) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->n_urls = n;
    for (size_t i = 0; i < n; i++) {
        const char *text = c->opt.n_urls > 0 ? c->opt.urls[i] : c->opt.url;
        if (!text) {
            snprintf(err, errlen, "urls[%zu] is NULL", i);
            return -1;
        }
        c->url_texts[i] = strdup(text);
        if (!c->url_texts[i]) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (wsb_url_parse(c->url_texts[i], &c->urls[i], err, errlen) < 0)
            return -1;
    }
    /* The caller's array is not kept: opt.url stands for the first URL. */
    c->opt.url = c->url_texts[0];
    c->opt.urls = NULL;
    c->opt.n_urls = 0;
    return 0;
}

static void urls_free(wsb_client *c)
{
    for (size_t i = 0; c->url_texts && i < c->n_urls; i++)
        free(c->url_texts[i]);
    free(c->url_texts);
    free(c->urls);
}

wsb_client *wsb_client_new(const struct wsb_options *opts, char *err, size_t errlen)
{
    char reason[256] = "";
    wsb_client *c = calloc(1, sizeof(*c));
    if (!c) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (opts)
        c->opt = *opts;
    options_defaults(&c->opt);
    c->token = c->opt.token ? strdup(c->opt.token) : NULL;
    c->ca_file = c->opt.ca_file ? strdup(c->opt.ca_file) : NULL;
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
    if (urls_take(c, reason, sizeof(reason)) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s", reason);
        wsb_client_free(c);
        return NULL;
    }
    if (wsb_loop_create(c) < 0) {
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
    wsb_loop_drain(c);
    c->destroying = 1;
    if (c->ctx) {
        lws_sul_cancel(&c->retry_sul);
        lws_sul_cancel(&c->heartbeat_sul);
        lws_sul_cancel(&c->wake_sul);
        lws_context_destroy(c->ctx);
    }
    c->destroying = 0; /* callbacks of the failed requests run below */
    wsb_conn_abandon(c, "client freed");
    wsb_sub_kill_all(c);
    while (c->registry) {
        struct pattern_entry *e = c->registry;
        c->registry = e->next;
        free(e->pattern);
        free(e);
    }
    free(c->htab);
    free(c->rx);
    free(c->tx);
    urls_free(c);
    free(c->token);
    free(c->ca_file);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
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
        wsb_set_last_error(c, "no welcome from the broker within %d ms", c->opt.timeout_ms);
        wsb_client_close(c);
    } else if (status != WSB_OK && box) {
        wsb_set_last_error(c, "%s", box->r.message);
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
    return wsb_loop_service(c, timeout_ms);
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
    wsb_loop_drain(c);
}

int wsb_client_is_connected(wsb_client *c)
{
    return c ? atomic_load(&c->connected) : 0;
}

void wsb_client_url(wsb_client *c, char *buf, size_t len)
{
    if (!c || !buf || !len)
        return;
    /* The texts are read-only after creation: the index is all that moves. */
    snprintf(buf, len, "%s", c->url_texts[atomic_load(&c->url_index) % c->n_urls]);
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
