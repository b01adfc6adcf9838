/* SPDX-License-Identifier: MIT */
/*
 * wsb_request.h: requests in flight, waiters, and the calls into the
 * application (see wsb_request.c).
 */
#ifndef WSB_REQUEST_H
#define WSB_REQUEST_H

#include "wsb_client_int.h"
#include "wsb_frame.h"

/* Any thread. */

/* The next request id. */
uint64_t wsb_take_id(wsb_client *c);
/* 1 when a blocking call from this thread would deadlock or re-enter lws. */
int wsb_blocking_forbidden(wsb_client *c);
void wsb_set_last_error(wsb_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct request *wsb_req_new(enum req_kind kind);
void wsb_req_free(struct request *r);
/* The `auth` request presenting token, frame built; NULL when out of
 * memory. */
struct request *wsb_req_auth(wsb_client *c, const char *token);
/* Gives the finished frame to the request; WSB_ENOMEM when building failed. */
int wsb_req_set_frame(struct request *r, struct frame *f, int binary);
/* A waiter held by a blocking caller and by the request (two references). */
struct waiter *wsb_waiter_new(void);
/* Service side: hands the box to the waiter and drops its reference. */
void wsb_waiter_complete(wsb_client *c, struct waiter *w, struct wsb_reply_box *box);
/* Caller side: takes the box (may be NULL), tells whether it was done, and
 * drops its reference. */
struct wsb_reply_box *wsb_waiter_release(wsb_client *c, struct waiter *w, int *done);
/* Ends a _sync call: the status, and the reply to the caller or freed. */
int wsb_sync_result(struct wsb_reply_box *box, struct wsb_reply **reply);

/* Service thread only. */

/* Keeps a request that expects a reply and sends it now, or after the next
 * welcome. 0, or -1 when out of memory. */
int wsb_req_track(wsb_client *c, struct request *r);
void wsb_req_untrack(wsb_client *c, struct request *r);
/* The tracked request with this id, or NULL. */
struct request *wsb_req_find(wsb_client *c, uint64_t id);
/* Finishes an untracked request: its callback or waiter gets the box
 * (NULL: out of memory), then it is freed. */
void wsb_req_finish(wsb_client *c, struct request *r, struct wsb_reply_box *box);
/* Untracks and finishes. */
void wsb_req_complete(wsb_client *c, struct request *r, struct wsb_reply_box *box);
/* Untracks and finishes with a local reply. */
void wsb_req_fail(wsb_client *c, struct request *r, int status, const char *message);

/* The queue of frames to write on the current connection. */
struct request *wsb_outq_pop(wsb_client *c);
void wsb_outq_clear(wsb_client *c);
/* Welcomed: queues every request in flight but the subscribes, in order. */
void wsb_outq_requeue(wsb_client *c);

/* Calls an application reply callback (NULL is fine), or the event
 * callback. */
void wsb_call_reply(wsb_client *c, wsb_reply_fn cb, void *arg, const struct wsb_reply *reply);
void wsb_emit(wsb_client *c, const struct wsb_event *ev);
/* Asks the application's token_fn for a token into buf; 0 when it gave a
 * non-empty one, -1 when there is no token_fn or it gave none. */
int wsb_call_token_fn(wsb_client *c, char *buf, size_t size);

#endif
