/* SPDX-License-Identifier: MIT */
/*
 * checkpoint.c: the checkpoint thread (see checkpoint.h).
 */
#include "store/checkpoint.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"

#define CHECKPOINT_BUSY_TIMEOUT_MS 5000

struct checkpointer {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool wanted; /* a checkpoint was asked for */
    bool stopping;
};

static void checkpointer_run_one(struct checkpointer *c)
{
    int wal_pages = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warn("store: checkpoint: %s", sqlite3_errmsg(c->db));
    else
        log_debug("store: checkpoint copied %d of %d WAL pages", copied, wal_pages);
}

static void *checkpointer_main(void *arg)
{
    struct checkpointer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->stopping)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->stopping)
            break;
        c->wanted = false;
        pthread_mutex_unlock(&c->lock);
        checkpointer_run_one(c);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void checkpointer_free(struct checkpointer *c)
{
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

struct checkpointer *checkpointer_start(const char *path, bool full_sync, char *err, size_t errlen)
{
    struct checkpointer *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(c->db, CHECKPOINT_BUSY_TIMEOUT_MS) != SQLITE_OK ||
        sqlite3_exec(c->db, full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                     NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: checkpoint connection: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        checkpointer_free(c);
        return NULL;
    }
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        snprintf(err, errlen, "%s: cannot start the checkpoint thread", path);
        checkpointer_free(c);
        return NULL;
    }
    return c;
}

void checkpointer_poke(struct checkpointer *c)
{
    pthread_mutex_lock(&c->lock);
    c->wanted = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void checkpointer_stop(struct checkpointer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    checkpointer_free(c);
}
