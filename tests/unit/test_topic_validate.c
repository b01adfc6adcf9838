/* SPDX-License-Identifier: MIT */
/*
 * test_topic_validate.c: unit tests of the rules of common/topic.c.
 *
 * Covers name and pattern validation at every limit of docs/protocol.md
 * section 5 (with the reasons given), the '$' rules, and topic_matches
 * against the examples of the spec. topic_matches is also how libwsb routes
 * a message to its subscriptions, and TOPIC_MAX_LEN bounds the topics it
 * sends.
 */
#include "topic_fixtures.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOWED_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:@~"

/* The reason topic_validate_name gives for refusing s. */
static const char *name_why(const char *s, size_t len)
{
    const char *why = NULL;
    ck_assert_int_eq(topic_validate_name(s, len, &why), -1);
    ck_assert_ptr_nonnull(why);
    return why;
}

/* The reason topic_validate_pattern gives for refusing s. */
static const char *pattern_why(const char *s, size_t len)
{
    const char *why = NULL;
    ck_assert_int_eq(topic_validate_pattern(s, len, &why), -1);
    ck_assert_ptr_nonnull(why);
    return why;
}

/* ---- Validation -------------------------------------------------------- */

struct validation_case {
    const char *s;
    size_t len;              /* 0: strlen(s) */
    const char *name_why;    /* NULL: a valid name */
    const char *pattern_why; /* NULL: a valid pattern */
};

#define BAD_CHAR "invalid character (allowed: A-Z a-z 0-9 _ - : @ ~)"
#define NO_WILDCARD "wildcards are only allowed in patterns"
#define BAD_DOLLAR "'$' is only allowed as the first byte"
#define LONE_DOLLAR "'$' must be followed by a segment character"

static const struct validation_case validation_cases[] = {
    {"a", 0, NULL, NULL},
    {"prices.AAPL", 0, NULL, NULL},
    {"A_b-c:d@e~f.0123456789", 0, NULL, NULL},
    {"a.b.c.d.e", 0, NULL, NULL},
    {"~", 0, NULL, NULL},
    {"$sys", 0, NULL, NULL},
    {"$sys.stats", 0, NULL, NULL},
    {"$a.b", 0, NULL, NULL},
    {"$~", 0, NULL, NULL},
    {"a.bc", 3, NULL, NULL}, /* only "a.b" is looked at */
    {"", 0, "empty topic", "empty topic"},
    {".", 0, "starts with '.'", "starts with '.'"},
    {".a", 0, "starts with '.'", "starts with '.'"},
    {"a.", 0, "ends with '.'", "ends with '.'"},
    {"a.b", 2, "ends with '.'", "ends with '.'"},
    {"a..b", 0, "empty segment ('..')", "empty segment ('..')"},
    {"a b", 0, BAD_CHAR, BAD_CHAR},
    {" a", 0, BAD_CHAR, BAD_CHAR},
    {"a/b", 0, BAD_CHAR, BAD_CHAR},
    {"a#b", 0, BAD_CHAR, BAD_CHAR},
    {"#", 0, BAD_CHAR, BAD_CHAR},
    {"a.+.b", 0, BAD_CHAR, BAD_CHAR},
    {"a,b", 0, BAD_CHAR, BAD_CHAR},
    {"a\tb", 0, BAD_CHAR, BAD_CHAR},
    {"pr\xc3\xa9x", 0, BAD_CHAR, BAD_CHAR},
    {"\xff", 0, BAD_CHAR, BAD_CHAR},
    {"a\0b", 3, "contains a NUL byte", "contains a NUL byte"},
    {"ab\0", 3, "contains a NUL byte", "contains a NUL byte"},
    {"$", 0, LONE_DOLLAR, LONE_DOLLAR},
    {"$.x", 0, LONE_DOLLAR, LONE_DOLLAR},
    {"$$a", 0, BAD_DOLLAR, BAD_DOLLAR},
    {"a$", 0, BAD_DOLLAR, BAD_DOLLAR},
    {"a.$b", 0, BAD_DOLLAR, BAD_DOLLAR},
    {"*.$b", 0, NO_WILDCARD, BAD_DOLLAR},
    {"*", 0, NO_WILDCARD, NULL},
    {">", 0, NO_WILDCARD, NULL},
    {"prices.*", 0, NO_WILDCARD, NULL},
    {"prices.>", 0, NO_WILDCARD, NULL},
    {"*.a.*", 0, NO_WILDCARD, NULL},
    {"*.>", 0, NO_WILDCARD, NULL},
    {"$sys.*", 0, NO_WILDCARD, NULL},
    {"$sys.>", 0, NO_WILDCARD, NULL},
    {"a.>.b", 0, NO_WILDCARD, "'>' must be the last segment"},
    {">.a", 0, NO_WILDCARD, "'>' must be the last segment"},
    {">.>", 0, NO_WILDCARD, "'>' must be the last segment"},
    {"a*", 0, NO_WILDCARD, "'*' must be a whole segment"},
    {"*a", 0, NO_WILDCARD, "'*' must be a whole segment"},
    {"a.**", 0, NO_WILDCARD, "'*' must be a whole segment"},
    {"$*", 0, NO_WILDCARD, "'*' must be a whole segment"},
    {">b", 0, NO_WILDCARD, "'>' must be a whole segment"},
    {"a.b>", 0, NO_WILDCARD, "'>' must be a whole segment"},
    {"$>", 0, NO_WILDCARD, "'>' must be a whole segment"},
};

START_TEST(test_validate_table)
{
    const struct validation_case *c = &validation_cases[_i];
    size_t len = c->len != 0 ? c->len : strlen(c->s);
    if (c->name_why == NULL)
        ck_assert_msg(topic_validate_name(c->s, len, NULL) == 0, "name \"%s\"", c->s);
    else
        ck_assert_str_eq(name_why(c->s, len), c->name_why);
    if (c->pattern_why == NULL)
        ck_assert_msg(topic_validate_pattern(c->s, len, NULL) == 0, "pattern \"%s\"", c->s);
    else
        ck_assert_str_eq(pattern_why(c->s, len), c->pattern_why);
}
END_TEST

START_TEST(test_validate_total_length)
{
    char buf[512];
    /* 4 segments of 63 bytes and 3 dots: 255 bytes. */
    make_name(buf, 4, 63);
    ck_assert_uint_eq(strlen(buf), 255);
    ck_assert_int_eq(topic_validate_name(buf, 255, NULL), 0);
    ck_assert_int_eq(topic_validate_pattern(buf, 255, NULL), 0);
    /* One more byte in the last segment: 256. */
    strcat(buf, "a");
    ck_assert_str_eq(name_why(buf, 256), "longer than 255 bytes");
    ck_assert_str_eq(pattern_why(buf, 256), "longer than 255 bytes");
    /* The same 255 bytes as a pattern ending in '>'. */
    make_name(buf, 4, 63);
    buf[254] = '>';
    buf[253] = '.';
    ck_assert_int_eq(topic_validate_pattern(buf, 255, NULL), 0);
}
END_TEST

START_TEST(test_validate_segment_count)
{
    char buf[64];
    make_name(buf, 16, 1);
    ck_assert_int_eq(topic_validate_name(buf, strlen(buf), NULL), 0);
    make_name(buf, 17, 1);
    ck_assert_str_eq(name_why(buf, strlen(buf)), "more than 16 segments");
    ck_assert_str_eq(pattern_why(buf, strlen(buf)), "more than 16 segments");

    /* "*.*. ... .*.>" with 16 and 17 segments. */
    make_name(buf, 16, 1);
    for (size_t i = 0; i < strlen(buf); i += 2)
        buf[i] = '*';
    buf[30] = '>';
    ck_assert_int_eq(topic_validate_pattern(buf, 31, NULL), 0);
    /* Shift right by two, keeping the leading "*.": one more segment. */
    memmove(buf + 2, buf, 32);
    ck_assert_str_eq(pattern_why(buf, 33), "more than 16 segments");
}
END_TEST

START_TEST(test_validate_segment_length)
{
    char buf[256];
    make_name(buf, 1, 64);
    ck_assert_int_eq(topic_validate_name(buf, 64, NULL), 0);
    make_name(buf, 1, 65);
    ck_assert_str_eq(name_why(buf, 65), "segment longer than 64 bytes");
    ck_assert_str_eq(pattern_why(buf, 65), "segment longer than 64 bytes");

    /* A long segment in the middle of a name. */
    char *p = buf;
    p = fill(p, 'x', 3);
    *p++ = '.';
    p = fill(p, 'y', 65);
    *p++ = '.';
    p = fill(p, 'z', 3);
    ck_assert_str_eq(name_why(buf, (size_t)(p - buf)), "segment longer than 64 bytes");
    buf[4] = '.'; /* now "xxx." + "." + 64 'y': an empty segment first */
    ck_assert_str_eq(name_why(buf, (size_t)(p - buf)), "empty segment ('..')");

    /* The '$' counts within the first segment's 64 bytes. */
    buf[0] = '$';
    fill(buf + 1, 's', 63);
    ck_assert_int_eq(topic_validate_name(buf, 64, NULL), 0);
    buf[64] = 's';
    ck_assert_str_eq(name_why(buf, 65), "segment longer than 64 bytes");
}
END_TEST

/* Every byte value, alone, inside a segment and at its end. */
START_TEST(test_validate_each_byte)
{
    for (int c = 1; c < 256; c++) {
        if (c == '.')
            continue;
        bool allowed = strchr(ALLOWED_CHARS, c) != NULL;
        bool wildcard = c == '*' || c == '>';
        char alone[2] = {(char)c, '\0'};
        char inside[4] = {'x', (char)c, 'y', '\0'};
        char at_end[5] = {'x', '.', 'y', (char)c, '\0'};
        ck_assert_msg((topic_validate_name(alone, 1, NULL) == 0) == allowed, "byte %d", c);
        ck_assert_msg((topic_validate_pattern(alone, 1, NULL) == 0) == (allowed || wildcard),
                      "byte %d", c);
        ck_assert_msg((topic_validate_name(inside, 3, NULL) == 0) == allowed, "byte %d", c);
        ck_assert_msg((topic_validate_pattern(inside, 3, NULL) == 0) == allowed, "byte %d", c);
        ck_assert_msg((topic_validate_name(at_end, 4, NULL) == 0) == allowed, "byte %d", c);
        ck_assert_msg((topic_validate_pattern(at_end, 4, NULL) == 0) == allowed, "byte %d", c);
    }
}
END_TEST

START_TEST(test_validate_why_optional)
{
    ck_assert_int_eq(topic_validate_name("a b", 3, NULL), -1);
    ck_assert_int_eq(topic_validate_pattern("a.>.b", 5, NULL), -1);
    ck_assert_int_eq(topic_validate_name(NULL, 0, NULL), -1);
}
END_TEST

START_TEST(test_reserved_and_pattern_predicates)
{
    ck_assert(topic_is_reserved("$sys.stats"));
    ck_assert(!topic_is_reserved("sys.stats"));
    ck_assert(topic_is_pattern("*"));
    ck_assert(topic_is_pattern(">"));
    ck_assert(topic_is_pattern("prices.*.x"));
    ck_assert(topic_is_pattern("$sys.>"));
    ck_assert(!topic_is_pattern("prices.AAPL"));
    ck_assert(!topic_is_pattern("$sys.stats"));
}
END_TEST

/* ---- topic_matches ----------------------------------------------------- */

struct match_case {
    const char *pattern;
    const char *name;
    bool matches;
};

static const struct match_case match_cases[] = {
    /* The examples of docs/protocol.md section 5. */
    {"prices.*", "prices.AAPL", true},
    {"prices.*", "prices.us.AAPL", false},
    {"prices.>", "prices.AAPL", true},
    {"prices.>", "prices.us.AAPL", true},
    {"prices.>", "prices", false},
    {"prices.*", "prices", false},
    /* '>' needs one or more segments. */
    {"a.>", "a", false},
    {"a.>", "a.b", true},
    {"a.>", "b.a", false},
    {">", "a", true},
    {">", "a.b.c", true},
    {"*.>", "a", false},
    {"*.>", "a.b", true},
    {"a.*.>", "a.b", false},
    {"a.*.>", "a.b.c.d", true},
    /* '*' is exactly one segment. */
    {"*", "a", true},
    {"*", "a.b", false},
    {"*.*", "a.b", true},
    {"*.*", "a", false},
    {"*.*", "a.b.c", false},
    {"*.b", "a.b", true},
    {"*.b", "a.c", false},
    {"a.*.c", "a.x.c", true},
    {"a.*.c", "a.x.y.c", false},
    {"a.*.c", "a.c", false},
    /* Literals compare whole segments, case-sensitively. */
    {"a.b", "a.b", true},
    {"a.b", "a.bc", false},
    {"a.bc", "a.b", false},
    {"ab", "a", false},
    {"a", "ab", false},
    {"a.b", "a", false},
    {"a", "a.b", false},
    {"prices.aapl", "prices.AAPL", false},
    /* A wildcard first segment never matches a '$' name. */
    {">", "$sys", false},
    {">", "$sys.stats", false},
    {"*", "$sys", false},
    {"*.stats", "$sys.stats", false},
    {"*.>", "$sys.stats", false},
    {"$sys", "$sys", true},
    {"$sys.stats", "$sys.stats", true},
    {"$sys.*", "$sys.stats", true},
    {"$sys.>", "$sys.stats", true},
    {"$sys.>", "$sys.a.b", true},
    {"$sys.>", "$sys", false},
    {"sys.>", "$sys.stats", false},
    /* ...but wildcards after the first segment do. */
    {"a.*", "a.b", true},
    /* 16 segments. */
    {"*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", true},
    {"*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.>", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", true},
    {"*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o", false},
};

START_TEST(test_matches_table)
{
    const struct match_case *c = &match_cases[_i];
    ck_assert_msg(topic_matches(c->pattern, c->name) == c->matches, "\"%s\" vs \"%s\"", c->pattern,
                  c->name);
}
END_TEST

/* ---- Suite ------------------------------------------------------------- */

static Suite *topic_validate_suite(void)
{
    Suite *suite = suite_create("topic_validate");

    TCase *validation = tcase_create("validation");
    tcase_add_loop_test(validation, test_validate_table, 0,
                        sizeof(validation_cases) / sizeof(validation_cases[0]));
    tcase_add_test(validation, test_validate_total_length);
    tcase_add_test(validation, test_validate_segment_count);
    tcase_add_test(validation, test_validate_segment_length);
    tcase_add_test(validation, test_validate_each_byte);
    tcase_add_test(validation, test_validate_why_optional);
    tcase_add_test(validation, test_reserved_and_pattern_predicates);
    suite_add_tcase(suite, validation);

    TCase *matching = tcase_create("matching");
    tcase_add_loop_test(matching, test_matches_table, 0,
                        sizeof(match_cases) / sizeof(match_cases[0]));
    suite_add_tcase(suite, matching);
    return suite;
}

int main(void)
{
    return topic_fixtures_run(topic_validate_suite());
}
