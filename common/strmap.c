/* SPDX-License-Identifier: MIT */
/*
 * strmap.c: the string-keyed map (see strmap.h).
 *
 * Linear probing in a power-of-two slot array kept at most half full, so a
 * free slot ends every probe. Removal shifts the entries that follow back
 * into the hole instead of leaving tombstones, so a map that sees many adds
 * and removes (topics that come and go) never slows down.
 */
#include "common/strmap.h"

#include <stdlib.h>
#include <string.h>

#define STRMAP_MIN_CAP 16

void strmap_init(struct strmap *map)
{
    map->slots = NULL;
    map->cap = 0;
    map->count = 0;
}

void strmap_free(struct strmap *map)
{
    free(map->slots);
    strmap_init(map);
}

/* The slot holding `key`, or the free slot where a probe for it ends. */
static struct strmap_slot *strmap_probe(const struct strmap *map, const char *key, size_t len,
                                        uint64_t hash)
{
    size_t mask = map->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct strmap_slot *slot = &map->slots[i];
        if (!slot->key ||
            (slot->hash == hash && slot->len == len && memcmp(slot->key, key, len) == 0))
            return slot;
    }
}

void *strmap_get(const struct strmap *map, const char *key, size_t len)
{
    if (map->cap == 0)
        return NULL;
    return strmap_probe(map, key, len, strmap_hash(key, len))->value;
}

/* Moves every entry into a new slot array of `cap` slots. */
static int strmap_resize(struct strmap *map, size_t cap)
{
    struct strmap_slot *old = map->slots;
    size_t old_cap = map->cap;
    map->slots = calloc(cap, sizeof(*map->slots));
    if (!map->slots) {
        map->slots = old;
        return -1;
    }
    map->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key)
            *strmap_probe(map, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

int strmap_add(struct strmap *map, const char *key, size_t len, void *value)
{
    if ((map->count + 1) * 2 > map->cap &&
        strmap_resize(map, map->cap ? map->cap * 2 : STRMAP_MIN_CAP) != 0)
        return -1;
    uint64_t hash = strmap_hash(key, len);
    struct strmap_slot *slot = strmap_probe(map, key, len, hash);
    *slot = (struct strmap_slot){.hash = hash, .key = key, .len = len, .value = value};
    map->count++;
    return 0;
}

/* Empties slot `hole`, then walks the run after it: an entry whose home
 * slot is not between the hole and itself moves back into the hole. */
static void strmap_close_hole(struct strmap *map, size_t hole)
{
    size_t mask = map->cap - 1;
    map->slots[hole].key = NULL;
    map->slots[hole].value = NULL;
    for (size_t i = (hole + 1) & mask; map->slots[i].key; i = (i + 1) & mask) {
        size_t home = map->slots[i].hash & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            map->slots[hole] = map->slots[i];
            map->slots[i].key = NULL;
            map->slots[i].value = NULL;
            hole = i;
        }
    }
}

void *strmap_remove(struct strmap *map, const char *key, size_t len)
{
    if (map->cap == 0)
        return NULL;
    struct strmap_slot *slot = strmap_probe(map, key, len, strmap_hash(key, len));
    void *value = slot->value;
    if (!slot->key)
        return NULL;
    strmap_close_hole(map, (size_t)(slot - map->slots));
    map->count--;
    if (map->count == 0)
        strmap_free(map);
    else if (map->cap > STRMAP_MIN_CAP && map->count * 8 < map->cap)
        (void)strmap_resize(map, map->cap / 2); /* on failure the larger array stays */
    return value;
}

void *strmap_next(const struct strmap *map, size_t *pos)
{
    while (*pos < map->cap) {
        const struct strmap_slot *slot = &map->slots[(*pos)++];
        if (slot->key)
            return slot->value;
    }
    return NULL;
}
