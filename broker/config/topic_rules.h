/* SPDX-License-Identifier: MIT */
/*
 * topic_rules.h: per-pattern settings (docs/protocol.md section 11,
 * `--topic-rule 'PATTERN retain=N retain_age=S conflate=BOOL'`, config key
 * `topic_rules`).
 *
 * Owns: the rule text and the config file's rule objects, their checks, and
 * the first-match lookup. Why a module of its own: the store (retention),
 * http (/api/stats) and later the connection's send queue (conflation) all
 * ask the same question, "which rule governs this name?", and must get the
 * same answer. The rules are parsed once at start and never change; every
 * reader shares them without locks.
 */
#ifndef WSB_CONFIG_TOPIC_RULES_H
#define WSB_CONFIG_TOPIC_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/topic.h"

/* A key the rule leaves out: the global value applies. */
#define TOPIC_RULE_UNSET (-1L)

struct topic_rule {
    char pattern[TOPIC_MAX_LEN + 1];
    long retain;     /* messages kept per name, >= 0; TOPIC_RULE_UNSET: --retain */
    long retain_age; /* seconds, >= 1; TOPIC_RULE_UNSET: --retain-age */
    int conflate;    /* 1 or 0; TOPIC_RULE_UNSET: not conflated */
};

struct topic_rules {
    struct topic_rule *items; /* in the order given: the first match wins */
    size_t count;
};

/* Parses one rule text ("prices.> retain=1 conflate=true"). Returns 0, or
 * -1 with a one-line reason in `why` (unknown key, bad value, bad pattern). */
int topic_rule_parse(struct topic_rule *rule, const char *text, char *why, size_t whylen);

/* Writes the text form of a config file rule object {"pattern": P,
 * "retain": N, "retain_age": S, "conflate": B} into buf, checking the
 * types and the keys (the text is then checked by topic_rule_parse).
 * Returns 0, or -1 with a reason in `why`. */
int topic_rule_text_of_json(const json_t *obj, char *buf, size_t cap, char *why, size_t whylen);

/* Parses every text into `rules` (emptied first). On error returns -1 with
 * "RULE: reason" in `why` and leaves `rules` empty. */
int topic_rules_parse(struct topic_rules *rules, char *const *texts, size_t n, char *why,
                      size_t whylen);

void topic_rules_free(struct topic_rules *rules);

/* The first rule whose pattern matches `name`, or NULL (rules may be NULL). */
const struct topic_rule *topic_rules_find(const struct topic_rules *rules, const char *name);

/* Whether subscriptions to `name` are conflated by a rule. */
bool topic_rules_conflate(const struct topic_rules *rules, const char *name);

#endif
