/* SPDX-License-Identifier: MIT */
/*
 * core.h: the broker's logic, between the transport and the store.
 *
 * Owns: the subscription trie, presence, the set of live sessions, the
 * publish pipeline (submit to the store, ack after commit, encode once, fan
 * out), subscribe with replay joined to live delivery, history, and the
 * broker's counters. It takes whole received frames and produces frames in
 * session queues; it opens no socket and runs no SQL. It reaches a
 * connection only through its transport (transport.h), so that it runs
 * without sockets (tests/unit/test_core.c).
 *
 * Replay joined with live (docs/protocol.md section 4, docs/design.md invariant
 * 2): a subscribe with `since`/`last` enters the trie at once and the
 * session holds live frames back; the store reads the matches with seq up to
 * the newest seq already fanned out (`upto`), in chunks paced by the socket
 * (replay.c); the session gets the ack, the replay, then the held frames
 * (all > upto): no gap, no duplicate, ascending. While a replay is pending
 * the session's further requests wait behind it, so at most one replay per
 * session is in flight.
 */
#ifndef WSB_CORE_H
#define WSB_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/session.h"
#include "core/transport.h"
#include "util/sbuf.h"
#include "store/store.h"

struct core;

struct core_counters {
    uint64_t connections_total;
    uint64_t messages_published; /* stored and fanned out */
    uint64_t messages_delivered; /* queued to a subscriber */
    uint64_t messages_dropped;   /* dropped with a slow consumer's queue */
    uint64_t messages_conflated; /* replaced in a queue by a newer one of their topic */
    uint64_t publish_duplicates;
    uint64_t slow_consumer_closes;
    uint64_t rate_limited;
    uint64_t errors;
    uint64_t accept_pauses; /* listener.c's, copied by server.c for the metrics */
};

struct request_error;

/* Called with the result of a request given to core_submit_external (the
 * store_req is freed after it returns). */
typedef void (*core_done_fn)(void *arg, struct store_req *sr);

struct core *core_new(const struct config *cfg, struct store *store);
void core_free(struct core *core);

/* Turns auth on (core/access.c): `creds` outlives the core. Without this
 * call every session may do everything. */
struct credentials;
void core_set_credentials(struct core *core, const struct credentials *creds);
/* An SSE stream opened with a credential that expires at `expires`
 * (seconds since the epoch; 0: never): it ends, like a WebSocket session,
 * auth_grace after that (its grants were checked when it opened). */
void core_session_expires(struct core *core, struct session *s, int64_t expires);
/* Moves on the sessions whose silence, token or grace ran out (sends
 * `token_expired`, closes with 4001 or 4003); cheap when nothing is due.
 * Called every turn of the event loop, at most this many ms apart: */
void core_access_tick(struct core *core);
int core_access_wait_ms(const struct core *core);

/* A WebSocket was established: creates its session, which reaches the
 * connection `conn` through `transport`, and sends `welcome`. `token` (NULL
 * when none) is the upgrade's `?token=`: the session is granted what it
 * allows; an invalid or expired one gets `error` and close 4001 instead of
 * the welcome. Ignored without auth. */
struct session *core_session_open(struct core *core, const struct transport *transport, void *conn,
                                  const char *token);
/* The connection is gone: drops its subscriptions and presence. */
void core_session_closed(struct core *core, struct session *s);
/* One complete received message (text or binary). */
void core_session_receive(struct core *core, struct session *s, const unsigned char *buf,
                          size_t len, bool is_binary);

/* Fills a publish from its parts: checks the reserved names and
 * max_message, stamps the receipt time, copies topic/user/key. `data` is
 * taken over by pub even on failure. The topic must be a valid name.
 * Returns 0, or -1 with `err` set (without id). */
int core_prepare_pub(struct core *core, struct store_pub *pub, const char *topic, const char *user,
                     bool is_binary, unsigned char *data, size_t len, const char *key,
                     struct request_error *err);

/* Submits a store request made outside a WebSocket session (HTTP API).
 * Publishes are fanned out as usual; then done(arg, sr) is called. */
void core_submit_external(struct core *core, struct store_req *sr, core_done_fn done, void *arg);

/* An SSE stream is a session that receives message events only. */
struct session *core_sse_open(struct core *core, const struct transport *transport, void *conn);
/* Subscribes it to (validated) names or patterns; with `since`, replays the
 * stored matches of all of them as one ascending run, each message once. */
void core_sse_subscribe(struct core *core, struct session *s, char **patterns, size_t n,
                        bool has_since, uint64_t since);

/* Appends the presence members of a topic name as a JSON array. */
void core_append_presence(const struct core *core, const char *topic, struct sbuf *out);

/* The store posted results: ack, fan out, reply (service thread). The
 * frames queued go out when the caller next calls session_wake_ready(). */
void core_store_wake(struct core *core);

/* Store requests still in flight. */
size_t core_pending_store(const struct core *core);

/* Asks every session to close with `code` after its queue is written. */
void core_close_all(struct core *core, uint16_t code, const char *reason);

size_t core_session_count(const struct core *core);
size_t core_subscription_count(const struct core *core);
size_t core_topic_count(const struct core *core);
uint64_t core_last_seq(const struct core *core);
const struct core_counters *core_get_counters(const struct core *core);
/* The listener's count of pauses for want of descriptors (for the metrics). */
void core_set_accept_pauses(struct core *core, uint64_t pauses);

#endif
