/* SPDX-License-Identifier: MIT */
/*
 * peers.h: what the HTTP side remembers per client address
 * (docs/limits.md): the request body bytes each address holds, within a
 * budget for all of them and a share for one, and a publish rate bucket
 * per address for --max-rate.
 *
 * Owns: `struct peers`, a table of fixed size, so that any number of
 * addresses costs the same memory. An address is found in a short window
 * of slots; when the window is full, a slot that holds no body bytes is
 * taken over (forgetting that address's rate bucket early), and when every
 * slot of the window holds body bytes the new address is refused. A slot
 * that holds body bytes is never taken over, so its index stays valid
 * until they are released.
 */
#ifndef WSB_HTTP_PEERS_H
#define WSB_HTTP_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEERS_SLOTS 1024 /* a power of two */
#define PEERS_ADDR_MAX 64

struct peer {
    char addr[PEERS_ADDR_MAX]; /* "" when free */
    size_t body_bytes;         /* reserved by bodies in progress */
    int64_t rate_full_us;      /* when its rate bucket is full again */
};

struct peers {
    struct peer slots[PEERS_SLOTS];
    size_t body_bytes;           /* reserved, all addresses */
    size_t body_budget;          /* --http-body-budget */
    size_t body_budget_per_peer; /* --http-body-budget-per-ip */
};

enum peers_verdict {
    PEERS_OK,
    PEERS_BUDGET_SPENT, /* every address together holds the budget */
    PEERS_SHARE_SPENT,  /* this address holds its share */
};

void peers_init(struct peers *peers, size_t body_budget, size_t body_budget_per_peer);

/* The slot of `addr` (taken for it when new), or -1 when none can be. */
int peers_find(struct peers *peers, const char *addr, int64_t now_us);

/* Reserves `bytes` of body for the address in `slot`, or says which
 * budget is spent. */
enum peers_verdict peers_reserve_body(struct peers *peers, int slot, size_t bytes);
void peers_release_body(struct peers *peers, int slot, size_t bytes);

/* Takes one publish from the address's bucket: `rate` per second, a burst
 * of `rate`. False when the bucket is empty. */
bool peers_take_publish(struct peers *peers, int slot, long rate, int64_t now_us);

#endif
