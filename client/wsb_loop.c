/* SPDX-License-Identifier: MIT */
/*
 * wsb_loop.c: the event loop of a libwsb client: its libwebsockets
 * context, the protocol callback, the hand-over of requests from other
 * threads, and waiting for a reply.
 *
 * Threads other than the service thread never touch lws or the connection
 * state: they build a request (frame included) and hand it over through
 * c->submitted under c->lock, then wake the service thread with
 * lws_cancel_service(). When no service thread runs, the caller is the
 * service thread and requests are taken at once. The callback only routes
 * what lws reports: to the connection (wsb_conn.c), to the frame reader and
 * writer (wsb_io.c), or to the requests just handed over.
 */
#include "wsb_loop.h"

#include "common/clock.h"
#include "wsb_conn.h"
#include "wsb_io.h"
#include "wsb_request.h"
#include "wsb_sub.h"

#include <string.h>

static int on_service_thread(wsb_client *c)
{
    return !c->thread_running || pthread_equal(pthread_self(), c->thread);
}

static void take_request(wsb_client *c, struct request *r)
{
    switch (r->kind) {
    case REQ_CONNECT:
        wsb_conn_connect(c, r);
        wsb_req_free(r);
        return;
    case REQ_CLOSE:
        wsb_conn_close(c);
        wsb_req_free(r);
        return;
    case REQ_SUBSCRIBE:
        wsb_sub_add(c, r->sub, r->waiter);
        wsb_req_free(r);
        return;
    case REQ_UNSUBSCRIBE: {
        struct sub *s = wsb_sub_find(c, r->text);
        if (s)
            wsb_sub_kill(c, s);
        if (c->state != CONN_READY || !s) {
            wsb_req_finish(c, r, wsb_reply_local(WSB_OK, ""));
            return;
        }
        break;
    }
    case REQ_AUTH:
        wsb_conn_set_token(c, r->text);
        break;
    default:
        break;
    }
    if (wsb_req_track(c, r) < 0)
        wsb_req_finish(c, r, NULL);
}

void wsb_loop_drain(wsb_client *c)
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

static int lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    (void)user;
    struct lws_context *ctx = lws_get_context(wsi);
    wsb_client *c = ctx ? lws_context_user(ctx) : NULL;

    if (!c || c->destroying)
        return 0;
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        wsb_loop_drain(c);
        return 0;
    }
    /* A connection given up may still report: only the current one counts. */
    if (wsi != c->wsi)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        wsb_conn_failed(c, in);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        wsb_conn_established(c);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        wsb_io_receive(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        wsb_conn_heard(c);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return c->state == CONN_READY ? wsb_io_writeable(c, wsi) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        wsb_conn_peer_closing(c, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        wsb_conn_closed(c);
        return 0;
    default:
        return 0;
    }
}

/* Bounds the wait of wsb_loop_service(). It schedules itself again: if
 * it was already due when lws looked (a slow caller), lws would otherwise
 * compute the poll timeout from the next sul alone (seconds away). */
static void wake_cb(lws_sorted_usec_list_t *sul)
{
    wsb_client *c = lws_container_of(sul, wsb_client, wake_sul);
    lws_sul_schedule(c->ctx, 0, &c->wake_sul, wake_cb, c->wake_us);
}

static const struct lws_extension deflate_ext[] = {{"permessage-deflate",
                                                    lws_extension_callback_pm_deflate,
                                                    "permessage-deflate; client_max_window_bits"},
                                                   {NULL, NULL, NULL}};

int wsb_loop_create(wsb_client *c)
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
    int any_tls = 0;
    for (size_t i = 0; i < c->n_urls; i++)
        any_tls |= c->urls[i].tls;
    if (any_tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = c->ca_file;
    }
    if (c->opt.compress)
        info.extensions = deflate_ext;
    c->ctx = lws_create_context(&info);
    return c->ctx ? 0 : -1;
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
            wsb_loop_service(c, (int)((left + 999) / 1000));
        }
    }
    struct wsb_reply_box *box = wsb_waiter_release(c, w, &done);
    if (!done)
        return wsb_reply_local(WSB_ETIMEDOUT, "timed out waiting for the broker");
    return box;
}

int wsb_loop_service(wsb_client *c, int timeout_ms)
{
    if (c->thread_running || c->callback_depth > 0)
        return WSB_EBUSY;
    wsb_loop_drain(c);
    if (timeout_ms > 0) {
        c->wake_us = (lws_usec_t)timeout_ms * 1000;
        lws_sul_schedule(c->ctx, 0, &c->wake_sul, wake_cb, c->wake_us);
    }
    lws_service(c->ctx, timeout_ms > 0 ? 0 : -1);
    lws_sul_cancel(&c->wake_sul);
    return WSB_OK;
}
