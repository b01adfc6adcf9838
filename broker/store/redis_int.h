/* SPDX-License-Identifier: MIT */
/*
 * redis_int.h: the Redis engine's state, shared by its files only.
 *
 * Owns: `struct redis_store` and the split of the engine into files:
 *   redis_engine.c  the ops table, open and close, stats, the tick
 *   redis_link.c    the two connections (commands, pub/sub), their set-up,
 *                   loss and reconnection with backoff, the epoch poll
 *   redis_write.c   publish batches: one publish.lua call per batch
 *   redis_read.c    replay and history reads
 *   redis_feed.c    delivery in global seq order: the others' messages,
 *                   gap repair, and the done list core takes
 *   redis_wire.c    byte formats and the URL (no state)
 *
 * Threads: none of its own. Everything runs on the broker's libuv loop
 * (hiredis's async API and libuv adapter); submit, take_done and the
 * getters are called on that loop's thread too, which is what
 * store_config.loop promises.
 */
#ifndef WSB_REDIS_INT_H
#define WSB_REDIS_INT_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "common/strmap.h"
#include "store/engine.h"
#include "store/redis_wire.h"

/* The key prefix; `{wsb}` is the hash tag that puts every key of the data
 * set in one slot (docs/design.md section 7). */
#define REDIS_PREFIX "wsb:{wsb}:"
/* Recent messages kept for gap repair (the feed stream: one entry per
 * publish script, trimmed to about this many seqs). */
#define REDIS_FEED_MAX 10000
/* Publish requests per publish.lua call. */
#define REDIS_BATCH_MAX 512
/* The tick: epoch and seq poll (a lost last message is found by it),
 * watchdog; housekeeping every REDIS_HOUSEKEEP_TICKS. */
#define REDIS_TICK_MS 250
#define REDIS_HOUSEKEEP_TICKS 4
/* A command unanswered this long means the connection is dead (hiredis
 * 0.14 has no timeouts of its own in the async API). */
#define REDIS_COMMAND_TIMEOUT_MS 5000
/* Reconnect backoff. */
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 2000
/* How long a missing seq may be awaited from pub/sub before it is read
 * from the feed (a node's own reply may overtake pub/sub by that much). */
#define REDIS_GAP_WAIT_MS 50
/* Feed entries (batches) read per repair. */
#define REDIS_REPAIR_PAGE 64
#define REDIS_FAILED_BATCHES 16
/* Presence: a node beats every REDIS_BEAT_TICKS ticks (1 s) and is dead,
 * its members gone with a leave, after REDIS_PRESENCE_TTL_MS of silence. */
#define REDIS_BEAT_TICKS 4
#define REDIS_PRESENCE_TTL_MS 5000

enum redis_link_state { LINK_DOWN, LINK_CONNECTING, LINK_READY };

/* A publish request on its way: submitted, sent, answered. */
struct redis_pub {
    struct store_req *req;
    struct redis_pub *next;        /* in submission order */
    struct redis_pub *unsent_next; /* in the queue of those not sent yet */
    bool replied;
    uint64_t first, last; /* the new seqs it got (0 when none) */
};

/* A read request in progress (redis_read.c). */
struct redis_read;

struct redis_store {
    struct store base;
    struct store_config cfg;
    struct redis_url url;
    uv_loop_t *loop;
    char node[17];              /* this process, 16 hex digits */
    char channel[64];           /* the live payloads */
    char presence_channel[64];  /* presence joins and leaves */
    char heartbeat_channel[64]; /* this node's own, to hear its pub/sub link */

    /* redis_link.c */
    enum redis_link_state state;
    redisAsyncContext *cmd, *sub;
    bool cmd_setup, sub_setup;
    unsigned backoff_ms;
    uv_timer_t reconnect_timer;
    uv_timer_t tick_timer;
    unsigned ticks;
    bool poll_in_flight, housekeep_in_flight;
    char housekeep_cursor[32];
    uint64_t poll_sent_us;
    uint64_t rtt_us;
    size_t cmd_outstanding;
    uint64_t cmd_progress_ms; /* when cmd last answered, or was given work while idle */
    uint64_t sub_progress_ms; /* when the pub/sub connection last heard something */
    char sha_publish[41], sha_epoch[41], sha_housekeep[41], sha_presence[41];
    bool warned_persistence;
    char epoch[9]; /* "" until the first connection */
    bool closing;
    bool losing;      /* inside link_lost */
    bool down_logged; /* the outage was logged */
    unsigned handles_open;

    /* redis_write.c */
    uv_check_t flush_check;
    struct redis_pub *unsent_head, *unsent_tail; /* submitted, not sent yet */
    uint64_t batch_no;                           /* batches sent on this process */
    uint64_t batch_oldest;                       /* the oldest batch whose reply may still come */
    /* Batches answered with an error (their number + 1): what such a
     * script wrote before it failed comes back through the feed. */
    uint64_t failed_batches[REDIS_FAILED_BATCHES];
    size_t failed_next;

    /* redis_feed.c */
    struct redis_pub *pubs_head, *pubs_tail; /* every publish, in submission order */
    struct redis_read *reads_head, *reads_tail;
    struct store_msg *others; /* messages of other nodes (or lost replies), by seq */
    size_t others_start, n_others, cap_others;
    uint64_t delivered; /* the newest seq posted for delivery */
    uint64_t known_max; /* the newest seq known to exist */
    bool repair_in_flight;
    uint64_t repair_want;  /* the first missing seq the repair in flight reads */
    uint64_t repair_first; /* the lowest first seq of the entries it got */
    bool repair_failed;
    uv_timer_t gap_timer;
    bool gap_armed;
    struct store_req *feed; /* the FEED entry being filled */
    struct store_req *done_head, *done_tail;

    /* redis_presence.c */
    struct strmap own_members; /* "TOPIC\nCLIENT" -> struct own_member */
    bool beat_in_flight, snapshot_in_flight;
    struct store_req *presence_held; /* events that came during the snapshot */

    /* stats */
    uint64_t commits, messages_stored, duplicates, refused_full, gap_repairs;
    uint64_t commit_us_total, commit_buckets[STORE_COMMIT_BUCKETS];
};

/* redis_link.c */
int redis_link_start(struct redis_store *st);
void redis_link_stop(struct redis_store *st);
bool redis_link_ready(const struct redis_store *st);
/* Sends a command on the command connection, counting it for the
 * watchdog. cb gets NULL when the connection went away. */
int redis_link_command(struct redis_store *st, redisCallbackFn *cb, void *privdata, int argc,
                       const char **argv, const size_t *argvlen);
/* The command connection answered (for the watchdog). */
void redis_link_answered(struct redis_store *st);
void redis_link_tick(struct redis_store *st);
/* The epoch poll now (unless one is on its way). */
void redis_link_poll_now(struct redis_store *st);

/* redis_write.c */
void redis_write_init(struct redis_store *st);
void redis_write_submit(struct redis_store *st, struct store_req *req);
/* Sends what is unsent now (at the end of each turn, and before a read,
 * so that a read runs after the publishes submitted before it). */
void redis_write_flush(struct redis_store *st);
/* Fails what is unsent (the link is down). */
void redis_write_fail_unsent(struct redis_store *st);

/* redis_read.c */
void redis_read_submit(struct redis_store *st, struct store_req *req);
bool redis_read_done(const struct redis_read *rd);
struct store_req *redis_read_req(const struct redis_read *rd);
struct redis_read *redis_read_next(const struct redis_read *rd);
void redis_read_set_next(struct redis_read *rd, struct redis_read *next);
void redis_read_free(struct redis_read *rd);

/* redis_presence.c */
void redis_presence_announce(struct redis_store *st, bool join, const char *topic,
                             const char *client, const char *user);
void redis_presence_message(struct redis_store *st, const char *payload, size_t len);
/* The link is set up: beat, and read everyone's members. */
void redis_presence_connected(struct redis_store *st);
void redis_presence_beat(struct redis_store *st);
void redis_presence_lost(struct redis_store *st);
void redis_presence_free(struct redis_store *st);

/* redis_feed.c */
void redis_feed_init(struct redis_store *st);
void redis_feed_free(struct redis_store *st);
/* A live payload from pub/sub, or feed entries read for a repair. */
void redis_feed_live(struct redis_store *st, const char *payload, size_t len);
void redis_feed_entry(struct redis_store *st, uint64_t seq, const char *origin, size_t origin_len,
                      const char *rec, size_t rec_len);
/* The global seq is at least `seq` (a poll, a reply). */
void redis_feed_known(struct redis_store *st, uint64_t seq);
/* Posts what can be posted, in order, and wakes core when it did. */
void redis_feed_release(struct redis_store *st);
/* The epoch changed (or the first one was learned): starts over at seq. */
void redis_feed_reset(struct redis_store *st, uint64_t seq, bool close_sessions, bool new_epoch);
/* Queues a finished read for posting (redis_read.c). */
void redis_feed_add_read(struct redis_store *st, struct redis_read *rd);
/* Posts a request at once (one the engine could not even track). */
void redis_feed_post_now(struct redis_store *st, struct store_req *req);
struct store_req *redis_feed_take_done(struct redis_store *st);

/* Whether an origin ("NODE:BATCH") is a batch of this process whose reply
 * may still come: its messages are then delivered with that reply. */
bool redis_origin_pending(const struct redis_store *st, const char *origin, size_t len);

uint64_t redis_now_ms(void);

#endif
