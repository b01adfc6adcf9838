/* SPDX-License-Identifier: MIT */
/*
 * powercut_shim.c: an LD_PRELOAD library that simulates a power cut for
 * the files of one directory, for tests/reliability/fsync.test.mjs.
 *
 * Why: kill -9 keeps everything the process wrote (the page cache
 * survives), so it cannot show whether an acknowledged message had reached
 * the disk. A power cut keeps only what an fsync made durable. This shim
 * records, for every regular file opened under $WSB_POWERCUT_DIR, the
 * writes made since the file's last successful fsync/fdatasync (an undo
 * log: the bytes each write overwrote, and the size at the last sync).
 * When a line is written to the FIFO $WSB_POWERCUT_FIFO, a watcher thread
 * takes the shim's lock (so no tracked write or sync is half done),
 * rolls every tracked file back to its content at its last sync (undo
 * records applied newest first, then a truncate to the synced size),
 * prints one "powercut:" line per file on stderr, and SIGKILLs the
 * process. Every tracked write and sync holds the same lock, so a sync
 * that returned before the cut counts, one that did not has not happened.
 * With $WSB_POWERCUT_AFTER_WAL_WRITES=N the cut also happens by itself
 * right after the Nth write to a file whose name ends in "-wal" (inside a
 * transaction, before its fsync), which puts cut points where a FIFO
 * message from outside rarely lands.
 *
 * Model and limits: "everything not fsynced is lost, everything fsynced is
 * kept" per file (one outcome a real power cut may have; torn or reordered
 * unsynced writes are not simulated). Durability is per inode, so a sync
 * through any descriptor covers writes made through another. Directory
 * entries (creation, unlink, rename) are not modelled. SQLite's "-shm"
 * file is not tracked at all: it is a memory-mapped index, not data (the
 * first connection that opens the database truncates it and rebuilds it
 * from the WAL), and truncating it under the live mapping would kill the
 * process with SIGBUS instead of the cut's SIGKILL.
 *
 * Interposed: open, open64, openat, openat64, close, write, pwrite,
 * pwrite64, ftruncate, ftruncate64, fsync, fdatasync (SQLite's unix VFS
 * uses open64, pwrite64, ftruncate64 and fdatasync on Linux).
 *
 * Build (run.sh does): cc -std=c17 -shared -fPIC -O2 -o powercut_shim.so powercut_shim.c -ldl
 *        -lpthread
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SHIM_MAX_FD 65536
#define SHIM_MAX_FILES 64
#define SHIM_PATH_MAX 4096

/* Bytes a tracked write or truncate replaced: put back on a cut. */
struct undo {
    off_t offset;
    size_t len;
    unsigned char *old;
};

/* One tracked file (by inode). */
struct tracked {
    dev_t dev;
    ino_t ino;
    char path[SHIM_PATH_MAX];
    off_t synced_size;
    struct undo *undos;
    size_t n_undos;
    size_t cap_undos;
    size_t n_unsynced_writes; /* writes and truncates since the last sync */
    size_t n_synced_writes;   /* writes made durable by a sync, for the report */
};

static struct {
    pthread_mutex_t lock;
    char dir[SHIM_PATH_MAX];
    size_t dir_len;
    long cut_after_wal_writes; /* 0: only the FIFO cuts */
    long wal_writes;
    struct tracked files[SHIM_MAX_FILES];
    int n_files;
    unsigned char fd_file[SHIM_MAX_FD]; /* fd -> 1 + index in files, 0: not tracked */
    int (*real_open)(const char *, int, ...);
    int (*real_open64)(const char *, int, ...);
    int (*real_openat)(int, const char *, int, ...);
    int (*real_openat64)(int, const char *, int, ...);
    int (*real_close)(int);
    ssize_t (*real_write)(int, const void *, size_t);
    ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
    ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
    int (*real_ftruncate)(int, off_t);
    int (*real_ftruncate64)(int, off_t);
    int (*real_fsync)(int);
    int (*real_fdatasync)(int);
} shim = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *shim_sym(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn) {
        fprintf(stderr, "powercut: no symbol %s\n", name);
        abort();
    }
    return fn;
}

static void shim_resolve_once(void)
{
    shim.real_open = shim_sym("open");
    shim.real_open64 = shim_sym("open64");
    shim.real_openat = shim_sym("openat");
    shim.real_openat64 = shim_sym("openat64");
    shim.real_close = shim_sym("close");
    shim.real_write = shim_sym("write");
    shim.real_pwrite = shim_sym("pwrite");
    shim.real_pwrite64 = shim_sym("pwrite64");
    shim.real_ftruncate = shim_sym("ftruncate");
    shim.real_ftruncate64 = shim_sym("ftruncate64");
    shim.real_fsync = shim_sym("fsync");
    shim.real_fdatasync = shim_sym("fdatasync");
}

/* Another library's constructor may call open() before ours ran. */
static void shim_resolve(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, shim_resolve_once);
}

/* ---- Bookkeeping (caller holds the lock) -------------------------------- */

/* The tracked file of fd, or -1. Read without the lock (an atomic byte):
 * only the calls that see a tracked fd take the lock. */
static int shim_file_index(int fd)
{
    if (fd < 0 || fd >= SHIM_MAX_FD)
        return -1;
    return (int)__atomic_load_n(&shim.fd_file[fd], __ATOMIC_ACQUIRE) - 1;
}

static void shim_set_fd(int fd, int index)
{
    __atomic_store_n(&shim.fd_file[fd], (unsigned char)(index + 1), __ATOMIC_RELEASE);
}

static int shim_undo_push(struct tracked *f, off_t offset, size_t len, unsigned char *old)
{
    if (f->n_undos == f->cap_undos) {
        size_t cap = f->cap_undos ? f->cap_undos * 2 : 64;
        struct undo *grown = realloc(f->undos, cap * sizeof(*grown));
        if (!grown)
            return -1;
        f->undos = grown;
        f->cap_undos = cap;
    }
    f->undos[f->n_undos++] = (struct undo){offset, len, old};
    return 0;
}

/* Saves the bytes [offset, offset + len) that exist now (the part below the
 * current size) before a write or truncate changes them. */
static void shim_save(int fd, struct tracked *f, off_t offset, size_t len)
{
    struct stat sb;
    f->n_unsynced_writes++;
    if (fstat(fd, &sb) != 0 || offset >= sb.st_size || len == 0)
        return;
    if ((off_t)len > sb.st_size - offset)
        len = (size_t)(sb.st_size - offset);
    unsigned char *old = malloc(len);
    if (!old || pread(fd, old, len, offset) != (ssize_t)len ||
        shim_undo_push(f, offset, len, old) != 0) {
        fprintf(stderr, "powercut: cannot save %zu bytes of %s\n", len, f->path);
        abort();
    }
}

static void shim_synced(int fd, struct tracked *f)
{
    struct stat sb;
    for (size_t i = 0; i < f->n_undos; i++)
        free(f->undos[i].old);
    f->n_synced_writes += f->n_unsynced_writes;
    f->n_unsynced_writes = 0;
    f->n_undos = 0;
    if (fstat(fd, &sb) == 0)
        f->synced_size = sb.st_size;
}

/* Starts tracking fd when path lies under the directory and is a regular
 * file. A file is known by inode; an inode seen under another path is a
 * reused inode number (the old file was unlinked and closed, as SQLite
 * does with its rollback journal), so its record starts afresh. */
static void shim_track(int fd, const char *path)
{
    struct stat sb;
    size_t len = path ? strlen(path) : 0;
    if (fd < 0 || fd >= SHIM_MAX_FD || !shim.dir_len || !path ||
        strncmp(path, shim.dir, shim.dir_len) != 0 || path[shim.dir_len] != '/' ||
        (len > 4 && strcmp(path + len - 4, "-shm") == 0) || fstat(fd, &sb) != 0 ||
        !S_ISREG(sb.st_mode))
        return;
    pthread_mutex_lock(&shim.lock);
    int at = -1;
    for (int i = 0; i < shim.n_files; i++)
        if (shim.files[i].dev == sb.st_dev && shim.files[i].ino == sb.st_ino)
            at = i;
    if (at < 0 && shim.n_files < SHIM_MAX_FILES)
        at = shim.n_files++;
    if (at >= 0 && strcmp(shim.files[at].path, path) != 0) {
        struct tracked *f = &shim.files[at];
        for (size_t i = 0; i < f->n_undos; i++)
            free(f->undos[i].old);
        free(f->undos);
        memset(f, 0, sizeof(*f));
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
        snprintf(f->path, sizeof(f->path), "%s", path);
        /* What the file held when first opened counts as durable: a test
         * starts this process on files a previous run left synced. */
        f->synced_size = sb.st_size;
    }
    if (at >= 0)
        shim_set_fd(fd, at);
    pthread_mutex_unlock(&shim.lock);
}

/* ---- The cut ------------------------------------------------------------ */

static void shim_rollback(struct tracked *f)
{
    int fd = shim.real_open(f->path, O_WRONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_dev != f->dev || sb.st_ino != f->ino) {
        fprintf(stderr, "powercut: %s: gone or replaced, left as is\n", f->path);
        if (fd >= 0)
            shim.real_close(fd);
        return;
    }
    off_t size_before = sb.st_size;
    for (size_t i = f->n_undos; i-- > 0;) {
        struct undo *u = &f->undos[i];
        if (shim.real_pwrite64(fd, u->old, u->len, u->offset) != (ssize_t)u->len)
            fprintf(stderr, "powercut: %s: undo write failed\n", f->path);
    }
    if (shim.real_ftruncate64(fd, f->synced_size) != 0)
        fprintf(stderr, "powercut: %s: truncate failed\n", f->path);
    shim.real_fsync(fd);
    shim.real_close(fd);
    fprintf(stderr,
            "powercut: %s: dropped %zu unsynced writes (size %lld -> %lld), kept %zu synced "
            "writes\n",
            f->path, f->n_unsynced_writes, (long long)size_before, (long long)f->synced_size,
            f->n_synced_writes);
}

/* The power cut. The caller holds the lock, which is never released: no
 * tracked write or sync happens after this point. */
static void shim_cut_locked(const char *why)
{
    fprintf(stderr, "powercut: cut (%s)\n", why);
    for (int i = 0; i < shim.n_files; i++)
        shim_rollback(&shim.files[i]);
    fprintf(stderr, "powercut: cut done\n");
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

static void *shim_watch(void *arg)
{
    const char *fifo = arg;
    char line[64];
    int fd = shim.real_open(fifo, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, line, sizeof(line)) <= 0) {
        fprintf(stderr, "powercut: cannot read %s: %s\n", fifo, strerror(errno));
        return NULL;
    }
    pthread_mutex_lock(&shim.lock);
    shim_cut_locked("requested through the FIFO");
    return NULL;
}

/* After a tracked write (lock held): cuts when it was the chosen WAL write. */
static void shim_count_write(const struct tracked *f)
{
    size_t len = strlen(f->path);
    if (len < 4 || strcmp(f->path + len - 4, "-wal") != 0)
        return;
    shim.wal_writes++;
    if (shim.cut_after_wal_writes > 0 && shim.wal_writes == shim.cut_after_wal_writes) {
        char why[64];
        snprintf(why, sizeof(why), "after WAL write %ld", shim.wal_writes);
        shim_cut_locked(why);
    }
}

__attribute__((constructor)) static void shim_init(void)
{
    shim_resolve();
    const char *dir = getenv("WSB_POWERCUT_DIR");
    const char *fifo = getenv("WSB_POWERCUT_FIFO");
    if (!dir || !fifo)
        return;
    snprintf(shim.dir, sizeof(shim.dir), "%s", dir);
    shim.dir_len = strlen(shim.dir);
    const char *after = getenv("WSB_POWERCUT_AFTER_WAL_WRITES");
    shim.cut_after_wal_writes = after ? strtol(after, NULL, 10) : 0;
    while (shim.dir_len > 1 && shim.dir[shim.dir_len - 1] == '/')
        shim.dir[--shim.dir_len] = '\0';
    static char fifo_path[SHIM_PATH_MAX];
    snprintf(fifo_path, sizeof(fifo_path), "%s", fifo);
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, shim_watch, fifo_path) != 0) {
        fprintf(stderr, "powercut: cannot start the watcher thread\n");
        abort();
    }
    pthread_detach(watcher);
}

/* ---- Interposed calls --------------------------------------------------- */

static mode_t shim_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    shim_resolve();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim.real_open(path, flags, mode);
    shim_track(fd, path);
    return fd;
}

int open64(const char *path, int flags, ...)
{
    shim_resolve();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim.real_open64(path, flags, mode);
    shim_track(fd, path);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
    shim_resolve();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim.real_openat(dirfd, path, flags, mode);
    shim_track(fd, path);
    return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    shim_resolve();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = shim_mode(flags, ap);
    va_end(ap);
    int fd = shim.real_openat64(dirfd, path, flags, mode);
    shim_track(fd, path);
    return fd;
}

int close(int fd)
{
    shim_resolve();
    if (shim_file_index(fd) >= 0) {
        pthread_mutex_lock(&shim.lock);
        shim_set_fd(fd, -1);
        pthread_mutex_unlock(&shim.lock);
    }
    return shim.real_close(fd);
}

static ssize_t shim_pwrite(ssize_t (*real)(int, const void *, size_t, off_t), int fd,
                           const void *buf, size_t len, off_t offset)
{
    if (shim_file_index(fd) < 0)
        return real(fd, buf, len, offset);
    pthread_mutex_lock(&shim.lock);
    int at = shim_file_index(fd);
    if (at >= 0)
        shim_save(fd, &shim.files[at], offset, len);
    ssize_t n = real(fd, buf, len, offset);
    if (at >= 0 && n > 0)
        shim_count_write(&shim.files[at]);
    pthread_mutex_unlock(&shim.lock);
    return n;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t offset)
{
    shim_resolve();
    return shim_pwrite(shim.real_pwrite, fd, buf, len, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t offset)
{
    shim_resolve();
    return shim_pwrite(shim.real_pwrite64, fd, buf, len, offset);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    shim_resolve();
    if (shim_file_index(fd) < 0)
        return shim.real_write(fd, buf, len);
    pthread_mutex_lock(&shim.lock);
    int at = shim_file_index(fd);
    if (at >= 0) {
        off_t offset =
            (fcntl(fd, F_GETFL) & O_APPEND) ? lseek(fd, 0, SEEK_END) : lseek(fd, 0, SEEK_CUR);
        shim_save(fd, &shim.files[at], offset, len);
    }
    ssize_t n = shim.real_write(fd, buf, len);
    if (at >= 0 && n > 0)
        shim_count_write(&shim.files[at]);
    pthread_mutex_unlock(&shim.lock);
    return n;
}

static int shim_truncate(int (*real)(int, off_t), int fd, off_t size)
{
    if (shim_file_index(fd) < 0)
        return real(fd, size);
    pthread_mutex_lock(&shim.lock);
    int at = shim_file_index(fd);
    struct stat sb;
    if (at >= 0 && fstat(fd, &sb) == 0 && size < sb.st_size)
        shim_save(fd, &shim.files[at], size, (size_t)(sb.st_size - size));
    int rc = real(fd, size);
    pthread_mutex_unlock(&shim.lock);
    return rc;
}

int ftruncate(int fd, off_t size)
{
    shim_resolve();
    return shim_truncate(shim.real_ftruncate, fd, size);
}

int ftruncate64(int fd, off_t size)
{
    shim_resolve();
    return shim_truncate(shim.real_ftruncate64, fd, size);
}

static int shim_sync(int (*real)(int), int fd)
{
    if (shim_file_index(fd) < 0)
        return real(fd);
    pthread_mutex_lock(&shim.lock);
    int rc = real(fd);
    int at = shim_file_index(fd);
    if (rc == 0 && at >= 0)
        shim_synced(fd, &shim.files[at]);
    pthread_mutex_unlock(&shim.lock);
    return rc;
}

int fsync(int fd)
{
    shim_resolve();
    return shim_sync(shim.real_fsync, fd);
}

int fdatasync(int fd)
{
    shim_resolve();
    return shim_sync(shim.real_fdatasync, fd);
}
