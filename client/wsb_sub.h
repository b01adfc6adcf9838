/* SPDX-License-Identifier: MIT */
/*
 * wsb_sub.h: the subscriptions of a libwsb client (see wsb_sub.c).
 * Service thread only, except new and free.
 */
#ifndef WSB_SUB_H
#define WSB_SUB_H

#include "wsb_client_int.h"

/* The patterns the API has subscribed (any thread; under c->lock): add
 * returns WSB_EINVAL when the pattern is there already, remove 1 when it
 * was there. */
int wsb_sub_registry_add(wsb_client *c, const char *pattern);
int wsb_sub_registry_remove(wsb_client *c, const char *pattern);

struct sub *wsb_sub_new(const char *pattern, const struct wsb_sub_options *o);
void wsb_sub_free(struct sub *s);

/* A REQ_SUBSCRIBE taken: adds s (first_waiter waits for its first ack) and
 * subscribes now when connected. */
void wsb_sub_add(wsb_client *c, struct sub *s, struct waiter *first_waiter);
struct sub *wsb_sub_find(wsb_client *c, const char *pattern);
/* Ends a subscription locally: no more callbacks, its pending ack ignored. */
void wsb_sub_kill(wsb_client *c, struct sub *s);
/* Ends them all and frees them (the client is freed). */
void wsb_sub_kill_all(wsb_client *c);

/* The connection is lost: every subscription waits for the next one. */
void wsb_sub_reset_all(wsb_client *c);
/* Welcomed: subscribes again (since = resume, epoch). */
void wsb_sub_resend_all(wsb_client *c);
/* Its subscribe request is failed: it no longer waits for that ack. */
void wsb_sub_lose_request(struct sub *s);
/* The broker's answer to a subscribe: replay accounting, GAP, on_ack. */
void wsb_sub_on_ack(wsb_client *c, struct sub *s, struct wsb_reply_box *box);

/* Gives a message to every subscription that matches and has not had it. */
void wsb_dispatch_message(wsb_client *c, const struct wsb_message *m);
void wsb_dispatch_presence(wsb_client *c, json_t *root, int joined);

#endif
