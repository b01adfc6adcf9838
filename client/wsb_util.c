/* SPDX-License-Identifier: MIT */
/*
 * wsb_util.c: URL parsing and the PRNG (see wsb_util.h).
 */
#include "wsb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static int url_scheme(const char *url, int *tls, const char **rest)
{
    if (strncmp(url, "ws://", 5) == 0) {
        *tls = 0;
        *rest = url + 5;
        return 0;
    }
    if (strncmp(url, "wss://", 6) == 0) {
        *tls = 1;
        *rest = url + 6;
        return 0;
    }
    return -1;
}

/* Splits "host[:port]" or "[v6]:port" from p[0..len). */
static int url_authority(const char *p, size_t len, struct wsb_url *out)
{
    const char *host = p, *port = NULL;
    size_t hostlen = len;

    if (len && p[0] == '[') {
        const char *close = memchr(p, ']', len);
        if (!close)
            return -1;
        host = p + 1;
        hostlen = (size_t)(close - host);
        if (close + 1 < p + len) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', len);
        if (colon) {
            hostlen = (size_t)(colon - p);
            port = colon + 1;
        }
    }
    if (!hostlen || hostlen >= sizeof(out->host))
        return -1;
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    if (port) {
        size_t plen = (size_t)(p + len - port);
        char buf[8];
        char *end;
        if (!plen || plen >= sizeof(buf))
            return -1;
        memcpy(buf, port, plen);
        buf[plen] = '\0';
        long n = strtol(buf, &end, 10);
        if (*end || n < 1 || n > 65535)
            return -1;
        out->port = (int)n;
    }
    return 0;
}

int wsb_url_parse(const char *url, struct wsb_url *out, char *err, size_t errlen)
{
    const char *rest;

    memset(out, 0, sizeof(*out));
    if (!url || url_scheme(url, &out->tls, &rest) < 0) {
        set_err(err, errlen, "URL must start with ws:// or wss://");
        return -1;
    }
    out->port = out->tls ? 443 : 80;
    size_t authlen = strcspn(rest, "/?#");
    if (url_authority(rest, authlen, out) < 0) {
        set_err(err, errlen, "URL has a bad host or port");
        return -1;
    }
    const char *path = rest + authlen;
    size_t pathlen = strcspn(path, "#");
    if (pathlen + 2 > sizeof(out->path)) {
        set_err(err, errlen, "URL path too long");
        return -1;
    }
    if (pathlen == 0 || path[0] != '/')
        out->path[0] = '/';
    memcpy(out->path + strlen(out->path), path, pathlen);
    return 0;
}

int wsb_url_add_token(char *path, size_t size, const char *token)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);

    const char *sep = strchr(path, '?') ? "&token=" : "?token=";
    if (n + strlen(sep) + 1 > size)
        return -1;
    memcpy(path + n, sep, strlen(sep) + 1);
    n += strlen(sep);
    for (const unsigned char *t = (const unsigned char *)token; *t; t++) {
        int plain = (*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') ||
                    (*t >= '0' && *t <= '9') || *t == '-' || *t == '_' || *t == '.' || *t == '~';
        if (n + (plain ? 1 : 3) + 1 > size)
            return -1;
        if (plain) {
            path[n++] = (char)*t;
        } else {
            path[n++] = '%';
            path[n++] = hex[*t >> 4];
            path[n++] = hex[*t & 15];
        }
    }
    path[n] = '\0';
    return 0;
}

uint64_t wsb_prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
