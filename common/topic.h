/* SPDX-License-Identifier: MIT */
/*
 * topic.h: topic names, patterns and the subscription trie.
 *
 * Owns: the rules of docs/protocol.md section 5 (what a name and a pattern are)
 * and the trie that maps a published name to every subscription whose
 * pattern matches it, in time proportional to the matches, not to the
 * number of subscriptions.
 *
 * Names: 1..255 bytes, 1..16 segments joined by '.', a segment 1..64 bytes of
 * [A-Za-z0-9_-:@~]; no empty segment (no leading, trailing or double '.'),
 * no NUL byte. A name may start with '$' (reserved for the broker: the first
 * segment is then '$' followed by 1..63 segment characters, e.g.
 * "$sys.stats"; "$" alone, as in "$.x", is not a segment). '$' appears
 * nowhere else. Patterns (subscribe only) also allow '*' as one whole
 * segment anywhere and '>' as the whole last segment (one or more remaining
 * segments); "a*" or ">b" are invalid. A wildcard in the first segment never
 * matches a name that starts with '$' (as in MQTT and NATS): "$sys.>" must
 * be asked for by name.
 */
#ifndef WSB_TOPIC_H
#define WSB_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define TOPIC_MAX_LEN 255
#define TOPIC_MAX_SEGMENTS 16
#define TOPIC_MAX_SEGMENT_LEN 64

/* 0 when `s` (len bytes, no NUL needed) is a valid name, -1 otherwise. When
 * `why` is not NULL it receives a static English reason on failure. */
int topic_validate_name(const char *s, size_t len, const char **why);

/* Same for a subscription pattern (a name is also a valid pattern). */
int topic_validate_pattern(const char *s, size_t len, const char **why);

/* True when the (valid) name starts with '$'. */
bool topic_is_reserved(const char *name);

/* True when the (valid) pattern contains '*' or '>'. */
bool topic_is_pattern(const char *pattern);

/* True when the valid pattern matches the valid name (NUL-terminated). */
bool topic_matches(const char *pattern, const char *name);

/* True when the valid pattern `outer` covers the valid pattern `inner`:
 * every name `inner` matches, `outer` matches too. Segment by segment, '>'
 * covers the rest (one or more segments, wildcards included), '*' covers
 * one segment (a literal or '*', never '>'), a literal only itself; a
 * wildcard first segment never reaches a reserved name, as in
 * topic_matches. The rule of grants (broker/auth/grants.h). */
bool topic_covers(const char *outer, const char *inner);

/* The subscription trie. Entries are (pattern, subscriber) pairs; the
 * subscriber is an opaque pointer owned by the caller. */
struct topic_trie;

typedef void (*topic_match_fn)(void *subscriber, void *ctx);

struct topic_trie *topic_trie_new(void);
void topic_trie_free(struct topic_trie *trie);

/* Adds the pair. Returns 0 when added, 1 when that exact pair was already
 * there (nothing changes), -1 when out of memory or the pattern is not valid
 * (nothing changes). The pattern is copied. Adding costs the pattern's
 * segments plus the number of subscribers the pattern already has. */
int topic_trie_add(struct topic_trie *trie, const char *pattern, void *subscriber);

/* Removes the pair and prunes empty nodes. Returns 0 when removed, 1 when the
 * pair was not there. */
int topic_trie_remove(struct topic_trie *trie, const char *pattern, void *subscriber);

/* Calls fn(subscriber, ctx) once for every pair whose pattern matches `name`.
 * A subscriber that holds several matching patterns is called once per
 * matching pattern: the caller removes duplicates. Returns the call count.
 * Allocates nothing; costs the name's segments plus the matching pairs. fn
 * must not add to or remove from the trie. `name` must be a valid name (one
 * with an empty segment or more than 16 segments matches nothing). */
size_t topic_trie_match(const struct topic_trie *trie, const char *name, topic_match_fn fn,
                        void *ctx);

/* Number of pairs, and of distinct patterns with at least one subscriber. */
size_t topic_trie_subscriptions(const struct topic_trie *trie);
size_t topic_trie_patterns(const struct topic_trie *trie);

#endif
