/* SPDX-License-Identifier: MIT */
/*
 * wsb_conn.h: the connection of a libwsb client (see wsb_conn.c). Service
 * thread only.
 */
#ifndef WSB_CONN_H
#define WSB_CONN_H

#include "wsb_client_int.h"

/* A REQ_CONNECT taken: connect now (or report that it is connected); the
 * request's waiter becomes the connect waiter. */
void wsb_conn_connect(wsb_client *c, struct request *r);
/* A REQ_CLOSE taken: close, stop retrying, fail what is in flight. */
void wsb_conn_close(wsb_client *c);
void wsb_conn_set_token(wsb_client *c, const char *token);

/* What lws reports about the socket. */
void wsb_conn_failed(wsb_client *c, const char *why);
void wsb_conn_established(wsb_client *c);
void wsb_conn_peer_closing(wsb_client *c, const unsigned char *payload, size_t len);
void wsb_conn_closed(wsb_client *c);
/* Anything came from the broker: it is alive. */
void wsb_conn_heard(wsb_client *c);
/* The welcome frame (root is its parsed form, still the caller's). */
void wsb_conn_welcome(wsb_client *c, json_t *root);

/* The broker said token_expired outside any request: the event, then a
 * fresh token from token_fn (if any) sent with `auth`. */
void wsb_conn_token_expired(wsb_client *c, const char *message);

/* Closes the connection from this side; the loss is handled at once. */
void wsb_conn_drop(wsb_client *c, const char *reason);
/* The client is being freed (its context is gone): the connect waiter and
 * every request in flight are answered WSB_ECLOSED with message. */
void wsb_conn_abandon(wsb_client *c, const char *message);

#endif
