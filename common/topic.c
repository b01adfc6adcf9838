/* SPDX-License-Identifier: MIT */
/*
 * topic.c: topic names, patterns and the subscription trie.
 *
 * Owns: the rules of docs/protocol.md section 5 (what a valid name and pattern
 * are, and when a pattern matches a name), and the trie that finds every
 * (pattern, subscriber) pair matching a published name. Every publish goes
 * through topic_trie_match, so it allocates nothing and costs in proportion
 * to the name's segments and the matching pairs, never to the number of
 * subscriptions.
 *
 * The trie has one node per pattern segment. A node keeps its literal
 * children in a small open-addressing hash table (linear probing, at most
 * half full, grown and shrunk by powers of two) so that a node with 10,000
 * children, like "prices.*" in real use, is still found in O(1); the '*' and
 * '>' children have slots of their own. The subscribers of the pattern that
 * ends at a node are a growable array of opaque pointers. A '>' node is
 * always a leaf. Nodes left with no subscribers and no children are freed
 * on removal, so the trie's memory follows its contents.
 */
#include "common/topic.h"

#include "common/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Names and patterns ------------------------------------------------ */

static bool topic_is_segment_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == ':' || c == '@' || c == '~';
}

static int topic_fail(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return -1;
}

/* Checks one segment of `len` bytes. `first` and `last` say where it sits in
 * the topic, `pattern` whether wildcards are allowed. */
static int topic_validate_segment(const char *seg, size_t len, bool first, bool last, bool pattern,
                                  const char **why)
{
    if (len > TOPIC_MAX_SEGMENT_LEN)
        return topic_fail(why, "segment longer than 64 bytes");
    if (len == 1 && (seg[0] == '*' || seg[0] == '>')) {
        if (!pattern)
            return topic_fail(why, "wildcards are only allowed in patterns");
        if (seg[0] == '>' && !last)
            return topic_fail(why, "'>' must be the last segment");
        return 0;
    }
    size_t i = 0;
    if (first && seg[0] == '$') {
        if (len == 1)
            return topic_fail(why, "'$' must be followed by a segment character");
        i = 1;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)seg[i];
        if (topic_is_segment_char(c))
            continue;
        if (c == '$')
            return topic_fail(why, "'$' is only allowed as the first byte");
        if ((c == '*' || c == '>') && !pattern)
            return topic_fail(why, "wildcards are only allowed in patterns");
        if (c == '*')
            return topic_fail(why, "'*' must be a whole segment");
        if (c == '>')
            return topic_fail(why, "'>' must be a whole segment");
        return topic_fail(why, "invalid character (allowed: A-Z a-z 0-9 _ - : @ ~)");
    }
    return 0;
}

static int topic_validate(const char *s, size_t len, bool pattern, const char **why)
{
    if (s == NULL || len == 0)
        return topic_fail(why, "empty topic");
    if (len > TOPIC_MAX_LEN)
        return topic_fail(why, "longer than 255 bytes");
    if (memchr(s, '\0', len) != NULL)
        return topic_fail(why, "contains a NUL byte");
    size_t start = 0;
    size_t segments = 0;
    for (;;) {
        const char *dot = memchr(s + start, '.', len - start);
        size_t end = dot != NULL ? (size_t)(dot - s) : len;
        if (end == start) {
            if (start == 0)
                return topic_fail(why, "starts with '.'");
            return topic_fail(why, end == len ? "ends with '.'" : "empty segment ('..')");
        }
        if (++segments > TOPIC_MAX_SEGMENTS)
            return topic_fail(why, "more than 16 segments");
        if (topic_validate_segment(s + start, end - start, start == 0, end == len, pattern, why))
            return -1;
        if (end == len)
            return 0;
        start = end + 1;
    }
}

int topic_validate_name(const char *s, size_t len, const char **why)
{
    return topic_validate(s, len, false, why);
}

int topic_validate_pattern(const char *s, size_t len, const char **why)
{
    return topic_validate(s, len, true, why);
}

bool topic_is_reserved(const char *name)
{
    return name[0] == '$';
}

bool topic_is_pattern(const char *pattern)
{
    /* In a valid pattern these bytes only ever appear as whole segments. */
    return strpbrk(pattern, "*>") != NULL;
}

/* True when the pattern's first segment is a wildcard, which never matches a
 * reserved name. */
static bool topic_starts_with_wildcard(const char *pattern)
{
    return pattern[0] == '*' || pattern[0] == '>';
}

bool topic_matches(const char *pattern, const char *name)
{
    if (pattern[0] == '\0' || name[0] == '\0')
        return false;
    if (topic_is_reserved(name) && topic_starts_with_wildcard(pattern))
        return false;
    /* At the top of each round both point at the start of a segment. */
    const char *p = pattern;
    const char *n = name;
    for (;;) {
        size_t plen = strcspn(p, ".");
        size_t nlen = strcspn(n, ".");
        if (plen == 1 && p[0] == '>')
            return true;
        bool star = plen == 1 && p[0] == '*';
        if (!star && (plen != nlen || memcmp(p, n, plen) != 0))
            return false;
        bool pattern_more = p[plen] == '.';
        bool name_more = n[nlen] == '.';
        if (!pattern_more || !name_more)
            return !pattern_more && !name_more;
        p += plen + 1;
        n += nlen + 1;
    }
}

struct topic_segment {
    const char *bytes;
    size_t len;
};

static bool topic_segment_is(const struct topic_segment *seg, char wildcard)
{
    return seg->len == 1 && seg->bytes[0] == wildcard;
}

bool topic_covers(const char *outer, const char *inner)
{
    if (topic_is_reserved(inner) && topic_starts_with_wildcard(outer))
        return false;
    struct topic_segment o = {outer, 0}, n = {inner, 0};
    for (;;) {
        o.len = strcspn(o.bytes, ".");
        n.len = strcspn(n.bytes, ".");
        if (topic_segment_is(&o, '>'))
            return true; /* inner still has this segment, so one or more */
        if (topic_segment_is(&n, '>'))
            return false; /* only '>' covers '>' */
        if (!topic_segment_is(&o, '*') &&
            (topic_segment_is(&n, '*') || o.len != n.len || memcmp(o.bytes, n.bytes, o.len) != 0))
            return false;
        o.bytes += o.len;
        n.bytes += n.len;
        if (*o.bytes == '\0' || *n.bytes == '\0')
            return *o.bytes == *n.bytes;
        o.bytes++;
        n.bytes++;
    }
}

/* ---- Segments ---------------------------------------------------------- */

/* Splits the NUL-terminated `s` at each '.' into `segments`, which has room
 * for TOPIC_MAX_SEGMENTS. Returns the count, or 0 when `s` is empty, has an
 * empty segment or has too many segments. Allocates nothing. */
static size_t topic_split(const char *s, struct topic_segment *segments)
{
    size_t count = 0;
    for (;;) {
        size_t len = strcspn(s, ".");
        if (len == 0 || count == TOPIC_MAX_SEGMENTS)
            return 0;
        segments[count].bytes = s;
        segments[count].len = len;
        count++;
        if (s[len] == '\0')
            return count;
        s += len + 1;
    }
}

/* The project's one string hash (common/strmap.h). */
static uint64_t topic_hash(const char *bytes, size_t len)
{
    return strmap_hash(bytes, len);
}

/* ---- Nodes ------------------------------------------------------------- */

#define TOPIC_TABLE_MIN 4
#define TOPIC_SUBSCRIBERS_MIN 4

struct topic_node {
    struct topic_node **children; /* literal children by segment; NULL slots are free */
    size_t child_count;
    size_t child_cap;        /* 0 or a power of two, at least twice child_count */
    struct topic_node *star; /* the '*' child */
    struct topic_node *tail; /* the '>' child, always a leaf */
    void **subscribers;      /* of the pattern ending here, no duplicates */
    size_t subscriber_count;
    size_t subscriber_cap;
    uint64_t hash;      /* of segment, kept for rehashing */
    size_t segment_len; /* 0 for the root and wildcard nodes */
    char segment[];     /* the literal segment leading here, NUL-terminated */
};

struct topic_trie {
    struct topic_node *root;
    size_t subscriptions; /* (pattern, subscriber) pairs */
    size_t patterns;      /* nodes with at least one subscriber */
};

static struct topic_node *topic_node_new(const char *segment, size_t len, uint64_t hash)
{
    struct topic_node *node = calloc(1, sizeof(*node) + len + 1);
    if (node == NULL)
        return NULL;
    memcpy(node->segment, segment, len);
    node->segment[len] = '\0';
    node->segment_len = len;
    node->hash = hash;
    return node;
}

/* Frees the node and everything below it. */
static void topic_node_free(struct topic_node *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->child_cap; i++)
        topic_node_free(node->children[i]);
    topic_node_free(node->star);
    topic_node_free(node->tail);
    free(node->children);
    free(node->subscribers);
    free(node);
}

static bool topic_node_is_empty(const struct topic_node *node)
{
    return node->subscriber_count == 0 && node->child_count == 0 && node->star == NULL &&
           node->tail == NULL;
}

/* ---- Child tables ------------------------------------------------------ */

static struct topic_node *topic_children_find(const struct topic_node *node, const char *bytes,
                                              size_t len, uint64_t hash)
{
    if (node->child_cap == 0)
        return NULL;
    size_t mask = node->child_cap - 1;
    /* The table is at most half full, so a free slot ends every probe. */
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct topic_node *child = node->children[i];
        if (child == NULL)
            return NULL;
        if (child->hash == hash && child->segment_len == len &&
            memcmp(child->segment, bytes, len) == 0)
            return child;
    }
}

static void topic_children_place(struct topic_node **slots, size_t mask, struct topic_node *child)
{
    size_t i = child->hash & mask;
    while (slots[i] != NULL)
        i = (i + 1) & mask;
    slots[i] = child;
}

static int topic_children_resize(struct topic_node *node, size_t new_cap)
{
    struct topic_node **slots = calloc(new_cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < node->child_cap; i++) {
        if (node->children[i] != NULL)
            topic_children_place(slots, new_cap - 1, node->children[i]);
    }
    free(node->children);
    node->children = slots;
    node->child_cap = new_cap;
    return 0;
}

/* Adds a child whose segment is not in the table yet. */
static int topic_children_insert(struct topic_node *node, struct topic_node *child)
{
    if ((node->child_count + 1) * 2 > node->child_cap) {
        size_t new_cap = node->child_cap != 0 ? node->child_cap * 2 : TOPIC_TABLE_MIN;
        if (topic_children_resize(node, new_cap) != 0)
            return -1;
    }
    topic_children_place(node->children, node->child_cap - 1, child);
    node->child_count++;
    return 0;
}

/* Takes a child out of the table (backward-shift deletion, so no tombstones)
 * and shrinks the table when it has become mostly empty. */
static void topic_children_remove(struct topic_node *node, const struct topic_node *child)
{
    size_t mask = node->child_cap - 1;
    size_t hole = child->hash & mask;
    while (node->children[hole] != child)
        hole = (hole + 1) & mask;
    node->children[hole] = NULL;
    for (size_t j = (hole + 1) & mask; node->children[j] != NULL; j = (j + 1) & mask) {
        size_t home = node->children[j]->hash & mask;
        /* The entry at j stays unless the hole lies between its home and j. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            node->children[hole] = node->children[j];
            node->children[j] = NULL;
            hole = j;
        }
    }
    node->child_count--;
    if (node->child_count == 0) {
        free(node->children);
        node->children = NULL;
        node->child_cap = 0;
    } else if (node->child_cap > TOPIC_TABLE_MIN && node->child_count * 8 < node->child_cap) {
        /* On failure the larger table simply stays. */
        (void)topic_children_resize(node, node->child_cap / 2);
    }
}

/* The child of `node` for `seg`, or NULL. */
static struct topic_node *topic_node_child(const struct topic_node *node,
                                           const struct topic_segment *seg)
{
    if (topic_segment_is(seg, '*'))
        return node->star;
    if (topic_segment_is(seg, '>'))
        return node->tail;
    return topic_children_find(node, seg->bytes, seg->len, topic_hash(seg->bytes, seg->len));
}

/* The child of `node` for `seg`, created when missing; NULL when out of memory. */
static struct topic_node *topic_node_child_make(struct topic_node *node,
                                                const struct topic_segment *seg)
{
    struct topic_node *child = topic_node_child(node, seg);
    if (child != NULL)
        return child;
    if (topic_segment_is(seg, '*')) {
        node->star = topic_node_new("", 0, 0);
        return node->star;
    }
    if (topic_segment_is(seg, '>')) {
        node->tail = topic_node_new("", 0, 0);
        return node->tail;
    }
    child = topic_node_new(seg->bytes, seg->len, topic_hash(seg->bytes, seg->len));
    if (child != NULL && topic_children_insert(node, child) != 0) {
        free(child);
        return NULL;
    }
    return child;
}

/* Detaches `child`, reached from `node` by `seg`, and frees it. */
static void topic_node_drop_child(struct topic_node *node, const struct topic_segment *seg,
                                  struct topic_node *child)
{
    if (topic_segment_is(seg, '*'))
        node->star = NULL;
    else if (topic_segment_is(seg, '>'))
        node->tail = NULL;
    else
        topic_children_remove(node, child);
    topic_node_free(child);
}

/* ---- Subscriber arrays ------------------------------------------------- */

/* Index of `subscriber` at `node`, or subscriber_count when absent. */
static size_t topic_node_find_subscriber(const struct topic_node *node, const void *subscriber)
{
    size_t i = 0;
    while (i < node->subscriber_count && node->subscribers[i] != subscriber)
        i++;
    return i;
}

static int topic_node_add_subscriber(struct topic_node *node, void *subscriber)
{
    if (node->subscriber_count == node->subscriber_cap) {
        size_t new_cap =
            node->subscriber_cap != 0 ? node->subscriber_cap * 2 : TOPIC_SUBSCRIBERS_MIN;
        void **grown = realloc(node->subscribers, new_cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        node->subscribers = grown;
        node->subscriber_cap = new_cap;
    }
    node->subscribers[node->subscriber_count++] = subscriber;
    return 0;
}

/* Removes the subscriber at `index` (the last one takes its place) and gives
 * memory back when the array has become mostly empty. */
static void topic_node_remove_subscriber(struct topic_node *node, size_t index)
{
    node->subscribers[index] = node->subscribers[--node->subscriber_count];
    if (node->subscriber_count == 0) {
        free(node->subscribers);
        node->subscribers = NULL;
        node->subscriber_cap = 0;
    } else if (node->subscriber_cap > TOPIC_SUBSCRIBERS_MIN &&
               node->subscriber_count * 4 <= node->subscriber_cap) {
        size_t new_cap = node->subscriber_cap / 2;
        void **shrunk = realloc(node->subscribers, new_cap * sizeof(*shrunk));
        if (shrunk != NULL) {
            node->subscribers = shrunk;
            node->subscriber_cap = new_cap;
        }
    }
}

/* ---- The trie ---------------------------------------------------------- */

struct topic_trie *topic_trie_new(void)
{
    struct topic_trie *trie = calloc(1, sizeof(*trie));
    if (trie == NULL)
        return NULL;
    trie->root = topic_node_new("", 0, 0);
    if (trie->root == NULL) {
        free(trie);
        return NULL;
    }
    return trie;
}

void topic_trie_free(struct topic_trie *trie)
{
    if (trie == NULL)
        return;
    topic_node_free(trie->root);
    free(trie);
}

/* Frees the empty nodes at the end of `path` (path[0] is the root, path[i]
 * the node reached by segments[i - 1]), deepest first. */
static void topic_trie_prune(struct topic_node **path, const struct topic_segment *segments,
                             size_t depth)
{
    for (size_t i = depth; i > 0 && topic_node_is_empty(path[i]); i--)
        topic_node_drop_child(path[i - 1], &segments[i - 1], path[i]);
}

int topic_trie_add(struct topic_trie *trie, const char *pattern, void *subscriber)
{
    struct topic_segment segments[TOPIC_MAX_SEGMENTS];
    struct topic_node *path[TOPIC_MAX_SEGMENTS + 1];

    if (topic_validate_pattern(pattern, strlen(pattern), NULL) != 0)
        return -1;
    size_t count = topic_split(pattern, segments);
    path[0] = trie->root;
    for (size_t i = 0; i < count; i++) {
        path[i + 1] = topic_node_child_make(path[i], &segments[i]);
        if (path[i + 1] == NULL) {
            topic_trie_prune(path, segments, i);
            return -1;
        }
    }
    struct topic_node *node = path[count];
    if (topic_node_find_subscriber(node, subscriber) < node->subscriber_count)
        return 1;
    if (topic_node_add_subscriber(node, subscriber) != 0) {
        topic_trie_prune(path, segments, count);
        return -1;
    }
    trie->subscriptions++;
    if (node->subscriber_count == 1)
        trie->patterns++;
    return 0;
}

int topic_trie_remove(struct topic_trie *trie, const char *pattern, void *subscriber)
{
    struct topic_segment segments[TOPIC_MAX_SEGMENTS];
    struct topic_node *path[TOPIC_MAX_SEGMENTS + 1];

    size_t count = topic_split(pattern, segments);
    if (count == 0)
        return 1;
    path[0] = trie->root;
    for (size_t i = 0; i < count; i++) {
        path[i + 1] = topic_node_child(path[i], &segments[i]);
        if (path[i + 1] == NULL)
            return 1;
    }
    struct topic_node *node = path[count];
    size_t index = topic_node_find_subscriber(node, subscriber);
    if (index == node->subscriber_count)
        return 1;
    topic_node_remove_subscriber(node, index);
    trie->subscriptions--;
    if (node->subscriber_count == 0)
        trie->patterns--;
    topic_trie_prune(path, segments, count);
    return 0;
}

/* What one topic_trie_match call walks with. */
struct topic_walk {
    struct topic_segment segments[TOPIC_MAX_SEGMENTS];
    size_t count;
    bool reserved; /* the name starts with '$': no wildcard at depth 0 */
    topic_match_fn fn;
    void *ctx;
    size_t calls;
};

static void topic_walk_notify(const struct topic_node *node, struct topic_walk *walk)
{
    for (size_t i = 0; i < node->subscriber_count; i++)
        walk->fn(node->subscribers[i], walk->ctx);
    walk->calls += node->subscriber_count;
}

/* Visits every node whose pattern prefix matches the name's first `depth`
 * segments. */
static void topic_walk_node(const struct topic_node *node, size_t depth, struct topic_walk *walk)
{
    if (depth == walk->count) {
        topic_walk_notify(node, walk);
        return;
    }
    bool wildcards = depth > 0 || !walk->reserved;
    if (wildcards && node->tail != NULL)
        topic_walk_notify(node->tail, walk);
    if (wildcards && node->star != NULL)
        topic_walk_node(node->star, depth + 1, walk);
    const struct topic_segment *seg = &walk->segments[depth];
    const struct topic_node *child =
        topic_children_find(node, seg->bytes, seg->len, topic_hash(seg->bytes, seg->len));
    if (child != NULL)
        topic_walk_node(child, depth + 1, walk);
}

size_t topic_trie_match(const struct topic_trie *trie, const char *name, topic_match_fn fn,
                        void *ctx)
{
    struct topic_walk walk;
    walk.count = topic_split(name, walk.segments);
    if (walk.count == 0)
        return 0;
    walk.reserved = topic_is_reserved(name);
    walk.fn = fn;
    walk.ctx = ctx;
    walk.calls = 0;
    topic_walk_node(trie->root, 0, &walk);
    return walk.calls;
}

size_t topic_trie_subscriptions(const struct topic_trie *trie)
{
    return trie->subscriptions;
}

size_t topic_trie_patterns(const struct topic_trie *trie)
{
    return trie->patterns;
}
