/* SPDX-License-Identifier: MIT */
/*
 * thread.c: the store thread and its queues (see thread.h).
 *
 * The thread sleeps on `cond` until a request is queued, the store stops,
 * or housekeeping is due; it holds `lock` only to move list heads, never
 * while the engine works.
 */
#include "store/thread.h"

#include "common/clock.h"

#include <time.h>

#define STORE_HOUSEKEEP_MS 1000     /* housekeeping period */
#define STORE_HOUSEKEEP_AGAIN_MS 10 /* next tick when a slice left work behind */

/* Waits on `cond` (lock held) until the monotonic time `deadline_ms`. */
static void store_thread_wait_until(struct store_thread *t, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_cond_timedwait(&t->cond, &t->lock, &ts);
}

/* Appends the chain first..last to the list head..tail (lock held). */
static void store_thread_append(struct store_req **head, struct store_req **tail,
                                struct store_req *first, struct store_req *last)
{
    if (*tail)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

/* Posts the finished chain first..last to the done list and wakes the caller. */
static void store_thread_post(struct store_thread *t, struct store_req *first,
                              struct store_req *last)
{
    pthread_mutex_lock(&t->lock);
    store_thread_append(&t->done_head, &t->done_tail, first, last);
    pthread_mutex_unlock(&t->lock);
    if (t->wake)
        t->wake(t->wake_arg);
}

/* Runs one batch and posts it, in submission order, to the done list. */
static void store_thread_run_batch(struct store_thread *t, struct store_req *batch,
                                   struct store_req *tail, size_t n_reads)
{
    t->jobs->run_batch(t->engine, batch, n_reads);
    store_thread_post(t, batch, tail);
}

/* Takes the next queued backup when none runs (lock held). */
static void store_thread_next_backup(struct store_thread *t)
{
    if (t->backup_running || !t->backup_head)
        return;
    t->backup_running = t->backup_head;
    t->backup_head = t->backup_head->next;
    if (!t->backup_head)
        t->backup_tail = NULL;
    t->backup_running->next = NULL;
}

/* One slice of the running backup; posts it once it finished. */
static void store_thread_backup_slice(struct store_thread *t, bool stopping)
{
    struct store_req *req = t->backup_running;
    if (!req || !t->jobs->backup_slice(t->engine, req, stopping))
        return;
    t->backup_running = NULL;
    store_thread_post(t, req, req);
}

static void *store_thread_main(void *arg)
{
    struct store_thread *t = arg;
    int64_t next_housekeep = clock_mono_ms() + STORE_HOUSEKEEP_MS;
    for (;;) {
        pthread_mutex_lock(&t->lock);
        store_thread_next_backup(t);
        while (!t->queue_head && !t->stopping && !t->backup_running &&
               clock_mono_ms() < next_housekeep) {
            store_thread_wait_until(t, next_housekeep);
            store_thread_next_backup(t);
        }
        struct store_req *batch = t->queue_head;
        struct store_req *tail = t->queue_tail;
        size_t n_reads = t->queued_reads;
        t->queue_head = t->queue_tail = NULL;
        t->queued_reads = 0;
        bool stopping = t->stopping;
        bool backups_queued = t->backup_head != NULL;
        pthread_mutex_unlock(&t->lock);

        if (batch)
            store_thread_run_batch(t, batch, tail, n_reads);
        store_thread_backup_slice(t, stopping);
        if (!batch && stopping && !t->backup_running && !backups_queued)
            break;
        if (!stopping && clock_mono_ms() >= next_housekeep) {
            bool again = t->jobs->housekeep(t->engine);
            next_housekeep =
                clock_mono_ms() + (again ? STORE_HOUSEKEEP_AGAIN_MS : STORE_HOUSEKEEP_MS);
        }
    }
    return NULL;
}

/* The lock, and a condition variable whose timed waits use the monotonic
 * clock (a wall-clock jump must not stall housekeeping). */
static int store_thread_init_sync(struct store_thread *t)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&t->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        pthread_cond_destroy(&t->cond);
        return -1;
    }
    return 0;
}

int store_thread_start(struct store_thread *t, const struct store_thread_jobs *jobs, void *engine,
                       void (*wake)(void *arg), void *wake_arg)
{
    *t = (struct store_thread){.jobs = jobs, .engine = engine, .wake = wake, .wake_arg = wake_arg};
    if (store_thread_init_sync(t) != 0)
        return -1;
    if (pthread_create(&t->thread, NULL, store_thread_main, t) != 0) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->cond);
        return -1;
    }
    return 0;
}

void store_thread_stop(struct store_thread *t)
{
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);

    struct store_req *req = t->done_head;
    while (req) {
        struct store_req *next = req->next;
        store_req_free(req);
        req = next;
    }
    t->done_head = t->done_tail = NULL;
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
}

void store_thread_submit(struct store_thread *t, struct store_req *req)
{
    req->next = NULL;
    pthread_mutex_lock(&t->lock);
    if (req->op == STORE_BACKUP)
        store_thread_append(&t->backup_head, &t->backup_tail, req, req);
    else
        store_thread_append(&t->queue_head, &t->queue_tail, req, req);
    if (req->op != STORE_PUBLISH && req->op != STORE_BACKUP)
        t->queued_reads++;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

struct store_req *store_thread_take_done(struct store_thread *t)
{
    pthread_mutex_lock(&t->lock);
    struct store_req *done = t->done_head;
    t->done_head = t->done_tail = NULL;
    pthread_mutex_unlock(&t->lock);
    return done;
}
