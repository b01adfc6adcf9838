/* SPDX-License-Identifier: MIT */
/*
 * wsb_loop.h: the event loop of a libwsb client (see wsb_loop.c).
 */
#ifndef WSB_LOOP_H
#define WSB_LOOP_H

#include "wsb_client_int.h"

/* Creates the lws context (c->ctx) for the client's URL and options. */
int wsb_loop_create(wsb_client *c);
/* Any thread: hands a request to the service thread (or takes it now). */
void wsb_submit(wsb_client *c, struct request *r);
/* Service thread: takes the requests handed over. */
void wsb_loop_drain(wsb_client *c);
/* Services the client once from the caller's thread, for at most
 * timeout_ms (0: only what is due); WSB_EBUSY from a callback or while a
 * service thread runs. */
int wsb_loop_service(wsb_client *c, int timeout_ms);
/* Waits for a waiter (servicing the client when no thread runs); never
 * NULL except out of memory. */
struct wsb_reply_box *wsb_wait_for(wsb_client *c, struct waiter *w, int timeout_ms);

#endif
