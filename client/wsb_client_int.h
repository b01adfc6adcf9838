/* SPDX-License-Identifier: MIT */
/*
 * wsb_client_int.h: the state of a libwsb client, shared by the files that
 * implement it (the layers are listed at the top of wsb_client.c).
 *
 * Owns: the definitions of struct wsb_client and of its request,
 * subscription and waiter records; each group of fields says which file
 * writes it. Declares no functions: each file has its own header. The
 * threading rules are at the top of wsb_loop.c.
 */
#ifndef WSB_CLIENT_INT_H
#define WSB_CLIENT_INT_H

#include "wsb.h"
#include "wsb_reply.h"
#include "wsb_util.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define RX_LIMIT (64u << 20) /* largest frame accepted from the broker */
#define WRITE_BURST 32       /* frames per WRITEABLE callback */
#define SEEN_LIMIT 65536     /* out-of-order seqs kept per subscription */
#define EPOCH_MAX 64
/* The longest token sent as ?token=: the broker reads about 2 KB of it
 * (docs/auth.md, "Where the rules apply"). A longer one goes in an `auth`
 * request ahead of everything else on the connection. */
#define URL_TOKEN_MAX 2000

enum conn_state {
    CONN_IDLE,       /* not connected and not trying */
    CONN_BACKOFF,    /* waiting for the next attempt */
    CONN_CONNECTING, /* TCP/TLS/WebSocket handshake */
    CONN_WELCOME,    /* upgraded, waiting for the welcome frame */
    CONN_READY       /* welcomed: requests flow */
};

enum req_kind {
    REQ_PUBLISH,
    REQ_SUBSCRIBE,
    REQ_UNSUBSCRIBE,
    REQ_HISTORY,
    REQ_PRESENCE,
    REQ_PING,
    REQ_AUTH,
    REQ_CONNECT, /* control: start connecting */
    REQ_CLOSE    /* control: close and stop */
};

enum sub_state {
    SUB_IDLE,     /* not subscribed on the current connection */
    SUB_WAIT_ACK, /* subscribe sent */
    SUB_REPLAY,   /* acked, replay messages still to come */
    SUB_LIVE
};

/* A blocking caller waiting for one reply. Shared by the caller and the
 * service thread: refs counts them, c->lock guards all fields. */
struct waiter {
    int done;
    int refs;
    struct wsb_reply_box *box;
};

struct sub;

struct request {
    struct request *prev, *next; /* c->inflight, or c->submitted */
    struct request *qnext;       /* c->outq */
    struct request *hnext;       /* id hash chain */
    uint64_t id;
    enum req_kind kind;
    unsigned char *buf; /* LWS_PRE bytes of headroom, then len bytes of frame */
    size_t len;
    int binary;
    int queued;    /* in c->outq */
    int counted;   /* counted in c->pending */
    int internal;  /* a heartbeat ping: no caller */
    int fail_fast; /* REQ_CONNECT: report a failed first attempt, do not retry */
    wsb_reply_fn cb;
    void *arg;
    struct waiter *waiter;
    struct sub *sub; /* REQ_SUBSCRIBE */
    char *text;      /* REQ_UNSUBSCRIBE: the pattern; REQ_AUTH: the token */
    char *topic;     /* unsubscribe, history, presence: the topic asked */
};

struct sub {
    struct sub *next;
    char *pattern;
    struct wsb_sub_options o;
    int dead;
    enum sub_state state;
    int has_resume;
    uint64_t resume;
    char epoch[EPOCH_MAX]; /* the epoch `resume` belongs to; "" when unknown */
    uint64_t replay_left;
    uint64_t replay_upto;
    uint64_t *seen; /* sorted seqs > resume already delivered */
    size_t n_seen, cap_seen;
    unsigned acks;
    struct request *pending; /* the subscribe in flight */
    struct waiter *first_waiter;
};

/* Patterns subscribed, as the API sees them (guarded by c->lock). */
struct pattern_entry {
    struct pattern_entry *next;
    char *pattern;
};

struct wsb_client {
    /* Set at creation, read-only afterwards. */
    struct wsb_options opt;
    char **url_texts; /* the broker URLs, n_urls of them (wsb_options.urls or url) */
    struct wsb_url *urls;
    size_t n_urls;
    char *ca_file;
    struct lws_context *ctx;
    struct lws_protocols protocols[2];
    uint64_t key_nonce;

    /* Service thread only: the connection (wsb_conn.c). */
    char *token;
    struct lws *wsi;
    enum conn_state state;
    int fail_fast;      /* report the failure of this attempt instead of retrying */
    int ever_connected; /* since the last connect call */
    int failures;       /* consecutive failed attempts */
    int reconnects;
    int close_code;
    char epoch[EPOCH_MAX];
    uint64_t welcome_seq;
    int heartbeat_s;
    int64_t attempt_us;
    int64_t last_rx_us;
    struct waiter *connect_waiter;
    uint64_t prng;
    lws_sorted_usec_list_t retry_sul, heartbeat_sul;

    /* Service thread only: requests in flight (wsb_request.c). */
    struct request *inflight_head, *inflight_tail;
    struct request *outq_head, *outq_tail;
    struct request **htab;
    size_t hsize, hcount;
    int callback_depth;

    /* Service thread only: subscriptions (wsb_sub.c). */
    struct sub *subs;
    int dispatching;

    /* Service thread only: frames in and out (wsb_io.c). */
    unsigned char *rx;
    size_t rx_len, rx_cap;
    unsigned char *tx; /* scratch copy of the frame being written (lws masks in place) */
    size_t tx_cap;
    int rx_binary;

    /* Service thread only: the loop (wsb_loop.c) and the lifecycle
     * (wsb_client.c). */
    int destroying;
    lws_sorted_usec_list_t wake_sul;
    lws_usec_t wake_us; /* the wait bound of the current wsb_loop_service() */

    /* Shared, guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct request *submitted_head, *submitted_tail;
    struct pattern_entry *registry;
    uint64_t next_id;
    char last_error[256];

    /* Shared, atomic. */
    atomic_size_t url_index; /* the URL connected or tried next; written by wsb_conn.c */
    atomic_size_t pending;
    atomic_size_t max_message; /* 0 until the first welcome */
    atomic_int connected;
    atomic_int stop;

    pthread_t thread;
    int thread_running;
};

#endif
