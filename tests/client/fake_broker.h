/* SPDX-License-Identifier: MIT */
/*
 * fake_broker.h: a scripted stand-in for wsbroker, for the client tests of
 * what the real broker does only at moments a test cannot choose: a token
 * expiring (`token_expired`, close 4003) on an open connection.
 *
 * Owns: a listening socket on 127.0.0.1 and a thread that serves one
 * connection at a time: the WebSocket upgrade (its path recorded), a
 * welcome, then the script below; every text frame the client sends is
 * recorded. `ping` gets `pong`, `auth` an ack with user "u"; `publish`
 * gets an ack, or `token_expired` while expire_requests is set. Enough of
 * docs/protocol.md for libwsb and `wsb`, nothing more.
 */
#ifndef WSB_TEST_FAKE_BROKER_H
#define WSB_TEST_FAKE_BROKER_H

#include <pthread.h>
#include <stdatomic.h>

#define FAKE_MAX_CONNS 8
#define FAKE_MAX_FRAMES 32

struct fake_broker {
    int listen_fd;
    int port;
    char url[128]; /* ws://127.0.0.1:PORT/ws */
    pthread_t thread;
    atomic_int stop;

    /* The script, set before the client connects. */
    int expire_after_welcome; /* send `token_expired` right after each welcome */
    int close_4003_first;     /* close the first connection with 4003 after the welcome */
    int expire_requests;      /* answer `publish` with `token_expired` */

    /* What the client did, guarded by lock. */
    pthread_mutex_t lock;
    int n_conns;
    char paths[FAKE_MAX_CONNS][512]; /* the upgrade request's path, query included */
    int n_frames;
    char frames[FAKE_MAX_FRAMES][512]; /* text frames received, truncated */
};

/* Listens on a free port and starts the thread. 0 or -1. */
int fake_broker_start(struct fake_broker *f);
void fake_broker_stop(struct fake_broker *f);

/* Copies of what was recorded (under the lock): the number of upgrades, and
 * the path of upgrade i or frame i into buf ("" when there is none). */
int fake_broker_conns(struct fake_broker *f);
void fake_broker_path(struct fake_broker *f, int i, char *buf, size_t len);
/* 1 when a recorded text frame contains needle. */
int fake_broker_saw(struct fake_broker *f, const char *needle);

#endif
