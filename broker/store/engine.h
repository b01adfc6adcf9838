/* SPDX-License-Identifier: MIT */
/*
 * engine.h: what a store engine implements, and what it must guarantee.
 *
 * Owns: the contract between the store's front (store.c, the calls of
 * store.h) and the engines behind it. Why an interface: core, http and main
 * hold a `struct store *` and call store.h only, so a second engine (Redis,
 * say) is one more implementation of these ops and nothing above the store
 * changes. The front dispatches once per call, that is once per request or
 * per batch of results, never per delivery.
 *
 * An engine's handle starts with a `struct store` whose `ops` points at the
 * engine's table; the engine casts back to its own struct. Only store.c and
 * engines include this header.
 *
 * What every engine guarantees (docs/design.md section 4, and the protocol
 * of docs/protocol.md sections 3, 4 and 10):
 *   - Order: requests finish, and appear on the done list, in the order they
 *     were submitted, across operations (a read submitted after a publish
 *     sees that publish).
 *   - Seqs: every stored message gets the next seq of one broker-wide
 *     counter, strictly increasing and never reused for the life of the
 *     store, even after retention removed every message.
 *   - Durability: a publish is answered (status STORE_OK, seq set) only
 *     after its commit returned; with STORE_DURABLE_FULL that commit is on
 *     disk (fsync) first. A failed commit answers every publish of it with
 *     STORE_UNAVAILABLE and seq 0, and store_healthy() is false until a
 *     write succeeds again.
 *   - Dedupe: a publish whose (topic, key) was accepted within the dedupe
 *     window is answered with duplicate = true and the original seq, and is
 *     not stored again.
 *   - Reads: replay and history return matches in ascending seq; `recovered`
 *     is false when retention removed a match with seq > since, and never
 *     true then; an engine may answer false more often than that (it may
 *     forget which topics lost what below a store-wide watermark) but must
 *     keep what it remembers per topic bounded by the live topics (history
 *     with since == 0 is always recovered). A read stops before max_bytes
 *     (one message at least) and, as a chunk of a replay, at `limit`, with
 *     `more`; a chunk's `total` is exact when set, and `retention_mark`
 *     moves whenever retention removes a message.
 *   - Conditions: a publish with has_expect_last is stored only when the
 *     newest stored message of its topic has that seq (0: none), judged in
 *     submission order inside the commit, earlier publishes of the batch
 *     included; a key already seen answers a duplicate first. Otherwise
 *     its request is answered STORE_CONFLICT with conflict_last, and
 *     nothing of that request is stored. No SQL runs for this per publish
 *     that carries no condition.
 *   - Retention: at most retain_count messages per topic, none older than
 *     retain_age_s (the age bound may lag by a housekeeping period); a
 *     topic that a rule of cfg.rules matches keeps the rule's values
 *     instead (retain 0: nothing is kept, yet the seq is taken and what
 *     was dropped counts for `recovered`). Space
 *     that retention freed goes back to the file system (or memory) in the
 *     background, in slices that never hold a batch up for long.
 *   - Bounds: a publish request is answered STORE_FULL, with full_reason
 *     set and nothing of it stored, when cfg.max_topics > 0 and its new
 *     topics would bring the topics holding a message over it
 *     (STORE_FULL_TOPICS), or when cfg.max_db_bytes > 0 and the database
 *     already uses that much (STORE_FULL_DB_SIZE; the size may be measured
 *     to within a step, not per publish). Publishes to topics that hold a
 *     message are not refused for max_topics. A refusal is not a failure:
 *     the store stays healthy and the other requests of the batch run.
 *   - Backup: a STORE_BACKUP writes a consistent copy of the store to a
 *     new file: it holds every message committed before the request was
 *     submitted, and is complete (a file a store can open) or absent. The
 *     copy runs beside the other requests, never holding a batch up for
 *     more than a slice, so it is the one exception to Order: it finishes
 *     when the copy is complete. The copy gets an epoch of its own: a store
 *     restored from it hands out again seqs the original store went on to
 *     issue, and clients must be able to tell (docs/protocol.md section 3).
 *     At close, a backup in progress is abandoned (status STORE_UNAVAILABLE)
 *     and its partial file removed.
 *   - Wake: `wake` may be called from any engine thread, once per group of
 *     finished requests; the caller then takes them with store_take_done.
 *   - Threads: submit, take_done, epoch, last_seq, healthy and get_stats may
 *     be called from any thread while the store is open; close is called
 *     once, from the thread that opened it. An engine that runs on the
 *     broker's loop (store_config.loop: Redis) is called on that loop's
 *     thread only, and calls `wake` from it.
 *   - Feed (an engine shared by several nodes): messages other nodes
 *     stored are posted as STORE_FEED entries, and every stored message,
 *     this node's publishes included, is posted in ascending global seq
 *     with no gap: a publish request is posted only once every seq below
 *     its own was posted. last_seq is the newest seq posted. Reads may be
 *     posted before earlier publishes (they still see them: they run after
 *     them), so that a long read never holds delivery up; publishes are
 *     posted in submission order, reads in theirs.
 */
#ifndef WSB_STORE_ENGINE_H
#define WSB_STORE_ENGINE_H

#include "store/store.h"

struct store_engine_ops {
    const char *name;
    /* Opens the engine and starts its thread(s); the front's store_open. */
    int (*open)(struct store **out, const struct store_config *cfg, char *err, size_t errlen);
    void (*close)(struct store *st);
    void (*submit)(struct store *st, struct store_req *req);
    struct store_req *(*take_done)(struct store *st);
    const char *(*epoch)(const struct store *st);
    uint64_t (*last_seq)(const struct store *st);
    bool (*healthy)(const struct store *st);
    void (*get_stats)(const struct store *st, struct store_stats *out);
    /* A shared engine's (NULL otherwise): store_presence_announce. */
    void (*presence_announce)(struct store *st, bool join, const char *topic, const char *client,
                              const char *user);
};

/* A read's results as the read starts: no messages, recovered, no total. */
void store_read_begin(struct store_req *req);
/* A failed read: what it had read is freed, and it holds no messages. */
void store_read_drop(struct store_req *req);

/* The head of every engine's handle. */
struct store {
    const struct store_engine_ops *ops;
};

/* The SQLite engine (store/sqlite_*.c). */
extern const struct store_engine_ops store_engine_sqlite;
/* The Redis engine, shared by several nodes (store/redis_*.c). */
extern const struct store_engine_ops store_engine_redis;

#endif
