/*
 * walbuf.h: an SQLite VFS that gathers a transaction's WAL writes into one
 * write.
 *
 * Owns: the "wsb-walbuf" VFS registration, and per open WAL file a buffer
 * of the frames written since the last flush. Why: SQLite writes each WAL
 * frame as two pwrite calls (24-byte header, then the page), each across a
 * page boundary of the file. A commit of 111 frames took 820 us of kernel
 * CPU that way against 240 us as one pwrite (same bytes, fdatasync after
 * each; measured on this machine), and the durable publish path spends a
 * fifth of its CPU in the kernel.
 *
 * Every other file, and every other method, goes straight to the default
 * VFS ("unix"). The buffer holds only bytes that follow each other in the
 * file; anything else (a read, a write elsewhere, xSync, xFileSize,
 * xTruncate, a file control, close) writes the buffer out first.
 *
 * Only for synchronous=FULL: there SQLite syncs the WAL (so the buffer is
 * written) before it publishes a commit in the wal-index, which is when
 * another connection (the checkpointer) may read those frames. With
 * synchronous=NORMAL there is no sync at commit, so the store does not use
 * this VFS then.
 */
#ifndef WSB_WALBUF_H
#define WSB_WALBUF_H

/* Registers the VFS on first use (not as the default) and returns its name
 * for sqlite3_open_v2; NULL when SQLite has no default VFS to wrap. */
const char *walbuf_vfs(void);

#endif
