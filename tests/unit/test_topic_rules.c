/* SPDX-License-Identifier: MIT */
/*
 * test_topic_rules.c: unit tests of config/topic_rules.c, per-pattern
 * settings: the rule text, the config file objects, the errors (one line,
 * exit 2 through config_load), and the first-match lookup.
 */
#include "config/config.h"
#include "config/topic_rules.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char why[256];

START_TEST(test_parse_full_rule)
{
    struct topic_rule rule;
    ck_assert_int_eq(
        topic_rule_parse(&rule, "prices.>  retain=1 retain_age=60 conflate=true", why, sizeof(why)),
        0);
    ck_assert_str_eq(rule.pattern, "prices.>");
    ck_assert_int_eq(rule.retain, 1);
    ck_assert_int_eq(rule.retain_age, 60);
    ck_assert_int_eq(rule.conflate, 1);
    ck_assert_int_eq(topic_rule_parse(&rule, "chat.* retain=0", why, sizeof(why)), 0);
    ck_assert_int_eq(rule.retain, 0);
    ck_assert_int_eq(rule.retain_age, TOPIC_RULE_UNSET);
    ck_assert_int_eq(rule.conflate, TOPIC_RULE_UNSET);
}
END_TEST

START_TEST(test_parse_errors)
{
    struct topic_rule rule;
    static const char *const bad[] = {
        "",
        "a..b retain=1",
        "a retain=-1",
        "a retain_age=0",
        "a conflate=yes",
        "a color=1",
        "a retain=1 retain=2",
        "a retain=x",
        "a retain",
        "a retain=99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(topic_rule_parse(&rule, bad[i], why, sizeof(why)) != 0, "%s", bad[i]);
        ck_assert_msg(why[0] != '\0' && !strchr(why, '\n'), "%s", bad[i]);
    }
}
END_TEST

START_TEST(test_first_match_wins)
{
    char *texts[] = {"prices.us.* retain=5", "prices.> retain=1 conflate=true", "chat.>"};
    struct topic_rules rules = {0};
    ck_assert_int_eq(topic_rules_parse(&rules, texts, 3, why, sizeof(why)), 0);
    ck_assert_int_eq(topic_rules_find(&rules, "prices.us.AAPL")->retain, 5);
    ck_assert_int_eq(topic_rules_find(&rules, "prices.eu.SAP")->retain, 1);
    ck_assert_ptr_null(topic_rules_find(&rules, "news.x"));
    ck_assert_ptr_null(topic_rules_find(NULL, "news.x"));
    ck_assert(topic_rules_conflate(&rules, "prices.eu.SAP"));
    ck_assert(!topic_rules_conflate(&rules, "prices.us.AAPL"));
    ck_assert(!topic_rules_conflate(&rules, "chat.a"));
    topic_rules_free(&rules);
}
END_TEST

START_TEST(test_json_objects)
{
    char text[512];
    json_t *obj = json_pack("{s:s, s:i, s:b}", "pattern", "tick.>", "retain", 1, "conflate", 1);
    ck_assert_int_eq(topic_rule_text_of_json(obj, text, sizeof(text), why, sizeof(why)), 0);
    ck_assert_str_eq(text, "tick.> retain=1 conflate=true");
    json_decref(obj);
    obj = json_pack("{s:s, s:s}", "pattern", "tick.>", "retain", "1");
    ck_assert_int_ne(topic_rule_text_of_json(obj, text, sizeof(text), why, sizeof(why)), 0);
    json_decref(obj);
    obj = json_pack("{s:s, s:i}", "pattern", "tick.>", "keep", 1);
    ck_assert_int_ne(topic_rule_text_of_json(obj, text, sizeof(text), why, sizeof(why)), 0);
    json_decref(obj);
}
END_TEST

/* Through config_load: flags, the file's objects, and one-line errors. */
START_TEST(test_config_load)
{
    char dir[] = "/tmp/test_topic_rules.XXXXXX", path[64], err[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.json", dir);
    FILE *f = fopen(path, "w");
    fputs(
        "{\"topic_rules\": [{\"pattern\": \"chat.>\", \"retain\": 10000, \"retain_age\": 604800}]}",
        f);
    fclose(f);
    struct config cfg;
    char *argv[] = {"wsbroker", "--config", path, NULL};
    ck_assert_int_eq(config_load(&cfg, 3, argv, NULL, err, sizeof(err)), CONFIG_RUN);
    ck_assert_uint_eq(cfg.topic_rules.count, 1);
    ck_assert_int_eq(cfg.topic_rules.items[0].retain_age, 604800);
    config_free(&cfg);

    char *flags[] = {"wsbroker",     "--topic-rule",   "tick.> retain=1",
                     "--topic-rule", "x.* conflate=1", NULL};
    ck_assert_int_eq(config_load(&cfg, 5, flags, NULL, err, sizeof(err)), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "--topic-rule"));
    ck_assert_ptr_null(strchr(err, '\n'));

    f = fopen(path, "w");
    fputs("{\"topic_rules\": [{\"pattern\": \"a\", \"retain_age\": 0}]}", f);
    fclose(f);
    ck_assert_int_eq(config_load(&cfg, 3, argv, NULL, err, sizeof(err)), CONFIG_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "topic_rules[0]"));
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topic_rules");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_full_rule);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_first_match_wins);
    tcase_add_test(tc, test_json_objects);
    tcase_add_test(tc, test_config_load);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
