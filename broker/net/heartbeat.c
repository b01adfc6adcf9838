/* SPDX-License-Identifier: MIT */
/*
 * heartbeat.c: pings and silent peers (see heartbeat.h).
 */
#include "net/heartbeat.h"

#include <stddef.h>

#include "net/conn.h"

void heartbeat_init(struct heartbeat *hb, int interval_s)
{
    hb->head = hb->tail = NULL;
    hb->interval_ms = (int64_t)interval_s * 1000;
    hb->next_tick_ms = 0;
}

static void unlink_conn(struct heartbeat *hb, struct conn *s)
{
    if (s->hb_prev)
        s->hb_prev->hb_next = s->hb_next;
    else
        hb->head = s->hb_next;
    if (s->hb_next)
        s->hb_next->hb_prev = s->hb_prev;
    else
        hb->tail = s->hb_prev;
    s->hb_prev = s->hb_next = NULL;
}

void heartbeat_touch(struct heartbeat *hb, struct conn *s, int64_t now_ms)
{
    s->hb_heard_ms = now_ms;
    s->hb_pinged = false;
    if (hb->tail == s)
        return;
    if (s->hb_listed)
        unlink_conn(hb, s);
    s->hb_listed = true;
    s->hb_prev = hb->tail;
    if (hb->tail)
        hb->tail->hb_next = s;
    else
        hb->head = s;
    hb->tail = s;
}

void heartbeat_remove(struct heartbeat *hb, struct conn *s)
{
    if (!s->hb_listed)
        return;
    unlink_conn(hb, s);
    s->hb_listed = false;
}

void heartbeat_tick(struct heartbeat *hb, int64_t now_ms, void (*ping)(struct conn *),
                    void (*drop)(struct conn *))
{
    if (now_ms < hb->next_tick_ms)
        return;
    /* A quarter of the interval, at most a second: pings and drops happen
     * within that much of their due time. */
    int64_t step = hb->interval_ms / 4 < 1000 ? hb->interval_ms / 4 : 1000;
    hb->next_tick_ms = now_ms + (step > 0 ? step : 1);
    struct conn *s = hb->head;
    while (s && now_ms - s->hb_heard_ms >= hb->interval_ms) {
        struct conn *next = s->hb_next;
        if (now_ms - s->hb_heard_ms >= 3 * hb->interval_ms) {
            heartbeat_remove(hb, s);
            drop(s);
        } else if (!s->hb_pinged) {
            s->hb_pinged = true;
            ping(s);
        }
        s = next;
    }
}

int heartbeat_wait_ms(const struct heartbeat *hb, int64_t now_ms)
{
    int64_t wait = hb->next_tick_ms - now_ms;
    return wait < 1 ? 1 : wait > 1000 ? 1000 : (int)wait;
}
