/* SPDX-License-Identifier: MIT */
/*
 * wsb_sub.c: subscriptions of a libwsb client: lossless resume and the
 * dispatch of messages and presence events to their callbacks.
 *
 * Each subscription keeps `resume`, a seq such that every matching message
 * up to it has been delivered, plus a small sorted set of seqs above it
 * that were delivered out of order (a replay of one subscription runs while
 * messages of another, overlapping one keep coming). After a reconnect it
 * subscribes with since = resume and the store's epoch; a message is given
 * to the subscription only when its seq is above `resume` and not in the
 * set, so nothing is lost or doubled. Runs on the service thread only.
 */
#include "wsb_sub.h"

#include "common/topic.h"
#include "wsb_frame.h"
#include "wsb_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sub_send(wsb_client *c, struct sub *s);

struct sub *wsb_sub_new(const char *pattern, const struct wsb_sub_options *o)
{
    struct sub *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pattern = strdup(pattern);
    if (o)
        s->o = *o;
    s->o.epoch = NULL;
    if (!s->pattern) {
        free(s);
        return NULL;
    }
    if (s->o.start == WSB_START_SINCE) {
        s->has_resume = 1;
        s->resume = s->o.since;
        if (o->epoch)
            snprintf(s->epoch, sizeof(s->epoch), "%s", o->epoch);
    }
    return s;
}

void wsb_sub_free(struct sub *s)
{
    free(s->pattern);
    free(s->seen);
    free(s);
}

static int seen_find(const struct sub *s, uint64_t seq, size_t *at)
{
    size_t lo = 0, hi = s->n_seen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->seen[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo < s->n_seen && s->seen[lo] == seq;
}

static void seen_prune(struct sub *s)
{
    size_t at;
    seen_find(s, s->resume + 1, &at);
    if (at == 0)
        return;
    memmove(s->seen, s->seen + at, (s->n_seen - at) * sizeof(*s->seen));
    s->n_seen -= at;
}

static void sub_advance(struct sub *s, uint64_t seq)
{
    if (!s->has_resume || seq > s->resume)
        s->resume = seq;
    s->has_resume = 1;
    seen_prune(s);
}

static void seen_add(struct sub *s, uint64_t seq)
{
    size_t at;
    if (seen_find(s, seq, &at))
        return;
    if (s->n_seen == SEEN_LIMIT) {
        /* The broker never finished a replay it announced: stop waiting. */
        sub_advance(s, s->seen[s->n_seen - 1]);
        s->state = SUB_LIVE;
        seen_find(s, seq, &at);
    }
    if (s->n_seen == s->cap_seen) {
        size_t cap = s->cap_seen ? s->cap_seen * 2 : 16;
        uint64_t *seen = realloc(s->seen, cap * sizeof(*seen));
        if (!seen)
            return;
        s->seen = seen;
        s->cap_seen = cap;
    }
    memmove(s->seen + at + 1, s->seen + at, (s->n_seen - at) * sizeof(*s->seen));
    s->seen[at] = seq;
    s->n_seen++;
}

static void sub_finish_replay(struct sub *s)
{
    s->state = SUB_LIVE;
    if (s->replay_upto != UINT64_MAX)
        sub_advance(s, s->replay_upto);
}

/* Whether a message with this seq is new to the subscription. */
static int sub_accepts(const struct sub *s, uint64_t seq)
{
    size_t at;
    if (s->state == SUB_IDLE)
        return 0;
    if (s->state == SUB_WAIT_ACK && !s->has_resume && s->o.start == WSB_START_NOW)
        return 0; /* a live-only subscription starts at its ack */
    if (s->has_resume && seq <= s->resume)
        return 0;
    return !seen_find(s, seq, &at);
}

/* Records a delivery (see the top of this file). */
static void sub_note(struct sub *s, uint64_t seq, uint64_t conflated)
{
    if (s->state == SUB_WAIT_ACK) {
        seen_add(s, seq);
    } else if (s->state == SUB_REPLAY) {
        if (seq > s->replay_upto) {
            seen_add(s, seq);
            return;
        }
        sub_advance(s, seq);
        if (--s->replay_left == 0)
            sub_finish_replay(s);
    } else if (conflated) {
        /* It took an older message's place: messages of other topics with
         * lower seqs may still follow, so it does not move `resume`. */
        seen_add(s, seq);
    } else {
        sub_advance(s, seq);
    }
}

int wsb_sub_registry_add(wsb_client *c, const char *pattern)
{
    struct pattern_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->pattern = strdup(pattern))) {
        free(e);
        return WSB_ENOMEM;
    }
    pthread_mutex_lock(&c->lock);
    for (struct pattern_entry *x = c->registry; x; x = x->next) {
        if (strcmp(x->pattern, pattern) == 0) {
            pthread_mutex_unlock(&c->lock);
            free(e->pattern);
            free(e);
            return WSB_EINVAL;
        }
    }
    e->next = c->registry;
    c->registry = e;
    pthread_mutex_unlock(&c->lock);
    return WSB_OK;
}

int wsb_sub_registry_remove(wsb_client *c, const char *pattern)
{
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (struct pattern_entry **pp = &c->registry; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->pattern, pattern) == 0) {
            struct pattern_entry *e = *pp;
            *pp = e->next;
            free(e->pattern);
            free(e);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Frees the dead subscriptions unless a dispatch is iterating them. */
static void sub_sweep(wsb_client *c)
{
    struct sub **pp = &c->subs;
    while (*pp) {
        struct sub *s = *pp;
        if (s->dead) {
            *pp = s->next;
            wsb_sub_free(s);
        } else {
            pp = &s->next;
        }
    }
}

void wsb_sub_kill(wsb_client *c, struct sub *s)
{
    s->dead = 1;
    if (s->pending) {
        s->pending->sub = NULL;
        s->pending = NULL;
    }
    if (s->first_waiter) {
        wsb_waiter_complete(c, s->first_waiter, wsb_reply_local(WSB_ECLOSED, "unsubscribed"));
        s->first_waiter = NULL;
    }
    if (!c->dispatching)
        sub_sweep(c);
}

void wsb_sub_kill_all(wsb_client *c)
{
    c->dispatching = 1;
    for (struct sub *s = c->subs; s; s = s->next)
        wsb_sub_kill(c, s);
    c->dispatching = 0;
    sub_sweep(c);
}

void wsb_sub_add(wsb_client *c, struct sub *s, struct waiter *first_waiter)
{
    struct sub **pp = &c->subs;
    s->first_waiter = first_waiter;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    if (c->state == CONN_READY)
        sub_send(c, s);
}

struct sub *wsb_sub_find(wsb_client *c, const char *pattern)
{
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->dead && strcmp(s->pattern, pattern) == 0)
            return s;
    return NULL;
}

/* Sends the subscribe frame for s on the current connection. */
static void sub_send(wsb_client *c, struct sub *s)
{
    struct request *r = wsb_req_new(REQ_SUBSCRIBE);
    struct frame f;
    if (!r)
        return;
    r->id = wsb_take_id(c);
    wsb_frame_begin(&f, 128 + strlen(s->pattern), "subscribe", r->id, s->pattern);
    if (s->has_resume) {
        wsb_frame_str(&f, ",\"since\":");
        wsb_frame_u64(&f, s->resume);
        if (s->epoch[0]) {
            wsb_frame_str(&f, ",\"epoch\":");
            wsb_frame_quoted(&f, s->epoch);
            if (strcmp(s->epoch, c->epoch) != 0) {
                /* Another store: its seqs mean nothing here. Take all. */
                s->resume = 0;
                s->n_seen = 0;
            }
        }
    } else if (s->o.start == WSB_START_LAST) {
        wsb_frame_str(&f, ",\"last\":");
        wsb_frame_u64(&f, s->o.last);
    }
    if (s->o.presence)
        wsb_frame_str(&f, ",\"presence\":true");
    if (s->o.conflate)
        wsb_frame_str(&f, s->o.conflate > 0 ? ",\"conflate\":true" : ",\"conflate\":false");
    wsb_frame_str(&f, "}");
    if (wsb_req_set_frame(r, &f, 0) < 0 || wsb_req_track(c, r) < 0) {
        wsb_req_free(r);
        return;
    }
    r->sub = s;
    s->pending = r;
    s->state = SUB_WAIT_ACK;
}

void wsb_sub_reset_all(wsb_client *c)
{
    for (struct sub *s = c->subs; s; s = s->next) {
        s->state = SUB_IDLE;
        s->pending = NULL;
        s->replay_left = 0;
    }
}

/* Subscriptions go before the other requests still waiting: a publish
 * resent after a reconnect is then seen by them. */
void wsb_sub_resend_all(wsb_client *c)
{
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->dead)
            sub_send(c, s);
}

void wsb_sub_lose_request(struct sub *s)
{
    s->pending = NULL;
}

static void sub_deliver_first(wsb_client *c, struct sub *s, struct wsb_reply_box *box)
{
    wsb_call_reply(c, s->o.on_ack, s->o.arg, &box->r);
    if (s->first_waiter) {
        wsb_waiter_complete(c, s->first_waiter, box);
        s->first_waiter = NULL;
    } else {
        wsb_reply_box_free(box);
    }
}

static void sub_take_ack(wsb_client *c, struct sub *s, struct wsb_reply_box *box)
{
    s->pending = NULL;
    wsb_reply_set_topic(box, s->pattern);
    if (box->r.status != WSB_OK) {
        wsb_sub_registry_remove(c, s->pattern);
        struct waiter *w = s->first_waiter;
        s->first_waiter = NULL;
        wsb_call_reply(c, s->o.on_ack, s->o.arg, &box->r);
        wsb_sub_kill(c, s);
        if (w)
            wsb_waiter_complete(c, w, box);
        else
            wsb_reply_box_free(box);
        return;
    }
    box->r.resumed = s->acks > 0;
    s->acks++;
    snprintf(s->epoch, sizeof(s->epoch), "%s", c->epoch);
    s->replay_upto = box->r.seq ? box->r.seq : UINT64_MAX;
    s->replay_left = box->r.replayed > 0 ? (uint64_t)box->r.replayed : 0;
    if (s->replay_left == 0)
        sub_finish_replay(s);
    else
        s->state = SUB_REPLAY;
    if (!box->r.recovered) {
        struct wsb_event ev = {.type = WSB_EVENT_GAP,
                               .message = "subscription resumed with a gap (recovered:false)",
                               .topic = s->pattern,
                               .retry_ms = -1};
        wsb_emit(c, &ev);
    }
    sub_deliver_first(c, s, box);
}

void wsb_dispatch_message(wsb_client *c, const struct wsb_message *m)
{
    c->dispatching++;
    for (struct sub *s = c->subs; s; s = s->next) {
        if (s->dead || !topic_matches(s->pattern, m->topic) || !sub_accepts(s, m->seq))
            continue;
        sub_note(s, m->seq, m->conflated);
        if (s->o.on_message) {
            c->callback_depth++;
            s->o.on_message(c, m, s->o.arg);
            c->callback_depth--;
        }
    }
    if (--c->dispatching == 0)
        sub_sweep(c);
}

void wsb_dispatch_presence(wsb_client *c, json_t *root, int joined)
{
    struct wsb_presence_event ev = {
        .topic = json_string_value(json_object_get(root, "topic")),
        .client = json_string_value(json_object_get(root, "client")),
        .user = json_string_value(json_object_get(root, "user")),
        .joined = joined,
    };
    if (!ev.topic || !ev.client)
        return;
    c->dispatching++;
    for (struct sub *s = c->subs; s; s = s->next) {
        if (s->dead || !s->o.presence || !s->o.on_presence || strcmp(s->pattern, ev.topic))
            continue;
        c->callback_depth++;
        s->o.on_presence(c, &ev, s->o.arg);
        c->callback_depth--;
    }
    if (--c->dispatching == 0)
        sub_sweep(c);
}

void wsb_sub_on_ack(wsb_client *c, struct sub *s, struct wsb_reply_box *box)
{
    /* The callbacks may unsubscribe: keep s alive until they return. */
    c->dispatching++;
    sub_take_ack(c, s, box);
    if (--c->dispatching == 0)
        sub_sweep(c);
}
