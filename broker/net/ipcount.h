/* SPDX-License-Identifier: MIT */
/*
 * ipcount.h: open WebSocket and SSE connections per client address, for
 * --max-conns-per-ip (docs/auth.md, abuse limits).
 *
 * Owns: a table from address text to its count of open streams. An
 * address leaves the table when its last stream closes, so the table holds
 * only addresses with open streams. Service thread only.
 */
#ifndef WSB_NET_IPCOUNT_H
#define WSB_NET_IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>

/* Room for an address as lws_get_peer_simple writes it. */
#define IPCOUNT_ADDR_MAX 64

struct ipcount_entry;

struct ipcount {
    long max; /* streams per address; 0: no bound, nothing counted */
    struct ipcount_entry **buckets;
    size_t n_buckets;
};

/* 0, or -1 when out of memory. */
int ipcount_init(struct ipcount *ic, long max);
void ipcount_free(struct ipcount *ic);

/* Whether one more stream from `addr` would pass the bound. */
bool ipcount_full(const struct ipcount *ic, const char *addr);

/* A stream from `addr` opened / closed. Out of memory: not counted. */
void ipcount_add(struct ipcount *ic, const char *addr);
void ipcount_remove(struct ipcount *ic, const char *addr);

#endif
