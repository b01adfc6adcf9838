/*
 * core.h: the broker's logic, between the transport and the store.
 *
 * Owns: the subscription trie, presence, the set of live sessions, the
 * publish pipeline (submit to the store, ack after commit, encode once, fan
 * out), subscribe with replay joined to live delivery, history, and the
 * broker's counters. It takes whole received frames and produces frames in
 * session queues; it opens no socket and runs no SQL.
 *
 * Replay joined with live (PROTOCOL.md section 4, ARCHITECTURE.md invariant
 * 2): a subscribe with `since`/`last` enters the trie at once and the
 * session holds live frames back; the store reads the matches with seq up to
 * the newest seq already fanned out (`upto`); on the result the session
 * gets the ack, the replay, then the held frames (all > upto): no gap, no
 * duplicate, ascending. While a replay is pending the session's further
 * requests wait behind it, so at most one replay per session is in flight.
 */
#ifndef WSB_CORE_H
#define WSB_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "config.h"
#include "session.h"
#include "store.h"

struct core;

struct core_counters {
    uint64_t connections_total;
    uint64_t messages_published;   /* stored and fanned out */
    uint64_t messages_delivered;   /* queued to a subscriber */
    uint64_t publish_duplicates;
    uint64_t slow_consumer_closes;
    uint64_t rate_limited;
    uint64_t errors;
};

struct core *core_new(const struct config *cfg, struct store *store);
void core_free(struct core *core);

/* A WebSocket was established: creates its session and sends `welcome`. */
struct session *core_session_open(struct core *core, struct lws *wsi);
/* The connection is gone: drops its subscriptions and presence. */
void core_session_closed(struct core *core, struct session *s);
/* One complete received message (text or binary). */
void core_session_receive(struct core *core, struct session *s, const unsigned char *buf,
                          size_t len, bool is_binary);

/* The store posted results: ack, fan out, reply (service thread). */
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

#endif
