/* SPDX-License-Identifier: MIT */
/*
 * core_fixture.c: see core_fixture.h.
 */
#include "core_fixture.h"

#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/frame.h"

struct fixture fx;

/* --- the fake transport -------------------------------------------------- */

static void fake_record(struct fake_conn *c, const struct frame *f)
{
    ck_assert_uint_lt(c->n_frames, MAX_FRAMES);
    char *text = malloc(f->len + 1);
    ck_assert_ptr_nonnull(text);
    memcpy(text, frame_payload((struct frame *)f), f->len);
    text[f->len] = '\0';
    c->frames[c->n_frames++] = text;
}

void fake_wake(void *arg)
{
    struct fake_conn *c = arg;
    struct frame *f;
    if (c->paused)
        return;
    while ((f = session_queue_head(c->s))) {
        fake_record(c, f);
        session_queue_pop(c->s);
    }
    session_written(c->s);
}

static void fake_close(void *arg, uint16_t code, const char *reason)
{
    struct fake_conn *c = arg;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
}

static void fake_pause_reading(void *arg, bool paused)
{
    struct fake_conn *c = arg;
    c->reading_paused = paused;
}

const struct transport fake_transport = {
    .wake = fake_wake, .close = fake_close, .pause_reading = fake_pause_reading};

/* What the event loop does as a turn ends: the queued frames are written. */
void pump(void)
{
    session_wake_ready();
}

struct fake_conn *connect_fake(void)
{
    struct fake_conn *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->s = core_session_open(fx.core, &fake_transport, c, NULL);
    ck_assert_ptr_nonnull(c->s);
    pump();
    return c;
}

void disconnect_fake(struct fake_conn *c)
{
    if (c->s)
        core_session_closed(fx.core, c->s);
    c->s = NULL;
    pump();
}

void free_fake(struct fake_conn *c)
{
    for (size_t i = 0; i < c->n_frames; i++)
        free(c->frames[i]);
    free(c);
}

/* --- the store ----------------------------------------------------------- */

static void on_store_wake(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&fx.lock);
    fx.wakes++;
    pthread_cond_broadcast(&fx.cond);
    pthread_mutex_unlock(&fx.lock);
}

/* Waits for store results and hands them to core, until none is in flight. */
void settle(void)
{
    while (core_pending_store(fx.core) > 0) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += WAIT_MS / 1000;
        pthread_mutex_lock(&fx.lock);
        int rc = 0;
        while (fx.wakes == 0 && rc == 0)
            rc = pthread_cond_timedwait(&fx.cond, &fx.lock, &deadline);
        fx.wakes = 0;
        pthread_mutex_unlock(&fx.lock);
        ck_assert_msg(rc == 0, "the store did not answer within %d ms", WAIT_MS);
        core_store_wake(fx.core);
        pump();
    }
}

void setup(void)
{
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_core.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx.dir));
    snprintf(fx.path, sizeof(fx.path), "%s/wsbroker.db", fx.dir);
    pthread_mutex_init(&fx.lock, NULL);
    pthread_cond_init(&fx.cond, NULL);
    fx.cfg.max_message = 1048576;
    fx.cfg.max_backlog = 8388608;
    fx.cfg.heartbeat = 25;
    fx.cfg.max_subscriptions = 1024;
    struct store_config sc = {
        .path = fx.path,
        .retain_count = 1000,
        .retain_age_s = 86400,
        .dedupe_window_ms = 300000,
        .durability = STORE_DURABLE_OS,
        .wake = on_store_wake,
    };
    char err[256] = "";
    ck_assert_msg(store_open(&fx.st, &sc, err, sizeof(err)) == 0, "store_open: %s", err);
    fx.core = core_new(&fx.cfg, fx.st);
    ck_assert_ptr_nonnull(fx.core);
}

void teardown(void)
{
    settle();
    pump();
    core_free(fx.core);
    store_close(fx.st);
    char path[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", fx.path, suffixes[i]);
        unlink(path);
    }
    rmdir(fx.dir);
}

/* --- requests and frames ------------------------------------------------- */

void send_text(struct fake_conn *c, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ck_assert_int_lt(n, (int)sizeof(text));
    core_session_receive(fx.core, c->s, (const unsigned char *)text, (size_t)n, false);
    pump();
}

void publish(struct fake_conn *c, const char *topic, int id)
{
    send_text(c, "{\"op\":\"publish\",\"id\":%d,\"topic\":\"%s\",\"data\":%d}", id, topic, id);
}

/* Frame i of c as JSON (the caller releases it). */
json_t *frame_json(const struct fake_conn *c, size_t i)
{
    ck_assert_uint_lt(i, c->n_frames);
    json_error_t jerr;
    json_t *v = json_loads(c->frames[i], 0, &jerr);
    ck_assert_msg(v != NULL, "frame %zu is not JSON: %s", i, c->frames[i]);
    return v;
}

const char *frame_op(json_t *v)
{
    return json_string_value(json_object_get(v, "op"));
}

uint64_t frame_u64(json_t *v, const char *key)
{
    json_t *n = json_object_get(v, key);
    ck_assert_msg(json_is_integer(n), "no integer %s", key);
    return (uint64_t)json_integer_value(n);
}

/* Asserts that frame i has op `op` (and id `id` when id >= 0). */
void expect_frame(const struct fake_conn *c, size_t i, const char *op, long id)
{
    json_t *v = frame_json(c, i);
    ck_assert_msg(strcmp(frame_op(v), op) == 0, "frame %zu: expected %s, got %s", i, op,
                  c->frames[i]);
    if (id >= 0)
        ck_assert_uint_eq(frame_u64(v, "id"), (uint64_t)id);
    json_decref(v);
}

/* The number of `message` frames of c from frame `from` on. */
size_t count_messages(const struct fake_conn *c, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < c->n_frames; i++) {
        json_t *v = frame_json(c, i);
        n += strcmp(frame_op(v), "message") == 0;
        json_decref(v);
    }
    return n;
}

/* Checks what b received after its subscribe (frame `from` on): the ack
 * with `replayed`, then every message of the topic with seq first..last
 * once, ascending. */
void expect_joined_run(const struct fake_conn *b, size_t from, long ack_id, uint64_t replayed,
                       uint64_t first, uint64_t last)
{
    expect_frame(b, from, "ack", ack_id);
    json_t *ack = frame_json(b, from);
    ck_assert_uint_eq(frame_u64(ack, "replayed"), replayed);
    json_decref(ack);
    ck_assert_uint_eq(b->n_frames - from - 1, last - first + 1);
    uint64_t want = first;
    for (size_t i = from + 1; i < b->n_frames; i++, want++) {
        json_t *v = frame_json(b, i);
        ck_assert_str_eq(frame_op(v), "message");
        ck_assert_uint_eq(frame_u64(v, "seq"), want);
        json_decref(v);
    }
}

/* Asserts that the SSE stream e got the events with ids 1..n, in order. */
void expect_event_ids(const struct fake_conn *e, size_t n)
{
    ck_assert_uint_eq(e->n_frames, n);
    for (size_t i = 0; i < e->n_frames; i++) {
        char want[32];
        snprintf(want, sizeof(want), "id: %zu\n", i + 1);
        ck_assert_msg(strncmp(e->frames[i], want, strlen(want)) == 0, "event %zu: %.40s", i,
                      e->frames[i]);
    }
}

void publish_large(struct fake_conn *a, const char *topic, int id, size_t len)
{
    char *text = malloc(len + 128);
    ck_assert_ptr_nonnull(text);
    int n = snprintf(text, 128, "{\"op\":\"publish\",\"id\":%d,\"topic\":\"%s\",\"data\":\"", id,
                     topic);
    memset(text + n, 'x', len);
    memcpy(text + n + len, "\"}", 2);
    core_session_receive(fx.core, a->s, (const unsigned char *)text, (size_t)n + len + 2, false);
    free(text);
    pump();
}

void publish_many(struct fake_conn *a, const char *topic, int n)
{
    for (int i = 1; i <= n; i++) {
        publish_large(a, topic, i, 2000);
        if (i % 100 == 0 || i == n)
            settle();
    }
}

int core_fixture_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
