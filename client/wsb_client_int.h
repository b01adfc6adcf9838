/*
 * wsb_client_int.h: the state of a libwsb client, shared by the three files
 * that implement it.
 *
 * Owns: struct wsb_client with its request, subscription and waiter
 * records, and what each of wsb_client.c (connection, requests in flight,
 * service thread, lifecycle), wsb_sub.c (subscriptions: lossless resume and
 * dispatch) and wsb_api.c (frames and the public request calls) offers the
 * others. The threading rules are at the top of wsb_client.c.
 */
#ifndef WSB_CLIENT_INT_H
#define WSB_CLIENT_INT_H

#include "wsb.h"
#include "wsb_internal.h"
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

struct frame {
    unsigned char *buf;
    size_t len; /* bytes after LWS_PRE */
    size_t cap; /* bytes after LWS_PRE */
    int failed;
};

struct wsb_client {
    /* Set at creation, read-only afterwards. */
    struct wsb_options opt;
    char *url_text;
    char *ca_file;
    struct wsb_url url;
    struct lws_context *ctx;
    struct lws_protocols protocols[2];
    uint64_t key_nonce;

    /* Service thread only. */
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
    struct request *inflight_head, *inflight_tail;
    struct request *outq_head, *outq_tail;
    struct request **htab;
    size_t hsize, hcount;
    struct sub *subs;
    int dispatching;
    int callback_depth;
    int destroying;
    struct waiter *connect_waiter;
    unsigned char *rx;
    size_t rx_len, rx_cap;
    unsigned char *tx; /* scratch copy of the frame being written (lws masks in place) */
    size_t tx_cap;
    int rx_binary;
    uint64_t prng;
    lws_sorted_usec_list_t retry_sul, heartbeat_sul, wake_sul;
    lws_usec_t wake_us; /* the wait bound of the current wsb_client_service() */

    /* Shared, guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct request *submitted_head, *submitted_tail;
    struct pattern_entry *registry;
    uint64_t next_id;
    char last_error[256];

    /* Shared, atomic. */
    atomic_size_t pending;
    atomic_size_t max_message; /* 0 until the first welcome */
    atomic_int connected;
    atomic_int stop;

    pthread_t thread;
    int thread_running;
};

/* wsb_client.c */

/* The next request id (any thread). */
uint64_t wsb_take_id(wsb_client *c);
/* 1 when a blocking call from this thread would deadlock or re-enter lws. */
int wsb_blocking_forbidden(wsb_client *c);
struct request *wsb_req_new(enum req_kind kind);
void wsb_req_free(struct request *r);
/* Gives the finished frame to the request; WSB_ENOMEM when building failed. */
int wsb_req_set_frame(struct request *r, struct frame *f, int binary);
/* A waiter held by a blocking caller and by the request (two references). */
struct waiter *wsb_waiter_new(void);
/* Service side: hands the box to the waiter and drops its reference. */
void wsb_waiter_complete(wsb_client *c, struct waiter *w, struct wsb_reply_box *box);
/* Service thread: keeps a request that expects a reply and sends it now or
 * after the next welcome. 0, or -1 when out of memory. */
int wsb_track(wsb_client *c, struct request *r);
/* Service thread: calls an application callback (NULL is fine). */
void wsb_call_reply(wsb_client *c, wsb_reply_fn cb, void *arg, const struct wsb_reply *reply);
void wsb_emit(wsb_client *c, const struct wsb_event *ev);
/* Any thread: hands a request to the service thread (or takes it now). */
void wsb_submit(wsb_client *c, struct request *r);
/* Waits for a waiter (servicing the client when no thread runs); never NULL
 * except out of memory. */
struct wsb_reply_box *wsb_wait_for(wsb_client *c, struct waiter *w, int timeout_ms);
/* Ends a _sync call: the status, and the reply to the caller or freed. */
int wsb_sync_result(struct wsb_reply_box *box, struct wsb_reply **reply);

/* wsb_sub.c (service thread only, except new/free) */

struct sub *wsb_sub_new(const char *pattern, const struct wsb_sub_options *o);
void wsb_sub_free(struct sub *s);
/* Frees the dead subscriptions unless a dispatch is iterating them. */
void wsb_sub_sweep(wsb_client *c);
/* Ends a subscription locally: no more callbacks, its pending ack ignored. */
void wsb_sub_kill(wsb_client *c, struct sub *s);
struct sub *wsb_sub_find(wsb_client *c, const char *pattern);
/* Sends the subscribe frame (since = resume, epoch) on the current connection. */
void wsb_sub_send(wsb_client *c, struct sub *s);
/* The broker's answer to a subscribe: replay accounting, GAP, on_ack. */
void wsb_sub_on_ack(wsb_client *c, struct sub *s, struct wsb_reply_box *box);
/* Gives a message to every subscription that matches and has not had it. */
void wsb_dispatch_message(wsb_client *c, const struct wsb_message *m);
void wsb_dispatch_presence(wsb_client *c, json_t *root, int joined);

/* wsb_api.c: frame building (LWS_PRE headroom first, then JSON). */

void wsb_frame_init(struct frame *f, size_t hint);
void wsb_frame_add(struct frame *f, const void *p, size_t n);
void wsb_frame_str(struct frame *f, const char *s);
void wsb_frame_u64(struct frame *f, uint64_t v);
/* Appends s as a JSON string literal. */
void wsb_frame_quoted(struct frame *f, const char *s);
/* Appends `{"op":OP,"id":ID,"topic":TOPIC` (topic may be NULL). */
void wsb_frame_head(struct frame *f, const char *op, uint64_t id, const char *topic);
void wsb_frame_begin(struct frame *f, size_t hint, const char *op, uint64_t id, const char *topic);

#endif
