/*
 * test_core.c: unit tests of broker/core/ without sockets.
 *
 * Core runs on a fake transport (core/transport.h): each fake connection
 * records the frames its session queues and the close it is asked for.
 * The store is the real one, on a SQLite file in a temporary directory;
 * its results come back through the wake callback, which signals a
 * condition that the test waits on (with a timeout, never a fixed sleep)
 * before it calls core_store_wake, as the service thread does.
 */
#include "core/core.h"

#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 15000
#define MAX_FRAMES 8192

/* One connection of the fake transport. */
struct fake_conn {
    struct session *s;
    bool paused; /* the socket takes nothing: frames stay queued */
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

static struct fixture fx;

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

static void fake_wake(void *arg)
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

static const struct transport fake_transport = {.wake = fake_wake, .close = fake_close};

/* What the event loop does as a turn ends: the queued frames are written. */
static void pump(void)
{
    session_wake_ready();
}

static struct fake_conn *connect_fake(void)
{
    struct fake_conn *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->s = core_session_open(fx.core, &fake_transport, c);
    ck_assert_ptr_nonnull(c->s);
    pump();
    return c;
}

static void disconnect_fake(struct fake_conn *c)
{
    if (c->s)
        core_session_closed(fx.core, c->s);
    c->s = NULL;
    pump();
}

static void free_fake(struct fake_conn *c)
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
static void settle(void)
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

static void setup(void)
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

static void teardown(void)
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

static void send_text(struct fake_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void send_text(struct fake_conn *c, const char *fmt, ...)
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

static void publish(struct fake_conn *c, const char *topic, int id)
{
    send_text(c, "{\"op\":\"publish\",\"id\":%d,\"topic\":\"%s\",\"data\":%d}", id, topic, id);
}

/* Frame i of c as JSON (the caller releases it). */
static json_t *frame_json(const struct fake_conn *c, size_t i)
{
    ck_assert_uint_lt(i, c->n_frames);
    json_error_t jerr;
    json_t *v = json_loads(c->frames[i], 0, &jerr);
    ck_assert_msg(v != NULL, "frame %zu is not JSON: %s", i, c->frames[i]);
    return v;
}

static const char *frame_op(json_t *v)
{
    return json_string_value(json_object_get(v, "op"));
}

static uint64_t frame_u64(json_t *v, const char *key)
{
    json_t *n = json_object_get(v, key);
    ck_assert_msg(json_is_integer(n), "no integer %s", key);
    return (uint64_t)json_integer_value(n);
}

/* Asserts that frame i has op `op` (and id `id` when id >= 0). */
static void expect_frame(const struct fake_conn *c, size_t i, const char *op, long id)
{
    json_t *v = frame_json(c, i);
    ck_assert_msg(strcmp(frame_op(v), op) == 0, "frame %zu: expected %s, got %s", i, op,
                  c->frames[i]);
    if (id >= 0)
        ck_assert_uint_eq(frame_u64(v, "id"), (uint64_t)id);
    json_decref(v);
}

/* The number of `message` frames of c from frame `from` on. */
static size_t count_messages(const struct fake_conn *c, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < c->n_frames; i++) {
        json_t *v = frame_json(c, i);
        n += strcmp(frame_op(v), "message") == 0;
        json_decref(v);
    }
    return n;
}

/* --- tests --------------------------------------------------------------- */

START_TEST(test_subscribe_publish_unsubscribe)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake();
    expect_frame(a, 0, "welcome", -1);
    expect_frame(b, 0, "welcome", -1);

    send_text(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"a.b\"}");
    ck_assert_uint_eq(b->n_frames, 2);
    expect_frame(b, 1, "ack", 1);

    publish(a, "a.b", 7);
    settle();
    ck_assert_uint_eq(a->n_frames, 2);
    expect_frame(a, 1, "ack", 7);
    ck_assert_uint_eq(b->n_frames, 3);
    json_t *msg = frame_json(b, 2);
    ck_assert_str_eq(frame_op(msg), "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "topic")), "a.b");
    ck_assert_uint_eq(frame_u64(msg, "data"), 7);
    json_t *ack = frame_json(a, 1);
    ck_assert_uint_eq(frame_u64(msg, "seq"), frame_u64(ack, "seq"));
    json_decref(ack);
    json_decref(msg);

    send_text(b, "{\"op\":\"unsubscribe\",\"id\":2,\"topic\":\"a.b\"}");
    expect_frame(b, 3, "ack", 2);
    publish(a, "a.b", 8);
    settle();
    ck_assert_uint_eq(b->n_frames, 4);
    send_text(b, "{\"op\":\"unsubscribe\",\"id\":3,\"topic\":\"a.b\"}");
    expect_frame(b, 4, "error", 3);

    disconnect_fake(a);
    disconnect_fake(b);
    free_fake(a);
    free_fake(b);
}
END_TEST

/* Checks what b received after its subscribe (frame `from` on): the ack
 * with `replayed`, then every message of the topic with seq first..last
 * once, ascending. */
static void expect_joined_run(const struct fake_conn *b, size_t from, long ack_id,
                              uint64_t replayed, uint64_t first, uint64_t last)
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

/* A subscribe with since joins its replay to live delivery with publishes
 * committed before it, in flight when it comes (stored but not yet fanned
 * out: held), and sent after it, in every proportion. */
START_TEST(test_replay_joined_to_live)
{
    struct fake_conn *a = connect_fake();
    for (int committed = 0; committed <= 3; committed++) {
        for (int in_flight = 0; in_flight <= 3; in_flight++) {
            char topic[32];
            snprintf(topic, sizeof(topic), "j.%d.%d", committed, in_flight);
            uint64_t base = core_last_seq(fx.core);
            int id = 100;
            /* One publish on another topic, so that the store is never
             * empty (an empty store has no replay to read). */
            publish(a, "j.other", id++);
            for (int i = 0; i < committed; i++)
                publish(a, topic, id++);
            settle();
            for (int i = 0; i < in_flight; i++)
                publish(a, topic, id++);

            struct fake_conn *b = connect_fake();
            send_text(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"%s\",\"since\":%llu}", topic,
                      (unsigned long long)base);
            for (int i = 0; i < 2; i++)
                publish(a, topic, id++);
            settle();
            for (int i = 0; i < 2; i++)
                publish(a, topic, id++);
            settle();

            uint64_t first = base + 2, last = core_last_seq(fx.core);
            ck_assert_uint_eq(last - first + 1, (uint64_t)(committed + in_flight + 4));
            expect_joined_run(b, 1, 1, (uint64_t)committed, first, last);
            disconnect_fake(b);
            free_fake(b);
        }
    }
    disconnect_fake(a);
    free_fake(a);
}
END_TEST

/* Overlapping patterns of one connection deliver each message once. */
START_TEST(test_once_per_connection)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake();
    send_text(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"a.>\"}");
    send_text(b, "{\"op\":\"subscribe\",\"id\":2,\"topic\":\"a.*\"}");
    send_text(b, "{\"op\":\"subscribe\",\"id\":3,\"topic\":\"a.b\"}");
    size_t before = b->n_frames;
    publish(a, "a.b", 10);
    publish(a, "a.c", 11);
    publish(a, "a.c.d", 12);
    settle();
    ck_assert_uint_eq(count_messages(b, before), 3);
    ck_assert_uint_eq(b->n_frames - before, 3);
    disconnect_fake(a);
    disconnect_fake(b);
    free_fake(a);
    free_fake(b);
}
END_TEST

/* A replay skips what another subscription of the connection delivers. */
START_TEST(test_replay_skips_overlap)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake();
    send_text(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"o.*\"}");
    publish(a, "o.x", 20);
    publish(a, "o.x", 21);
    settle();
    ck_assert_uint_eq(count_messages(b, 0), 2);
    size_t before = b->n_frames;
    send_text(b, "{\"op\":\"subscribe\",\"id\":2,\"topic\":\"o.x\",\"since\":0}");
    settle();
    expect_frame(b, before, "ack", 2);
    json_t *ack = frame_json(b, before);
    ck_assert_uint_eq(frame_u64(ack, "replayed"), 0);
    json_decref(ack);
    ck_assert_uint_eq(b->n_frames, before + 1);
    disconnect_fake(a);
    disconnect_fake(b);
    free_fake(a);
    free_fake(b);
}
END_TEST

static void expect_presence_event(const struct fake_conn *c, size_t i, const char *op,
                                  const struct fake_conn *about)
{
    expect_frame(c, i, op, -1);
    json_t *v = frame_json(c, i);
    ck_assert_str_eq(json_string_value(json_object_get(v, "client")), about->s->id);
    ck_assert_str_eq(json_string_value(json_object_get(v, "topic")), "room");
    json_decref(v);
}

START_TEST(test_presence_join_leave)
{
    struct fake_conn *b = connect_fake(), *c = connect_fake();
    send_text(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"room\",\"presence\":true}");
    size_t before = b->n_frames;
    send_text(c, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"room\",\"presence\":true}");
    ck_assert_uint_eq(b->n_frames, before + 1);
    expect_presence_event(b, before, "join", c);

    send_text(c, "{\"op\":\"presence\",\"id\":2,\"topic\":\"room\"}");
    expect_frame(c, c->n_frames - 1, "ack", 2);
    json_t *v = frame_json(c, c->n_frames - 1);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "members")), 2);
    json_decref(v);

    char c_id[16];
    snprintf(c_id, sizeof(c_id), "%s", c->s->id);
    disconnect_fake(c);
    ck_assert_uint_eq(b->n_frames, before + 2);
    expect_frame(b, before + 1, "leave", -1);
    v = frame_json(b, before + 1);
    ck_assert_str_eq(json_string_value(json_object_get(v, "client")), c_id);
    json_decref(v);
    disconnect_fake(b);
    free_fake(b);
    free_fake(c);
}
END_TEST

/* A subscriber whose queue passes max_backlog is closed with 4000 and its
 * queue dropped; one below the limit is not. */
START_TEST(test_slow_consumer_4000)
{
    fx.cfg.max_backlog = 2000;
    struct fake_conn *a = connect_fake(), *slow = connect_fake(), *fast = connect_fake();
    send_text(slow, "{\"op\":\"subscribe\",\"topic\":\"s\"}");
    send_text(fast, "{\"op\":\"subscribe\",\"topic\":\"s\"}");
    slow->paused = true;
    int id = 1;
    for (; id <= 20; id++)
        publish(a, "s", id);
    settle();
    ck_assert_uint_eq(slow->close_code, 0); /* 20 small frames fit */
    for (; id <= 80; id++) {                /* one turn each: the fast one keeps up */
        publish(a, "s", id);
        settle();
    }
    ck_assert_uint_eq(slow->close_code, 4000);
    ck_assert_uint_eq(session_queue_count(slow->s), 0);
    ck_assert_uint_eq(fast->close_code, 0);
    ck_assert_uint_eq(count_messages(fast, 0), 80);
    ck_assert_uint_gt(core_get_counters(fx.core)->messages_dropped, 0);
    disconnect_fake(slow);
    ck_assert_uint_eq(core_get_counters(fx.core)->slow_consumer_closes, 1);
    disconnect_fake(a);
    disconnect_fake(fast);
    free_fake(a);
    free_fake(slow);
    free_fake(fast);
}
END_TEST

/* Requests sent while a replay is read wait, and are answered in order
 * after it. */
START_TEST(test_requests_wait_behind_replay)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake();
    publish(a, "w", 1);
    publish(a, "w", 2);
    settle();
    size_t before = b->n_frames;
    send_text(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"w\",\"since\":0}");
    send_text(b, "{\"op\":\"ping\",\"id\":2}");
    send_text(b, "{\"op\":\"unsubscribe\",\"id\":3,\"topic\":\"w\"}");
    send_text(b, "{\"op\":\"ping\",\"id\":4}");
    ck_assert_uint_eq(b->n_frames, before); /* all wait for the replay */
    settle();
    ck_assert_uint_eq(b->n_frames, before + 6);
    expect_frame(b, before, "ack", 1);
    expect_frame(b, before + 1, "message", -1);
    expect_frame(b, before + 2, "message", -1);
    expect_frame(b, before + 3, "pong", 2);
    expect_frame(b, before + 4, "ack", 3);
    expect_frame(b, before + 5, "pong", 4);
    disconnect_fake(a);
    disconnect_fake(b);
    free_fake(a);
    free_fake(b);
}
END_TEST

START_TEST(test_echo_false)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake();
    send_text(a, "{\"op\":\"subscribe\",\"topic\":\"e\"}");
    send_text(b, "{\"op\":\"subscribe\",\"topic\":\"e\"}");
    size_t a_before = a->n_frames, b_before = b->n_frames;
    send_text(a, "{\"op\":\"publish\",\"id\":1,\"topic\":\"e\",\"data\":1,\"echo\":false}");
    settle();
    ck_assert_uint_eq(a->n_frames, a_before + 1);
    expect_frame(a, a_before, "ack", 1);
    ck_assert_uint_eq(count_messages(b, b_before), 1);
    publish(a, "e", 2);
    settle();
    ck_assert_uint_eq(count_messages(a, a_before), 1);
    ck_assert_uint_eq(count_messages(b, b_before), 2);
    disconnect_fake(a);
    disconnect_fake(b);
    free_fake(a);
    free_fake(b);
}
END_TEST

/* Asserts that the SSE stream e got the events with ids 1..n, in order. */
static void expect_event_ids(const struct fake_conn *e, size_t n)
{
    ck_assert_uint_eq(e->n_frames, n);
    for (size_t i = 0; i < e->n_frames; i++) {
        char want[32];
        snprintf(want, sizeof(want), "id: %zu\n", i + 1);
        ck_assert_msg(strncmp(e->frames[i], want, strlen(want)) == 0, "event %zu: %.40s", i,
                      e->frames[i]);
    }
}

/* An SSE stream over overlapping patterns replays one ascending run, each
 * message once (through the same replay join as a subscribe), before the
 * publish in flight when it started (held) and the ones after. */
START_TEST(test_sse_replay_merged)
{
    struct fake_conn *a = connect_fake();
    publish(a, "m.x", 1);
    publish(a, "m.y", 2);
    publish(a, "m.x", 3);
    publish(a, "n", 4);
    settle();
    publish(a, "m.x", 5); /* stored, not yet fanned out */
    struct fake_conn *e = calloc(1, sizeof(*e));
    ck_assert_ptr_nonnull(e);
    e->s = core_sse_open(fx.core, &fake_transport, e);
    ck_assert_ptr_nonnull(e->s);
    char p0[] = "m.*", p1[] = "m.x", p2[] = "n";
    char *patterns[] = {p0, p1, p2};
    core_sse_subscribe(fx.core, e->s, patterns, 3, true, 0);
    publish(a, "m.y", 6);
    settle();
    expect_event_ids(e, 6);
    disconnect_fake(e);
    disconnect_fake(a);
    free_fake(e);
    free_fake(a);
}
END_TEST

/* --- paced replays and bounded history ------------------------------------ */

/* A publish of `len` bytes of JSON string data from a (larger than
 * send_text takes). */
static void publish_large(struct fake_conn *a, const char *topic, int id, size_t len)
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

/* Publishes n messages of 2 KB on `topic` from a, committed and fanned
 * out: 1000 of them are several chunks of a paced replay, and more than
 * its low-water mark. */
static void publish_many(struct fake_conn *a, const char *topic, int n)
{
    for (int i = 1; i <= n; i++) {
        publish_large(a, topic, i, 2000);
        if (i % 100 == 0 || i == n)
            settle();
    }
}

/* What a paced replay may queue for a client that does not read: about a
 * chunk (1 MiB) above its low-water mark (256 KiB). */
#define PACED_QUEUE_MAX (1536 * 1024)

/* c sends `request` (a subscribe with a replay) and stops reading: the
 * paced replay queues about a chunk and waits. Returns the index of c's
 * next frame (the ack, once c reads). */
static size_t subscribe_stalled(struct fake_conn *c, const char *request)
{
    c->paused = true;
    size_t from = c->n_frames;
    send_text(c, "%s", request);
    settle();
    ck_assert_uint_le(c->s->replay_bytes, PACED_QUEUE_MAX);
    return from;
}

/* Disconnects and frees the fake connections of a test. */
static void drop_fakes(struct fake_conn **conns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        disconnect_fake(conns[i]);
    for (size_t i = 0; i < n; i++)
        free_fake(conns[i]);
}

/* The socket of c takes everything again: what is queued is written, and
 * a paced replay reads on as it drains, until nothing is left in flight. */
static void resume_reading(struct fake_conn *c)
{
    c->paused = false;
    fake_wake(c);
    settle();
}

/* A replay larger than a chunk is paced: a subscriber that does not read
 * holds about one chunk, and the live messages meanwhile are held. Once it
 * reads, it gets the ack with the whole count, every match once and
 * ascending, then the held messages and the later ones. `last` replays in
 * chunks too, from the last-th newest match on. */
START_TEST(test_paced_replay_joined_to_live)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake(), *c = connect_fake();
    publish_many(a, "p", 1000);
    size_t b_from =
        subscribe_stalled(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"p\",\"since\":0}");
    size_t c_from =
        subscribe_stalled(c, "{\"op\":\"subscribe\",\"id\":2,\"topic\":\"p\",\"last\":700}");
    publish_many(a, "p", 50); /* live: held behind the replays */
    ck_assert_uint_le(b->s->replay_bytes, PACED_QUEUE_MAX);
    ck_assert_uint_eq(b->close_code + c->close_code, 0);
    resume_reading(b);
    resume_reading(c);
    publish(a, "p", 7);
    settle();
    expect_joined_run(b, b_from, 1, 1000, 1, core_last_seq(fx.core));
    expect_joined_run(c, c_from, 2, 700, 301, core_last_seq(fx.core));
    ck_assert_uint_eq(b->close_code + c->close_code, 0);
    drop_fakes((struct fake_conn *[]){a, b, c}, 3);
}
END_TEST

/* Retention removes messages that a paced replay has not sent yet: the
 * subscriber is closed with 4000 before anything after the gap, and its
 * resume from the last seq it saw is not recovered. */
START_TEST(test_paced_replay_gap_4000)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake();
    publish_many(a, "g", 600);
    size_t from =
        subscribe_stalled(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"g\",\"since\":0}");
    publish_many(a, "g", 700); /* retention keeps 1000: seqs 1..300 go */
    resume_reading(b);
    ck_assert_uint_eq(b->close_code, 4000);
    expect_frame(b, from, "ack", 1);
    uint64_t seen = 0;
    for (size_t i = from + 1; i < b->n_frames; i++) {
        json_t *v = frame_json(b, i);
        ck_assert_uint_eq(frame_u64(v, "seq"), ++seen);
        json_decref(v);
    }
    ck_assert_uint_lt(seen, 301);

    struct fake_conn *c = connect_fake();
    send_text(c, "{\"op\":\"subscribe\",\"id\":2,\"topic\":\"g\",\"since\":%llu}",
              (unsigned long long)seen);
    settle();
    expect_frame(c, 1, "ack", 2);
    json_t *ack = frame_json(c, 1);
    ck_assert(json_is_false(json_object_get(ack, "recovered")));
    json_decref(ack);
    drop_fakes((struct fake_conn *[]){a, b, c}, 3);
}
END_TEST

/* A paced replay of a session that closes ends with it: while it waits for
 * the socket, or with a chunk in flight; nothing more is read for it. */
START_TEST(test_paced_replay_dropped_on_close)
{
    struct fake_conn *a = connect_fake(), *b = connect_fake(), *c = connect_fake();
    publish_many(a, "d", 1000);
    subscribe_stalled(b, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"d\",\"since\":0}");
    disconnect_fake(b);
    ck_assert_uint_eq(core_pending_store(fx.core), 0);
    send_text(c, "{\"op\":\"subscribe\",\"id\":1,\"topic\":\"d\",\"since\":0}");
    ck_assert_uint_eq(core_pending_store(fx.core), 1);
    disconnect_fake(c);
    settle();
    ck_assert_uint_eq(core_pending_store(fx.core), 0);
    drop_fakes((struct fake_conn *[]){a, b, c}, 3);
}
END_TEST

/* An SSE stream's replay over overlapping patterns is paced the same way
 * and stays one ascending run, each message once. */
START_TEST(test_paced_sse_replay)
{
    struct fake_conn *a = connect_fake();
    for (int i = 1; i <= 1000; i++) {
        publish_large(a, i % 2 ? "m.x" : "m.y", i, 2000);
        if (i % 100 == 0)
            settle();
    }
    struct fake_conn *e = calloc(1, sizeof(*e));
    ck_assert_ptr_nonnull(e);
    e->paused = true;
    e->s = core_sse_open(fx.core, &fake_transport, e);
    ck_assert_ptr_nonnull(e->s);
    char p0[] = "m.*", p1[] = "m.x";
    char *patterns[] = {p0, p1};
    core_sse_subscribe(fx.core, e->s, patterns, 2, true, 0);
    settle();
    ck_assert_uint_le(e->s->replay_bytes, PACED_QUEUE_MAX);
    publish(a, "m.y", 1001);
    resume_reading(e);
    expect_event_ids(e, 1001);
    drop_fakes((struct fake_conn *[]){e, a}, 2);
}
END_TEST

/* A history reply stops before it would pass max_message (saying more),
 * so that pages of large messages never close a client that reads. */
START_TEST(test_history_bounded)
{
    fx.cfg.max_backlog = 2 * 1048576;
    struct fake_conn *a = connect_fake(), *b = connect_fake();
    for (int i = 1; i <= 10; i++)
        publish_large(a, "h", i, 300000);
    settle();
    uint64_t since = 0;
    size_t pages = 0, got = 0;
    bool more = true;
    while (more) {
        size_t at = b->n_frames;
        send_text(b, "{\"op\":\"history\",\"id\":%zu,\"topic\":\"h\",\"since\":%llu,\"limit\":9}",
                  pages + 1, (unsigned long long)since);
        settle();
        ck_assert_uint_eq(b->close_code, 0);
        ck_assert_uint_eq(b->n_frames, at + 1);
        ck_assert_uint_le(strlen(b->frames[at]), (size_t)fx.cfg.max_message);
        json_t *v = frame_json(b, at);
        json_t *msgs = json_object_get(v, "messages");
        ck_assert_uint_ge(json_array_size(msgs), 1);
        got += json_array_size(msgs);
        since = (uint64_t)json_integer_value(
            json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "seq"));
        more = json_is_true(json_object_get(v, "more"));
        json_decref(v);
        pages++;
    }
    ck_assert_uint_eq(got, 10);
    ck_assert_uint_ge(pages, 4);
    drop_fakes((struct fake_conn *[]){a, b}, 2);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_subscribe_publish_unsubscribe);
    tcase_add_test(tc, test_replay_joined_to_live);
    tcase_add_test(tc, test_once_per_connection);
    tcase_add_test(tc, test_replay_skips_overlap);
    tcase_add_test(tc, test_presence_join_leave);
    tcase_add_test(tc, test_slow_consumer_4000);
    tcase_add_test(tc, test_requests_wait_behind_replay);
    tcase_add_test(tc, test_echo_false);
    tcase_add_test(tc, test_sse_replay_merged);
    tcase_add_test(tc, test_paced_replay_joined_to_live);
    tcase_add_test(tc, test_paced_replay_gap_4000);
    tcase_add_test(tc, test_paced_replay_dropped_on_close);
    tcase_add_test(tc, test_paced_sse_replay);
    tcase_add_test(tc, test_history_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
