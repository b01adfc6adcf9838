/* SPDX-License-Identifier: MIT */
/*
 * sqlite_backup.h: the SQLite engine's online backup (STORE_BACKUP).
 * Only store/sqlite_*.c include it.
 */
#ifndef WSB_STORE_SQLITE_BACKUP_H
#define WSB_STORE_SQLITE_BACKUP_H

#include <stdbool.h>

struct sqlite_store;
struct store_req;

/* One slice of the backup `req` (the first call starts it), on the store
 * thread between batches. Returns true once the backup finished, with
 * req->status and its results set; with `stopping` it gives up at once. */
bool sqlite_backup_slice(struct sqlite_store *st, struct store_req *req, bool stopping);

#endif
