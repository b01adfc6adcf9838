/* SPDX-License-Identifier: MIT */
/*
 * peers.c: per-address body budgets and publish rate (see peers.h).
 *
 * The rate bucket is kept as one time, the moment it is full again (the
 * generic cell rate algorithm): a publish adds one interval to it, and is
 * refused when that would put it more than a full bucket ahead of now.
 * One number per address, and an address whose bucket is full again holds
 * nothing worth keeping.
 */
#include "http/peers.h"

#include <stdio.h>
#include <string.h>

#define PEERS_WINDOW 16

void peers_init(struct peers *peers, size_t body_budget, size_t body_budget_per_peer)
{
    memset(peers, 0, sizeof(*peers));
    peers->body_budget = body_budget;
    peers->body_budget_per_peer = body_budget_per_peer;
}

/* FNV-1a: spreads addresses that differ in their last digits. */
static uint32_t peers_hash(const char *addr)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)addr; *c; c++)
        h = (h ^ *c) * 16777619u;
    return h;
}

/* A slot that can go to a new address: free, or holding nothing that
 * matters (no body bytes, a full bucket). */
static bool peers_slot_idle(const struct peer *peer, int64_t now_us)
{
    return peer->addr[0] == '\0' || (peer->body_bytes == 0 && peer->rate_full_us <= now_us);
}

int peers_find(struct peers *peers, const char *addr, int64_t now_us)
{
    uint32_t start = peers_hash(addr);
    int idle = -1, oldest = -1;
    for (uint32_t i = 0; i < PEERS_WINDOW; i++) {
        int slot = (int)((start + i) & (PEERS_SLOTS - 1));
        struct peer *peer = &peers->slots[slot];
        if (strcmp(peer->addr, addr) == 0 && peer->addr[0] != '\0')
            return slot;
        if (idle < 0 && peers_slot_idle(peer, now_us))
            idle = slot;
        if (peer->body_bytes == 0 &&
            (oldest < 0 || peer->rate_full_us < peers->slots[oldest].rate_full_us))
            oldest = slot;
    }
    int slot = idle >= 0 ? idle : oldest;
    if (slot < 0)
        return -1;
    struct peer *peer = &peers->slots[slot];
    snprintf(peer->addr, sizeof(peer->addr), "%s", addr);
    peer->body_bytes = 0;
    peer->rate_full_us = 0;
    return slot;
}

enum peers_verdict peers_reserve_body(struct peers *peers, int slot, size_t bytes)
{
    struct peer *peer = &peers->slots[slot];
    if (bytes > peers->body_budget - peers->body_bytes)
        return PEERS_BUDGET_SPENT;
    if (bytes > peers->body_budget_per_peer - peer->body_bytes)
        return PEERS_SHARE_SPENT;
    peer->body_bytes += bytes;
    peers->body_bytes += bytes;
    return PEERS_OK;
}

void peers_release_body(struct peers *peers, int slot, size_t bytes)
{
    peers->slots[slot].body_bytes -= bytes;
    peers->body_bytes -= bytes;
}

bool peers_take_publish(struct peers *peers, int slot, long rate, int64_t now_us)
{
    struct peer *peer = &peers->slots[slot];
    int64_t interval_us = 1000000 / rate > 0 ? 1000000 / rate : 1;
    int64_t full_us = peer->rate_full_us > now_us ? peer->rate_full_us : now_us;
    if (full_us + interval_us - now_us > (int64_t)rate * interval_us)
        return false;
    peer->rate_full_us = full_us + interval_us;
    return true;
}
