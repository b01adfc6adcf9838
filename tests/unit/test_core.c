/* SPDX-License-Identifier: MIT */
/*
 * test_core.c: unit tests of broker/core/ without sockets: subscribe, publish,
 * replay joined to live, once-per-connection delivery, presence, the
 * slow-consumer rule, requests behind a replay, echo:false, SSE replays.
 *
 * Core runs on the fake transport of core_fixture.h, with a real store.
 */
#include "core_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return core_fixture_run(core_suite());
}
