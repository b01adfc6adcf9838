/* SPDX-License-Identifier: MIT */
/*
 * harness.h: the real broker as a test fixture, and a TCP proxy that can
 * lose a reply on purpose.
 *
 * Owns: starting wsbroker (WSBROKER_BIN) on a free port with a database in
 * a temporary directory, waiting until GET /healthz answers 200, killing
 * it (kill -9 included) and starting it again on the same port and
 * database, or serving wss:// with a certificate made at run time; and a
 * proxy between a client and the broker that forwards
 * bytes both ways, can cut every connection, and can drop the first
 * broker->client chunk carrying an `ack` together with the connection (the
 * "ack lost in flight" case of exactly-once publishing).
 */
#ifndef WSB_TEST_HARNESS_H
#define WSB_TEST_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

struct broker {
    pid_t pid;
    int port;
    char dir[256];         /* temporary directory, removed by broker_cleanup */
    char db[320];          /* DIR/x.db */
    char log[320];         /* DIR/broker.log: the broker's stderr */
    char url[128];         /* ws://127.0.0.1:PORT/ws */
    const char *extra[16]; /* extra flags for every start, NULL-terminated */
    /* Set before the first start: serve wss:// with a certificate for
     * "localhost" made by `openssl req` at broker_prepare (cert is also the
     * CA file a client trusts); url is then wss://localhost:PORT/ws. */
    int tls;
    char cert[320], key[320];
};

/* A free TCP port on 127.0.0.1 (bound to port 0, then released). */
int harness_free_port(void);

/* Monotonic milliseconds. */
long long harness_now_ms(void);

/* Sets up the temporary directory, db path and port (once), and with tls
 * the certificate. 0 or -1. */
int broker_prepare(struct broker *b);

/* Sets up dir/port (once) and starts the broker; waits for /healthz (with
 * tls: for the port to accept, since the harness speaks no TLS).
 * 0, or -1 (the log says why). */
int broker_start(struct broker *b);

/* Sends sig and reaps the process. */
void broker_kill(struct broker *b, int sig);

/* Stops (SIGTERM), and removes the temporary directory. */
void broker_cleanup(struct broker *b);

/* 200 when GET /healthz answered 200 on that port, else 0. */
int harness_healthz(int port);

/* The path of the wsb tool (WSB_BIN), or NULL. */
const char *harness_wsb_bin(void);

struct proxy {
    int listen_fd;
    int port;        /* clients connect here */
    int target_port; /* the broker */
    char url[128];   /* ws://127.0.0.1:PORT/ws */
    pthread_t thread;
    atomic_int stop;
    atomic_int cut;      /* set: close every connection now */
    atomic_int drop_ack; /* set: drop the next chunk with an ack, and its connection */
    atomic_int acks_dropped;
    atomic_int accepted;
};

int proxy_start(struct proxy *p, int target_port);
void proxy_stop(struct proxy *p);

#endif
