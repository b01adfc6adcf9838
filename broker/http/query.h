/* SPDX-License-Identifier: MIT */
/*
 * query.h: arguments of the request's query string (?topic=..&since=..).
 *
 * A leaf: lws keeps the arguments; this only copies them out and reads
 * numbers strictly (no sign, no trailing text).
 */
#ifndef WSB_QUERY_H
#define WSB_QUERY_H

#include <stdint.h>

#include <libwebsockets.h>

/* Copies the value of `name` (first occurrence); -1 when absent. */
int query_arg(struct lws *wsi, const char *name, char *out, int outlen);

/* Reads an unsigned decimal argument; 0 absent, 1 present, -1 malformed. */
int query_arg_u64(struct lws *wsi, const char *name, uint64_t *out);

/* Parses `text` as an unsigned decimal; 0 or -1 when malformed. */
int query_parse_u64(const char *text, uint64_t *out);

#endif
