/* SPDX-License-Identifier: MIT */
/*
 * redis_uv.c: hiredis's async contexts on the broker's libuv loop.
 *
 * Owns: the uv_poll_t of each hiredis connection and the five event hooks
 * hiredis calls (add/del read, add/del write, cleanup).
 *
 * Why not hiredis 0.14's own adapters/libuv.h: when a poll reports an
 * error (a connect refused: epoll says POLLERR), libuv calls back with a
 * status < 0 and stops the poll, and that adapter returns without telling
 * hiredis; the connection then hangs in "connecting" for ever and a broker
 * whose Redis was down never reconnects. Later hiredis releases fixed it
 * the way this file does: on an error, hand hiredis the events it waited
 * for, so that it reads the socket error and reports it. Apart from that
 * this is the same adapter (and it frees its state when uv_poll_init
 * fails, which 0.14's leaks).
 */
#include "store/redis_uv.h"

#include <stdlib.h>

struct redis_uv_events {
    redisAsyncContext *context;
    uv_poll_t handle;
    int events;
};

static void redis_uv_poll_cb(uv_poll_t *handle, int status, int events)
{
    struct redis_uv_events *p = handle->data;
    int ready = status < 0 ? p->events : events;
    if (p->context && (ready & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context && (ready & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
}

static void redis_uv_update(struct redis_uv_events *p)
{
    if (p->events)
        uv_poll_start(&p->handle, p->events, redis_uv_poll_cb);
    else
        uv_poll_stop(&p->handle);
}

static void redis_uv_add_read(void *privdata)
{
    struct redis_uv_events *p = privdata;
    p->events |= UV_READABLE;
    redis_uv_update(p);
}

static void redis_uv_del_read(void *privdata)
{
    struct redis_uv_events *p = privdata;
    p->events &= ~UV_READABLE;
    redis_uv_update(p);
}

static void redis_uv_add_write(void *privdata)
{
    struct redis_uv_events *p = privdata;
    p->events |= UV_WRITABLE;
    redis_uv_update(p);
}

static void redis_uv_del_write(void *privdata)
{
    struct redis_uv_events *p = privdata;
    p->events &= ~UV_WRITABLE;
    redis_uv_update(p);
}

static void redis_uv_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void redis_uv_cleanup(void *privdata)
{
    struct redis_uv_events *p = privdata;
    p->context = NULL; /* hiredis frees the context after this */
    uv_close((uv_handle_t *)&p->handle, redis_uv_closed);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data)
        return REDIS_ERR;
    struct redis_uv_events *p = calloc(1, sizeof(*p));
    if (!p)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->handle.data = p;
    p->context = ac;
    ac->ev.addRead = redis_uv_add_read;
    ac->ev.delRead = redis_uv_del_read;
    ac->ev.addWrite = redis_uv_add_write;
    ac->ev.delWrite = redis_uv_del_write;
    ac->ev.cleanup = redis_uv_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}
