/* SPDX-License-Identifier: MIT */
/*
 * server.h: the libwebsockets side of the broker.
 *
 * Owns: the lws context and vhost, the one protocol that serves WebSocket
 * and HTTP on one port, the callback that hands each event to conn.c (a
 * WebSocket) or http.c, the turn of the event loop, the wake-up from the
 * store thread, signals and the orderly shutdown.
 */
#ifndef WSB_SERVER_H
#define WSB_SERVER_H

#include <stddef.h>

#include "config/config.h"
#include "store/store.h"

struct server;

/* Store wake callback: the argument is the server (may not be started yet). */
void server_wake(void *server);

/* Allocates the server (so the store can be given its wake argument). */
struct server *server_new(const struct config *cfg);
/* The libuv loop the server runs on (uv_loop_t *), for an engine that runs
 * on it (store_config.loop); NULL when there is none. */
void *server_uv_loop(struct server *srv);

/* Binds and listens on the configured address (before the store is
 * opened, so a port in use fails first); server_start serves it. */
int server_listen(struct server *srv, char *err, size_t errlen);

/* Creates the core and the lws context and starts accepting. */
int server_start(struct server *srv, struct store *store, char *err, size_t errlen);

/* Serves until SIGTERM/SIGINT, then shuts down in order: stops accepting,
 * finishes store requests in flight, closes every connection with 1001. */
void server_run(struct server *srv);

void server_free(struct server *srv);

#endif
