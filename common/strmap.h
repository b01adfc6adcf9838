/* SPDX-License-Identifier: MIT */
/*
 * strmap.h: a string-keyed map (open addressing) and the one string hash.
 *
 * Owns: the slot array of a map and the hash function every string table of
 * the project uses (the store's topic counts, the topic trie's children).
 * Why a shared one: two hand-written hash tables drift apart in their bugs;
 * one small map with one hash keeps the rules (power-of-two size, at most
 * half full, backward-shift removal) in a single place.
 *
 * The map stores pointers: a key is a byte string the caller keeps alive
 * while it is in the map (typically inside the value it maps to), and a
 * value is an opaque non-NULL pointer. Nothing is copied, so a lookup
 * allocates nothing and an entry's address never changes when the map
 * grows. The map holds the key's hash in its slot, so a probe compares
 * hashes before it touches a key.
 *
 * The struct is embeddable; its fields are written only by strmap.c.
 */
#ifndef WSB_STRMAP_H
#define WSB_STRMAP_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over `len` bytes, with the high half folded into the low bits that
 * a power-of-two table indexes by. Inline: the topic trie hashes every
 * segment of every published name with it. */
static inline uint64_t strmap_hash(const char *bytes, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)bytes[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 32);
}

struct strmap_slot {
    uint64_t hash;
    const char *key; /* NULL: a free slot */
    size_t len;
    void *value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap;   /* 0 or a power of two, at least twice count */
    size_t count; /* keys in the map */
};

/* An empty map (all zero, as static or calloc'ed memory already is). */
void strmap_init(struct strmap *map);

/* Frees the slot array; keys and values stay the caller's. */
void strmap_free(struct strmap *map);

/* The value of `key`, or NULL. */
void *strmap_get(const struct strmap *map, const char *key, size_t len);

/* Maps `key` (not in the map yet) to `value`. 0, or -1 when out of memory
 * (the map is unchanged). */
int strmap_add(struct strmap *map, const char *key, size_t len, void *value);

/* Takes `key` out of the map; returns its value, or NULL when it was not
 * there. The slot array shrinks when it has become mostly empty. */
void *strmap_remove(struct strmap *map, const char *key, size_t len);

/* Iteration: start with *pos = 0; returns the next value, or NULL at the
 * end. The map must not change during the walk. */
void *strmap_next(const struct strmap *map, size_t *pos);

#endif
