/* SPDX-License-Identifier: MIT */
/*
 * test_claims.c: unit tests of broker/auth/claims.c, the claims set of a
 * JWT (docs/auth.md).
 *
 * Covers `exp` (required, no leeway, integer or real), `nbf` (5 s of
 * leeway), `sub` (type and length; non-ASCII and SQL-looking values are
 * kept as they are), `subscribe` and `publish` (arrays of valid patterns
 * with "{sub}", at most 64; one bad entry refuses the token), duplicate
 * claims and JSON that is not an object. Signatures are test_token.c's.
 */
#include "auth/claims.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define NOW 1800000000

/* Parses and expects a refusal whose reason contains `reason`, with
 * nothing left in the claims. */
static void expect_refused(const char *json, const char *reason)
{
    struct claims claims;
    const char *why = NULL;
    ck_assert_int_eq(claims_parse(json, strlen(json), NOW, &claims, &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, reason) != NULL, "reason \"%s\", expected \"%s\"", why, reason);
    ck_assert_ptr_null(claims.sub);
    ck_assert_uint_eq(claims.subscribe.count, 0);
    ck_assert_uint_eq(claims.publish.count, 0);
}

struct claims_case {
    const char *claims;
    const char *reason; /* NULL: accepted */
};

static const struct claims_case claims_cases[] = {
    {"{\"exp\":1799999999}", "expired"},
    {"{\"exp\":1800000000}", "expired"}, /* exp is the first second it is invalid */
    {"{\"exp\":1800000001}", NULL},
    {"{\"exp\":1800000000.5}", "expired"},
    {"{\"exp\":1800000001.5}", NULL},
    {"{\"sub\":\"alice\"}", "no exp"},
    {"{\"exp\":\"1800000060\"}", "exp is not"},
    {"{\"exp\":null}", "exp is not"},
    {"{\"exp\":1e300}", "exp is not"},
    {"{\"exp\":1800000060,\"nbf\":1800000006}", "not valid yet"},
    {"{\"exp\":1800000060,\"nbf\":1800000005}", NULL}, /* within the leeway */
    {"{\"exp\":1800000060,\"nbf\":1700000000}", NULL},
    {"{\"exp\":1800000060,\"nbf\":\"soon\"}", "nbf is not"},
    {"{\"exp\":1800000060,\"sub\":5}", "sub"},
    {"{\"exp\":1800000060,\"sub\":\"\"}", "sub"},
    {"{\"exp\":1800000060,\"subscribe\":\"prices.>\"}", "subscribe or publish"},
    {"{\"exp\":1800000060,\"subscribe\":[\"prices.>\",7]}", "invalid pattern"},
    {"{\"exp\":1800000060,\"subscribe\":[\"a..b\"]}", "invalid pattern"},
    {"{\"exp\":1800000060,\"publish\":[\">.a\"]}", "invalid pattern"},
    {"{\"exp\":1800000060,\"subscribe\":[\"x'; DROP TABLE messages;--\"]}", "invalid pattern"},
    {"{\"exp\":1800000060,\"subscribe\":[\"caf\\u00e9.>\"]}", "invalid pattern"},
    {"{\"exp\":1800000060,\"subscribe\":[\"{user}.x\"]}", "invalid pattern"},
    {"{\"exp\":1800000060,\"exp\":1900000000}", "not valid JSON"}, /* duplicate claim */
    {"[\"exp\",1800000060]", "not a JSON object"},
    {"{\"exp\":1800000060", "not valid JSON"},
    {"{\"exp\":1800000060,\"sub\":\"a\\u0000b\"}", "not valid JSON"},
    {"{\"exp\":1800000060,\"sub\":\"j\\u00f6rg\",\"aud\":\"x\",\"iat\":1}", NULL},
    {"{\"exp\":1800000060,\"sub\":\"x' OR '1'='1\"}", NULL},
};

START_TEST(test_claims)
{
    const struct claims_case *c = &claims_cases[_i];
    if (c->reason != NULL) {
        expect_refused(c->claims, c->reason);
        return;
    }
    struct claims claims;
    const char *why = "";
    ck_assert_msg(claims_parse(c->claims, strlen(c->claims), NOW, &claims, &why) == 0, "%s: %s",
                  c->claims, why);
    claims_free(&claims);
}
END_TEST

START_TEST(test_too_many_grants)
{
    char claims[4096] = "{\"exp\":1800000060,\"subscribe\":[";
    for (int i = 0; i < CLAIMS_MAX_GRANTS + 1; i++)
        snprintf(claims + strlen(claims), sizeof(claims) - strlen(claims), "%s\"t%d\"",
                 i > 0 ? "," : "", i);
    strcat(claims, "]}");
    expect_refused(claims, "more than 64");
}
END_TEST

START_TEST(test_long_sub)
{
    char claims[1024];
    char sub[CLAIMS_MAX_SUB + 2];
    memset(sub, 's', sizeof(sub) - 1);
    sub[sizeof(sub) - 1] = '\0';
    snprintf(claims, sizeof(claims), "{\"exp\":1800000060,\"sub\":\"%s\"}", sub);
    expect_refused(claims, "longer than 255");
}
END_TEST

START_TEST(test_claims_read)
{
    static const char json[] = "{\"sub\":\"j\\u00f6rg\",\"exp\":1800000060,\"nbf\":1,\"iat\":1,"
                               "\"subscribe\":[\"prices.>\",\"notify.{sub}.>\"],\"publish\":[]}";
    struct claims claims;
    const char *why = "";
    ck_assert_msg(claims_parse(json, strlen(json), NOW, &claims, &why) == 0, "%s", why);
    ck_assert_str_eq(claims.sub, "j\xc3\xb6rg");
    ck_assert_int_eq(claims.exp, 1800000060);
    ck_assert_uint_eq(claims.subscribe.count, 2);
    ck_assert_str_eq(claims.subscribe.patterns[0], "prices.>");
    ck_assert_str_eq(claims.subscribe.patterns[1], "notify.{sub}.>");
    ck_assert_uint_eq(claims.publish.count, 0);
    claims_free(&claims);
    claims_free(&claims); /* harmless twice */
}
END_TEST

static Suite *claims_suite(void)
{
    Suite *suite = suite_create("claims");
    TCase *tc = tcase_create("claims");
    tcase_add_loop_test(tc, test_claims, 0, sizeof(claims_cases) / sizeof(claims_cases[0]));
    tcase_add_test(tc, test_too_many_grants);
    tcase_add_test(tc, test_long_sub);
    tcase_add_test(tc, test_claims_read);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(claims_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0;
}
