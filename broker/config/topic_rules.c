/* SPDX-License-Identifier: MIT */
/*
 * topic_rules.c: parsing and matching per-pattern settings (see
 * topic_rules.h).
 *
 * A rule text is the pattern, then space-separated KEY=VALUE words; every
 * key at most once. The lookup walks the rules in order and stops at the
 * first match: rules are few (at most CONFIG_MAX_LIST), and their callers
 * ask once per topic they meet, not once per message.
 */
#include "config/topic_rules.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULE_WORD_MAX 64

/* A decimal long >= min; false for anything else. */
static bool rule_number(const char *text, long min, long *out)
{
    char *end = NULL;
    errno = 0;
    if (text[0] < '0' || text[0] > '9')
        return false;
    long value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min)
        return false;
    *out = value;
    return true;
}

/* One KEY=VALUE word of a rule. */
static int rule_apply_word(struct topic_rule *rule, const char *word, char *why, size_t whylen)
{
    const char *eq = strchr(word, '=');
    size_t key_len = eq ? (size_t)(eq - word) : strlen(word);
    const char *value = eq ? eq + 1 : "";
    long *number = NULL;
    long min = 0;
    if (key_len == 6 && memcmp(word, "retain", 6) == 0) {
        number = &rule->retain;
    } else if (key_len == 10 && memcmp(word, "retain_age", 10) == 0) {
        number = &rule->retain_age;
        min = 1;
    } else if (key_len == 8 && memcmp(word, "conflate", 8) == 0) {
        if (rule->conflate != TOPIC_RULE_UNSET)
            goto repeated;
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            snprintf(why, whylen, "conflate: expected true or false, got \"%s\"", value);
            return -1;
        }
        rule->conflate = strcmp(value, "true") == 0;
        return 0;
    } else {
        snprintf(why, whylen, "unknown key \"%.*s\" (retain, retain_age, conflate)", (int)key_len,
                 word);
        return -1;
    }
    if (*number != TOPIC_RULE_UNSET)
        goto repeated;
    if (!eq || !rule_number(value, min, number)) {
        snprintf(why, whylen, "%.*s: expected an integer >= %ld, got \"%s\"", (int)key_len, word,
                 min, value);
        return -1;
    }
    return 0;
repeated:
    snprintf(why, whylen, "%.*s given twice", (int)key_len, word);
    return -1;
}

/* The next space-separated word of *text into word; false at the end. */
static bool rule_next_word(const char **text, char *word, size_t cap, bool *too_long)
{
    const char *p = *text + strspn(*text, " \t");
    size_t len = strcspn(p, " \t");
    *too_long = len >= cap;
    if (len == 0 || *too_long)
        return len > 0;
    memcpy(word, p, len);
    word[len] = '\0';
    *text = p + len;
    return true;
}

int topic_rule_parse(struct topic_rule *rule, const char *text, char *why, size_t whylen)
{
    *rule = (struct topic_rule){
        .retain = TOPIC_RULE_UNSET, .retain_age = TOPIC_RULE_UNSET, .conflate = TOPIC_RULE_UNSET};
    bool too_long = false;
    const char *reason = NULL;
    if (!rule_next_word(&text, rule->pattern, sizeof(rule->pattern), &too_long) || too_long ||
        topic_validate_pattern(rule->pattern, strlen(rule->pattern), &reason) < 0) {
        snprintf(why, whylen, "invalid pattern: %s", reason ? reason : "too long or missing");
        return -1;
    }
    char word[RULE_WORD_MAX];
    while (rule_next_word(&text, word, sizeof(word), &too_long)) {
        if (too_long) {
            snprintf(why, whylen, "a KEY=VALUE word is at most %d bytes", RULE_WORD_MAX - 1);
            return -1;
        }
        if (rule_apply_word(rule, word, why, whylen) != 0)
            return -1;
    }
    return 0;
}

/* Appends " key=value" for one member of a rule object. */
static int rule_text_member(const char *key, const json_t *value, char *buf, size_t cap,
                            size_t *used, char *why, size_t whylen)
{
    int n;
    if (strcmp(key, "conflate") == 0 && json_is_boolean(value))
        n = snprintf(buf + *used, cap - *used, " conflate=%s",
                     json_is_true(value) ? "true" : "false");
    else if ((strcmp(key, "retain") == 0 || strcmp(key, "retain_age") == 0) &&
             json_is_integer(value))
        n = snprintf(buf + *used, cap - *used, " %s=%" JSON_INTEGER_FORMAT, key,
                     json_integer_value(value));
    else if (strcmp(key, "conflate") == 0 || strcmp(key, "retain") == 0 ||
             strcmp(key, "retain_age") == 0) {
        snprintf(why, whylen, "%s: expected %s", key,
                 key[0] == 'c' ? "true or false" : "an integer");
        return -1;
    } else {
        snprintf(why, whylen, "unknown key \"%s\" (pattern, retain, retain_age, conflate)", key);
        return -1;
    }
    if (n < 0 || (size_t)n >= cap - *used) {
        snprintf(why, whylen, "rule too long");
        return -1;
    }
    *used += (size_t)n;
    return 0;
}

int topic_rule_text_of_json(const json_t *obj, char *buf, size_t cap, char *why, size_t whylen)
{
    const json_t *pattern = json_object_get(obj, "pattern");
    if (!json_is_object(obj) || !json_is_string(pattern)) {
        snprintf(why, whylen, "expected an object with a string \"pattern\"");
        return -1;
    }
    const char *text = json_string_value(pattern);
    if (strlen(text) >= TOPIC_MAX_LEN + 1 || strcspn(text, " \t") != strlen(text)) {
        snprintf(why, whylen, "invalid pattern \"%.60s\"", text);
        return -1;
    }
    size_t used = (size_t)snprintf(buf, cap, "%s", text);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        if (strcmp(key, "pattern") != 0 &&
            rule_text_member(key, value, buf, cap, &used, why, whylen) != 0)
            return -1;
    }
    return 0;
}

int topic_rules_parse(struct topic_rules *rules, char *const *texts, size_t n, char *why,
                      size_t whylen)
{
    topic_rules_free(rules);
    if (n == 0)
        return 0;
    rules->items = calloc(n, sizeof(*rules->items));
    if (!rules->items) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char reason[200];
        if (topic_rule_parse(&rules->items[i], texts[i], reason, sizeof(reason)) != 0) {
            snprintf(why, whylen, "\"%.80s\": %s", texts[i], reason);
            topic_rules_free(rules);
            return -1;
        }
    }
    rules->count = n;
    return 0;
}

void topic_rules_free(struct topic_rules *rules)
{
    free(rules->items);
    rules->items = NULL;
    rules->count = 0;
}

const struct topic_rule *topic_rules_find(const struct topic_rules *rules, const char *name)
{
    for (size_t i = 0; rules && i < rules->count; i++)
        if (topic_matches(rules->items[i].pattern, name))
            return &rules->items[i];
    return NULL;
}

bool topic_rules_conflate(const struct topic_rules *rules, const char *name)
{
    const struct topic_rule *rule = topic_rules_find(rules, name);
    return rule && rule->conflate == 1;
}
