/* SPDX-License-Identifier: MIT */
/*
 * wsb.h: libwsb, the C client library of wsbroker (wire protocol v1).
 *
 * Owns: the whole public API of libwsb. A program includes this one header
 * and links with `pkg-config --libs libwsb`.
 *
 * The model is hiredis: an opaque client handle, an asynchronous API whose
 * replies arrive in callbacks, and a blocking ("_sync") API built on the
 * same core. Each client runs its own libwebsockets context; there is no
 * global state, so several clients in one process are independent.
 *
 * Driving the client. Exactly one of:
 *   - the application calls wsb_client_service() from one thread (its own
 *     event loop or a simple loop). Every call of this API must then come
 *     from that thread.
 *   - wsb_client_start_thread() starts a background service thread. Then
 *     every request function (subscribe, unsubscribe, publish, history,
 *     presence, ping, auth, their _sync forms, wsb_client_connect and
 *     wsb_client_close) may be called from any thread. The blocking _sync
 *     calls must not be called from a callback.
 * All callbacks run on the service thread, one at a time, and may call any
 * non-blocking function of this API (publish from a message callback, ...).
 *
 * Reconnect. After the first successful connection the client reconnects by
 * itself when the connection drops (capped exponential backoff with jitter;
 * with several broker URLs it moves on to the next one, see wsb_options.urls),
 * resubscribes every subscription from the last seq it delivered (sending the
 * store's epoch, so a recreated store is detected), and retries every
 * publish that had no ack with the same idempotency key: a publish is stored
 * exactly once. A subscription that could not be resumed without a gap gets
 * an ack with `recovered == 0` and the client's event callback receives
 * WSB_EVENT_GAP.
 *
 * Tokens (docs/auth.md). wsb_options.token, or token_fn for a fresh one
 * before every connection, is presented on the upgrade URL. When it
 * expires the event callback gets WSB_EVENT_TOKEN_EXPIRED (and, with
 * token_fn, the client sends a fresh one itself); wsb_auth() presents one
 * by hand. wss:// verifies the broker's certificate against ca_file.
 *
 * Errors are negative return values (enum wsb_status); wsb_strerror() gives
 * a readable text. Replies carry the broker's error code and message.
 *
 * libwebsockets logs through its own process-wide logger: libwsb leaves it
 * alone; call lws_set_log_level() in the application to silence it.
 */
#ifndef WSB_H
#define WSB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSB_LIB_VERSION "0.1.0"

/* Marks the exported functions; everything else in libwsb is hidden. */
#if defined(__GNUC__)
#define WSB_API __attribute__((visibility("default")))
#else
#define WSB_API
#endif

/* Return values. WSB_OK is success, every error is negative. */
enum wsb_status {
    WSB_OK = 0,
    WSB_EINVAL = -1,    /* bad argument: NULL, bad URL, invalid JSON, already subscribed */
    WSB_ENOMEM = -2,    /* out of memory */
    WSB_ECONNECT = -3,  /* could not connect, or gave up reconnecting */
    WSB_ECLOSED = -4,   /* the client was closed before the request completed */
    WSB_ETIMEDOUT = -5, /* a blocking call ran out of time */
    WSB_EBROKER = -6,   /* the broker answered with an error: see wsb_reply.code */
    WSB_EPROTO = -7,    /* the broker sent something the protocol does not allow */
    WSB_ETOOBIG = -8,   /* the message is larger than the broker's max_message */
    WSB_EBUSY = -9,     /* a blocking call from a callback or the service thread */
    WSB_EAUTH = -10,    /* the broker closed the connection: authentication (4001/4003) */
    WSB_EEXPIRED = -11  /* the broker answered token_expired: present a fresh token (wsb_auth) */
};

/* A static English description of a wsb_status value. */
WSB_API const char *wsb_strerror(int status);

typedef struct wsb_client wsb_client;

/* One delivered message. Valid only during the callback that receives it. */
struct wsb_message {
    const char *topic;
    uint64_t seq;     /* broker-wide, strictly increasing */
    int64_t ts;       /* broker receipt time, ms since the Unix epoch */
    const char *from; /* publisher's user, NULL when absent */
    /* Text message: `data` is the JSON value exactly as the broker sent it,
     * NUL-terminated. Binary message (`binary` = 1): the payload bytes,
     * followed by a NUL that is not counted in `len`. */
    const char *data;
    size_t len;
    int binary;
    /* A conflated subscription's message (WSB_CONFLATE): how many older
     * messages of its topic it replaced while the client fell behind. */
    uint64_t conflated;
};

/* A presence member, as listed by wsb_presence(). `user` is NULL when the
 * member is anonymous. */
struct wsb_member {
    const char *client;
    const char *user;
};

/* A presence event (join or leave) on a subscription made with presence. */
struct wsb_presence_event {
    const char *topic;
    const char *client;
    const char *user; /* NULL for anonymous */
    int joined;       /* 1 = join, 0 = leave */
};

/* The outcome of one request. In a callback it is valid during the
 * callback; from a _sync call it belongs to the caller until
 * wsb_reply_free(). Fields that do not apply to the request are 0/NULL. */
struct wsb_reply {
    int status;          /* WSB_OK, or a negative wsb_status */
    const char *code;    /* the broker's error code: status WSB_EBROKER or WSB_EEXPIRED */
    const char *message; /* readable text: "" on success, never NULL */
    uint64_t seq;        /* publish: the message's seq; subscribe: newest seq */
    int duplicate;       /* publish: the key had been seen, seq is the original */
    const char *topic;   /* subscribe/unsubscribe/history/presence: the topic asked */
    int replayed;        /* subscribe: how many replay messages follow */
    int recovered;       /* subscribe, history: 0 when messages may be missing */
    int resumed;         /* subscribe: 1 when this ack is a resubscription after a reconnect */
    int more;            /* history: more messages exist after the last one */
    const struct wsb_message *messages; /* history */
    size_t n_messages;
    const struct wsb_member *members; /* presence */
    size_t n_members;
    const char *user; /* auth: the token's user */
    int64_t exp;      /* auth: the token's expiry, seconds since the Unix epoch */
    uint64_t last;    /* publish refused with code "conflict": the topic's newest seq */
};

WSB_API void wsb_reply_free(struct wsb_reply *reply);

typedef void (*wsb_message_fn)(wsb_client *c, const struct wsb_message *m, void *arg);
typedef void (*wsb_reply_fn)(wsb_client *c, const struct wsb_reply *r, void *arg);
typedef void (*wsb_presence_fn)(wsb_client *c, const struct wsb_presence_event *e, void *arg);

/* Connection life events, delivered to wsb_options.on_event. */
enum wsb_event_type {
    WSB_EVENT_CONNECTED,    /* welcome received; `reconnects` says how many came before */
    WSB_EVENT_DISCONNECTED, /* connection lost; `retry_ms` >= 0: next attempt in that long */
    WSB_EVENT_GAP,          /* subscription `topic` resumed with recovered:false */
    WSB_EVENT_ERROR,        /* the broker sent an error tied to no request */
    WSB_EVENT_GAVE_UP,      /* no more attempts: pending requests failed with WSB_ECONNECT */
    /* The token expired (the broker's `token_expired`, docs/auth.md): the
     * connection closes with 4003 after the broker's grace period unless a
     * fresh token is presented with wsb_auth(). With token_fn set, the client
     * has already asked it for one and sent it. */
    WSB_EVENT_TOKEN_EXPIRED
};

struct wsb_event {
    enum wsb_event_type type;
    const char *message; /* readable description, never NULL */
    const char *code;    /* ERROR: the broker's error code */
    const char *topic;   /* GAP: the subscription's name or pattern */
    int close_code;      /* DISCONNECTED: WebSocket close code, 0 when none */
    int retry_ms;        /* DISCONNECTED: delay before the next attempt, -1 when none */
    int reconnects;      /* CONNECTED: 0 on the first connection */
    const char *epoch;   /* CONNECTED: the store's epoch */
    uint64_t seq;        /* CONNECTED: the newest seq of the store */
    /* CONNECTED: the broker URL connected to; DISCONNECTED: the URL of the
     * connection lost or of the attempt that failed. */
    const char *url;
};

typedef void (*wsb_event_fn)(wsb_client *c, const struct wsb_event *e, void *user);

/* The longest token libwsb sends (the broker refuses longer ones). */
#define WSB_TOKEN_MAX 8192

/* Supplies a fresh token: writes it, NUL-terminated, into buf (size bytes,
 * WSB_TOKEN_MAX + 1) and returns 0, or returns -1 when it has none (the
 * token the client holds, if any, is then kept).
 * Called on the service thread before every connection attempt and when
 * the token expires (the client then sends it with an `auth` request). */
typedef int (*wsb_token_fn)(wsb_client *c, char *buf, size_t size, void *arg);

/* Client options. Zero-initialise and set what you need. */
struct wsb_options {
    const char *url;      /* ws://HOST[:PORT][/PATH] or wss://...; default ws://127.0.0.1:8080/ws */
    const char *token;    /* optional JWT or API key, sent as ?token= (see token_fn);
                           * one over 2000 bytes goes in an `auth` request instead,
                           * first on each connection (the broker reads ~2 KB of URL) */
    int timeout_ms;       /* blocking calls and the first connect; default 10000 */
    int reconnect_min_ms; /* first backoff delay; default 100 */
    int reconnect_max_ms; /* backoff cap; default 10000 */
    int max_reconnects;   /* consecutive failed attempts before giving up; 0 = never */
    int no_auto_key;      /* 1: do not give keyless publishes a generated key
                           * (a retried publish may then be stored twice) */
    int tls_insecure;     /* 1: wss:// without verifying the certificate (self-signed,
                           * other host name, expired): for tests only */
    const char *ca_file;  /* PEM file of trusted CAs for wss://, NULL for the system's */
    int compress;         /* 1: offer permessage-deflate */
    uint64_t seed;        /* seed of the jitter and key PRNG; 0 = from time and address */
    wsb_event_fn on_event; /* optional */
    void *user;            /* passed to on_event */
    /* Optional: a fresh token for every connection attempt and on expiry,
     * so that a reconnect never presents an expired one. Takes precedence
     * over `token`; a token given to wsb_auth() is used until the next call
     * of token_fn. */
    wsb_token_fn token_fn;
    void *token_arg; /* passed to token_fn */
    /* Several brokers that serve as one (sharing a store, e.g. on one Redis,
     * so that seqs and the epoch are the same on each): n_urls URLs, tried in
     * this order. When n_urls > 0 the list is used and `url` is ignored; the
     * client copies it. A failed attempt or a lost connection moves on to
     * the next URL, round robin, and subscriptions resume there from the
     * last seq delivered, as after any reconnect. Moving on within a round
     * of the list waits only a jitter of up to reconnect_min_ms, so a client
     * whose broker died is on another one at once; the backoff grows once
     * per full round of failed attempts. wsb_client_connect() tries each
     * URL once before it reports a failure. max_reconnects counts attempts,
     * not rounds. */
    const char *const *urls;
    size_t n_urls;
};

/* Creates a client; it does not connect yet. Returns NULL on failure and,
 * when err is not NULL, writes a readable reason into err. */
WSB_API wsb_client *wsb_client_new(const struct wsb_options *opts, char *err, size_t errlen);

/* Closes every connection, stops the service thread if one runs, fails the
 * pending requests with WSB_ECLOSED (their callbacks run) and frees all. */
WSB_API void wsb_client_free(wsb_client *c);

/* Connects and waits for the broker's welcome, at most opts.timeout_ms.
 * The first attempt is not retried: a refused connection is reported at
 * once. After it succeeded, reconnects are automatic. */
WSB_API int wsb_client_connect(wsb_client *c);

/* Starts connecting without waiting; failed attempts are retried with
 * backoff. Requests made before the welcome are sent after it. */
WSB_API int wsb_client_connect_async(wsb_client *c);

/* Closes the connection and stops reconnecting; pending requests fail with
 * WSB_ECLOSED. wsb_client_connect*() may be called again afterwards. */
WSB_API void wsb_client_close(wsb_client *c);

/* Services the connection: runs due callbacks, waiting at most timeout_ms
 * for something to happen (0: do not wait). Returns WSB_OK, or WSB_EBUSY
 * when a service thread runs or when called from a callback. */
WSB_API int wsb_client_service(wsb_client *c, int timeout_ms);

/* Starts / stops the background service thread. */
WSB_API int wsb_client_start_thread(wsb_client *c);
WSB_API void wsb_client_stop_thread(wsb_client *c);

/* 1 when the connection is up and welcomed. Any thread. */
WSB_API int wsb_client_is_connected(wsb_client *c);

/* The broker URL of the current connection or, while there is none, of
 * the next attempt (wsb_options.urls). Copies it into buf. Any thread. */
WSB_API void wsb_client_url(wsb_client *c, char *buf, size_t len);

/* The text of the last connection failure ("" when none). Copies it into
 * buf. Any thread. */
WSB_API void wsb_client_last_error(wsb_client *c, char *buf, size_t len);

/* Requests that are accepted but not answered yet (subscribes excluded).
 * Any thread. */
WSB_API size_t wsb_client_pending(wsb_client *c);

/* Subscriptions */

enum wsb_start {
    WSB_START_NOW = 0, /* live messages only */
    WSB_START_SINCE,   /* replay every stored match with seq > since, then live */
    WSB_START_LAST     /* replay the newest `last` stored matches, then live */
};

/* wsb_sub_options.conflate */
enum wsb_conflate { WSB_CONFLATE = 1, WSB_NO_CONFLATE = -1 };

struct wsb_sub_options {
    enum wsb_start start;
    uint64_t since;              /* WSB_START_SINCE */
    const char *epoch;           /* optional with WSB_START_SINCE: the epoch `since` belongs to */
    unsigned last;               /* WSB_START_LAST */
    int presence;                /* 1: become a member of the topic (a name) and get join/leave */
    wsb_message_fn on_message;   /* every message of the subscription */
    wsb_reply_fn on_ack;         /* every subscribe ack (also after reconnects) or the error */
    wsb_presence_fn on_presence; /* join/leave events (with presence) */
    void *arg;                   /* passed to the three callbacks */
    /* WSB_CONFLATE: while the client falls behind, the broker keeps only
     * the newest unsent message per topic (wsb_message.conflated counts
     * the dropped ones); WSB_NO_CONFLATE: never, whatever the broker's
     * topic rules say; 0: as the topic rules say. Live messages only. */
    int conflate;
};

/* Subscribes to a topic name or pattern. A message matching several
 * subscriptions of the client is given to each of them. Fails with
 * WSB_EINVAL when the pattern is already subscribed. When the broker
 * refuses the subscription, on_ack gets the error and the subscription is
 * gone. */
WSB_API int wsb_subscribe(wsb_client *c, const char *pattern, const struct wsb_sub_options *o);
WSB_API int wsb_subscribe_sync(wsb_client *c, const char *pattern, const struct wsb_sub_options *o,
                               struct wsb_reply **reply);

/* Ends a subscription; its callbacks are not called after this returns
 * (with a service thread: after the service thread has taken the request).
 * cb may be NULL. */
WSB_API int wsb_unsubscribe(wsb_client *c, const char *pattern, wsb_reply_fn cb, void *arg);
WSB_API int wsb_unsubscribe_sync(wsb_client *c, const char *pattern, struct wsb_reply **reply);

/* Publishing */

struct wsb_publish {
    const char *topic;
    const char *json;    /* data as JSON text (any JSON value); NULL for a binary message */
    const void *payload; /* binary message body when json is NULL */
    size_t len;          /* its length in bytes */
    const char *key;     /* idempotency key; NULL: a generated one (see no_auto_key) */
    int no_echo;         /* 1: this client's own subscriptions do not get the message */
    /* Conditional publish: with has_expect_last, stored only if the newest
     * stored message of the topic has seq expect_last (0: none). Otherwise
     * the reply is WSB_EBROKER, code "conflict", with the newest seq in
     * wsb_reply.last. A retry after a reconnect keeps its key, so a publish
     * that was stored is answered `duplicate`, not `conflict`. */
    int has_expect_last;
    uint64_t expect_last;
};

/* Publishes; cb (may be NULL) gets the ack with the seq once the message is
 * durable. Survives reconnects (see the top of this file). */
WSB_API int wsb_publish(wsb_client *c, const struct wsb_publish *p, wsb_reply_fn cb, void *arg);

/* Publishes and waits for the ack. On success *seq (may be NULL) gets the
 * seq. reply (may be NULL) receives the full reply, also on error. */
WSB_API int wsb_publish_sync(wsb_client *c, const struct wsb_publish *p, uint64_t *seq,
                             struct wsb_reply **reply);

/* Shorthands for a text message without key. */
WSB_API int wsb_publish_json(wsb_client *c, const char *topic, const char *json, wsb_reply_fn cb,
                             void *arg);

/* Queries */

struct wsb_history_options {
    int has_since; /* 1: only messages with seq > since; 0: from the oldest retained */
    uint64_t since;
    unsigned limit; /* 0: broker default (100); the broker allows at most 1000 */
};

/* Stored messages of a topic name or pattern: reply.messages, reply.more. */
WSB_API int wsb_history(wsb_client *c, const char *topic, const struct wsb_history_options *o,
                        wsb_reply_fn cb, void *arg);
WSB_API int wsb_history_sync(wsb_client *c, const char *topic, const struct wsb_history_options *o,
                             struct wsb_reply **reply);

/* Current members of a topic: reply.members. */
WSB_API int wsb_presence(wsb_client *c, const char *topic, wsb_reply_fn cb, void *arg);
WSB_API int wsb_presence_sync(wsb_client *c, const char *topic, struct wsb_reply **reply);

/* Round trip to the broker. */
WSB_API int wsb_ping(wsb_client *c, wsb_reply_fn cb, void *arg);
WSB_API int wsb_ping_sync(wsb_client *c);

/* Presents a (fresh) token with the `auth` request: the grants it carries
 * replace the connection's (docs/auth.md). It is also used for every later
 * reconnect. A request refused with WSB_EEXPIRED, or WSB_EVENT_TOKEN_EXPIRED,
 * says that it is time to call this. reply.user and reply.exp describe the
 * token on success. */
WSB_API int wsb_auth(wsb_client *c, const char *token, wsb_reply_fn cb, void *arg);
WSB_API int wsb_auth_sync(wsb_client *c, const char *token, struct wsb_reply **reply);

#ifdef __cplusplus
}
#endif

#endif
