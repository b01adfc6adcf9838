/* SPDX-License-Identifier: MIT */
/*
 * test_core_paced.c: unit tests of core's bounds: paced replays (chunks
 * joined to live, a retention gap, a session that left, SSE), bounded
 * history replies, and the reply bound that pauses reading.
 *
 * Core runs on the fake transport of core_fixture.h, with a real store.
 */
#include "core_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A client that sends requests and never reads the answers: past
 * SESSION_REPLY_MAX of queued replies core asks the transport to stop
 * reading, instead of queueing without bound or closing it; once the
 * socket takes half of them, reading resumes. Live messages are not
 * affected, and the replies are charged what they cost (a pong takes a
 * pooled block, not its 20 bytes). */
START_TEST(test_replies_pause_reading)
{
    struct fake_conn *c = connect_fake();
    c->paused = true;
    int pings = 0;
    while (!c->reading_paused && pings < 100000)
        send_text(c, "{\"op\":\"ping\",\"id\":%d}", ++pings);
    ck_assert_msg(c->reading_paused, "still reading after %d unread pongs", pings);
    /* Each pong is charged at least its pooled block: the bound is reached
     * after about SESSION_REPLY_MAX / 256 of them, not / 20. */
    ck_assert_int_le(pings, SESSION_REPLY_MAX / 256 + 1);
    ck_assert_int_ge(pings, SESSION_REPLY_MAX / 1024);
    ck_assert_uint_eq(c->close_code, 0);
    c->paused = false;
    fake_wake(c);
    ck_assert(!c->reading_paused);
    ck_assert_uint_eq(c->n_frames, (size_t)pings + 1); /* the welcome and every pong */
    expect_frame(c, c->n_frames - 1, "pong", pings);
    disconnect_fake(c);
    free_fake(c);
}
END_TEST

static Suite *core_paced_suite(void)
{
    Suite *s = suite_create("core_paced");
    TCase *tc = tcase_create("core_paced");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_paced_replay_joined_to_live);
    tcase_add_test(tc, test_paced_replay_gap_4000);
    tcase_add_test(tc, test_paced_replay_dropped_on_close);
    tcase_add_test(tc, test_paced_sse_replay);
    tcase_add_test(tc, test_history_bounded);
    tcase_add_test(tc, test_replies_pause_reading);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return core_fixture_run(core_paced_suite());
}
