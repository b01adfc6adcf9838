/* SPDX-License-Identifier: MIT */
/*
 * evloop.c: the libuv loop under the lws context (see evloop.h).
 *
 * The broker keeps the shape of a poll loop: evloop_service() runs one turn
 * of the loop (UV_RUN_ONCE), bounded by a repeating timer of ours, because
 * lws 4.1 does not re-arm its libuv timer for a timer scheduled from outside
 * its callbacks (found while building `wsb bench` on the same loop).
 * Teardown follows lws's libuv rules: destroy the context, let the loop run
 * until lws's handles are closed, destroy again to finish, close the loop.
 */
#include "net/evloop.h"

#include <stdlib.h>
#include <uv.h>

#include "util/log.h"

struct evloop {
    uv_loop_t uv;
    uv_timer_t bound;
    bool attached; /* the context runs on this loop (not poll()) */
};

struct evloop *evloop_new(void)
{
    struct evloop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    if (uv_loop_init(&loop->uv) != 0) {
        free(loop);
        return NULL;
    }
    uv_timer_init(&loop->uv, &loop->bound);
    return loop;
}

void *evloop_uv(struct evloop *loop)
{
    return &loop->uv;
}

void evloop_attach(struct evloop *loop, struct lws_context_creation_info *info, void **loops,
                   struct lws_context **pcontext)
{
    info->pcontext = pcontext;
    loops[0] = &loop->uv;
    info->foreign_loops = loops;
    info->options |= LWS_SERVER_OPTION_LIBUV;
    loop->attached = true;
}

void evloop_fallback(struct evloop *loop, struct lws_context_creation_info *info)
{
    log_warn("the libwebsockets libuv plugin is not available (package "
             "libwebsockets-evlib-uv): using lws's poll() loop, slower with many connections");
    info->foreign_loops = NULL;
    info->pcontext = NULL;
    info->options &= ~(uint64_t)LWS_SERVER_OPTION_LIBUV;
    loop->attached = false;
}

static void evloop_bound_cb(uv_timer_t *timer)
{
    (void)timer; /* only there to end the wait */
}

/* lws's own "forced service" step (exported by liblws 4.1, declared only in
 * its private headers): it runs what needs no new socket event, such as
 * the rest of a large permessage-deflate message, inflated one rx buffer at
 * a time. lws 4.1's libuv idle handler runs it once per socket event and
 * then stops, so a large compressed message could stall halfway until the
 * peer sent something else. The loop here runs it whenever
 * lws_service_adjust_timeout() (public) says it is needed. */
int _lws_plat_service_forced_tsi(struct lws_context *context, int tsi);

void evloop_service(struct evloop *loop, struct lws_context *context, int max_ms)
{
    if (!loop->attached) {
        lws_service(context, max_ms);
        return;
    }
    bool forced = lws_service_adjust_timeout(context, 1, 0) == 0;
    if (forced)
        _lws_plat_service_forced_tsi(context, 0);
    uint64_t ms = max_ms > 0 ? (uint64_t)max_ms : 1;
    uv_update_time(&loop->uv);
    uv_timer_start(&loop->bound, evloop_bound_cb, ms, ms);
    uv_run(&loop->uv, forced ? UV_RUN_NOWAIT : UV_RUN_ONCE);
    uv_timer_stop(&loop->bound);
}

static void evloop_close(struct evloop *loop)
{
    uv_close((uv_handle_t *)&loop->bound, NULL);
    for (int i = 0; i < 1000 && uv_run(&loop->uv, UV_RUN_NOWAIT); i++)
        ;
    if (uv_loop_close(&loop->uv) != 0)
        log_warn("event loop closed with handles still open");
    free(loop);
}

void evloop_free(struct evloop *loop, struct lws_context **pcontext)
{
    if (*pcontext)
        lws_context_destroy(*pcontext);
    if (!loop || !loop->attached) {
        *pcontext = NULL;
        if (loop)
            evloop_close(loop);
        return;
    }
    /* lws closes its libuv handles asynchronously: bounded turns of the
     * loop, then a second destroy completes it (lws clears *pcontext once
     * the context is gone). */
    for (int i = 0; i < 1000 && *pcontext && uv_run(&loop->uv, UV_RUN_NOWAIT); i++)
        ;
    if (*pcontext)
        lws_context_destroy(*pcontext);
    *pcontext = NULL;
    evloop_close(loop);
}
