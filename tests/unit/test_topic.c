/*
 * test_topic.c: unit tests of common/topic.c.
 *
 * Covers name and pattern validation at every limit of docs/protocol.md section 5
 * (with the reasons given), the '$' rules, topic_matches against the
 * examples of the spec, and the subscription trie: counters, duplicates,
 * removal and pruning, many subscribers, many children under one node, and a
 * seeded random comparison of topic_trie_match with a brute-force loop.
 * topic_matches is also how libwsb routes a message to its subscriptions,
 * and TOPIC_MAX_LEN bounds the topics it sends.
 */
#include "common/topic.h"

#include <check.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOWED_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:@~"

/* ---- Helpers ----------------------------------------------------------- */

/* Writes `count` copies of `c` at `out` and returns the end. */
static char *fill(char *out, char c, size_t count)
{
    memset(out, c, count);
    return out + count;
}

/* A name of `segments` segments, each `seg_len` bytes of 'a'. */
static void make_name(char *out, size_t segments, size_t seg_len)
{
    char *p = out;
    for (size_t i = 0; i < segments; i++) {
        if (i > 0)
            *p++ = '.';
        p = fill(p, 'a', seg_len);
    }
    *p = '\0';
}

static const char *name_why(const char *s, size_t len)
{
    const char *why = NULL;
    ck_assert_int_eq(topic_validate_name(s, len, &why), -1);
    ck_assert_ptr_nonnull(why);
    return why;
}

static const char *pattern_why(const char *s, size_t len)
{
    const char *why = NULL;
    ck_assert_int_eq(topic_validate_pattern(s, len, &why), -1);
    ck_assert_ptr_nonnull(why);
    return why;
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

static void recorder_init(struct recorder *rec, const char *base, size_t size)
{
    rec->base = base;
    rec->size = size;
    rec->counts = calloc(size, sizeof(*rec->counts));
    ck_assert_ptr_nonnull(rec->counts);
    rec->total = 0;
}

static void recorder_reset(struct recorder *rec)
{
    memset(rec->counts, 0, rec->size * sizeof(*rec->counts));
    rec->total = 0;
}

static void recorder_free(struct recorder *rec)
{
    free(rec->counts);
}

static void record_call(void *subscriber, void *ctx)
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
static size_t match_into(const struct topic_trie *trie, const char *name, struct recorder *rec)
{
    recorder_reset(rec);
    size_t calls = topic_trie_match(trie, name, record_call, rec);
    if (calls != rec->total)
        ck_abort_msg("\"%s\": returned %zu, called %zu times", name, calls, rec->total);
    return calls;
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

static Suite *topic_suite(void)
{
    Suite *suite = suite_create("topic");

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
    tcase_add_test(trie, test_trie_random_against_brute_force);
    suite_add_tcase(suite, trie);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(topic_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
