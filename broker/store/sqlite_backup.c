/* SPDX-License-Identifier: MIT */
/*
 * sqlite_backup.c: a consistent copy of a running store (STORE_BACKUP).
 *
 * Owns: the copy in progress (`struct backup_copy`, hung on the request)
 * and the file it writes. Why SQLite's online backup API in slices rather
 * than VACUUM INTO: both would have to run on the store thread, the only
 * one that touches the database (docs/design.md section 4), and VACUUM INTO
 * copies the whole file in one statement, holding every publish behind it
 * for as long as that takes. sqlite3_backup_step copies a slice of pages
 * between two batches, so a publish waits for one slice at most. The copy
 * reads through the store's own connection, which is also what keeps it
 * consistent: SQLite writes every page a later commit on that connection
 * changes into the copy too, so the copy never restarts and ends as the
 * store is when its last slice runs, with everything acknowledged before
 * the backup was asked for (engine.h, Backup).
 *
 * The copy is written to "PATH.partial" (created with O_EXCL, mode 0600)
 * and renamed to PATH once complete and synced: PATH is either absent or a
 * whole database. The copy then gets a new epoch and the rollback journal
 * (one self-contained file; a broker opening it switches it to WAL again).
 */
#include "store/sqlite_backup.h"

#include "store/sqlite_int.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pages per slice: 256 pages of 4 KiB are 1 MiB, a few ms of copying. */
#define BACKUP_SLICE_PAGES 256
#define BACKUP_PARTIAL_SUFFIX ".partial"

struct backup_copy {
    sqlite3 *dest;
    sqlite3_backup *backup;
    char partial[PATH_MAX]; /* the file being written */
};

/* Ends the backup with `status` and a reason; removes the partial file. */
static bool backup_fail(struct store_req *req, enum store_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void backup_copy_free(struct store_req *req, bool remove_partial)
{
    struct backup_copy *copy = req->progress;
    if (!copy)
        return;
    if (copy->backup)
        sqlite3_backup_finish(copy->backup);
    sqlite3_close(copy->dest);
    if (remove_partial)
        unlink(copy->partial);
    free(copy);
    req->progress = NULL;
}

static bool backup_fail(struct store_req *req, enum store_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->backup_error, sizeof(req->backup_error), fmt, ap);
    va_end(ap);
    backup_copy_free(req, true);
    req->status = status;
    log_warn("backup to %s failed: %s", req->backup_path, req->backup_error);
    return true;
}

/* Creates the partial file (it must not exist, nor PATH) and starts the
 * copy into it. Returns true when it failed (the backup is finished). */
static bool backup_begin(struct sqlite_store *st, struct store_req *req)
{
    struct stat sb;
    if (lstat(req->backup_path, &sb) == 0)
        return backup_fail(req, STORE_INTERNAL, "the file exists");
    struct backup_copy *copy = calloc(1, sizeof(*copy));
    if (!copy)
        return backup_fail(req, STORE_INTERNAL, "out of memory");
    req->progress = copy;
    int n = snprintf(copy->partial, sizeof(copy->partial), "%s%s", req->backup_path,
                     BACKUP_PARTIAL_SUFFIX);
    if (n < 0 || (size_t)n >= sizeof(copy->partial)) {
        copy->partial[0] = '\0';
        return backup_fail(req, STORE_INTERNAL, "the path is too long");
    }
    int fd = open(copy->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int saved = errno;
        copy->partial[0] = '\0'; /* not ours: leave it */
        return backup_fail(req, STORE_INTERNAL, "%s%s: %s", req->backup_path, BACKUP_PARTIAL_SUFFIX,
                           strerror(saved));
    }
    close(fd);
    if (sqlite3_open_v2(copy->partial, &copy->dest, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return backup_fail(req, STORE_INTERNAL, "%s", sqlite3_errmsg(copy->dest));
    copy->backup = sqlite3_backup_init(copy->dest, "main", st->db, "main");
    if (!copy->backup)
        return backup_fail(req, STORE_INTERNAL, "%s", sqlite3_errmsg(copy->dest));
    log_info("backup to %s started", req->backup_path);
    return false;
}

/* Syncs the directory holding `path`, so that a rename into it is durable. */
static int backup_sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The copy is whole: its own epoch, one file, synced, then renamed to PATH. */
static bool backup_complete(struct sqlite_store *st, struct store_req *req)
{
    struct backup_copy *copy = req->progress;
    sqlite3_backup_finish(copy->backup);
    copy->backup = NULL;
    req->backup_seq = atomic_load(&st->last_seq);
    static const char seal_sql[] =
        "UPDATE meta SET value = lower(hex(randomblob(4))) WHERE key = 'epoch';"
        "PRAGMA journal_mode = DELETE;";
    if (sqlite3_exec(copy->dest, seal_sql, NULL, NULL, NULL) != SQLITE_OK)
        return backup_fail(req, STORE_INTERNAL, "%s", sqlite3_errmsg(copy->dest));
    sqlite3_close(copy->dest);
    copy->dest = NULL;
    struct stat sb;
    int fd = open(copy->partial, O_RDONLY | O_CLOEXEC);
    bool synced = fd >= 0 && fsync(fd) == 0 && fstat(fd, &sb) == 0;
    if (fd >= 0)
        close(fd);
    if (!synced || rename(copy->partial, req->backup_path) != 0 ||
        backup_sync_dir(req->backup_path) != 0)
        return backup_fail(req, STORE_INTERNAL, "%s", strerror(errno));
    req->backup_bytes = (uint64_t)sb.st_size;
    backup_copy_free(req, false);
    req->status = STORE_OK;
    log_info("backup to %s done: %llu bytes, up to seq %llu", req->backup_path,
             (unsigned long long)req->backup_bytes, (unsigned long long)req->backup_seq);
    return true;
}

bool sqlite_backup_slice(struct sqlite_store *st, struct store_req *req, bool stopping)
{
    if (stopping)
        return backup_fail(req, STORE_UNAVAILABLE, "the broker is stopping");
    if (!req->progress)
        return backup_begin(st, req);
    struct backup_copy *copy = req->progress;
    int rc = sqlite3_backup_step(copy->backup, BACKUP_SLICE_PAGES);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return false;
    if (rc != SQLITE_DONE)
        return backup_fail(req, STORE_INTERNAL, "%s", sqlite3_errstr(rc));
    return backup_complete(st, req);
}
