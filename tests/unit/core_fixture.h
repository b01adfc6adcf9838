/* SPDX-License-Identifier: MIT */
/*
 * core_fixture.h: what the core unit tests share: a fake transport
 * (core/transport.h) whose connections record the frames their sessions
 * queue, the close they are asked for and whether reading is paused; a
 * real store on a SQLite file in a temporary directory, whose results come
 * back through the wake callback (waited on with a timeout, never a fixed
 * sleep); and helpers to send requests and read the recorded frames.
 */
#ifndef WSB_TEST_CORE_FIXTURE_H
#define WSB_TEST_CORE_FIXTURE_H

#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/core.h"
#include "core/session.h"
#include "core/transport.h"
#include "store/store.h"

#define WAIT_MS 15000
#define MAX_FRAMES 8192

/* One connection of the fake transport. */
struct fake_conn {
    struct session *s;
    bool paused;         /* the socket takes nothing: frames stay queued */
    bool reading_paused; /* core asked the transport to stop reading */
    char *frames[MAX_FRAMES];
    size_t n_frames;
    uint16_t close_code;
    char close_reason[64];
};

struct fixture {
    char dir[64];
    char path[128];
    struct config cfg;
    struct store *st;
    struct core *core;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned wakes;
};

extern struct fixture fx;
/* The fake connections' transport (for sessions a test opens itself). */
extern const struct transport fake_transport;

/* What the event loop does as a turn ends: the queued frames are written. */
/* Writes c's queue as a socket that takes everything would (unless paused). */
void fake_wake(void *arg);
void pump(void);
struct fake_conn *connect_fake(void);
void disconnect_fake(struct fake_conn *c);
void free_fake(struct fake_conn *c);
void settle(void);
void setup(void);
void teardown(void);
void send_text(struct fake_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frame i of c as JSON (the caller releases it). */
json_t *frame_json(const struct fake_conn *c, size_t i);
const char *frame_op(json_t *v);
uint64_t frame_u64(json_t *v, const char *key);
void publish(struct fake_conn *c, const char *topic, int id);
void expect_frame(const struct fake_conn *c, size_t i, const char *op, long id);
size_t count_messages(const struct fake_conn *c, size_t from);

/* Checks what b received after its subscribe (frame `from` on): the ack
 * with `replayed`, then every message of the topic with seq first..last
 * once, ascending. */
void expect_joined_run(const struct fake_conn *b, size_t from, long ack_id, uint64_t replayed,
                       uint64_t first, uint64_t last);
/* Asserts that the SSE stream e got the events with ids 1..n, in order. */
void expect_event_ids(const struct fake_conn *e, size_t n);

/* c publishes `len` bytes of JSON string data (larger than send_text takes). */
void publish_large(struct fake_conn *c, const char *topic, int id, size_t len);
/* Publishes n messages of 2 KB on `topic` from c, committed and fanned
 * out: 1000 of them are several chunks of a paced replay, and more than
 * its low-water mark. */
void publish_many(struct fake_conn *c, const char *topic, int n);

/* Runs one suite (CK_NORMAL); the exit status of a test program. */
int core_fixture_run(Suite *suite);

#endif
