/* SPDX-License-Identifier: MIT */
/*
 * store.h: the durable message store, as core, http and main see it.
 *
 * Owns: the engine-neutral request and result types (what a publish, a
 * replay and a history read carry), and the calls every durable operation
 * goes through. Which engine stands behind a `struct store` (SQLite, WAL,
 * for now: store/sqlite_*.c) is the business of store/engine.h; nothing
 * here names it.
 *
 * The engine works on its own thread(s). The service thread submits
 * requests (store_submit) and later collects the finished ones
 * (store_take_done) after the engine called the `wake` callback given to
 * store_open. Requests finish in the order they were submitted, except a
 * backup, which takes as long as the copy does and finishes when it is
 * complete, while the requests behind it go on (engine.h).
 *
 * Publishes that are queued together are committed together (group
 * commit); a publish's result is only posted after the commit returned.
 * With durability STORE_DURABLE_FULL the commit is on disk (fsync) before
 * that; STORE_DURABLE_OS leaves the last commits to the OS.
 */
#ifndef WSB_STORE_H
#define WSB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct topic_rules;

enum store_durability { STORE_DURABLE_FULL = 0, STORE_DURABLE_OS = 1 };

struct store_config {
    const char *path;      /* file path or ":memory:" */
    long retain_count;     /* messages kept per topic (>= 1) */
    long retain_age_s;     /* seconds a message is kept (>= 1) */
    long dedupe_window_ms; /* how long a publish key is remembered */
    enum store_durability durability;
    uint64_t max_db_bytes; /* used size at which publishes are refused; 0: no bound */
    long max_topics;       /* live topics (holding a message); 0: no bound */
    /* Per-pattern retention (config/topic_rules.h), or NULL: names a rule
     * matches keep its retain/retain_age instead of the two above. Read
     * by the engine's thread for the life of the store. */
    const struct topic_rules *rules;
    void (*wake)(void *arg); /* called on an engine thread when results are ready */
    void *wake_arg;
    /* The shared engine (several nodes as one): a redis:// URL, or NULL for
     * the embedded SQLite store at `path`. */
    const char *redis_url;
    /* The broker's libuv loop (uv_loop_t *), which the Redis engine runs
     * on; every call of store.h is then made on that loop's thread. */
    void *loop;
};

/* One message as stored. Strings and data are owned by whoever owns the
 * struct (the request for inputs, the result array for outputs). */
struct store_msg {
    uint64_t seq;
    int64_t ts; /* ms since the Unix epoch */
    char *topic;
    char *from_user; /* NULL when anonymous */
    bool is_binary;
    unsigned char *data; /* JSON text when !is_binary, raw bytes otherwise */
    size_t data_len;
};

/* One message to publish, and what became of it. */
struct store_pub {
    struct store_msg msg; /* input; msg.seq is set by the store */
    char *key;            /* NULL, or the idempotency key */
    bool duplicate;       /* output: the key was seen; msg.seq is the original seq */
    /* Conditional publish: stored only if the newest stored message of the
     * topic has seq expect_last (0: it holds none), as the commit sees it. */
    bool has_expect_last;
    uint64_t expect_last;
};

enum store_op {
    STORE_PUBLISH, /* commit pubs[0..n_pubs) in one transaction */
    STORE_REPLAY,  /* matches of `pattern` for a subscribe: since/last, up to `upto` */
    STORE_HISTORY, /* matches of `pattern` with seq > since, at most `limit` */
    STORE_BACKUP,  /* a consistent copy of the whole store into `backup_path` */
    /* Never submitted: posted by an engine shared by several nodes (Redis)
     * with messages that other nodes published, `msgs` in ascending seq,
     * to be fanned out where they stand among the other finished requests
     * (engine.h, "Feed"). */
    STORE_FEED,
    /* Never submitted: presence members of other nodes joined or left
     * (`presence`), or, with presence_snapshot, `presence` is every member
     * the other nodes have now (a reconnect to the shared engine). */
    STORE_PRESENCE,
};

/* A presence member of some node, for STORE_PRESENCE and
 * store_presence_announce. */
struct store_presence {
    bool join;
    char *topic;
    char *client;
    char *user; /* NULL when anonymous */
};

/* STORE_FULL: a publish request that a bound of the store refused
 * (full_reason says which); nothing of it was stored, and the store is
 * healthy. Other requests of the same batch are not affected. */
/* STORE_CONFLICT: a publish request whose expect_last did not hold (for
 * one of its publishes); nothing of it was stored, and conflict_last is
 * the newest seq of that publish's topic. */
enum store_status {
    STORE_OK = 0,
    STORE_UNAVAILABLE = 1,
    STORE_INTERNAL = 2,
    STORE_FULL = 3,
    STORE_CONFLICT = 4,
};

enum store_full_reason {
    STORE_FULL_NONE = 0,
    STORE_FULL_DB_SIZE = 1, /* the database is at or over max_db_bytes */
    STORE_FULL_TOPICS = 2,  /* a new topic would pass max_topics */
};

struct store_req {
    enum store_op op;
    struct store_req *next; /* queue link, owned by the store while submitted */
    void *owner;            /* for the caller: who asked */
    uint64_t owner_tag;     /* for the caller */

    /* STORE_PUBLISH */
    struct store_pub *pubs;
    size_t n_pubs;
    bool pubs_inline; /* pubs and every byte they point to are part of
                         this request's own allocation: store_req_free
                         frees the request alone */

    /* STORE_REPLAY and STORE_HISTORY */
    char *pattern;  /* a name or a pattern */
    uint64_t since; /* matches with seq > since */
    uint64_t upto;  /* REPLAY: only seq <= upto (0: no bound) */
    uint32_t last;  /* REPLAY: when > 0, the newest `last` matches instead of since */
    uint32_t limit; /* HISTORY: at most this many (1..1000); REPLAY: see below */

    /* Bounds. REPLAY in chunks: limit > 0 is the most messages of one
     * chunk (0: every match at once); `start` marks the first chunk (its
     * `recovered` is read); `retention_mark` is, going in, the mark the
     * previous chunk returned and, coming out, the store's (it moves when
     * retention removes messages). REPLAY and HISTORY: a read stops before
     * the topics and data of its result pass max_bytes (at least one
     * message; 0: no bound). */
    size_t max_bytes;
    bool start;
    uint64_t retention_mark;
    /* REPLAY and HISTORY: when set and true as the store comes to the read,
     * whoever asked has left: the read is skipped (STORE_OK, no messages). */
    const _Atomic bool *gone;

    /* STORE_BACKUP */
    char *backup_path; /* the copy's file; must not exist yet */
    void *progress;    /* the engine's copy in progress (engine-owned) */

    /* results */
    enum store_status status;
    enum store_full_reason full_reason; /* PUBLISH with STORE_FULL: which bound */
    uint64_t conflict_last;             /* PUBLISH with STORE_CONFLICT: the topic's newest seq */
    struct store_msg *msgs;             /* REPLAY/HISTORY: ascending seq */
    size_t n_msgs;
    bool more;      /* HISTORY, REPLAY in chunks: further matches exist after the last one */
    bool recovered; /* REPLAY/HISTORY (since mode): false when retention dropped
                       a match with seq > since */

    /* REPLAY in chunks: `total` is the matches of the chunk's range, this
     * chunk's included, when has_total (counted on the first chunk, on the
     * last, and when retention moved since the previous one). */
    bool has_total;
    uint64_t total;
    /* STORE_FEED: after it, the node has delivered every seq up to
     * feed_seq; with feed_reset, the seqs start over (a new epoch, or a gap
     * the engine could not repair): what the sessions saw is no longer a
     * place to resume from, and they are closed (4000) to resume. */
    uint64_t feed_seq;
    bool feed_reset;
    /* STORE_PRESENCE */
    struct store_presence *presence;
    size_t n_presence;
    bool presence_snapshot;
    /* results of a STORE_BACKUP */
    uint64_t backup_seq;    /* the newest seq the copy holds */
    uint64_t backup_bytes;  /* the copy's size */
    char backup_error[160]; /* when it failed: why, one line */
};

/* Opens or creates the store (SQLite: the database file, its schema and
 * epoch) and starts the engine's thread. On failure returns -1 and writes a
 * one-line reason into err. */
int store_open(struct store **out, const struct store_config *cfg, char *err, size_t errlen);

/* Finishes every submitted request (results are posted and `wake` is
 * called), stops the engine's thread and closes the store. */
void store_close(struct store *st);

/* The store's epoch: 8 lowercase hex digits, fixed for the life of the file. */
const char *store_epoch(const struct store *st);

/* The newest seq committed so far (thread-safe). */
uint64_t store_last_seq(const struct store *st);

/* False while the store cannot be written (last commit failed and the
 * periodic probe has not succeeded since). Thread-safe. */
bool store_healthy(const struct store *st);

/* Hands a request to the engine (never blocks on disk). */
void store_submit(struct store *st, struct store_req *req);

/* Takes every finished request, oldest first, as a linked list (or NULL). */
struct store_req *store_take_done(struct store *st);

/* Tells the other nodes that a presence member of this node joined or
 * left (a shared engine; with the embedded one there is nobody to tell).
 * Copies what it keeps. */
void store_presence_announce(struct store *st, bool join, const char *topic, const char *client,
                             const char *user);

/* Frees a request and everything it owns (pubs and their strings, pattern,
 * backup_path, result msgs). */
void store_req_free(struct store_req *req);

/* Frees the strings and data of one message (not the struct itself). */
void store_msg_clear(struct store_msg *msg);

/* Why a request failed, in one line for its `unavailable` answer (core and
 * the HTTP API alike): STORE_FULL names the configured bound that refused
 * a publish ("max_db_size", "max_topics"); any other failure, or sr NULL,
 * says the store cannot be `what` ("read", "written") now. */
void store_failure_text(const struct store_req *sr, const char *what, char *out, size_t len);

/* Upper bounds (µs) of the commit latency histogram's buckets; the last
 * is unbounded. */
#define STORE_COMMIT_BUCKETS 12
extern const uint64_t store_commit_bucket_us[STORE_COMMIT_BUCKETS];

/* Counters for metrics (thread-safe reads). */
struct store_stats {
    uint64_t commits;                              /* transactions committed */
    uint64_t messages_stored;                      /* messages inserted */
    uint64_t duplicates;                           /* publishes answered from the dedupe window */
    uint64_t trimmed;                              /* messages removed by retention */
    uint64_t commit_us_total;                      /* time spent in COMMIT (incl. fsync) */
    uint64_t commit_buckets[STORE_COMMIT_BUCKETS]; /* commits per latency bucket */
    uint64_t db_bytes;                             /* size of the database (its pages) */
    uint64_t live_topics;                          /* topics holding at least one message */
    uint64_t refused_full;                         /* publishes refused with STORE_FULL */
    /* Which engine runs, and for a shared one its link: */
    const char *engine;     /* "sqlite" or "redis" */
    bool shared;            /* several nodes (the fields below are set) */
    char node[17];          /* this node's id */
    bool connected;         /* the link to Redis is up and set up */
    uint64_t rtt_us;        /* the last round trip of the epoch poll */
    uint64_t delivered_seq; /* the newest seq this node delivered */
    uint64_t gap_repairs;   /* seqs read back from the feed after pub/sub lost them */
};
void store_get_stats(const struct store *st, struct store_stats *out);

#endif
