/* SPDX-License-Identifier: MIT */
/*
 * topic_fixtures.h: helpers shared by the unit tests of common/topic.c
 * (tests/unit/test_topic_*.c).
 *
 * Owns: building names of a given shape (segment count and length, at the
 * limits of docs/protocol.md section 5), and a recorder that counts which
 * subscribers topic_trie_match calls and checks that count against what it
 * returns. Static inline so that each test executable takes what it uses.
 */
#ifndef WSB_TEST_TOPIC_FIXTURES_H
#define WSB_TEST_TOPIC_FIXTURES_H

#include "common/topic.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Writes `count` copies of `c` at `out` and returns the end. */
static inline char *fill(char *out, char c, size_t count)
{
    memset(out, c, count);
    return out + count;
}

/* A name of `segments` segments, each `seg_len` bytes of 'a'. */
static inline void make_name(char *out, size_t segments, size_t seg_len)
{
    char *p = out;
    for (size_t i = 0; i < segments; i++) {
        if (i > 0)
            *p++ = '.';
        p = fill(p, 'a', seg_len);
    }
    *p = '\0';
}

/* Counts topic_trie_match calls per subscriber; subscribers are the
 * addresses base[0..size-1].
 *
 * Loops that run thousands of times check with `if` and ck_abort_msg: each
 * passing ck_assert costs Check a message to the runner (a system call),
 * and millions of them take minutes. */
struct recorder {
    const char *base;
    size_t size;
    size_t *counts;
    size_t total;
};

static inline void recorder_init(struct recorder *rec, const char *base, size_t size)
{
    rec->base = base;
    rec->size = size;
    rec->counts = calloc(size, sizeof(*rec->counts));
    ck_assert_ptr_nonnull(rec->counts);
    rec->total = 0;
}

static inline void recorder_reset(struct recorder *rec)
{
    memset(rec->counts, 0, rec->size * sizeof(*rec->counts));
    rec->total = 0;
}

static inline void recorder_free(struct recorder *rec)
{
    free(rec->counts);
}

static inline void record_call(void *subscriber, void *ctx)
{
    struct recorder *rec = ctx;
    const char *sub = subscriber;
    if (sub < rec->base || sub >= rec->base + rec->size)
        ck_abort_msg("called with a subscriber that was never added");
    rec->counts[sub - rec->base]++;
    rec->total++;
}

/* Matches `name` and returns the call count, checking it equals the
 * callback count. */
static inline size_t match_into(const struct topic_trie *trie, const char *name,
                                struct recorder *rec)
{
    recorder_reset(rec);
    size_t calls = topic_trie_match(trie, name, record_call, rec);
    if (calls != rec->total)
        ck_abort_msg("\"%s\": returned %zu, called %zu times", name, calls, rec->total);
    return calls;
}

/* Runs suite and returns main()'s exit status. */
static inline int topic_fixtures_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
