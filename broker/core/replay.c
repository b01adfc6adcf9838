/*
 * replay.c: a session's replay, joined to live delivery (core.h,
 * docs/design.md invariant 2). One or more subscriptions (one for a
 * WebSocket subscribe, every topic of an SSE stream) are read from the
 * store up to `upto`, the newest seq already fanned out; meanwhile the
 * session holds live frames back and defers its requests. When every read
 * is back, the matches go out as ONE ascending run, each message once (an
 * event stream resumes from the last id it saw, so its ids must only
 * grow), after the subscribe ack and before the held frames. Service
 * thread only.
 */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/answer.h"

struct replay_read {
    struct subscription *sub;
    uint64_t since;
    uint32_t last;
    size_t n_msgs; /* matches this read returned */
    uint64_t first_seq;
    bool recovered;
};

struct replay {
    struct core *core;
    struct session *session; /* referenced */
    uint64_t upto;
    bool has_ack;
    struct replay_ack ack;
    bool failed;            /* a read failed: the store is unavailable */
    size_t pending;         /* reads not yet back, + 1 until replay_start */
    struct store_msg *msgs; /* taken from the finished reads */
    size_t n_msgs;
    size_t n_reads, max_reads;
    struct replay_read reads[];
};

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
    r->pending = 1;
    if (ack) {
        r->has_ack = true;
        r->ack = *ack;
    }
    return r;
}

static void replay_free(struct replay *r)
{
    for (size_t i = 0; i < r->n_msgs; i++)
        store_msg_clear(&r->msgs[i]);
    free(r->msgs);
    session_unref(r->session);
    free(r);
}

/* Moves the messages of a finished read into r (the first read's array is
 * taken as it is). */
static int replay_take_msgs(struct replay *r, struct store_req *sr)
{
    if (sr->n_msgs == 0)
        return 0;
    if (!r->msgs) {
        r->msgs = sr->msgs;
        r->n_msgs = sr->n_msgs;
    } else {
        struct store_msg *msgs = realloc(r->msgs, (r->n_msgs + sr->n_msgs) * sizeof(*msgs));
        if (!msgs)
            return -1;
        memcpy(msgs + r->n_msgs, sr->msgs, sr->n_msgs * sizeof(*msgs));
        r->msgs = msgs;
        r->n_msgs += sr->n_msgs;
        free(sr->msgs); /* the strings now belong to r */
    }
    sr->msgs = NULL;
    sr->n_msgs = 0;
    return 0;
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

static int store_msg_cmp_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct store_msg *)a)->seq, y = ((const struct store_msg *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The store could not be read: a WebSocket subscribe is undone and
 * answered `unavailable`; an event stream is closed. */
static void replay_fail(struct replay *r)
{
    struct session *s = r->session;
    if (s->is_sse) {
        session_close(s, 1011, "the message store cannot be read now");
        return;
    }
    for (size_t i = 0; i < r->n_reads; i++)
        core_unsubscribe_sub(r->core, s, r->reads[i].sub);
    core_reply_unavailable(r->core, s, r->ack.has_id, r->ack.id, "read");
}

static void replay_send_ack(struct replay *r, size_t replayed)
{
    if (!r->has_ack || !r->ack.has_id)
        return;
    bool recovered = !r->ack.epoch_mismatch;
    for (size_t i = 0; i < r->n_reads; i++)
        recovered = recovered && r->reads[i].recovered;
    core_reply(
        r->core, r->session, true, r->ack.id,
        answer_subscribe_ack(r->ack.id, r->reads[0].sub->pattern, replayed, recovered, r->upto));
}

/* From here on each subscription delivers every match after covers_after. */
static void replay_cover(struct replay *r)
{
    for (size_t i = 0; i < r->n_reads; i++) {
        struct replay_read *rd = &r->reads[i];
        if (rd->last > 0)
            rd->sub->covers_after = rd->n_msgs ? rd->first_seq - 1 : r->upto;
        else
            rd->sub->covers_after = rd->since;
    }
}

/* The ack, then the run: ascending, each message once, none that another
 * subscription of the session delivered live. */
static void replay_deliver(struct replay *r)
{
    struct session *s = r->session;
    if (r->n_reads > 1 && r->n_msgs > 1)
        qsort(r->msgs, r->n_msgs, sizeof(*r->msgs), store_msg_cmp_seq);
    bool *skip = calloc(r->n_msgs ? r->n_msgs : 1, sizeof(bool));
    size_t replayed = 0;
    for (size_t i = 0; i < r->n_msgs && skip; i++) {
        skip[i] =
            (i > 0 && r->msgs[i].seq == r->msgs[i - 1].seq) || replay_already_sent(r, &r->msgs[i]);
        replayed += !skip[i];
    }
    replay_send_ack(r, replayed);
    for (size_t i = 0; i < r->n_msgs && skip; i++)
        if (!skip[i])
            session_send_raw(s, s->is_sse ? envelope_encode_sse(&r->msgs[i])
                                          : core_message_frame(r->core, &r->msgs[i]));
    free(skip);
    replay_cover(r);
}

static void replay_finish(struct replay *r)
{
    struct session *s = r->session;
    s->replay_pending = false;
    if (session_is_open(s)) {
        if (r->failed)
            replay_fail(r);
        else
            replay_deliver(r);
        session_release_held(s);
        core_process_deferred(r->core, s);
    }
    replay_free(r);
}

static void replay_read_done(void *arg, struct store_req *sr)
{
    struct replay *r = arg;
    struct replay_read *rd = &r->reads[sr->owner_tag];
    if (sr->status == STORE_OK) {
        rd->n_msgs = sr->n_msgs;
        rd->first_seq = sr->n_msgs ? sr->msgs[0].seq : 0;
        rd->recovered = sr->recovered;
    }
    if (sr->status != STORE_OK || replay_take_msgs(r, sr) < 0)
        r->failed = true;
    if (--r->pending == 0)
        replay_finish(r);
}

int replay_add(struct replay *r, struct subscription *sub, uint64_t since, uint32_t last)
{
    struct store_req *sr = r->n_reads < r->max_reads ? calloc(1, sizeof(*sr)) : NULL;
    if (!sr || !(sr->pattern = strdup(sub->pattern))) {
        free(sr);
        return -1;
    }
    sr->op = STORE_REPLAY;
    sr->since = since;
    sr->last = last;
    sr->upto = r->upto;
    sr->owner_tag = r->n_reads;
    r->reads[r->n_reads++] = (struct replay_read){.sub = sub, .since = since, .last = last};
    sub->covers_after = r->upto; /* until the replay result says more */
    r->pending++;
    core_submit_external(r->core, sr, replay_read_done, r);
    return 0;
}

void replay_start(struct replay *r)
{
    if (r->n_reads == 0) {
        replay_free(r);
        return;
    }
    r->session->replay_pending = true;
    /* A read may have been answered at once (out of memory). */
    if (--r->pending == 0)
        replay_finish(r);
}
