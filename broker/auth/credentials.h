/* SPDX-License-Identifier: MIT */
/*
 * credentials.h: the broker's credentials from its configuration, and what
 * a credential a client presents resolves to (docs/auth.md).
 *
 * Owns: the JWT verifier, the API keys (kept only as SHA-256 digests), the
 * anonymous grants and the per-user patterns, all fixed at start and
 * read-only afterwards (so any thread may resolve). A connection or an HTTP
 * request starts with credentials_anonymous(); a presented credential (the
 * `auth` op, `?token=`, `Authorization: Bearer`) goes through
 * credentials_resolve() once, and the result's grants are then checked at
 * each subscribe, publish, history and presence (grants.h).
 */
#ifndef WSB_AUTH_CREDENTIALS_H
#define WSB_AUTH_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

#include "auth/grants.h"
#include "config/config.h"

struct credentials;

enum principal_kind {
    PRINCIPAL_API_KEY, /* allows everything, carries no user */
    PRINCIPAL_TOKEN,   /* a verified JWT */
};

/* Who a resolved credential is and what it may do. */
struct principal {
    enum principal_kind kind;
    char *user;      /* the token's `sub` (`from` of its messages); NULL otherwise */
    int64_t expires; /* the token's `exp`, seconds since the epoch; 0: never */
    struct grants grants;
};

/* The auth options of `cfg` checked across fields (run after config_load):
 * 0, or -1 with one line in `err` ("wsbroker: --user-pattern: needs
 * --auth-secret or --auth-public-key"), for the caller to print and exit 2. */
int credentials_check_config(const struct config *cfg, char *err, size_t errlen);

/* Builds the credentials of `cfg` (as config_load left it: secret files
 * read, patterns checked). Without auth configured, anonymous grants allow
 * everything. 0, or -1 with one line in `err` ("wsbroker: --auth-public-key:
 * FILE: not a PEM public key"), for the caller to print and exit 2. */
int credentials_load(struct credentials **out, const struct config *cfg, char *err, size_t errlen);

void credentials_free(struct credentials *c);

/* What a connection or request without credential may do; owned by `c`. */
const struct grants *credentials_anonymous(const struct credentials *c);

/* Resolves a presented credential (len bytes): an API key, else a JWT
 * verified at `now` (seconds since the epoch). A JWT's grants are the
 * anonymous ones, the user patterns and its own claims, "{sub}" replaced by
 * its `sub`. 0, or -1 with a static reason in *why (never key material)
 * and `out` zeroed. */
int credentials_resolve(const struct credentials *c, const char *presented, size_t len, int64_t now,
                        struct principal *out, const char **why);

/* Frees what `p` holds and zeroes it; harmless on a zeroed struct. */
void principal_free(struct principal *p);

#endif
