/* SPDX-License-Identifier: MIT */
/*
 * test_pool.c: unit tests of broker/util/pool.c and of the frame pool in
 * broker/proto/frame.c.
 *
 * Covers: a block put back is the next one handed out (last in, first
 * out), the free list never holds more than max_free blocks, drain empties
 * it, blocks are writable over their whole size (ASan checks the bounds),
 * and small frames are recycled while large ones are not.
 */
#include "proto/frame.h"
#include "util/pool.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_pool_reuses_blocks)
{
    struct pool p;
    pool_init(&p, 100, 8);
    unsigned char *a = pool_get(&p);
    unsigned char *b = pool_get(&p);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    memset(a, 0xa5, 100);
    memset(b, 0x5a, 100);
    ck_assert_uint_eq(p.n_free, 0);
    pool_put(&p, a);
    pool_put(&p, b);
    ck_assert_uint_eq(p.n_free, 2);
    ck_assert_ptr_eq(pool_get(&p), b); /* last in, first out */
    ck_assert_ptr_eq(pool_get(&p), a);
    ck_assert_uint_eq(p.n_free, 0);
    pool_put(&p, a);
    free(b); /* a pooled block is an ordinary malloc'd block */
    pool_put(&p, NULL);
    ck_assert_uint_eq(p.n_free, 1);
    pool_drain(&p);
    ck_assert_uint_eq(p.n_free, 0);
    ck_assert_ptr_null(p.free_list);
}
END_TEST

START_TEST(test_pool_keeps_at_most_max_free)
{
    struct pool p;
    pool_init(&p, 64, 3);
    void *blocks[10];
    for (int i = 0; i < 10; i++) {
        blocks[i] = pool_get(&p);
        ck_assert_ptr_nonnull(blocks[i]);
    }
    for (int i = 0; i < 10; i++)
        pool_put(&p, blocks[i]); /* the last 7 are freed (LSan would see a leak) */
    ck_assert_uint_eq(p.n_free, 3);
    pool_drain(&p);
    ck_assert_uint_eq(p.n_free, 0);
}
END_TEST

START_TEST(test_pool_tiny_blocks_hold_a_link)
{
    struct pool p;
    pool_init(&p, 1, 4);
    ck_assert_uint_ge(p.block_size, sizeof(void *));
    void *a = pool_get(&p);
    pool_put(&p, a);
    ck_assert_ptr_eq(pool_get(&p), a);
    free(a);
}
END_TEST

START_TEST(test_frame_pool)
{
    struct frame *small = frame_from_text("{\"type\":\"ack\"}", 14);
    ck_assert_ptr_nonnull(small);
    ck_assert_uint_eq(small->refs, 1);
    frame_ref(small);
    frame_unref(small); /* still referenced: not recycled */
    ck_assert_uint_eq(small->refs, 1);
    ck_assert_mem_eq(frame_payload(small), "{\"type\":\"ack\"}", 14);
    frame_unref(small);
    struct frame *again = frame_new(100, true); /* another small size: same block */
    ck_assert_ptr_eq(again, small);
    ck_assert_uint_eq(again->refs, 1);
    ck_assert(again->is_binary);
    ck_assert(!again->is_ping);
    ck_assert_uint_eq(again->len, 100);
    memset(frame_payload(again), 'x', 100);

    struct frame *big = frame_new(4000, false);
    ck_assert_ptr_nonnull(big);
    memset(frame_payload(big), 'y', 4000);
    frame_unref(big); /* freed, never pooled */
    struct frame *big_again = frame_new(4000, false);
    ck_assert_ptr_nonnull(big_again);
    frame_unref(big_again);
    frame_unref(again);
    frame_pool_drain();
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *suite = suite_create("pool");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pool_reuses_blocks);
    tcase_add_test(tc, test_pool_keeps_at_most_max_free);
    tcase_add_test(tc, test_pool_tiny_blocks_hold_a_link);
    tcase_add_test(tc, test_frame_pool);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(pool_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
