/* SPDX-License-Identifier: MIT */
/*
 * test_strmap.c: unit tests of common/strmap.c, the string-keyed map.
 *
 * Covers: get/add/remove on an empty and a filled map, keys compared by
 * bytes and length (a prefix is another key), growth and shrinking keep
 * every entry reachable, removal in any order leaves no entry stranded
 * behind a hole (checked against a plain array after every step), the
 * iterator visits each value once, and strmap_hash is the FNV-1a the topic
 * trie relies on.
 */
#include "common/strmap.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_KEYS 2000

static char keys[N_KEYS][16];
static int values[N_KEYS];

static void keys_make(void)
{
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "topic.%d", i);
        values[i] = i;
    }
}

static void add_key(struct strmap *map, int i)
{
    ck_assert_int_eq(strmap_add(map, keys[i], strlen(keys[i]), &values[i]), 0);
}

static void *get_key(const struct strmap *map, int i)
{
    return strmap_get(map, keys[i], strlen(keys[i]));
}

START_TEST(test_strmap_empty)
{
    struct strmap map;
    strmap_init(&map);
    ck_assert_ptr_null(strmap_get(&map, "a", 1));
    ck_assert_ptr_null(strmap_remove(&map, "a", 1));
    size_t pos = 0;
    ck_assert_ptr_null(strmap_next(&map, &pos));
    strmap_free(&map);
}
END_TEST

START_TEST(test_strmap_keys_are_bytes_and_length)
{
    struct strmap map;
    strmap_init(&map);
    int a = 1, ab = 2;
    ck_assert_int_eq(strmap_add(&map, "ab", 1, &a), 0); /* the key is "a" */
    ck_assert_int_eq(strmap_add(&map, "ab", 2, &ab), 0);
    ck_assert_ptr_eq(strmap_get(&map, "a", 1), &a);
    ck_assert_ptr_eq(strmap_get(&map, "ab", 2), &ab);
    ck_assert_ptr_null(strmap_get(&map, "abc", 3));
    ck_assert_ptr_null(strmap_get(&map, "", 0));
    ck_assert_ptr_eq(strmap_remove(&map, "a", 1), &a);
    ck_assert_ptr_null(strmap_get(&map, "a", 1));
    ck_assert_ptr_eq(strmap_get(&map, "ab", 2), &ab);
    ck_assert_uint_eq(map.count, 1);
    strmap_free(&map);
}
END_TEST

START_TEST(test_strmap_grows_and_shrinks)
{
    keys_make();
    struct strmap map;
    strmap_init(&map);
    for (int i = 0; i < N_KEYS; i++)
        add_key(&map, i);
    ck_assert_uint_eq(map.count, N_KEYS);
    ck_assert_uint_ge(map.cap, 2 * N_KEYS);
    for (int i = 0; i < N_KEYS; i++)
        ck_assert_ptr_eq(get_key(&map, i), &values[i]);
    for (int i = 0; i < N_KEYS - 10; i++)
        ck_assert_ptr_eq(strmap_remove(&map, keys[i], strlen(keys[i])), &values[i]);
    ck_assert_uint_le(map.cap, 64);
    for (int i = N_KEYS - 10; i < N_KEYS; i++)
        ck_assert_ptr_eq(get_key(&map, i), &values[i]);
    for (int i = N_KEYS - 10; i < N_KEYS; i++)
        ck_assert_ptr_eq(strmap_remove(&map, keys[i], strlen(keys[i])), &values[i]);
    ck_assert_uint_eq(map.count, 0);
    ck_assert_ptr_null(get_key(&map, 0));
    strmap_free(&map);
}
END_TEST

/* Removes keys in a scrambled order and checks, after every removal, that
 * exactly the keys not yet removed are found. */
START_TEST(test_strmap_remove_keeps_probes_whole)
{
    keys_make();
    enum { N = 300 };
    struct strmap map;
    strmap_init(&map);
    bool present[N];
    for (int i = 0; i < N; i++) {
        add_key(&map, i);
        present[i] = true;
    }
    for (int step = 0; step < N; step++) {
        int i = (step * 7919) % N; /* 7919 is prime, so every i comes once */
        ck_assert_ptr_eq(strmap_remove(&map, keys[i], strlen(keys[i])), &values[i]);
        ck_assert_ptr_null(strmap_remove(&map, keys[i], strlen(keys[i])));
        present[i] = false;
        for (int j = 0; j < N; j++)
            ck_assert_ptr_eq(get_key(&map, j), present[j] ? &values[j] : NULL);
    }
    strmap_free(&map);
}
END_TEST

START_TEST(test_strmap_iterates_each_value_once)
{
    keys_make();
    enum { N = 500 };
    struct strmap map;
    strmap_init(&map);
    for (int i = 0; i < N; i++)
        add_key(&map, i);
    int seen[N] = {0};
    size_t pos = 0;
    size_t visited = 0;
    for (int *v; (v = strmap_next(&map, &pos)) != NULL; visited++)
        seen[*v]++;
    ck_assert_uint_eq(visited, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    strmap_free(&map);
}
END_TEST

START_TEST(test_strmap_hash_is_folded_fnv1a)
{
    /* FNV-1a of "" is the offset basis; of "a" a published test vector. */
    uint64_t empty = 14695981039346656037ULL;
    uint64_t a = 0xaf63dc4c8601ec8cULL;
    ck_assert_uint_eq(strmap_hash("", 0), empty ^ (empty >> 32));
    ck_assert_uint_eq(strmap_hash("a", 1), a ^ (a >> 32));
    ck_assert_uint_eq(strmap_hash("ab", 1), strmap_hash("a", 1));
}
END_TEST

static Suite *strmap_suite(void)
{
    Suite *suite = suite_create("strmap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_strmap_empty);
    tcase_add_test(tc, test_strmap_keys_are_bytes_and_length);
    tcase_add_test(tc, test_strmap_grows_and_shrinks);
    tcase_add_test(tc, test_strmap_remove_keeps_probes_whole);
    tcase_add_test(tc, test_strmap_iterates_each_value_once);
    tcase_add_test(tc, test_strmap_hash_is_folded_fnv1a);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(strmap_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
