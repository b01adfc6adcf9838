/* SPDX-License-Identifier: MIT */
/*
 * grants.c: coverage of patterns by grants and the "{sub}" placeholder (see
 * grants.h).
 */
#include "auth/grants.h"

#include <stdlib.h>
#include <string.h>

#include "common/topic.h"

/* Room for a template with its placeholders replaced: longer results are
 * not valid topics anyway. */
#define GRANTS_EXPANDED_MAX (TOPIC_MAX_LEN + 1)

/* Whether `everything`, or any pattern of `list` admits `topic` by `rule`. */
static bool grants_any(bool everything, const struct grant_list *list, const char *topic,
                       bool (*rule)(const char *granted, const char *topic))
{
    if (everything)
        return true;
    for (size_t i = 0; i < list->count; i++) {
        if (rule(list->patterns[i], topic))
            return true;
    }
    return false;
}

bool grants_may_subscribe(const struct grants *g, const char *pattern)
{
    return grants_any(g->everything, &g->subscribe, pattern, topic_covers);
}

bool grants_may_publish(const struct grants *g, const char *name)
{
    return grants_any(g->everything, &g->publish, name, topic_matches);
}

/* ---------------------------------------------------------- placeholder */

bool grants_sub_valid(const char *sub)
{
    size_t len = strlen(sub);
    return len > 0 && sub[0] != '$' && memchr(sub, '.', len) == NULL &&
           topic_validate_name(sub, len, NULL) == 0;
}

/* Writes `tmpl` with each "{sub}" replaced by `sub` into out[size].
 * Returns the length, or -1 when it does not fit. */
static long grants_expand(const char *tmpl, const char *sub, char *out, size_t size)
{
    size_t used = 0;
    size_t sub_len = strlen(sub);
    size_t mark_len = strlen(GRANTS_SUB);
    while (*tmpl != '\0') {
        const char *piece = tmpl;
        size_t piece_len = 1;
        if (strncmp(tmpl, GRANTS_SUB, mark_len) == 0) {
            piece = sub;
            piece_len = sub_len;
            tmpl += mark_len;
        } else {
            tmpl++;
        }
        if (size - used <= piece_len)
            return -1;
        memcpy(out + used, piece, piece_len);
        used += piece_len;
    }
    out[used] = '\0';
    return (long)used;
}

int grants_template_valid(const char *tmpl, const char **why)
{
    char expanded[GRANTS_EXPANDED_MAX];
    long len = grants_expand(tmpl, "u", expanded, sizeof(expanded));
    if (len < 0) {
        if (why != NULL)
            *why = "longer than 255 bytes";
        return -1;
    }
    return topic_validate_pattern(expanded, (size_t)len, why);
}

/* ---------------------------------------------------------------- lists */

static bool grant_list_has(const struct grant_list *list, const char *pattern)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->patterns[i], pattern) == 0)
            return true;
    }
    return false;
}

int grant_list_add(struct grant_list *list, const char *tmpl, const char *sub)
{
    char expanded[GRANTS_EXPANDED_MAX];
    bool has_sub = strstr(tmpl, GRANTS_SUB) != NULL;
    if (has_sub && (sub == NULL || !grants_sub_valid(sub)))
        return 1;
    long len = grants_expand(tmpl, has_sub ? sub : "", expanded, sizeof(expanded));
    if (len < 0 || topic_validate_pattern(expanded, (size_t)len, NULL) != 0)
        return 1;
    if (grant_list_has(list, expanded))
        return 0;
    return grant_list_append(list, expanded);
}

int grant_list_append(struct grant_list *list, const char *text)
{
    char **grown = realloc(list->patterns, (list->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    list->patterns = grown;
    if ((grown[list->count] = strdup(text)) == NULL)
        return -1;
    list->count++;
    return 0;
}

void grant_list_free(struct grant_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->patterns[i]);
    free(list->patterns);
    list->patterns = NULL;
    list->count = 0;
}

void grants_free(struct grants *g)
{
    grant_list_free(&g->subscribe);
    grant_list_free(&g->publish);
    g->everything = false;
}
