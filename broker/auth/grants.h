/* SPDX-License-Identifier: MIT */
/*
 * grants.h: what a credential may do (docs/auth.md).
 *
 * Owns: the rules that decide whether a subscribe pattern or a publish name
 * lies within a set of granted patterns, and the `{sub}` placeholder of
 * per-user grants (docs/protocol.md section 11). The broker checks grants
 * when a client subscribes, publishes, reads history or presence, never per
 * delivered message, so the checks are a walk over a few patterns: no
 * allocation, no locks.
 *
 * Coverage is common/topic.h's topic_covers: a granted pattern covers a
 * requested one when every name the request matches, the grant matches too;
 * a wildcard grant never reaches a '$' name unless it names '$' itself.
 */
#ifndef WSB_AUTH_GRANTS_H
#define WSB_AUTH_GRANTS_H

#include <stdbool.h>
#include <stddef.h>

/* The placeholder a grant may hold for the credential's user. */
#define GRANTS_SUB "{sub}"

/* Patterns: in `struct grants` each valid (common/topic.h) and without
 * placeholder; in a token's claims, templates as given. */
struct grant_list {
    char **patterns;
    size_t count;
};

struct grants {
    bool everything;             /* an API key: every subscribe and publish */
    struct grant_list subscribe; /* also history, presence and SSE */
    struct grant_list publish;
};

/* Whether `g` allows subscribing to (or reading history, presence, SSE of)
 * the valid pattern or name `pattern`. */
bool grants_may_subscribe(const struct grants *g, const char *pattern);

/* Whether `g` allows publishing to the valid name `name`. */
bool grants_may_publish(const struct grants *g, const char *name);

/* 0 when `tmpl` is a valid pattern once each "{sub}" in it stands for a
 * segment, -1 with a static reason in *why (when not NULL) otherwise. */
int grants_template_valid(const char *tmpl, const char **why);

/* Whether `sub` (NUL-terminated) can stand for "{sub}": a valid topic
 * segment, not starting with '$'. */
bool grants_sub_valid(const char *sub);

/* Appends the valid template `tmpl` to `list` with each "{sub}" replaced by
 * `sub`. Returns 0 when added (or already there), 1 when dropped (it holds
 * "{sub}" and `sub` is NULL, not a valid segment, or makes it too long),
 * -1 when out of memory. */
int grant_list_add(struct grant_list *list, const char *tmpl, const char *sub);

/* Appends a copy of `text` as it is. 0, or -1 when out of memory. */
int grant_list_append(struct grant_list *list, const char *text);

/* Frees every pattern and empties `list`. */
void grant_list_free(struct grant_list *list);

/* Frees every pattern and zeroes `g`; harmless on a zeroed struct. */
void grants_free(struct grants *g);

#endif
