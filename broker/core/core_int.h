/* SPDX-License-Identifier: MIT */
/*
 * core_int.h: what the files of core/ share and nothing outside core/ sees.
 *
 * core.c owns `struct core` (the other files of core/ read and update it as
 * parts of one module) and the replies; publish.c the publish pipeline;
 * subscribe.c subscriptions; replay.c the replay joined to live delivery;
 * requests.c history, presence and ping; sse.c event streams.
 */
#ifndef WSB_CORE_INT_H
#define WSB_CORE_INT_H

#include "core/core.h"
#include "core/presence.h"
#include "proto/envelope.h"
#include "proto/frame.h"
#include "util/pool.h"
#include "common/topic.h"

struct core {
    const struct config *cfg;
    struct store *store;
    struct topic_trie *subs; /* pattern -> struct subscription * */
    struct presence *presence;
    struct session *sessions; /* live sessions */
    size_t n_sessions;
    size_t pending_store;
    uint64_t last_delivered_seq; /* newest seq fanned out */
    int64_t last_ts;
    uint64_t client_counter;
    struct core_counters counters;
    struct frame_cache frames;       /* recent message frames, shared by replays */
    struct pool publish_blocks;      /* free publish blocks (publish.c) */
    const struct credentials *creds; /* NULL: no auth configured (access.c) */
    int64_t access_tick_ms;          /* when access.c next visits deadlines */
};

/* What a store request was for, kept until its result arrives. */
struct pending {
    struct session *session; /* referenced; NULL for external requests */
    core_done_fn done;       /* external requests: called with the result */
    void *done_arg;
    bool has_id;
    uint64_t id;
    bool echo;
};

/* core.c: replies, store requests, deferred requests. */
int64_t core_now_ms(void);
/* Queues reply `f`; when it could not be encoded (NULL), an `internal`
 * error instead, so that a request with an id always gets its one reply. */
void core_reply(struct core *core, struct session *s, bool has_id, uint64_t id, struct frame *f);
void core_reply_error(struct core *core, struct session *s, const struct request_error *err);
void core_reply_error_code(struct core *core, struct session *s, const struct request *req,
                           const char *code, const char *message);
/* The store could not do what a request needed ("read", "written"):
 * `unavailable`, with store_failure_text's reason (sr may be NULL). */
void core_reply_unavailable(struct core *core, struct session *s, bool has_id, uint64_t id,
                            const struct store_req *sr, const char *what);
struct store_req *core_new_store_req(struct session *s, const struct request *req,
                                     enum store_op op);
/* Frees a request of core_new_store_req that is not submitted after all. */
void core_discard_req(struct store_req *sr);
void core_submit(struct core *core, struct store_req *sr);
/* Runs the requests that waited behind a replay, until another replay. */
void core_process_deferred(struct core *core, struct session *s);
/* Creates a session and adds it to the live ones (no welcome). */
struct session *core_add_session(struct core *core, const struct transport *transport, void *conn);

/* True when the result of p's request is to be answered: its session is
 * open and the store did it (else the session is told the store cannot be
 * `what`: "read", "written"). Inline: it runs for every durable publish. */
static inline bool core_result_ok(struct core *core, const struct store_req *sr,
                                  const struct pending *p, const char *what)
{
    if (!p->session || !session_is_open(p->session))
        return false;
    if (sr->status == STORE_OK)
        return true;
    core_reply_unavailable(core, p->session, p->has_id, p->id, sr, what);
    return false;
}

/* publish.c */
void core_publish(struct core *core, struct session *s, struct request *req);
void core_finish_publish(struct core *core, struct store_req *sr, struct pending *p);
/* Messages other nodes stored (a shared engine's STORE_FEED): fanned out
 * as this node's own are; a reset closes every session (4000) so that
 * clients resume where the seqs start over. */
void core_finish_feed(struct core *core, struct store_req *sr);
/* Frees a finished request; a pooled publish block goes back to its pool. */
void core_req_free(struct core *core, struct store_req *sr);
void core_publish_init(struct core *core);
void core_publish_free(struct core *core);
/* The WebSocket frame of a stored message: the one already encoded for it
 * when it is recent (replays after a mass reconnect share it). */
struct frame *core_message_frame(struct core *core, const struct store_msg *msg);

/* subscribe.c */
void core_subscribe(struct core *core, struct session *s, struct request *req);
void core_unsubscribe(struct core *core, struct session *s, struct request *req);
/* Adds a subscription to the session and the trie; NULL when out of memory. */
struct subscription *core_add_sub(struct core *core, struct session *s, const char *pattern);
void core_unsubscribe_sub(struct core *core, struct session *s, struct subscription *sub);

/* replay.c: the replay of one or more subscriptions of a session, read from
 * the store in chunks as the socket drains, and joined to live delivery
 * (core.h). */
struct replay;

/* The subscribe ack that goes before the replayed messages. */
struct replay_ack {
    bool has_id;
    uint64_t id;
    bool epoch_mismatch; /* the client's epoch is not the store's: not recovered */
};

/* A replay of up to `max_reads` subscriptions with seq <= upto; `ack` is
 * NULL when none is sent (SSE). NULL when out of memory. */
struct replay *replay_new(struct core *core, struct session *s, size_t max_reads, uint64_t upto,
                          const struct replay_ack *ack);
/* Adds the matches of `sub` with seq > since (or its `last` newest when
 * last > 0). Returns -1 when the replay holds max_reads already. */
int replay_add(struct replay *r, struct subscription *sub, uint64_t since, uint32_t last);
/* Every read is added: the session holds live frames and defers requests
 * until the replay is sent. Without reads the replay is just freed. */
void replay_start(struct replay *r);

/* access.c: what a session's credential allows. */
enum access_state { ACCESS_OPEN, ACCESS_ANONYMOUS, ACCESS_GRANTED, ACCESS_EXPIRED };
/* A new session starts anonymous (OPEN without auth configured). */
void access_session_start(struct core *core, struct session *s);
/* The upgrade's token: 0 when granted (or without auth), -1 after `error`
 * and close 4001. */
int access_session_token(struct core *core, struct session *s, const char *token, size_t len);
/* Whether `req` (not auth) may run; when not, it is answered or the
 * session closed. */
bool access_allows(struct core *core, struct session *s, const struct request *req);
/* The `auth` op. */
void access_auth(struct core *core, struct session *s, const struct request *req);

/* requests.c */
void core_history(struct core *core, struct session *s, struct request *req);
void core_finish_history(struct core *core, struct store_req *sr, struct pending *p);
void core_presence(struct core *core, struct session *s, struct request *req);
void core_ping(struct core *core, struct session *s, struct request *req);

#endif
