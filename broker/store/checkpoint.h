/* SPDX-License-Identifier: MIT */
/*
 * checkpoint.h: WAL checkpoints on a thread of their own.
 *
 * Owns: a second SQLite connection to the database file and the thread that
 * runs PASSIVE checkpoints on it when the store asks. Why: SQLite's automatic
 * checkpoint runs inside the COMMIT that crosses the threshold, on the store
 * thread, and copies the whole WAL (tens of MB) into the database file and
 * fsyncs it: every publish of that batch, and every batch queued behind it,
 * waited for it (p99 publish-to-deliver of 90 ms with --durability os). A
 * PASSIVE checkpoint on another connection runs beside the writer without
 * blocking it; the writer restarts the WAL from the start once everything
 * was copied. Durability does not change: a commit is durable when its WAL
 * frames are synced, which the writer still does before any ack.
 */
#ifndef WSB_CHECKPOINT_H
#define WSB_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

struct checkpointer;

/* Opens the connection (the database exists, in WAL mode) and starts the
 * thread. `full_sync`: fsync the database file as synchronous=FULL does. */
struct checkpointer *checkpointer_start(const char *path, bool full_sync, char *err, size_t errlen);

/* Asks for a checkpoint (cheap; called from the writer's WAL hook). */
void checkpointer_poke(struct checkpointer *c);

/* Stops the thread (after a checkpoint in progress) and closes. */
void checkpointer_stop(struct checkpointer *c);

#endif
