/* SPDX-License-Identifier: MIT */
/*
 * query.c: query string arguments (see query.h).
 */
#include "http/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int query_arg(struct lws *wsi, const char *name, char *out, int outlen)
{
    char key[32];
    snprintf(key, sizeof(key), "%s=", name);
    /* lws copies the whole "name=value" and points past the "name=". */
    const char *value = lws_get_urlarg_by_name(wsi, key, out, outlen);
    if (!value)
        return -1;
    memmove(out, value, strlen(value) + 1);
    return 0;
}

int query_parse_u64(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (!text[0] || *end || text[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int query_arg_u64(struct lws *wsi, const char *name, uint64_t *out)
{
    char buf[32];
    if (query_arg(wsi, name, buf, sizeof(buf)) < 0)
        return 0;
    return query_parse_u64(buf, out) < 0 ? -1 : 1;
}
