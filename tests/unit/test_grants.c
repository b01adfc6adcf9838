/* SPDX-License-Identifier: MIT */
/*
 * test_grants.c: unit tests of broker/auth/grants.c and of the grants that
 * credentials.c builds (docs/auth.md).
 *
 * Covers the coverage table (a grant against a requested pattern), publish
 * matching, the '$' rules, "{sub}" templates and substitution with valid
 * and invalid users, and, through credentials_load and
 * credentials_resolve, anonymous subscribe and publish, user patterns and
 * API keys. JWT grants are covered in test_token.c.
 */
#include "auth/credentials.h"
#include "auth/grants.h"

#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "common/topic.h"

/* ---------------------------------------------------------- coverage */

struct cover_case {
    const char *grant;
    const char *pattern;
    bool covered;
};

static const struct cover_case cover_cases[] = {
    /* '>' covers one or more segments, wildcards included */
    {"prices.>", "prices.x", true},
    {"prices.>", "prices.*", true},
    {"prices.>", "prices.x.y", true},
    {"prices.>", "prices.>", true},
    {"prices.>", "prices.*.y", true},
    {"prices.>", "prices.x.>", true},
    {"prices.>", "prices", false},
    {"prices.>", "other.x", false},
    {"prices.>", "pricesx.y", false},
    {"prices.>", ">", false},
    {"prices.>", "*.x", false},
    /* '*' covers one segment, a literal or '*' */
    {"prices.*", "prices.x", true},
    {"prices.*", "prices.*", true},
    {"prices.*", "prices.>", false},
    {"prices.*", "prices.x.y", false},
    {"prices.*", "prices", false},
    {"prices.*", "prices.*.*", false},
    {"*.x", "a.x", true},
    {"*.x", "*.x", true},
    {"*.x", ">", false},
    {"*.x", "a.y", false},
    {"*.*", "a.*", true},
    {"*.*", "*.*", true},
    {"*.*", "a.b.c", false},
    /* literals cover themselves only */
    {"prices.x", "prices.x", true},
    {"prices.x", "prices.*", false},
    {"prices.x", "prices.>", false},
    {"prices.x", "prices.x.y", false},
    {"prices.x", "prices", false},
    {"prices.x", "prices.X", false},
    {"a.b.c", "a.b.c", true},
    {"a.*.c", "a.b.c", true},
    {"a.*.c", "a.*.c", true},
    {"a.*.c", "a.b.d", false},
    {"a.*.c", "a.>", false},
    {"a.b.>", "a.*.c", false},
    /* everything */
    {">", "a", true},
    {">", "a.b.c", true},
    {">", ">", true},
    {">", "*", true},
    {">", "*.>", true},
    {"*", "a", true},
    {"*", ">", false},
    {"*", "a.b", false},
    /* '$' names: a first-segment wildcard never reaches them */
    {">", "$sys.x", false},
    {">", "$sys.>", false},
    {"*.x", "$sys.x", false},
    {"*.>", "$sys.x", false},
    {"$sys.>", "$sys.x", true},
    {"$sys.>", "$sys.*", true},
    {"$sys.>", "$sys.>", true},
    {"$sys.*", "$sys.x", true},
    {"$sys.x", "$sys.x", true},
    {"$sys.>", "$other.x", false},
    {"$sys.>", "sys.x", false},
    /* a requested wildcard first segment never matches '$' names, so a
     * wildcard grant covering it is fine */
    {">", "*.x", true},
    /* every segment character; names that are not valid topics (SQL-looking,
     * non-ASCII) never get here: the caller validates topics first */
    {"notes.>", "notes.a:b@c~d_e-f", true},
};

START_TEST(test_cover)
{
    const struct cover_case *c = &cover_cases[_i];
    ck_assert_msg(topic_covers(c->grant, c->pattern) == c->covered, "%s covers %s: expected %d",
                  c->grant, c->pattern, c->covered);
}
END_TEST

/* A grant covering a pattern must match every name the pattern matches:
 * checked here on concrete names for a few pairs. */
START_TEST(test_cover_agrees_with_matching)
{
    static const char *const grants[] = {"a.>", "a.*", "*.b", ">", "a.*.c", "$s.>", "*"};
    static const char *const patterns[] = {"a.b", "a.*", "a.>", "*.b", "a.b.c", "$s.x", "x"};
    static const char *const names[] = {"a.b", "a.c", "a.b.c", "x.b", "$s.x", "x", "a"};
    for (size_t g = 0; g < sizeof(grants) / sizeof(grants[0]); g++) {
        for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
            if (!topic_covers(grants[g], patterns[p]))
                continue;
            for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
                if (topic_matches(patterns[p], names[n]))
                    ck_assert_msg(topic_matches(grants[g], names[n]), "%s covers %s but not %s",
                                  grants[g], patterns[p], names[n]);
            }
        }
    }
}
END_TEST

/* ------------------------------------------------------------ checks */

static void add_all(struct grant_list *list, const char *const *items, const char *sub)
{
    for (size_t i = 0; items[i] != NULL; i++)
        ck_assert_int_ge(grant_list_add(list, items[i], sub), 0);
}

START_TEST(test_may_subscribe_and_publish)
{
    struct grants g = {0};
    add_all(&g.subscribe, (const char *[]){"prices.>", "chat.*", "$sys.stats", NULL}, NULL);
    add_all(&g.publish, (const char *[]){"chat.*", "notes.>", NULL}, NULL);

    ck_assert(grants_may_subscribe(&g, "prices.us.AAPL"));
    ck_assert(grants_may_subscribe(&g, "prices.*"));
    ck_assert(grants_may_subscribe(&g, "chat.room1"));
    ck_assert(grants_may_subscribe(&g, "$sys.stats"));
    ck_assert(!grants_may_subscribe(&g, "chat.>"));
    ck_assert(!grants_may_subscribe(&g, ">"));
    ck_assert(!grants_may_subscribe(&g, "$sys.other"));
    ck_assert(!grants_may_subscribe(&g, "notes.x"));

    ck_assert(grants_may_publish(&g, "chat.room1"));
    ck_assert(grants_may_publish(&g, "notes.a.b"));
    ck_assert(!grants_may_publish(&g, "chat.room1.x"));
    ck_assert(!grants_may_publish(&g, "prices.x"));
    ck_assert(!grants_may_publish(&g, "$sys.stats"));
    grants_free(&g);
    ck_assert_uint_eq(g.subscribe.count, 0);
    grants_free(&g); /* harmless twice */
}
END_TEST

START_TEST(test_publish_dollar_names)
{
    struct grants g = {0};
    add_all(&g.publish, (const char *[]){">", "*.x", NULL}, NULL);
    ck_assert(grants_may_publish(&g, "a.x"));
    ck_assert(!grants_may_publish(&g, "$sys.x"));
    ck_assert(!grants_may_publish(&g, "$sys"));
    grant_list_add(&g.publish, "$sys.>", NULL);
    ck_assert(grants_may_publish(&g, "$sys.x"));
    grants_free(&g);
}
END_TEST

START_TEST(test_empty_and_everything)
{
    struct grants none = {0};
    ck_assert(!grants_may_subscribe(&none, "a"));
    ck_assert(!grants_may_publish(&none, "a"));
    struct grants all = {.everything = true};
    ck_assert(grants_may_subscribe(&all, ">"));
    ck_assert(grants_may_subscribe(&all, "$sys.>"));
    ck_assert(grants_may_publish(&all, "$sys.x"));
}
END_TEST

/* ------------------------------------------------------------- {sub} */

START_TEST(test_template_valid)
{
    const char *why = NULL;
    ck_assert_int_eq(grants_template_valid("notify.{sub}.>", &why), 0);
    ck_assert_int_eq(grants_template_valid("{sub}", NULL), 0);
    ck_assert_int_eq(grants_template_valid("a.user-{sub}", NULL), 0);
    ck_assert_int_eq(grants_template_valid("{sub}.{sub}", NULL), 0);
    ck_assert_int_eq(grants_template_valid("prices.>", NULL), 0);
    ck_assert_int_eq(grants_template_valid("a.{user}", &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(grants_template_valid("a.{sub", NULL), -1);
    ck_assert_int_eq(grants_template_valid("a..b", NULL), -1);
    ck_assert_int_eq(grants_template_valid(">.a", NULL), -1);
    ck_assert_int_eq(grants_template_valid("", NULL), -1);
    ck_assert_int_eq(grants_template_valid("a b", NULL), -1);
    ck_assert_int_eq(grants_template_valid("$.{sub}", NULL), -1);
}
END_TEST

START_TEST(test_sub_valid)
{
    ck_assert(grants_sub_valid("alice"));
    ck_assert(grants_sub_valid("user:42@example~x_y-z"));
    ck_assert(!grants_sub_valid(""));
    ck_assert(!grants_sub_valid("a.b"));
    ck_assert(!grants_sub_valid("*"));
    ck_assert(!grants_sub_valid(">"));
    ck_assert(!grants_sub_valid("$sys"));
    ck_assert(!grants_sub_valid("al ice"));
    ck_assert(!grants_sub_valid("x'; DROP TABLE messages;--"));
    ck_assert(!grants_sub_valid("j\xc3\xb6rg")); /* non-ASCII */
    char long_sub[66];
    memset(long_sub, 'a', 65);
    long_sub[65] = '\0';
    ck_assert(!grants_sub_valid(long_sub));
    long_sub[64] = '\0';
    ck_assert(grants_sub_valid(long_sub));
}
END_TEST

START_TEST(test_sub_substitution)
{
    struct grant_list list = {0};
    ck_assert_int_eq(grant_list_add(&list, "notify.{sub}.>", "alice"), 0);
    ck_assert_int_eq(grant_list_add(&list, "dm.{sub}.{sub}", "bob"), 0);
    ck_assert_int_eq(grant_list_add(&list, "plain.>", NULL), 0);
    ck_assert_int_eq(grant_list_add(&list, "plain.>", "alice"), 0); /* already there */
    ck_assert_uint_eq(list.count, 3);
    ck_assert_str_eq(list.patterns[0], "notify.alice.>");
    ck_assert_str_eq(list.patterns[1], "dm.bob.bob");
    ck_assert_str_eq(list.patterns[2], "plain.>");

    /* no user, or one that is not a segment: the grant is dropped */
    ck_assert_int_eq(grant_list_add(&list, "notify.{sub}.>", NULL), 1);
    ck_assert_int_eq(grant_list_add(&list, "notify.{sub}.>", "a.b"), 1);
    ck_assert_int_eq(grant_list_add(&list, "notify.{sub}.>", ">"), 1);
    ck_assert_int_eq(grant_list_add(&list, "notify.{sub}.>", "*"), 1);
    ck_assert_int_eq(grant_list_add(&list, "{sub}.x", "$sys"), 1);
    ck_assert_int_eq(grant_list_add(&list, "notify.{sub}", "x' OR 1=1"), 1);
    ck_assert_int_eq(grant_list_add(&list, "notify.{sub}", "\xe2\x82\xac"), 1);
    /* a valid user that makes the pattern too long */
    char sub[65];
    memset(sub, 'u', 64);
    sub[64] = '\0';
    ck_assert_int_eq(grant_list_add(&list, "{sub}.{sub}.{sub}.{sub}", sub), 1);
    ck_assert_uint_eq(list.count, 3);
    grant_list_free(&list);
    ck_assert_ptr_null(list.patterns);
}
END_TEST

START_TEST(test_sub_cannot_escape)
{
    /* A user named like a wildcard would widen "notify.{sub}" to every
     * user's topics; such users get nothing through it. */
    struct grants g = {0};
    static const char *const subs[] = {">", "*", "a.>", "x.*", "", "$sys"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        ck_assert_int_eq(grant_list_add(&g.subscribe, "notify.{sub}", subs[i]), 1);
    ck_assert(!grants_may_subscribe(&g, "notify.alice"));
    grants_free(&g);
}
END_TEST

/* ---------------------------------------------------------- credentials */

#define SECRET "0123456789abcdef0123456789abcdef"

/* Appends an item to a configuration list, as config_load would. */
static void list_add(struct config_list *list, const char *item)
{
    ck_assert_uint_lt(list->count, CONFIG_MAX_LIST);
    list->items[list->count++] = (char *)item;
}

static struct credentials *load(const struct config *cfg)
{
    struct credentials *c = NULL;
    char err[256] = "";
    ck_assert_msg(credentials_load(&c, cfg, err, sizeof(err)) == 0, "%s", err);
    return c;
}

START_TEST(test_no_auth_allows_everything)
{
    struct config cfg = {0};
    struct credentials *c = load(&cfg);
    const struct grants *anonymous = credentials_anonymous(c);
    ck_assert(grants_may_subscribe(anonymous, ">"));
    ck_assert(grants_may_publish(anonymous, "any.thing"));
    struct principal p;
    const char *why = NULL;
    ck_assert_int_eq(credentials_resolve(c, "key", 3, 0, &p, &why), -1);
    ck_assert_ptr_nonnull(why);
    credentials_free(c);
}
END_TEST

START_TEST(test_anonymous_grants)
{
    struct config cfg = {0};
    list_add(&cfg.api_key, "k1");
    list_add(&cfg.anonymous, "public.>");
    list_add(&cfg.anonymous, "chat.*");
    list_add(&cfg.anonymous_publish, "chat.lobby");
    struct credentials *c = load(&cfg);
    const struct grants *anonymous = credentials_anonymous(c);
    ck_assert(!anonymous->everything);
    ck_assert(grants_may_subscribe(anonymous, "public.news"));
    ck_assert(grants_may_subscribe(anonymous, "chat.lobby"));
    ck_assert(!grants_may_subscribe(anonymous, "chat.>"));
    ck_assert(!grants_may_subscribe(anonymous, "private.x"));
    ck_assert(grants_may_publish(anonymous, "chat.lobby"));
    ck_assert(!grants_may_publish(anonymous, "chat.other"));
    ck_assert(!grants_may_publish(anonymous, "public.news")); /* read-only */
    credentials_free(c);
}
END_TEST

START_TEST(test_anonymous_none_without_patterns)
{
    struct config cfg = {0};
    list_add(&cfg.api_key, "k1");
    struct credentials *c = load(&cfg);
    ck_assert(!grants_may_subscribe(credentials_anonymous(c), "a"));
    ck_assert(!grants_may_publish(credentials_anonymous(c), "a"));
    credentials_free(c);
}
END_TEST

START_TEST(test_api_keys)
{
    struct config cfg = {0};
    list_add(&cfg.api_key, "first-key");
    list_add(&cfg.api_key, "second-key");
    cfg.auth_secret = SECRET;
    struct credentials *c = load(&cfg);
    struct principal p;
    const char *why = NULL;
    ck_assert_int_eq(credentials_resolve(c, "second-key", 10, 0, &p, &why), 0);
    ck_assert_int_eq(p.kind, PRINCIPAL_API_KEY);
    ck_assert_ptr_null(p.user);
    ck_assert_int_eq(p.expires, 0);
    ck_assert(grants_may_subscribe(&p.grants, ">"));
    ck_assert(grants_may_subscribe(&p.grants, "$sys.>"));
    ck_assert(grants_may_publish(&p.grants, "$sys.x"));
    principal_free(&p);

    /* a prefix, a longer key, another case, empty: refused */
    static const char *const wrong[] = {"second", "second-key2", "SECOND-KEY", "first-key\n"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        why = NULL;
        ck_assert_int_eq(credentials_resolve(c, wrong[i], strlen(wrong[i]), 0, &p, &why), -1);
        ck_assert_ptr_nonnull(why);
        ck_assert_ptr_null(strstr(why, "key-")); /* no key material */
        ck_assert(!p.grants.everything);
    }
    ck_assert_int_eq(credentials_resolve(c, "", 0, 0, &p, &why), -1);
    credentials_free(c);
}
END_TEST

START_TEST(test_oversized_credential)
{
    static char big[9000];
    memset(big, 'k', sizeof(big) - 1);
    struct config cfg = {0};
    list_add(&cfg.api_key, big);
    struct credentials *c = load(&cfg);
    struct principal p;
    const char *why = NULL;
    /* even an API key that long is refused before it is looked at */
    ck_assert_int_eq(credentials_resolve(c, big, strlen(big), 0, &p, &why), -1);
    ck_assert_str_eq(why, "credential longer than 8192 bytes");
    credentials_free(c);
}
END_TEST

START_TEST(test_jwt_refused_without_verifier)
{
    struct config cfg = {0};
    list_add(&cfg.api_key, "k");
    struct credentials *c = load(&cfg);
    struct principal p;
    const char *why = NULL;
    ck_assert_int_eq(credentials_resolve(c, "a.b.c", 5, 0, &p, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "JWT"));
    credentials_free(c);
}
END_TEST

START_TEST(test_bad_public_key)
{
    struct config cfg = {0};
    cfg.auth_public_key = "/etc/key.pem";
    cfg.auth_public_key_pem = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n";
    struct credentials *c = NULL;
    char err[256];
    ck_assert_int_eq(credentials_load(&c, &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err, "wsbroker: --auth-public-key: /etc/key.pem: not a PEM public key");
}
END_TEST

static Suite *grants_suite(void)
{
    Suite *suite = suite_create("grants");
    TCase *tc = tcase_create("coverage");
    tcase_add_loop_test(tc, test_cover, 0, sizeof(cover_cases) / sizeof(cover_cases[0]));
    tcase_add_test(tc, test_cover_agrees_with_matching);
    tcase_add_test(tc, test_may_subscribe_and_publish);
    tcase_add_test(tc, test_publish_dollar_names);
    tcase_add_test(tc, test_empty_and_everything);
    suite_add_tcase(suite, tc);

    tc = tcase_create("sub");
    tcase_add_test(tc, test_template_valid);
    tcase_add_test(tc, test_sub_valid);
    tcase_add_test(tc, test_sub_substitution);
    tcase_add_test(tc, test_sub_cannot_escape);
    suite_add_tcase(suite, tc);

    tc = tcase_create("credentials");
    tcase_add_test(tc, test_no_auth_allows_everything);
    tcase_add_test(tc, test_anonymous_grants);
    tcase_add_test(tc, test_anonymous_none_without_patterns);
    tcase_add_test(tc, test_api_keys);
    tcase_add_test(tc, test_oversized_credential);
    tcase_add_test(tc, test_jwt_refused_without_verifier);
    tcase_add_test(tc, test_bad_public_key);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(grants_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0;
}
