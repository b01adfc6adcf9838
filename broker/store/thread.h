/* SPDX-License-Identifier: MIT */
/*
 * thread.h: an engine's store thread and the two queues that feed it.
 *
 * Owns: the thread, the queue of submitted requests, the list of finished
 * ones, and the housekeeping clock. Why apart from any engine: every engine
 * needs the same hand-off (the event loop must never wait for the disk;
 * requests finish in submission order; one wake per batch), and an engine
 * should only say how to run a batch and how to housekeep.
 *
 * The thread takes every queued request at once (the batch grows with load:
 * group commit), hands the batch to the engine's run_batch, then posts the
 * whole batch, in submission order, to the done list and calls `wake` once.
 * About once a second, between batches, it calls the engine's housekeep
 * (again after a few ms while that reports work left behind).
 *
 * A backup (STORE_BACKUP) is not part of a batch: it waits in a queue of
 * its own, and the thread runs one backup at a time, one slice after each
 * batch (and slice after slice while no batch is queued), until the engine
 * says it is finished; then it alone is posted to the done list.
 *
 * An engine embeds a struct store_thread; its fields are written only by
 * thread.c (the queues under `lock`).
 */
#ifndef WSB_STORE_THREAD_H
#define WSB_STORE_THREAD_H

#include "store/store.h"

#include <pthread.h>

/* What the thread runs, on the thread, for the engine `engine`. */
struct store_thread_jobs {
    /* Runs every request of the batch (a list linked by `next`, of which
     * `n_reads` are not publishes) and sets their results. */
    void (*run_batch)(void *engine, struct store_req *batch, size_t n_reads);
    /* One housekeeping slice; true when it left work behind. */
    bool (*housekeep)(void *engine);
    /* One slice of a backup (the first call starts it); true once it
     * finished, its result set. With `stopping` it must finish at once. */
    bool (*backup_slice)(void *engine, struct store_req *req, bool stopping);
};

struct store_thread {
    const struct store_thread_jobs *jobs;
    void *engine;
    void (*wake)(void *arg);
    void *wake_arg;
    pthread_t thread;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct store_req *queue_head, *queue_tail;
    size_t queued_reads; /* requests in the queue that are not publishes */
    struct store_req *done_head, *done_tail;
    struct store_req *backup_head, *backup_tail; /* backups not started yet */
    bool stopping;

    struct store_req *backup_running; /* the thread's own: the backup in progress */
};

/* Starts the thread. On failure returns -1 with nothing left to undo. */
int store_thread_start(struct store_thread *t, const struct store_thread_jobs *jobs, void *engine,
                       void (*wake)(void *arg), void *wake_arg);

/* Runs what is queued, stops the thread and frees the finished requests
 * nobody took (nobody can take them once the store closes: callers that
 * want every result take them before, or from the wake callback). */
void store_thread_stop(struct store_thread *t);

/* Queues a request (never blocks on the engine's work). */
void store_thread_submit(struct store_thread *t, struct store_req *req);

/* Takes every finished request, oldest first, as a linked list (or NULL). */
struct store_req *store_thread_take_done(struct store_thread *t);

#endif
