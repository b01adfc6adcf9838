/* SPDX-License-Identifier: MIT */
/*
 * test_core_conflate.c: unit tests of conflated subscriptions
 * (docs/protocol.md section 11) on the fake transport: replacement in
 * place, the `conflated` counts, no 4000 for conflated messages while a
 * plain subscription's backlog still gets it, plain over conflated, replays
 * unconflated, topic rules, and the newest message of every topic once the
 * socket drains.
 */
#include "core_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/topic_rules.h"

/* One delivered message, as a test looks at it. */
struct got {
    char topic[32];
    uint64_t seq;
    uint64_t conflated; /* 0 when the frame has none */
};

/* The `message` frames of c from frame `from` on (at most max). */
static size_t collect(const struct fake_conn *c, size_t from, struct got *out, size_t max)
{
    size_t n = 0;
    for (size_t i = from; i < c->n_frames && n < max; i++) {
        json_t *v = frame_json(c, i);
        if (strcmp(frame_op(v), "message") == 0) {
            snprintf(out[n].topic, sizeof(out[n].topic), "%s",
                     json_string_value(json_object_get(v, "topic")));
            out[n].seq = frame_u64(v, "seq");
            json_t *k = json_object_get(v, "conflated");
            out[n].conflated = k ? (uint64_t)json_integer_value(k) : 0;
            if (k)
                ck_assert_uint_gt(out[n].conflated, 0);
            n++;
        }
        json_decref(v);
    }
    return n;
}

static void subscribe(struct fake_conn *c, const char *topic, const char *extra)
{
    send_text(c, "{\"op\":\"subscribe\",\"topic\":\"%s\"%s}", topic, extra);
    settle();
}

static void resume(struct fake_conn *c)
{
    c->paused = false;
    fake_wake(c);
    settle();
}

/* p publishes n messages to topic, one turn each. */
static void publish_each(struct fake_conn *p, const char *topic, int n)
{
    for (int id = 1; id <= n; id++) {
        publish(p, topic, id);
        settle();
    }
}

/* a and b stop reading while n messages are published to topic; then they
 * read everything. What each got is collected into got[0] and got[1]
 * (at most 8), their counts into counts[0] and counts[1]. */
static void publish_behind(struct fake_conn *p, struct fake_conn *a, struct fake_conn *b,
                           const char *topic, int n, struct got got[2][8], size_t counts[2])
{
    size_t from_a = a->n_frames, from_b = b->n_frames;
    a->paused = b->paused = true;
    publish_each(p, topic, n);
    resume(a);
    resume(b);
    counts[0] = collect(a, from_a, got[0], 8);
    counts[1] = collect(b, from_b, got[1], 8);
}

/* What c got from frame `from` on: the ack, the replay of seqs 1..replayed
 * whole, then one live message, seq `last`, that replaced `conflated`. */
static void expect_replay_then(const struct fake_conn *c, size_t from, uint64_t replayed,
                               uint64_t last, uint64_t conflated)
{
    expect_frame(c, from, "ack", 9);
    static struct got got[1100];
    ck_assert_uint_eq(collect(c, from, got, 1100), replayed + 1);
    for (size_t i = 0; i < replayed; i++) {
        ck_assert_uint_eq(got[i].seq, i + 1);
        ck_assert_uint_eq(got[i].conflated, 0);
    }
    ck_assert_uint_eq(got[replayed].seq, last);
    ck_assert_uint_eq(got[replayed].conflated, conflated);
}

static void drop(struct fake_conn **conns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        disconnect_fake(conns[i]);
    for (size_t i = 0; i < n; i++)
        free_fake(conns[i]);
}

/* A newer message takes the older one's place; its count says how many
 * it replaced. The first one went into an empty queue as it is. */
START_TEST(test_conflate_replaces_in_place)
{
    struct fake_conn *p = connect_fake(), *c = connect_fake();
    subscribe(c, "a", ",\"conflate\":true");
    subscribe(c, "b", ",\"conflate\":true");
    c->paused = true;
    size_t from = c->n_frames;
    const char *order[] = {"a", "b", "a", "a", "b", "a"}; /* seqs 1..6 */
    for (int i = 0; i < 6; i++)
        publish_each(p, order[i], 1);
    ck_assert_uint_eq(session_queue_count(c->s), 3);
    resume(c);
    struct got got[8];
    ck_assert_uint_eq(collect(c, from, got, 8), 3);
    ck_assert_str_eq(got[0].topic, "a");
    ck_assert_uint_eq(got[0].seq, 1);
    ck_assert_uint_eq(got[0].conflated, 0);
    ck_assert_str_eq(got[1].topic, "b"); /* b's slot came before a's */
    ck_assert_uint_eq(got[1].seq, 5);
    ck_assert_uint_eq(got[1].conflated, 1);
    ck_assert_str_eq(got[2].topic, "a");
    ck_assert_uint_eq(got[2].seq, 6);
    ck_assert_uint_eq(got[2].conflated, 2);
    /* Reading again: nothing is conflated. */
    from = c->n_frames;
    publish(p, "a", 7);
    settle();
    ck_assert_uint_eq(collect(c, from, got, 8), 1);
    ck_assert_uint_eq(got[0].conflated, 0);
    struct fake_conn *all[] = {p, c};
    drop(all, 2);
}
END_TEST

/* Conflated messages never close the connection; its plain subscription's
 * backlog still does. */
START_TEST(test_conflate_never_4000)
{
    fx.cfg.max_backlog = 2000;
    struct fake_conn *p = connect_fake(), *c = connect_fake();
    subscribe(c, "c.*", ",\"conflate\":true");
    subscribe(c, "plain", "");
    c->paused = true;
    for (int id = 1; id <= 200; id++) {
        publish(p, id % 2 ? "c.x" : "c.y", id);
        settle();
    }
    ck_assert_uint_eq(c->close_code, 0);
    ck_assert_uint_le(session_queue_count(c->s), 3);
    for (int id = 201; id <= 280 && c->close_code == 0; id++) {
        publish(p, "plain", id);
        settle();
    }
    ck_assert_uint_eq(c->close_code, 4000);
    struct fake_conn *all[] = {p, c};
    drop(all, 2);
}
END_TEST

/* A message matching a plain and a conflated subscription of one
 * connection is delivered plain, whichever was made first. */
START_TEST(test_conflate_plain_wins)
{
    struct fake_conn *p = connect_fake(), *c1 = connect_fake(), *c2 = connect_fake();
    subscribe(c1, "t.>", "");
    subscribe(c1, "t.x", ",\"conflate\":true");
    subscribe(c2, "t.x", ",\"conflate\":true");
    subscribe(c2, "t.>", "");
    struct got got[2][8];
    size_t counts[2];
    publish_behind(p, c1, c2, "t.x", 5, got, counts);
    ck_assert(counts[0] == 5 && counts[1] == 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(got[0][i].conflated + got[1][i].conflated, 0);
    struct fake_conn *all[] = {p, c1, c2};
    drop(all, 3);
}
END_TEST

/* c subscribes with a replay of `stored` messages and stops reading; then
 * `live` messages come: the replay arrives whole, then the newest live one
 * for all of them. A paced replay (2 KB messages, more than a chunk) is
 * still pending when they come: they are held, and conflated there. */
static void replay_then_live(const char *topic, int stored, bool paced, int live)
{
    struct fake_conn *p = connect_fake(), *c = connect_fake();
    if (paced)
        publish_many(p, topic, stored);
    else
        publish_each(p, topic, stored);
    c->paused = true;
    size_t from = c->n_frames;
    send_text(c, "{\"op\":\"subscribe\",\"id\":9,\"topic\":\"%s\",\"since\":0,\"conflate\":true}",
              topic);
    settle();
    ck_assert(c->s->replay_pending == paced);
    publish_each(p, topic, live);
    resume(c);
    expect_replay_then(c, from, (uint64_t)stored, (uint64_t)(stored + live), (uint64_t)live - 1);
    struct fake_conn *all[] = {p, c};
    drop(all, 2);
}

START_TEST(test_conflate_replay_whole)
{
    replay_then_live("r", 5, false, 3);
}
END_TEST

START_TEST(test_conflate_held_behind_replay)
{
    replay_then_live("h", 1000, true, 5);
}
END_TEST

/* After the socket drains, every topic's newest message has arrived, seqs
 * ascend per topic, and the counts add up to what was published. The
 * same connection's plain subscriber on another connection gets all. */
START_TEST(test_conflate_newest_of_every_topic)
{
    enum { TOPICS = 10, MESSAGES = 400 };
    struct fake_conn *p = connect_fake(), *c = connect_fake(), *all_of = connect_fake();
    subscribe(c, "n.*", ",\"conflate\":true");
    subscribe(all_of, "n.*", "");
    uint64_t newest[TOPICS] = {0}, published[TOPICS] = {0};
    c->paused = true;
    size_t from = c->n_frames;
    for (int i = 1; i <= MESSAGES; i++) {
        int t = (i * 7 + i / 3) % TOPICS;
        char topic[16];
        snprintf(topic, sizeof(topic), "n.%d", t);
        publish(p, topic, i);
        if (i % 5 == 0)
            settle();
        if (i == MESSAGES / 2) /* the socket takes something in between */
            fake_wake(c);
    }
    settle();
    for (size_t i = 0; i < p->n_frames; i++) {
        json_t *v = frame_json(p, i);
        if (strcmp(frame_op(v), "ack") == 0 && json_object_get(v, "seq")) {
            int data = (int)frame_u64(v, "id");
            int t = (data * 7 + data / 3) % TOPICS;
            uint64_t seq = frame_u64(v, "seq");
            newest[t] = seq > newest[t] ? seq : newest[t];
            published[t]++;
        }
        json_decref(v);
    }
    ck_assert_uint_le(session_queue_count(c->s), TOPICS + 1);
    resume(c);
    static struct got got[MESSAGES];
    size_t n = collect(c, from, got, MESSAGES);
    ck_assert_uint_lt(n, MESSAGES);
    uint64_t last[TOPICS] = {0}, counted[TOPICS] = {0};
    for (size_t i = 0; i < n; i++) {
        int t = atoi(got[i].topic + 2);
        ck_assert_uint_gt(got[i].seq, last[t]);
        last[t] = got[i].seq;
        counted[t] += 1 + got[i].conflated;
    }
    for (int t = 0; t < TOPICS; t++) {
        ck_assert_uint_eq(last[t], newest[t]);
        ck_assert_uint_eq(counted[t], published[t]);
    }
    ck_assert_uint_eq(count_messages(all_of, 0), MESSAGES);
    struct fake_conn *conns[] = {p, c, all_of};
    drop(conns, 3);
}
END_TEST

/* A topic rule with conflate=true conflates subscriptions that do not say;
 * "conflate": false keeps one plain. */
START_TEST(test_conflate_topic_rule)
{
    char *texts[] = {"q.> conflate=true"};
    char why[128];
    ck_assert_int_eq(topic_rules_parse(&fx.cfg.topic_rules, texts, 1, why, sizeof(why)), 0);
    struct fake_conn *p = connect_fake(), *ruled = connect_fake(), *plain = connect_fake();
    subscribe(ruled, "q.>", "");
    subscribe(plain, "q.>", ",\"conflate\":false");
    struct got got[2][8];
    size_t counts[2];
    publish_behind(p, ruled, plain, "q.a", 6, got, counts);
    ck_assert_uint_eq(counts[0], 2);
    ck_assert_uint_eq(got[0][1].conflated, 4);
    ck_assert_uint_eq(counts[1], 6);
    struct fake_conn *all[] = {p, ruled, plain};
    drop(all, 3);
    topic_rules_free(&fx.cfg.topic_rules);
}
END_TEST

/* After a plain subscription that took a topic over goes, the topic's next
 * conflated message does not overtake the plain ones queued meanwhile. */
START_TEST(test_conflate_after_unsubscribe_in_order)
{
    struct fake_conn *p = connect_fake(), *c = connect_fake();
    subscribe(c, "u.x", ",\"conflate\":true");
    c->paused = true;
    size_t from = c->n_frames;
    publish(p, "u.x", 1);
    publish(p, "u.x", 2);
    settle();
    subscribe(c, "u.>", "");
    publish(p, "u.x", 3);
    settle();
    send_text(c, "{\"op\":\"unsubscribe\",\"topic\":\"u.>\"}");
    publish(p, "u.x", 4);
    settle();
    resume(c);
    struct got got[8];
    size_t n = collect(c, from, got, 8);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(got[i].seq, i + 1);
    struct fake_conn *all[] = {p, c};
    drop(all, 2);
}
END_TEST

/* welcome lists the feature. */
START_TEST(test_conflate_feature)
{
    struct fake_conn *c = connect_fake();
    json_t *v = frame_json(c, 0);
    json_t *features = json_object_get(v, "features");
    bool found = false;
    for (size_t i = 0; i < json_array_size(features); i++)
        found |= strcmp(json_string_value(json_array_get(features, i)), "conflate") == 0;
    ck_assert(found);
    json_decref(v);
    struct fake_conn *all[] = {c};
    drop(all, 1);
}
END_TEST

static Suite *conflate_suite(void)
{
    Suite *s = suite_create("core_conflate");
    TCase *tc = tcase_create("conflate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conflate_replaces_in_place);
    tcase_add_test(tc, test_conflate_never_4000);
    tcase_add_test(tc, test_conflate_plain_wins);
    tcase_add_test(tc, test_conflate_replay_whole);
    tcase_add_test(tc, test_conflate_held_behind_replay);
    tcase_add_test(tc, test_conflate_newest_of_every_topic);
    tcase_add_test(tc, test_conflate_topic_rule);
    tcase_add_test(tc, test_conflate_after_unsubscribe_in_order);
    tcase_add_test(tc, test_conflate_feature);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return core_fixture_run(conflate_suite());
}
