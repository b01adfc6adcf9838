/* SPDX-License-Identifier: MIT */
/*
 * check_run.h: the one main() of the store's and the config's unit tests:
 * runs a Check suite and turns its result into an exit status. Header only,
 * so that a test file needs no extra source to link it.
 */
#ifndef WSB_TEST_CHECK_RUN_H
#define WSB_TEST_CHECK_RUN_H

#include <check.h>

/* Runs every test of `suite`; returns 0 when all passed, else 1. */
static inline int check_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0;
}

#endif
