/* SPDX-License-Identifier: MIT */
/*
 * fuzz_topic.c: libFuzzer target for topic validation, topic_matches and the
 * subscription trie.
 *
 * The input is split at '\n' into up to 32 lines; each line is both a
 * candidate pattern and a candidate name (so the first two lines are a
 * pattern and a name, and longer inputs give every pair). Checked against a
 * reference written here from topic.h and docs/protocol.md section 5 alone:
 * validation (a valid name is a valid pattern, reasons are given), matching
 * of every valid pattern with every valid name (split at '.', '*' one
 * segment, '>' one or more, a first-segment wildcard never matches a name
 * starting with '$'), and a trie holding every valid pattern, which must
 * report exactly the matching ones, before and after removals.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "common/topic.h"

#define FUZZ_MAX_LINES 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct segments {
    const char *bytes[TOPIC_MAX_SEGMENTS];
    size_t lens[TOPIC_MAX_SEGMENTS];
    size_t count;
};

struct line {
    char *text; /* NUL-terminated copy */
    size_t len; /* bytes given, NULs included */
    bool has_nul;
    bool name_ok;             /* per topic.c */
    bool pattern_ok;          /* per topic.c */
    struct segments segments; /* when pattern_ok */
};

/* ---- Reference rules ---------------------------------------------------- */

static bool ref_is_segment_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("_-:@~", c) != NULL;
}

static bool ref_segment_ok(const char *seg, size_t len, bool first, bool last, bool pattern)
{
    if (len < 1 || len > TOPIC_MAX_SEGMENT_LEN)
        return false;
    if (pattern && len == 1 && (seg[0] == '*' || (seg[0] == '>' && last)))
        return true;
    size_t i = 0;
    if (first && seg[0] == '$') {
        if (len == 1)
            return false;
        i = 1;
    }
    for (; i < len; i++) {
        if (seg[i] == '\0' || !ref_is_segment_char((unsigned char)seg[i]))
            return false;
    }
    return true;
}

static bool ref_valid(const char *s, size_t len, bool pattern)
{
    if (len < 1 || len > TOPIC_MAX_LEN)
        return false;
    size_t start = 0;
    size_t count = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (++count > TOPIC_MAX_SEGMENTS)
            return false;
        if (!ref_segment_ok(s + start, i - start, start == 0, i == len, pattern))
            return false;
        start = i + 1;
    }
    return true;
}

/* Splits a valid topic into its segments. */
static void ref_split(const char *s, struct segments *out)
{
    out->count = 0;
    for (;;) {
        size_t len = strcspn(s, ".");
        out->bytes[out->count] = s;
        out->lens[out->count] = len;
        out->count++;
        if (s[len] == '\0')
            return;
        s += len + 1;
    }
}

static bool ref_segment_is(const struct segments *s, size_t i, const char *text)
{
    return s->lens[i] == strlen(text) && memcmp(s->bytes[i], text, s->lens[i]) == 0;
}

/* Both lines valid: the first as a pattern, the second as a name. */
static bool ref_match(const struct line *pattern, const struct line *name)
{
    const struct segments *p = &pattern->segments;
    const struct segments *n = &name->segments;
    if (name->text[0] == '$' && (ref_segment_is(p, 0, "*") || ref_segment_is(p, 0, ">")))
        return false;
    for (size_t i = 0; i < p->count; i++) {
        if (ref_segment_is(p, i, ">"))
            return n->count > i;
        if (i >= n->count)
            return false;
        if (ref_segment_is(p, i, "*"))
            continue;
        if (p->lens[i] != n->lens[i] || memcmp(p->bytes[i], n->bytes[i], p->lens[i]) != 0)
            return false;
    }
    return n->count == p->count;
}

/* What topic_trie_match promises for an invalid name: one with an empty
 * segment or more than 16 segments matches nothing. */
static bool ref_unsplittable(const char *s)
{
    size_t len = strlen(s);
    size_t dots = 0;
    for (size_t i = 0; i < len; i++)
        dots += s[i] == '.';
    return len == 0 || s[0] == '.' || s[len - 1] == '.' || strstr(s, "..") != NULL ||
           dots >= TOPIC_MAX_SEGMENTS;
}

/* ---- Validation --------------------------------------------------------- */

static int validate_checked(const struct line *l, bool pattern)
{
    const char *why = NULL;
    int rc = pattern ? topic_validate_pattern(l->text, l->len, &why)
                     : topic_validate_name(l->text, l->len, &why);
    fuzz_require(rc == 0 || rc == -1, "validation returned neither 0 nor -1");
    if (rc != 0)
        fuzz_require(why != NULL && why[0] != '\0', "invalid topic without a reason");
    fuzz_require((rc == 0) == ref_valid(l->text, l->len, pattern),
                 pattern ? "pattern validity differs from the reference"
                         : "name validity differs from the reference");
    return rc;
}

static void check_validation(struct line *l)
{
    l->name_ok = validate_checked(l, false) == 0;
    l->pattern_ok = validate_checked(l, true) == 0;
    fuzz_require(!l->name_ok || l->pattern_ok, "a valid name is not a valid pattern");
    if (l->pattern_ok) {
        fuzz_require(topic_is_pattern(l->text) == !l->name_ok,
                     "topic_is_pattern disagrees with validation");
        fuzz_require(topic_is_reserved(l->text) == (l->text[0] == '$'),
                     "topic_is_reserved is wrong");
        ref_split(l->text, &l->segments);
    }
}

static void check_matches(const struct line *lines, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < count; j++) {
            if (!lines[i].pattern_ok || !lines[j].name_ok)
                continue;
            fuzz_require(topic_matches(lines[i].text, lines[j].text) ==
                             ref_match(&lines[i], &lines[j]),
                         "topic_matches differs from the reference");
        }
        if (lines[i].name_ok)
            fuzz_require(topic_matches(lines[i].text, lines[i].text), "a name must match itself");
    }
}

/* ---- The trie ------------------------------------------------------------- */

struct hits {
    const char *base; /* subscriber i is base + i */
    size_t counts[FUZZ_MAX_LINES];
};

static void record_hit(void *subscriber, void *ctx)
{
    struct hits *hits = ctx;
    size_t index = (size_t)((const char *)subscriber - hits->base);
    fuzz_require(index < FUZZ_MAX_LINES, "trie called back with an unknown subscriber");
    hits->counts[index]++;
}

/* Every valid name must reach exactly the present patterns that match it. */
static void check_trie_matches(const struct topic_trie *trie, const struct line *lines,
                               size_t count, const bool *present, const char *subscribers)
{
    for (size_t j = 0; j < count; j++) {
        if (lines[j].has_nul || (!lines[j].name_ok && !ref_unsplittable(lines[j].text)))
            continue;
        struct hits hits = {.base = subscribers};
        size_t calls = topic_trie_match(trie, lines[j].text, record_hit, &hits);
        size_t expected = 0;
        for (size_t i = 0; i < count; i++) {
            size_t want = present[i] && lines[j].name_ok && ref_match(&lines[i], &lines[j]);
            fuzz_require(hits.counts[i] == want, "trie match differs from the reference");
            expected += want;
        }
        fuzz_require(calls == expected, "trie match returned the wrong count");
    }
}

static size_t distinct_patterns(const struct line *lines, size_t count, const bool *present)
{
    size_t distinct = 0;
    for (size_t i = 0; i < count; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = present[k] && strcmp(lines[k].text, lines[i].text) == 0;
        distinct += present[i] && !seen;
    }
    return distinct;
}

static void check_trie_counts(const struct topic_trie *trie, const struct line *lines, size_t count,
                              const bool *present)
{
    size_t pairs = 0;
    for (size_t i = 0; i < count; i++)
        pairs += present[i];
    fuzz_require(topic_trie_subscriptions(trie) == pairs, "wrong subscription count");
    fuzz_require(topic_trie_patterns(trie) == distinct_patterns(lines, count, present),
                 "wrong pattern count");
}

static void trie_add_all(struct topic_trie *trie, const struct line *lines, size_t count,
                         bool *present, char *subscribers)
{
    for (size_t i = 0; i < count; i++) {
        if (lines[i].has_nul)
            continue;
        int rc = topic_trie_add(trie, lines[i].text, subscribers + i);
        fuzz_require(rc == (lines[i].pattern_ok ? 0 : -1), "topic_trie_add result");
        present[i] = lines[i].pattern_ok;
        if (present[i])
            fuzz_require(topic_trie_add(trie, lines[i].text, subscribers + i) == 1,
                         "adding a pair twice must return 1");
        else
            fuzz_require(topic_trie_remove(trie, lines[i].text, subscribers + i) == 1,
                         "removing a pair never added must return 1");
    }
}

/* Removes the present lines whose index has parity `parity`. */
static void trie_remove_some(struct topic_trie *trie, const struct line *lines, size_t count,
                             bool *present, char *subscribers, size_t parity)
{
    for (size_t i = parity; i < count; i += 2) {
        if (!present[i])
            continue;
        fuzz_require(topic_trie_remove(trie, lines[i].text, subscribers + i) == 0,
                     "removing a present pair must return 0");
        present[i] = false;
        fuzz_require(topic_trie_remove(trie, lines[i].text, subscribers + i) == 1,
                     "removing a pair twice must return 1");
    }
}

static void check_trie(const struct line *lines, size_t count)
{
    char subscribers[FUZZ_MAX_LINES];
    bool present[FUZZ_MAX_LINES] = {false};
    struct topic_trie *trie = topic_trie_new();
    fuzz_require(trie != NULL, "topic_trie_new failed");
    trie_add_all(trie, lines, count, present, subscribers);
    check_trie_counts(trie, lines, count, present);
    check_trie_matches(trie, lines, count, present, subscribers);
    trie_remove_some(trie, lines, count, present, subscribers, 0);
    check_trie_counts(trie, lines, count, present);
    check_trie_matches(trie, lines, count, present, subscribers);
    trie_remove_some(trie, lines, count, present, subscribers, 1);
    check_trie_counts(trie, lines, count, present);
    check_trie_matches(trie, lines, count, present, subscribers);
    topic_trie_free(trie);
}

/* ---- Entry -------------------------------------------------------------- */

static size_t split_lines(const uint8_t *data, size_t size, struct line *lines)
{
    size_t count = 0;
    size_t start = 0;
    while (count < FUZZ_MAX_LINES && start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl != NULL ? (size_t)(nl - data) : size;
        struct line *l = &lines[count++];
        l->len = end - start;
        l->text = malloc(l->len + 1);
        fuzz_require(l->text != NULL, "out of memory");
        memcpy(l->text, data + start, l->len);
        l->text[l->len] = '\0';
        l->has_nul = memchr(l->text, '\0', l->len) != NULL;
        if (nl == NULL)
            break;
        start = end + 1;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct line lines[FUZZ_MAX_LINES];
    size_t count = split_lines(data, size, lines);
    for (size_t i = 0; i < count; i++)
        check_validation(&lines[i]);
    check_matches(lines, count);
    check_trie(lines, count);
    for (size_t i = 0; i < count; i++)
        free(lines[i].text);
    return 0;
}
