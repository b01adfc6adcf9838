/* SPDX-License-Identifier: MIT */
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
 * VFS ("unix"). The buffer holds only bytes that continue the previous
 * write; anything else (a frame rewritten in place, a read of buffered
 * bytes, xSync, xFileSize, xTruncate, a file control, close) writes it out
 * first. The page that follows a commit frame's header (the last frame of
 * a transaction) also writes it out: with synchronous=FULL or NORMAL, the
 * transaction is in the file before SQLite publishes it in the wal-index,
 * which is when another connection (the checkpointer) may read it, and a
 * failed write fails the commit. So an ack still means what it meant: the
 * commit's frames were written (and with FULL, synced) before it.
 */
#ifndef WSB_WALBUF_H
#define WSB_WALBUF_H

/* Registers the VFS on first use (not as the default) and returns its name
 * for sqlite3_open_v2; NULL when SQLite has no default VFS to wrap. */
const char *walbuf_vfs(void);

#endif
