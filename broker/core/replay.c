/* SPDX-License-Identifier: MIT */
/*
 * replay.c: a session's replay, joined to live delivery (core.h,
 * docs/design.md invariant 2), and paced. One or more subscriptions (one
 * for a WebSocket subscribe, every topic of an SSE stream) are read from
 * the store up to `upto`, the newest seq already fanned out; meanwhile the
 * session holds live frames back and defers its requests.
 *
 * Why paced: a replay can be the whole store (`>` with since 0). It is read
 * in chunks of at most REPLAY_CHUNK_MSGS messages or REPLAY_CHUNK_BYTES,
 * each from the last seq read, so the join with live delivery stays
 * gapless; a chunk is queued, and the next is read when the replay frames
 * still queued fall to REPLAY_LOW_WATER (the socket took the rest). A
 * client that does not read so holds about one chunk, and the store thread
 * reads one bounded chunk at a time, never for a session that closed.
 *
 * The matches go out as ONE ascending run, each message once (an event
 * stream resumes from the last id it saw, so its ids must only grow): the
 * chunks of several reads are merged up to the lowest seq that every read
 * with matches left has reached. The subscribe ack goes before the first
 * chunk, with the count of the whole replay (the store counts it); the held
 * frames after the last. A chunk that finds fewer matches left than counted
 * means retention removed some not yet sent: the session is closed with
 * 4000 before anything after the gap, and its resume is not recovered.
 * Service thread only.
 */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/answer.h"

#define REPLAY_CHUNK_MSGS 256
#define REPLAY_CHUNK_BYTES (1024 * 1024)
/* The next chunk is read when at most this many replay bytes are queued:
 * low enough to bound a reader that stalls, high enough that the socket
 * of one that reads does not run dry while the store reads. */
#define REPLAY_LOW_WATER (256 * 1024)

struct replay_read {
    struct subscription *sub;
    uint64_t since; /* as asked */
    uint32_t last;  /* as asked; the chunks after the first go on by seq */
    bool started;   /* the first chunk is back */
    bool done;      /* every match is read */
    bool recovered;
    uint64_t cursor;         /* every match up to this seq is read */
    uint64_t left;           /* matches after cursor still to read, as counted */
    uint64_t retention_mark; /* the store's, as of the last chunk */
    uint64_t first_seq;      /* the first match read; 0 while none */
    struct store_msg *msgs;  /* the last chunk; msgs[next..] are not sent yet */
    size_t n_msgs, next;
};

struct replay {
    struct core *core;
    struct session *session; /* referenced */
    uint64_t upto;
    bool has_ack, acked;
    struct replay_ack ack;
    bool failed;        /* a read failed: the store is unavailable */
    bool gap;           /* retention removed matches not sent yet */
    size_t in_flight;   /* chunk reads not yet back, + 1 while a round submits */
    uint64_t last_seen; /* the highest seq merged */
    size_t n_reads, max_reads;
    struct replay_read reads[];
};

static void replay_read_round(struct replay *r);

struct replay *replay_new(struct core *core, struct session *s, size_t max_reads, uint64_t upto,
                          const struct replay_ack *ack)
{
    struct replay *r = calloc(1, sizeof(*r) + max_reads * sizeof(r->reads[0]));
    if (!r)
        return NULL;
    r->core = core;
    r->session = s;
    session_ref(s);
    r->upto = upto;
    r->max_reads = max_reads;
    if (ack) {
        r->has_ack = true;
        r->ack = *ack;
    }
    return r;
}

static void replay_read_clear(struct replay_read *rd)
{
    for (size_t i = 0; i < rd->n_msgs; i++)
        store_msg_clear(&rd->msgs[i]);
    free(rd->msgs);
    rd->msgs = NULL;
    rd->n_msgs = rd->next = 0;
}

static void replay_free(struct replay *r)
{
    for (size_t i = 0; i < r->n_reads; i++)
        replay_read_clear(&r->reads[i]);
    session_unref(r->session);
    free(r);
}

static bool replay_has_sub(const struct replay *r, const struct subscription *sub)
{
    for (size_t i = 0; i < r->n_reads; i++)
        if (r->reads[i].sub == sub)
            return true;
    return false;
}

/* True when a subscription outside the replay already delivered `msg`. */
static bool replay_already_sent(const struct replay *r, const struct store_msg *msg)
{
    for (const struct subscription *other = r->session->subs; other; other = other->next)
        if (msg->seq > other->covers_after && !replay_has_sub(r, other) &&
            topic_matches(other->pattern, msg->topic))
            return true;
    return false;
}

/* --- merging the chunks -------------------------------------------------- */

/* How far the chunks read so far can be merged: up to the lowest seq that
 * a read with matches left has reached. */
static uint64_t replay_bound(const struct replay *r)
{
    uint64_t bound = r->upto;
    for (size_t i = 0; i < r->n_reads; i++)
        if (!r->reads[i].done && r->reads[i].cursor < bound)
            bound = r->reads[i].cursor;
    return bound;
}

/* The read whose next unsent message is the lowest, up to `bound`. */
static struct replay_read *replay_lowest(struct replay *r, uint64_t bound)
{
    struct replay_read *best = NULL;
    for (size_t i = 0; i < r->n_reads; i++) {
        struct replay_read *rd = &r->reads[i];
        if (rd->next < rd->n_msgs && rd->msgs[rd->next].seq <= bound &&
            (!best || rd->msgs[rd->next].seq < best->msgs[best->next].seq))
            best = rd;
    }
    return best;
}

/* The messages read and not yet merged. */
static size_t replay_buffered(const struct replay *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_reads; i++)
        n += r->reads[i].n_msgs - r->reads[i].next;
    return n;
}

/* Takes the next part of the run into `run`: ascending, each message once,
 * none that another subscription of the session delivered live. */
static size_t replay_merge(struct replay *r, const struct store_msg **run)
{
    uint64_t bound = replay_bound(r);
    size_t n = 0;
    struct replay_read *rd;
    while ((rd = replay_lowest(r, bound))) {
        const struct store_msg *msg = &rd->msgs[rd->next++];
        if (msg->seq <= r->last_seen)
            continue; /* the same message, matched by another read */
        r->last_seen = msg->seq;
        if (!replay_already_sent(r, msg))
            run[n++] = msg;
    }
    return n;
}

/* The matches not merged yet, as counted: what the ack adds to the run. */
static uint64_t replay_left(const struct replay *r)
{
    uint64_t left = 0;
    for (size_t i = 0; i < r->n_reads; i++)
        left += r->reads[i].left + (r->reads[i].n_msgs - r->reads[i].next);
    return left;
}

static bool replay_all_read(const struct replay *r)
{
    for (size_t i = 0; i < r->n_reads; i++)
        if (!r->reads[i].done || r->reads[i].next < r->reads[i].n_msgs)
            return false;
    return true;
}

/* --- the end ------------------------------------------------------------- */

/* The store could not be read: a WebSocket subscribe not acked yet is
 * undone and answered `unavailable`; otherwise the connection is closed. */
static void replay_fail(struct replay *r)
{
    struct session *s = r->session;
    if (s->is_sse || r->acked) {
        session_close(s, 1011, "the message store cannot be read now");
        return;
    }
    for (size_t i = 0; i < r->n_reads; i++)
        core_unsubscribe_sub(r->core, s, r->reads[i].sub);
    core_reply_unavailable(r->core, s, r->ack.has_id, r->ack.id, NULL, "read");
}

/* From here on each subscription delivers every match after covers_after. */
static void replay_cover(struct replay *r)
{
    for (size_t i = 0; i < r->n_reads; i++) {
        struct replay_read *rd = &r->reads[i];
        if (rd->last > 0)
            rd->sub->covers_after = rd->first_seq ? rd->first_seq - 1 : r->upto;
        else
            rd->sub->covers_after = rd->since;
    }
}

/* The replay is over (sent, failed, cut by a gap, or its session closed):
 * the held frames follow it, then the requests that waited. */
static void replay_end(struct replay *r)
{
    struct session *s = r->session;
    s->replay_pending = false;
    if (session_is_open(s)) {
        if (r->gap)
            session_close(s, 4000, "slow consumer: retention removed replay messages not sent");
        else if (r->failed)
            replay_fail(r);
        else
            replay_cover(r);
        session_release_held(s);
        core_process_deferred(r->core, s);
    }
    replay_free(r);
}

/* --- the steps ----------------------------------------------------------- */

static void replay_send_ack(struct replay *r, uint64_t replayed)
{
    r->acked = true;
    if (!r->has_ack || !r->ack.has_id)
        return;
    bool recovered = !r->ack.epoch_mismatch;
    for (size_t i = 0; i < r->n_reads; i++)
        recovered = recovered && r->reads[i].recovered;
    core_reply(r->core, r->session, true, r->ack.id,
               answer_subscribe_ack(r->ack.id, r->reads[0].sub->pattern, (size_t)replayed,
                                    recovered, r->upto));
}

/* Frees the chunks that are sent entirely. */
static void replay_drop_sent(struct replay *r)
{
    for (size_t i = 0; i < r->n_reads; i++)
        if (r->reads[i].next == r->reads[i].n_msgs)
            replay_read_clear(&r->reads[i]);
}

/* The next part of the run is queued (after the ack, the first time). */
static int replay_send_part(struct replay *r)
{
    struct session *s = r->session;
    size_t cap = replay_buffered(r);
    const struct store_msg **run = malloc((cap ? cap : 1) * sizeof(*run));
    if (!run)
        return -1;
    size_t n = replay_merge(r, run);
    if (!r->acked)
        replay_send_ack(r, n + replay_left(r));
    for (size_t i = 0; i < n; i++)
        session_send_raw(s, s->is_sse ? envelope_encode_sse(run[i])
                                      : core_message_frame(r->core, run[i]));
    free(run);
    replay_drop_sent(r);
    return 0;
}

static void replay_drained(void *arg)
{
    struct replay *r = arg;
    if (session_is_open(r->session))
        replay_read_round(r);
    else
        replay_end(r);
}

/* Every read of the round is back: the part they complete is sent; the
 * next round is read now, or when the socket has taken the queue down to
 * the low-water mark. */
static void replay_step(struct replay *r)
{
    struct session *s = r->session;
    if (!session_is_open(s) || r->failed || r->gap) {
        replay_end(r);
        return;
    }
    if (replay_send_part(r) < 0) {
        r->failed = true;
        replay_end(r);
        return;
    }
    if (replay_all_read(r) || !session_is_open(s))
        replay_end(r);
    else if (s->replay_bytes <= REPLAY_LOW_WATER)
        replay_read_round(r);
    else
        session_wait_drained(s, REPLAY_LOW_WATER, replay_drained, r);
}

/* A chunk is back: its messages, and what the counts say. Fewer matches
 * left than counted before means retention removed some not sent yet. */
static void replay_take_chunk(struct replay *r, struct replay_read *rd, struct store_req *sr)
{
    if (!rd->started)
        rd->recovered = sr->recovered;
    if (sr->has_total) {
        if (rd->started && sr->total < rd->left)
            r->gap = true;
        rd->left = sr->total;
    }
    rd->left -= rd->left < sr->n_msgs ? rd->left : sr->n_msgs;
    rd->started = true;
    rd->done = !sr->more;
    rd->retention_mark = sr->retention_mark;
    rd->msgs = sr->msgs;
    rd->n_msgs = sr->n_msgs;
    rd->next = 0;
    sr->msgs = NULL;
    sr->n_msgs = 0;
    if (rd->n_msgs > 0) {
        rd->cursor = rd->msgs[rd->n_msgs - 1].seq;
        if (!rd->first_seq)
            rd->first_seq = rd->msgs[0].seq;
    }
}

static void replay_read_done(void *arg, struct store_req *sr)
{
    struct replay *r = arg;
    if (sr->status == STORE_OK)
        replay_take_chunk(r, &r->reads[sr->owner_tag], sr);
    else
        r->failed = true;
    if (--r->in_flight == 0)
        replay_step(r);
}

/* Asks the store for the next chunk of read i. */
static int replay_read_chunk(struct replay *r, size_t i)
{
    struct replay_read *rd = &r->reads[i];
    struct store_req *sr = calloc(1, sizeof(*sr));
    if (!sr || !(sr->pattern = strdup(rd->sub->pattern))) {
        free(sr);
        return -1;
    }
    sr->op = STORE_REPLAY;
    sr->start = !rd->started;
    sr->since = rd->started ? rd->cursor : rd->since;
    sr->last = rd->started ? 0 : rd->last;
    sr->upto = r->upto;
    sr->limit = REPLAY_CHUNK_MSGS;
    sr->max_bytes = REPLAY_CHUNK_BYTES;
    sr->retention_mark = rd->retention_mark;
    sr->gone = &r->session->gone;
    sr->owner_tag = i;
    r->in_flight++;
    core_submit_external(r->core, sr, replay_read_done, r);
    return 0;
}

/* Reads the next chunk of every read whose last one is sent. */
static void replay_read_round(struct replay *r)
{
    r->in_flight++; /* a read may be answered at once (out of memory) */
    for (size_t i = 0; i < r->n_reads; i++) {
        struct replay_read *rd = &r->reads[i];
        if (!rd->done && rd->next == rd->n_msgs && replay_read_chunk(r, i) < 0)
            r->failed = true;
    }
    if (--r->in_flight == 0)
        replay_step(r);
}

int replay_add(struct replay *r, struct subscription *sub, uint64_t since, uint32_t last)
{
    if (r->n_reads >= r->max_reads)
        return -1;
    r->reads[r->n_reads++] = (struct replay_read){.sub = sub, .since = since, .last = last};
    sub->covers_after = r->upto; /* until the replay is over */
    return 0;
}

void replay_start(struct replay *r)
{
    if (r->n_reads == 0) {
        replay_free(r);
        return;
    }
    r->session->replay_pending = true;
    replay_read_round(r);
}
