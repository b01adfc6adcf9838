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

/* a and b stop reading while n messages are published to topic, one
 * turn each; then they read everything. */
static void publish_behind(struct fake_conn *p, struct fake_conn *a, struct fake_conn *b,
                           const char *topic, int n)
{
    a->paused = b->paused = true;
    for (int id = 1; id <= n; id++) {
        publish(p, topic, id);
        settle();
    }
    resume(a);
    resume(b);
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
    for (int i = 0; i < 6; i++) {
        publish(p, order[i], i + 1);
        settle();
    }
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
    size_t from1 = c1->n_frames, from2 = c2->n_frames;
    publish_behind(p, c1, c2, "t.x", 5);
    struct got got[8];
    ck_assert_uint_eq(collect(c1, from1, got, 8), 5);
    ck_assert_uint_eq(collect(c2, from2, got, 8), 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(got[i].conflated, 0);
    struct fake_conn *all[] = {p, c1, c2};
    drop(all, 3);
}
END_TEST

/* A replay is sent whole; the live messages behind it are conflated. */
START_TEST(test_conflate_replay_whole)
{
    struct fake_conn *p = connect_fake(), *c = connect_fake();
    for (int id = 1; id <= 5; id++)
        publish(p, "r", id);
    settle();
    c->paused = true;
    size_t from = c->n_frames;
    send_text(c, "{\"op\":\"subscribe\",\"id\":9,\"topic\":\"r\",\"since\":0,\"conflate\":true}");
    settle();
    for (int id = 6; id <= 8; id++) {
        publish(p, "r", id);
        settle();
    }
    resume(c);
    expect_frame(c, from, "ack", 9);
    struct got got[16];
    ck_assert_uint_eq(collect(c, from, got, 16), 6);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(got[i].seq, i + 1);
        ck_assert_uint_eq(got[i].conflated, 0);
    }
    ck_assert_uint_eq(got[5].seq, 8);
    ck_assert_uint_eq(got[5].conflated, 2);
    struct fake_conn *all[] = {p, c};
    drop(all, 2);
}
END_TEST

/* Conflated messages held behind a paced replay are conflated there too,
 * and sent after the whole replay. */
START_TEST(test_conflate_held_behind_replay)
{
    struct fake_conn *p = connect_fake(), *c = connect_fake();
    publish_many(p, "h", 1000);
    c->paused = true;
    size_t from = c->n_frames;
    send_text(c, "{\"op\":\"subscribe\",\"id\":9,\"topic\":\"h\",\"since\":0,\"conflate\":true}");
    settle();
    ck_assert(c->s->replay_pending);
    for (int id = 1; id <= 5; id++) {
        publish(p, "h", id);
        settle();
    }
    ck_assert_uint_eq(c->s->held.count, 1);
    resume(c);
    expect_frame(c, from, "ack", 9);
    static struct got got[1100];
    ck_assert_uint_eq(collect(c, from, got, 1100), 1001);
    for (size_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(got[i].seq, i + 1);
    ck_assert_uint_eq(got[1000].seq, 1005);
    ck_assert_uint_eq(got[1000].conflated, 4);
    struct fake_conn *all[] = {p, c};
    drop(all, 2);
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
    size_t from_r = ruled->n_frames, from_p = plain->n_frames;
    publish_behind(p, ruled, plain, "q.a", 6);
    struct got got[8];
    ck_assert_uint_eq(collect(ruled, from_r, got, 8), 2);
    ck_assert_uint_eq(got[1].conflated, 4);
    ck_assert_uint_eq(collect(plain, from_p, got, 8), 6);
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
