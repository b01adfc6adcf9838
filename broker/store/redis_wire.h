/* SPDX-License-Identifier: MIT */
/*
 * redis_wire.h: the Redis engine's byte formats, and its URL.
 *
 * Owns: how a message is written into Redis (a record), how the records of
 * a batch travel to the other nodes (a live payload), and the parsing of
 * `--redis redis://[:PASSWORD@]HOST[:PORT][/DB]`. Why apart from the
 * engine: these are the engine's parsers of bytes that come from outside
 * the process (whatever is in Redis), so they are small, strict, free of
 * I/O and have a fuzz target (tests/fuzz/fuzz_redis_wire.c).
 *
 * A record: "TS BIN ULEN TLEN DLEN\n" then ULEN bytes of user, TLEN of
 * topic, DLEN of data; decimal fields, BIN 0 or 1, ULEN -1 when anonymous.
 * A live payload: records, each as "SEQ ORIGIN RLEN\n" and RLEN bytes of
 * record, in ascending seq (publish.lua writes them).
 */
#ifndef WSB_REDIS_WIRE_H
#define WSB_REDIS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The record of msg (its seq is not part of it), malloc'd; *len set.
 * NULL when out of memory. */
char *redis_record_encode(const struct store_msg *msg, size_t *len);

/* Fills msg (seq included) from a record; its strings and data are new
 * copies (data NUL-terminated). Returns 0, or -1 when the record is not
 * one (msg is then left empty). */
int redis_record_decode(const char *rec, size_t len, uint64_t seq, struct store_msg *msg);

/* One entry of a live payload; `origin` and `rec` point into the payload. */
struct redis_live_entry {
    uint64_t seq;
    const char *origin;
    size_t origin_len;
    const char *rec;
    size_t rec_len;
};

/* Reads the entry at *at of payload[0..len) and moves *at past it.
 * Returns 1 for an entry, 0 at the end, -1 when the payload is malformed. */
int redis_live_next(const char *payload, size_t len, size_t *at, struct redis_live_entry *out);

/* `--redis`, parsed. */
struct redis_url {
    char host[256];
    int port;           /* 6379 unless given */
    char password[256]; /* "" when none */
    int db;             /* 0 unless given */
};

/* Parses a redis:// URL. Returns 0, or -1 with a one-line reason in err. */
int redis_url_parse(const char *text, struct redis_url *out, char *err, size_t errlen);

#endif
