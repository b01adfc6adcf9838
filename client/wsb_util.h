/* SPDX-License-Identifier: MIT */
/*
 * wsb_util.h: the pieces of libwsb, the wsb tool and its bench that only
 * clients need: URL parsing and the per-client PRNG. The rules clients
 * share with the broker (topics, JSON scanning and quoting, base64, the
 * binary frame, clocks) are in common/. Nothing here allocates; nothing
 * here has state.
 *
 * Not part of the public API: the symbols are hidden in the shared library
 * and only the static archive and the tools use them.
 */
#ifndef WSB_UTIL_H
#define WSB_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define WSB_DEFAULT_URL "ws://127.0.0.1:8080/ws"
#define WSB_URL_HOST_MAX 256
#define WSB_URL_PATH_MAX 2048

struct wsb_url {
    int tls;                     /* wss:// */
    char host[WSB_URL_HOST_MAX]; /* without brackets for IPv6 */
    int port;
    char path[WSB_URL_PATH_MAX]; /* starts with '/', includes any query */
};

/* Parses ws://HOST[:PORT][/PATH][?QUERY] or wss://...; 0 or -1 with a reason
 * in err. */
int wsb_url_parse(const char *url, struct wsb_url *out, char *err, size_t errlen);

/* Appends "token=<url-encoded token>" to path as a query parameter. 0 or -1
 * when it does not fit. */
int wsb_url_add_token(char *path, size_t size, const char *token);

/* A splitmix64 generator: seeded per client, no global state. */
uint64_t wsb_prng_next(uint64_t *state);

#endif
