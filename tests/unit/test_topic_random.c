/* SPDX-License-Identifier: MIT */
/*
 * test_topic_random.c: a seeded random comparison of the subscription trie
 * of common/topic.c with brute force.
 *
 * Random adds and removes are applied to a trie and to a plain list of
 * (pattern, subscriber) pairs; after each, topic_trie_match on a random name
 * must call exactly the subscribers that a loop over the list, with its own
 * matcher over split segments, finds (and topic_matches must agree).
 */
#include "topic_fixtures.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Randomized comparison with brute force ---------------------------- */

static uint64_t rng_next(uint64_t *state)
{
    /* xorshift64*: the same sequence on every platform. */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

static size_t rng_below(uint64_t *state, size_t n)
{
    return (size_t)((rng_next(state) >> 33) % n);
}

/* A random name, or pattern, of 1..5 segments over a small alphabet. */
static void random_topic(uint64_t *rng, char *out, bool pattern)
{
    static const char *const literals[] = {"a", "b", "c"};
    size_t segments = 1 + rng_below(rng, 5);
    char *p = out;
    for (size_t i = 0; i < segments; i++) {
        const char *seg = literals[rng_below(rng, 3)];
        if (i == 0 && rng_below(rng, 8) == 0)
            seg = "$a";
        else if (pattern && i == segments - 1 && rng_below(rng, 5) == 0)
            seg = ">";
        else if (pattern && rng_below(rng, 4) == 0)
            seg = "*";
        if (i > 0)
            *p++ = '.';
        size_t len = strlen(seg);
        memcpy(p, seg, len);
        p += len;
    }
    *p = '\0';
    int valid = pattern ? topic_validate_pattern(out, strlen(out), NULL)
                        : topic_validate_name(out, strlen(out), NULL);
    if (valid != 0)
        ck_abort_msg("generated an invalid topic \"%s\"", out);
}

/* An independent matcher over split segments, to check topic_matches too. */
static size_t split_for_test(const char *s, char segs[][8])
{
    size_t count = 0;
    for (const char *p = s;; count++) {
        size_t len = strcspn(p, ".");
        if (len >= 8)
            ck_abort_msg("segment too long for the test");
        memcpy(segs[count], p, len);
        segs[count][len] = '\0';
        if (p[len] == '\0')
            return count + 1;
        p += len + 1;
    }
}

static bool reference_matches(const char *pattern, const char *name)
{
    char pat[TOPIC_MAX_SEGMENTS][8];
    char nam[TOPIC_MAX_SEGMENTS][8];
    size_t np = split_for_test(pattern, pat);
    size_t nn = split_for_test(name, nam);
    if (name[0] == '$' && (strcmp(pat[0], "*") == 0 || strcmp(pat[0], ">") == 0))
        return false;
    for (size_t i = 0; i < np; i++) {
        if (strcmp(pat[i], ">") == 0)
            return nn > i;
        if (i >= nn || (strcmp(pat[i], "*") != 0 && strcmp(pat[i], nam[i]) != 0))
            return false;
    }
    return np == nn;
}

enum { RANDOM_SUBS = 8, RANDOM_MAX_PAIRS = 4096 };

struct held_pairs {
    char patterns[RANDOM_MAX_PAIRS][32];
    size_t subs[RANDOM_MAX_PAIRS];
    size_t count;
    size_t distinct_patterns;
};

static size_t held_find(const struct held_pairs *held, const char *pattern, size_t sub)
{
    for (size_t i = 0; i < held->count; i++) {
        if (held->subs[i] == sub && strcmp(held->patterns[i], pattern) == 0)
            return i;
    }
    return held->count;
}

static bool held_has_pattern(const struct held_pairs *held, const char *pattern)
{
    for (size_t i = 0; i < held->count; i++) {
        if (strcmp(held->patterns[i], pattern) == 0)
            return true;
    }
    return false;
}

static void held_remove_at(struct held_pairs *held, size_t at)
{
    char pattern[32];
    strcpy(pattern, held->patterns[at]);
    held->count--;
    if (at != held->count) {
        strcpy(held->patterns[at], held->patterns[held->count]);
        held->subs[at] = held->subs[held->count];
    }
    if (!held_has_pattern(held, pattern))
        held->distinct_patterns--;
}

/* One random add or remove, applied to the trie and to `held`. */
static void random_op(uint64_t *rng, struct topic_trie *trie, struct held_pairs *held, char *subs)
{
    char pattern[32];
    size_t sub = rng_below(rng, RANDOM_SUBS);
    bool remove = rng_below(rng, 3) == 0;
    if (remove && held->count > 0 && rng_below(rng, 2) == 0) {
        size_t victim = rng_below(rng, held->count);
        strcpy(pattern, held->patterns[victim]);
        sub = held->subs[victim];
    } else {
        random_topic(rng, pattern, true);
    }
    size_t at = held_find(held, pattern, sub);
    bool was_held = at < held->count;
    if (remove) {
        ck_assert_int_eq(topic_trie_remove(trie, pattern, &subs[sub]), was_held ? 0 : 1);
        if (was_held)
            held_remove_at(held, at);
    } else {
        ck_assert_int_eq(topic_trie_add(trie, pattern, &subs[sub]), was_held ? 1 : 0);
        if (!was_held) {
            ck_assert_uint_lt(held->count, RANDOM_MAX_PAIRS);
            if (!held_has_pattern(held, pattern))
                held->distinct_patterns++;
            strcpy(held->patterns[held->count], pattern);
            held->subs[held->count++] = sub;
        }
    }
    ck_assert_uint_eq(topic_trie_subscriptions(trie), held->count);
    ck_assert_uint_eq(topic_trie_patterns(trie), held->distinct_patterns);
}

/* Matches a random name and compares with brute force over `held`. */
static void random_check(uint64_t *rng, const struct topic_trie *trie,
                         const struct held_pairs *held, struct recorder *rec)
{
    char name[32];
    size_t expected[RANDOM_SUBS] = {0};
    size_t expected_total = 0;
    random_topic(rng, name, false);
    for (size_t i = 0; i < held->count; i++) {
        bool matches = topic_matches(held->patterns[i], name);
        if (matches != reference_matches(held->patterns[i], name))
            ck_abort_msg("topic_matches(\"%s\", \"%s\") is %d", held->patterns[i], name, matches);
        if (matches) {
            expected[held->subs[i]]++;
            expected_total++;
        }
    }
    size_t calls = match_into(trie, name, rec);
    if (calls != expected_total)
        ck_abort_msg("\"%s\": %zu calls, expected %zu", name, calls, expected_total);
    for (size_t s = 0; s < RANDOM_SUBS; s++) {
        if (rec->counts[s] != expected[s])
            ck_abort_msg("\"%s\": subscriber %zu called %zu times, expected %zu", name, s,
                         rec->counts[s], expected[s]);
    }
}

START_TEST(test_trie_random_against_brute_force)
{
    enum { ROUNDS = 40, OPS_PER_ROUND = 60, NAMES_PER_ROUND = 150 };
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    char subs[RANDOM_SUBS] = {0};
    struct recorder rec;
    recorder_init(&rec, subs, RANDOM_SUBS);
    struct held_pairs *held = calloc(1, sizeof(*held));
    ck_assert_ptr_nonnull(held);
    struct topic_trie *trie = topic_trie_new();
    size_t max_held = 0;

    for (size_t round = 0; round < ROUNDS; round++) {
        for (size_t op = 0; op < OPS_PER_ROUND; op++)
            random_op(&rng, trie, held, subs);
        if (held->count > max_held)
            max_held = held->count;
        for (size_t n = 0; n < NAMES_PER_ROUND; n++)
            random_check(&rng, trie, held, &rec);
    }
    /* The run really grew a trie of some size. */
    ck_assert_uint_gt(max_held, 200);

    /* Empty it in random order, checking the remaining pairs as they go. */
    while (held->count > 0) {
        size_t at = rng_below(&rng, held->count);
        ck_assert_int_eq(topic_trie_remove(trie, held->patterns[at], &subs[held->subs[at]]), 0);
        held_remove_at(held, at);
        ck_assert_uint_eq(topic_trie_subscriptions(trie), held->count);
        ck_assert_uint_eq(topic_trie_patterns(trie), held->distinct_patterns);
        random_check(&rng, trie, held, &rec);
    }
    ck_assert_uint_eq(topic_trie_subscriptions(trie), 0);
    ck_assert_uint_eq(topic_trie_patterns(trie), 0);

    topic_trie_free(trie);
    free(held);
    recorder_free(&rec);
}
END_TEST

/* ---- Suite ------------------------------------------------------------- */

static Suite *topic_random_suite(void)
{
    Suite *suite = suite_create("topic_random");
    TCase *trie = tcase_create("trie");
    tcase_set_timeout(trie, 60);
    tcase_add_test(trie, test_trie_random_against_brute_force);
    suite_add_tcase(suite, trie);
    return suite;
}

int main(void)
{
    return topic_fixtures_run(topic_random_suite());
}
