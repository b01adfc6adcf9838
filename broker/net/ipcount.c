/* SPDX-License-Identifier: MIT */
/*
 * ipcount.c: open streams per client address (see ipcount.h). A chained
 * hash table: an upgrade looks its address up once, a close once; nothing
 * runs per message.
 */
#include "net/ipcount.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define IPCOUNT_BUCKETS 4096

struct ipcount_entry {
    struct ipcount_entry *next;
    long count;
    char addr[IPCOUNT_ADDR_MAX];
};

int ipcount_init(struct ipcount *ic, long max)
{
    memset(ic, 0, sizeof(*ic));
    ic->max = max;
    if (max <= 0)
        return 0;
    ic->buckets = calloc(IPCOUNT_BUCKETS, sizeof(*ic->buckets));
    ic->n_buckets = IPCOUNT_BUCKETS;
    return ic->buckets ? 0 : -1;
}

void ipcount_free(struct ipcount *ic)
{
    for (size_t i = 0; i < ic->n_buckets; i++) {
        struct ipcount_entry *e = ic->buckets[i];
        while (e) {
            struct ipcount_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(ic->buckets);
    memset(ic, 0, sizeof(*ic));
}

/* FNV-1a of the address text. */
static struct ipcount_entry **ipcount_slot(const struct ipcount *ic, const char *addr)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        h = (h ^ *p) * 16777619u;
    struct ipcount_entry **slot = &ic->buckets[h % ic->n_buckets];
    while (*slot && strcmp((*slot)->addr, addr) != 0)
        slot = &(*slot)->next;
    return slot;
}

bool ipcount_full(const struct ipcount *ic, const char *addr)
{
    if (!ic->buckets)
        return false;
    struct ipcount_entry *e = *ipcount_slot(ic, addr);
    return e && e->count >= ic->max;
}

void ipcount_add(struct ipcount *ic, const char *addr)
{
    if (!ic->buckets)
        return;
    struct ipcount_entry **slot = ipcount_slot(ic, addr);
    if (!*slot) {
        *slot = calloc(1, sizeof(**slot));
        if (!*slot)
            return;
        snprintf((*slot)->addr, sizeof((*slot)->addr), "%s", addr);
    }
    (*slot)->count++;
}

void ipcount_remove(struct ipcount *ic, const char *addr)
{
    if (!ic->buckets)
        return;
    struct ipcount_entry **slot = ipcount_slot(ic, addr);
    struct ipcount_entry *e = *slot;
    if (!e || --e->count > 0)
        return;
    *slot = e->next;
    free(e);
}
