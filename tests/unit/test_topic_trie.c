/* SPDX-License-Identifier: MIT */
/*
 * test_topic_trie.c: unit tests of the subscription trie of common/topic.c.
 *
 * Covers counters, duplicates, invalid patterns, removal and pruning (and the
 * memory it gives back), many subscribers, one subscriber with many patterns,
 * '$' names, sixteen segments, and many children under one node.
 */
#include "topic_fixtures.h"

#include <check.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The trie ---------------------------------------------------------- */

START_TEST(test_trie_empty)
{
    struct topic_trie *trie = topic_trie_new();
    ck_assert_ptr_nonnull(trie);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 0);
    ck_assert_uint_eq(topic_trie_patterns(trie), 0);
    char subs[1] = {0};
    struct recorder rec;
    recorder_init(&rec, subs, 1);
    ck_assert_uint_eq(match_into(trie, "a", &rec), 0);
    recorder_free(&rec);
    topic_trie_free(trie);
    topic_trie_free(NULL);
}
END_TEST

START_TEST(test_trie_add_remove)
{
    struct topic_trie *trie = topic_trie_new();
    char subs[3] = {0};
    struct recorder rec;
    recorder_init(&rec, subs, 3);

    ck_assert_int_eq(topic_trie_add(trie, "a.b", &subs[0]), 0);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 1);
    ck_assert_uint_eq(topic_trie_patterns(trie), 1);
    ck_assert_int_eq(topic_trie_add(trie, "a.b", &subs[0]), 1);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 1);
    ck_assert_uint_eq(topic_trie_patterns(trie), 1);
    ck_assert_int_eq(topic_trie_add(trie, "a.b", &subs[1]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a.*", &subs[0]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a", &subs[2]), 0);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 4);
    ck_assert_uint_eq(topic_trie_patterns(trie), 3);

    ck_assert_uint_eq(match_into(trie, "a.b", &rec), 3);
    ck_assert_uint_eq(rec.counts[0], 2);
    ck_assert_uint_eq(rec.counts[1], 1);
    ck_assert_uint_eq(match_into(trie, "a", &rec), 1);
    ck_assert_uint_eq(rec.counts[2], 1);

    /* Pairs that are not there, including prefixes and extensions. */
    ck_assert_int_eq(topic_trie_remove(trie, "a.b", &subs[2]), 1);
    ck_assert_int_eq(topic_trie_remove(trie, "a.c", &subs[0]), 1);
    ck_assert_int_eq(topic_trie_remove(trie, "a", &subs[0]), 1);
    ck_assert_int_eq(topic_trie_remove(trie, "a.b.c", &subs[0]), 1);
    ck_assert_int_eq(topic_trie_remove(trie, "a.>", &subs[0]), 1);
    ck_assert_int_eq(topic_trie_remove(trie, "", &subs[0]), 1);
    ck_assert_int_eq(topic_trie_remove(trie, "a..b", &subs[0]), 1);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 4);

    ck_assert_int_eq(topic_trie_remove(trie, "a.b", &subs[0]), 0);
    ck_assert_int_eq(topic_trie_remove(trie, "a.b", &subs[0]), 1);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 3);
    ck_assert_uint_eq(topic_trie_patterns(trie), 3);
    ck_assert_uint_eq(match_into(trie, "a.b", &rec), 2);
    ck_assert_uint_eq(rec.counts[0], 1);
    ck_assert_uint_eq(rec.counts[1], 1);

    ck_assert_int_eq(topic_trie_remove(trie, "a.b", &subs[1]), 0);
    ck_assert_uint_eq(topic_trie_patterns(trie), 2);
    /* Removing the prefix pattern "a" keeps "a.*" below it. */
    ck_assert_int_eq(topic_trie_remove(trie, "a", &subs[2]), 0);
    ck_assert_uint_eq(match_into(trie, "a.b", &rec), 1);
    ck_assert_uint_eq(rec.counts[0], 1);
    ck_assert_int_eq(topic_trie_remove(trie, "a.*", &subs[0]), 0);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 0);
    ck_assert_uint_eq(topic_trie_patterns(trie), 0);
    ck_assert_uint_eq(match_into(trie, "a.b", &rec), 0);

    /* The trie works again after being emptied. */
    ck_assert_int_eq(topic_trie_add(trie, "a.b", &subs[1]), 0);
    ck_assert_uint_eq(match_into(trie, "a.b", &rec), 1);
    ck_assert_uint_eq(rec.counts[1], 1);

    recorder_free(&rec);
    topic_trie_free(trie);
}
END_TEST

START_TEST(test_trie_add_invalid)
{
    static const char *const invalid[] = {"",      "a..b", ".a", "a.",   "a b",
                                          "a.>.b", "a*",   "$",  "a.$b", "pr\xc3\xa9x"};
    struct topic_trie *trie = topic_trie_new();
    char sub = 0;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        ck_assert_msg(topic_trie_add(trie, invalid[i], &sub) == -1, "\"%s\"", invalid[i]);
    char too_many[64];
    make_name(too_many, 17, 1);
    ck_assert_int_eq(topic_trie_add(trie, too_many, &sub), -1);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 0);
    ck_assert_uint_eq(topic_trie_patterns(trie), 0);
    topic_trie_free(trie);
}
END_TEST

/* Prefix and extension patterns survive each other's removal. */
START_TEST(test_trie_prune_keeps_neighbours)
{
    struct topic_trie *trie = topic_trie_new();
    char subs[2] = {0};
    struct recorder rec;
    recorder_init(&rec, subs, 2);

    ck_assert_int_eq(topic_trie_add(trie, "a", &subs[0]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a.b.c", &subs[1]), 0);
    ck_assert_int_eq(topic_trie_remove(trie, "a.b.c", &subs[1]), 0);
    ck_assert_uint_eq(match_into(trie, "a", &rec), 1);
    ck_assert_int_eq(topic_trie_add(trie, "a.b.c", &subs[1]), 0);
    ck_assert_int_eq(topic_trie_remove(trie, "a", &subs[0]), 0);
    ck_assert_uint_eq(match_into(trie, "a.b.c", &rec), 1);
    ck_assert_uint_eq(rec.counts[1], 1);
    ck_assert_uint_eq(match_into(trie, "a", &rec), 0);

    /* A '>' leaf and a '*' branch under the same node. */
    ck_assert_int_eq(topic_trie_add(trie, "a.>", &subs[0]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a.*.c", &subs[0]), 0);
    ck_assert_uint_eq(match_into(trie, "a.b.c", &rec), 3);
    ck_assert_int_eq(topic_trie_remove(trie, "a.>", &subs[0]), 0);
    ck_assert_uint_eq(match_into(trie, "a.b.c", &rec), 2);
    ck_assert_int_eq(topic_trie_remove(trie, "a.*.c", &subs[0]), 0);
    ck_assert_uint_eq(match_into(trie, "a.b.c", &rec), 1);
    ck_assert_uint_eq(rec.counts[1], 1);

    recorder_free(&rec);
    topic_trie_free(trie);
}
END_TEST

static const char *const prune_patterns[] = {
    "a.b.c.d", "a.b.*", "a.>", "a", "*.*.>", ">", "x.y.z", "$sys.stats", "$sys.>", "*",
};

enum { PRUNE_SUBS = 40, PRUNE_CHILDREN = 300 };

/* Adds the prune patterns for every subscriber plus PRUNE_CHILDREN names
 * unique to `cycle`, then removes them all in another order. Returns the
 * number of unexpected results; `peak` receives the heap in use when full. */
static size_t prune_cycle(struct topic_trie *trie, char *subs, size_t cycle, size_t *peak)
{
    size_t npatterns = sizeof(prune_patterns) / sizeof(prune_patterns[0]);
    size_t wrong = 0;
    char name[64];
    for (size_t i = 0; i < npatterns; i++) {
        for (size_t s = 0; s < PRUNE_SUBS; s++)
            wrong += topic_trie_add(trie, prune_patterns[i], &subs[s]) != 0;
    }
    for (size_t i = 0; i < PRUNE_CHILDREN; i++) {
        snprintf(name, sizeof(name), "n.c%04zu.x%04zu.leaf", cycle, i);
        wrong += topic_trie_add(trie, name, &subs[i % PRUNE_SUBS]) != 0;
    }
    *peak = mallinfo2().uordblks;
    for (size_t i = PRUNE_CHILDREN; i-- > 0;) {
        snprintf(name, sizeof(name), "n.c%04zu.x%04zu.leaf", cycle, i);
        wrong += topic_trie_remove(trie, name, &subs[i % PRUNE_SUBS]) != 0;
    }
    for (size_t s = 0; s < PRUNE_SUBS; s++) {
        for (size_t i = 0; i < npatterns; i++)
            wrong += topic_trie_remove(trie, prune_patterns[i], &subs[s]) != 0;
    }
    wrong += topic_trie_subscriptions(trie) != 0;
    wrong += topic_trie_patterns(trie) != 0;
    return wrong;
}

/* Removal frees what adding took: cycles that each add and remove fresh
 * names leave the heap where it was. Without pruning each cycle would keep
 * its ~600 nodes (over 30 KiB). glibc's tcache keeps freed chunks counted as
 * in use and makes the figure creep by a few hundred bytes a cycle, hence
 * the warm-up and the slack per cycle. */
START_TEST(test_trie_prune_frees_memory)
{
#ifdef __SANITIZE_ADDRESS__
    /* ASan's allocator reports nothing through mallinfo2; its leak checker
     * covers topic_trie_free instead. */
    return;
#endif
    enum { WARM_UP = 2, CYCLES = 12, SLACK_PER_CYCLE = 2048 };
    char subs[PRUNE_SUBS] = {0};
    struct topic_trie *trie = topic_trie_new();
    size_t wrong = 0;
    size_t peak = 0;
    for (size_t cycle = 0; cycle < WARM_UP; cycle++)
        wrong += prune_cycle(trie, subs, cycle, &peak);
    size_t settled = mallinfo2().uordblks;
    for (size_t cycle = WARM_UP; cycle < CYCLES; cycle++)
        wrong += prune_cycle(trie, subs, cycle, &peak);
    size_t after = mallinfo2().uordblks;

    ck_assert_uint_eq(wrong, 0);
    /* The measure sees the trie: a full one takes far more than the slack. */
    ck_assert_uint_gt(peak, settled + 20 * SLACK_PER_CYCLE);
    ck_assert_uint_le(after, settled + (CYCLES - WARM_UP) * SLACK_PER_CYCLE);
    topic_trie_free(trie);
}
END_TEST

START_TEST(test_trie_many_subscribers)
{
    enum { SUBS = 2000 };
    char *subs = calloc(SUBS, 1);
    ck_assert_ptr_nonnull(subs);
    struct recorder rec;
    recorder_init(&rec, subs, SUBS);
    struct topic_trie *trie = topic_trie_new();

    for (size_t s = 0; s < SUBS; s++)
        ck_assert_int_eq(topic_trie_add(trie, "prices.>", &subs[s]), 0);
    for (size_t s = 0; s < SUBS; s += 7)
        ck_assert_int_eq(topic_trie_add(trie, "prices.>", &subs[s]), 1);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), SUBS);
    ck_assert_uint_eq(topic_trie_patterns(trie), 1);
    ck_assert_uint_eq(match_into(trie, "prices.us.AAPL", &rec), SUBS);
    for (size_t s = 0; s < SUBS; s++)
        ck_assert_uint_eq(rec.counts[s], 1);

    for (size_t s = 1; s < SUBS; s += 2)
        ck_assert_int_eq(topic_trie_remove(trie, "prices.>", &subs[s]), 0);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), SUBS / 2);
    ck_assert_uint_eq(topic_trie_patterns(trie), 1);
    ck_assert_uint_eq(match_into(trie, "prices.AAPL", &rec), SUBS / 2);
    for (size_t s = 0; s < SUBS; s++)
        ck_assert_uint_eq(rec.counts[s], s % 2 == 0 ? 1 : 0);

    recorder_free(&rec);
    topic_trie_free(trie);
    free(subs);
}
END_TEST

START_TEST(test_trie_one_subscriber_many_patterns)
{
    static const char *const patterns[] = {"a.b", "a.*", "*.b", "*.*", "a.>", ">", "*.>"};
    size_t npatterns = sizeof(patterns) / sizeof(patterns[0]);
    char subs[2] = {0};
    struct recorder rec;
    recorder_init(&rec, subs, 2);
    struct topic_trie *trie = topic_trie_new();

    for (size_t i = 0; i < npatterns; i++)
        ck_assert_int_eq(topic_trie_add(trie, patterns[i], &subs[0]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a.c", &subs[1]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a.b.c", &subs[1]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a", &subs[1]), 0);
    ck_assert_uint_eq(topic_trie_patterns(trie), npatterns + 3);

    ck_assert_uint_eq(match_into(trie, "a.b", &rec), npatterns);
    ck_assert_uint_eq(rec.counts[0], npatterns);
    ck_assert_uint_eq(rec.counts[1], 0);
    /* "a.c": "a.*", "*.*", "a.>", ">", "*.>" and subs[1]'s "a.c". */
    ck_assert_uint_eq(match_into(trie, "a.c", &rec), 6);
    ck_assert_uint_eq(rec.counts[0], 5);
    ck_assert_uint_eq(rec.counts[1], 1);

    recorder_free(&rec);
    topic_trie_free(trie);
}
END_TEST

START_TEST(test_trie_reserved_names)
{
    static const char *const wild[] = {">", "*", "*.stats", "*.>", "*.*"};
    static const char *const sys[] = {"$sys.stats", "$sys.*", "$sys.>", "$sys"};
    char subs[2] = {0};
    struct recorder rec;
    recorder_init(&rec, subs, 2);
    struct topic_trie *trie = topic_trie_new();
    for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++)
        ck_assert_int_eq(topic_trie_add(trie, wild[i], &subs[0]), 0);
    for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
        ck_assert_int_eq(topic_trie_add(trie, sys[i], &subs[1]), 0);

    ck_assert_uint_eq(match_into(trie, "$sys.stats", &rec), 3);
    ck_assert_uint_eq(rec.counts[0], 0);
    ck_assert_uint_eq(rec.counts[1], 3);
    ck_assert_uint_eq(match_into(trie, "$sys", &rec), 1);
    ck_assert_uint_eq(rec.counts[1], 1);
    /* The same shape without '$': every wildcard pattern but "*". */
    ck_assert_uint_eq(match_into(trie, "sys.stats", &rec), 4);
    ck_assert_uint_eq(rec.counts[0], 4);
    ck_assert_uint_eq(match_into(trie, "sys", &rec), 2);
    ck_assert_uint_eq(rec.counts[0], 2);

    recorder_free(&rec);
    topic_trie_free(trie);
}
END_TEST

START_TEST(test_trie_sixteen_segments)
{
    static const char *const name = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p";
    char subs[4] = {0};
    struct recorder rec;
    recorder_init(&rec, subs, 4);
    struct topic_trie *trie = topic_trie_new();
    ck_assert_int_eq(topic_trie_add(trie, name, &subs[0]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*", &subs[1]), 0);
    ck_assert_int_eq(topic_trie_add(trie, "a.*.c.*.e.*.g.*.i.*.k.*.m.*.o.>", &subs[2]), 0);
    ck_assert_int_eq(topic_trie_add(trie, ">", &subs[3]), 0);
    ck_assert_uint_eq(match_into(trie, name, &rec), 4);
    for (size_t s = 0; s < 4; s++)
        ck_assert_uint_eq(rec.counts[s], 1);
    ck_assert_uint_eq(match_into(trie, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o", &rec), 1);
    ck_assert_uint_eq(rec.counts[3], 1);
    /* Names the trie cannot hold match nothing, not even ">". */
    ck_assert_uint_eq(match_into(trie, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", &rec), 0);
    ck_assert_uint_eq(match_into(trie, "", &rec), 0);
    ck_assert_uint_eq(match_into(trie, "a..b", &rec), 0);
    recorder_free(&rec);
    topic_trie_free(trie);
}
END_TEST

/* One node with 10,000 literal children (like "prices" in real use), then
 * removed in two interleaved halves so the child table shrinks under load. */
START_TEST(test_trie_ten_thousand_children)
{
    enum { CHILDREN = 10000 };
    char *subs = calloc(CHILDREN + 1, 1);
    ck_assert_ptr_nonnull(subs);
    char *all = &subs[CHILDREN];
    char name[64];
    struct recorder rec;
    recorder_init(&rec, subs, CHILDREN + 1);
    struct topic_trie *trie = topic_trie_new();

    for (size_t i = 0; i < CHILDREN; i++) {
        snprintf(name, sizeof(name), "prices.S%zu", i);
        ck_assert_int_eq(topic_trie_add(trie, name, &subs[i]), 0);
    }
    ck_assert_int_eq(topic_trie_add(trie, "prices.*", all), 0);
    ck_assert_uint_eq(topic_trie_patterns(trie), CHILDREN + 1);
    for (size_t i = 0; i < CHILDREN; i++) {
        snprintf(name, sizeof(name), "prices.S%zu", i);
        ck_assert_uint_eq(match_into(trie, name, &rec), 2);
        ck_assert_uint_eq(rec.counts[i], 1);
        ck_assert_uint_eq(rec.counts[CHILDREN], 1);
    }
    ck_assert_uint_eq(match_into(trie, "prices.S10000", &rec), 1);
    ck_assert_uint_eq(match_into(trie, "prices.S1.x", &rec), 0);

    for (size_t i = 0; i < CHILDREN; i += 2) {
        snprintf(name, sizeof(name), "prices.S%zu", i);
        ck_assert_int_eq(topic_trie_remove(trie, name, &subs[i]), 0);
    }
    for (size_t i = 0; i < CHILDREN; i++) {
        snprintf(name, sizeof(name), "prices.S%zu", i);
        ck_assert_uint_eq(match_into(trie, name, &rec), i % 2 == 0 ? 1 : 2);
        ck_assert_uint_eq(rec.counts[i], i % 2);
    }
    for (size_t k = CHILDREN / 2; k-- > 0;) {
        size_t i = 2 * k + 1;
        snprintf(name, sizeof(name), "prices.S%zu", i);
        ck_assert_int_eq(topic_trie_remove(trie, name, &subs[i]), 0);
        if (i % 1000 == 1) {
            /* The remaining children are still found while the table shrinks. */
            for (size_t j = 1; j < i; j += 2) {
                snprintf(name, sizeof(name), "prices.S%zu", j);
                ck_assert_uint_eq(match_into(trie, name, &rec), 2);
            }
        }
    }
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 1);
    ck_assert_uint_eq(topic_trie_patterns(trie), 1);
    ck_assert_int_eq(topic_trie_remove(trie, "prices.*", all), 0);
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 0);

    recorder_free(&rec);
    topic_trie_free(trie);
    free(subs);
}
END_TEST

/* ---- Suite ------------------------------------------------------------- */

static Suite *topic_trie_suite(void)
{
    Suite *suite = suite_create("topic_trie");
    TCase *trie = tcase_create("trie");
    tcase_set_timeout(trie, 60);
    tcase_add_test(trie, test_trie_empty);
    tcase_add_test(trie, test_trie_add_remove);
    tcase_add_test(trie, test_trie_add_invalid);
    tcase_add_test(trie, test_trie_prune_keeps_neighbours);
    tcase_add_test(trie, test_trie_prune_frees_memory);
    tcase_add_test(trie, test_trie_many_subscribers);
    tcase_add_test(trie, test_trie_one_subscriber_many_patterns);
    tcase_add_test(trie, test_trie_reserved_names);
    tcase_add_test(trie, test_trie_sixteen_segments);
    tcase_add_test(trie, test_trie_ten_thousand_children);
    suite_add_tcase(suite, trie);
    return suite;
}

int main(void)
{
    return topic_fixtures_run(topic_trie_suite());
}
