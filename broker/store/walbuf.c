/* SPDX-License-Identifier: MIT */
/*
 * walbuf.c: the write-gathering VFS for the store's WAL (see walbuf.h).
 *
 * A walbuf_file wraps the default VFS's file, which lives right after it in
 * the memory SQLite gives xOpen. Only WAL files get a buffer; the methods
 * of other files just pass through.
 */
#include "store/walbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_NAME "wsb-walbuf"
/* Room for about 250 frames of 4 KiB pages: a commit of a few hundred
 * messages on many topics fits in one write. */
#define WALBUF_CAP (1024 * 1024)
#define WALBUF_WRITE_MAX (120 * 1024) /* per call to the default VFS */

struct walbuf_file {
    sqlite3_file base;   /* pMethods: walbuf_methods */
    sqlite3_file *real;  /* the default VFS's file, after this struct */
    unsigned char *buf;  /* NULL: not a WAL file (or out of memory) */
    size_t len;          /* bytes in buf */
    sqlite3_int64 start; /* file offset of buf[0]; start + len: where the last write ended */
    bool commit_pending; /* buf ends with the header of a commit frame */
};

/* A WAL frame header: page number, then the database size in pages after
 * the commit for the last frame of a transaction, 0 for any other. */
#define WAL_FRAME_HEADER 24

/* The wrapped file starts at this offset, 8-byte aligned. */
#define WALBUF_FILE_SIZE ((sizeof(struct walbuf_file) + 7) & ~(size_t)7)

static sqlite3_vfs *real_vfs;
static sqlite3_vfs walbuf_vfs_obj;
static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_registered;

/* ---- The buffer ---------------------------------------------------------- */

/* Writes out what the buffer holds, in pieces the default VFS takes whole
 * (its unixWrite keeps only the low 17 bits of a length: at most 128 KiB
 * per call). The buffer is empty afterwards even when a write failed:
 * those frames belong to a transaction SQLite now rolls back. */
static int walbuf_flush(struct walbuf_file *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; done < f->len && rc == SQLITE_OK;) {
        size_t piece = f->len - done < WALBUF_WRITE_MAX ? f->len - done : WALBUF_WRITE_MAX;
        rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)piece,
                                       f->start + (sqlite3_int64)done);
        done += piece;
    }
    f->start += (sqlite3_int64)f->len;
    f->len = 0;
    f->commit_pending = false;
    return rc;
}

static bool is_commit_header(const unsigned char *bytes, int amt)
{
    return amt == WAL_FRAME_HEADER && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

static int walbuf_overlaps(const struct walbuf_file *f, sqlite3_int64 off, int amt)
{
    return f->len > 0 && off < f->start + (sqlite3_int64)f->len && off + amt > f->start;
}

/* ---- File methods --------------------------------------------------------- */

static int walbuf_close(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = walbuf_flush(f);
    int close_rc = f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : close_rc;
}

static int walbuf_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    if (walbuf_overlaps(f, off, amt)) {
        int rc = walbuf_flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xRead(f->real, out, amt, off);
}

/* Appends what continues the last write; anything else (a frame rewritten
 * in place, a WAL started over) goes out at once, after the buffer. The
 * page after a commit frame's header sends the buffer out: the transaction
 * is then in the file before SQLite publishes it to other connections, with
 * or without a sync, and a failed write fails the commit. */
static int walbuf_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    if (!f->buf)
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    if (off != f->start + (sqlite3_int64)f->len || f->len + (size_t)amt > WALBUF_CAP) {
        int rc = walbuf_flush(f);
        if (rc == SQLITE_OK)
            rc = f->real->pMethods->xWrite(f->real, data, amt, off);
        f->start = off + amt;
        /* A commit header that did not fit: its page (next) goes out with it. */
        f->commit_pending = rc == SQLITE_OK && is_commit_header(data, amt);
        return rc;
    }
    bool ends_commit = f->commit_pending;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += (size_t)amt;
    f->commit_pending = is_commit_header(data, amt);
    return ends_commit ? walbuf_flush(f) : SQLITE_OK;
}

static int walbuf_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int walbuf_sync(sqlite3_file *file, int flags)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int walbuf_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int walbuf_lock(sqlite3_file *file, int level)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int walbuf_unlock(sqlite3_file *file, int level)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int walbuf_check_reserved(sqlite3_file *file, int *out)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int walbuf_file_control(sqlite3_file *file, int op, void *arg)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = walbuf_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int walbuf_sector_size(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int walbuf_device_characteristics(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int walbuf_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

static int walbuf_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void walbuf_shm_barrier(sqlite3_file *file)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}

static int walbuf_shm_unmap(sqlite3_file *file, int delete_flag)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int walbuf_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    int rc = walbuf_flush(f);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return rc;
    }
    return f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int walbuf_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    struct walbuf_file *f = (struct walbuf_file *)file;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods walbuf_methods = {
    .iVersion = 3,
    .xClose = walbuf_close,
    .xRead = walbuf_read,
    .xWrite = walbuf_write,
    .xTruncate = walbuf_truncate,
    .xSync = walbuf_sync,
    .xFileSize = walbuf_file_size,
    .xLock = walbuf_lock,
    .xUnlock = walbuf_unlock,
    .xCheckReservedLock = walbuf_check_reserved,
    .xFileControl = walbuf_file_control,
    .xSectorSize = walbuf_sector_size,
    .xDeviceCharacteristics = walbuf_device_characteristics,
    .xShmMap = walbuf_shm_map,
    .xShmLock = walbuf_shm_lock,
    .xShmBarrier = walbuf_shm_barrier,
    .xShmUnmap = walbuf_shm_unmap,
    .xFetch = walbuf_fetch,
    .xUnfetch = walbuf_unfetch,
};

/* ---- VFS methods ---------------------------------------------------------- */

static int walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                       int *out_flags)
{
    (void)vfs;
    struct walbuf_file *f = (struct walbuf_file *)file;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)file + WALBUF_FILE_SIZE);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        return rc; /* base.pMethods stays NULL: SQLite will not call xClose */
    }
    if (f->real->pMethods->iVersion < 3) {
        f->real->pMethods->xClose(f->real);
        return SQLITE_CANTOPEN;
    }
    if (flags & SQLITE_OPEN_WAL)
        f->buf = malloc(WALBUF_CAP); /* NULL: this file just passes through */
    f->base.pMethods = &walbuf_methods;
    return SQLITE_OK;
}

static int walbuf_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int walbuf_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int walbuf_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *walbuf_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void walbuf_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*walbuf_dl_sym(sqlite3_vfs *vfs, void *handle, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, handle, sym);
}

static void walbuf_dl_close(sqlite3_vfs *vfs, void *handle)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, handle);
}

static int walbuf_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int walbuf_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int walbuf_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int walbuf_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int walbuf_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void walbuf_register(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs || real_vfs->iVersion < 2)
        return;
    walbuf_vfs_obj = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)(WALBUF_FILE_SIZE + (size_t)real_vfs->szOsFile),
        .mxPathname = real_vfs->mxPathname,
        .zName = WALBUF_NAME,
        .xOpen = walbuf_open,
        .xDelete = walbuf_delete,
        .xAccess = walbuf_access,
        .xFullPathname = walbuf_full_pathname,
        .xDlOpen = walbuf_dl_open,
        .xDlError = walbuf_dl_error,
        .xDlSym = walbuf_dl_sym,
        .xDlClose = walbuf_dl_close,
        .xRandomness = walbuf_randomness,
        .xSleep = walbuf_sleep,
        .xCurrentTime = walbuf_current_time,
        .xGetLastError = walbuf_last_error,
        .xCurrentTimeInt64 = walbuf_current_time64,
    };
    walbuf_registered = sqlite3_vfs_register(&walbuf_vfs_obj, 0) == SQLITE_OK;
}

const char *walbuf_vfs(void)
{
    pthread_once(&walbuf_once, walbuf_register);
    return walbuf_registered ? WALBUF_NAME : NULL;
}
