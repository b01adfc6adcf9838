/* SPDX-License-Identifier: MIT */
/*
 * redis_uv.h: attaches a hiredis async context to a libuv loop (see
 * redis_uv.c for why not hiredis 0.14's own adapter).
 */
#ifndef WSB_REDIS_UV_H
#define WSB_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* REDIS_OK, or REDIS_ERR (the context is left as it was). */
int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
