/* SPDX-License-Identifier: MIT */
/*
 * claims.h: the claims set of a JSON Web Token, as the broker reads it
 * (docs/auth.md).
 *
 * Owns: which claims count and what makes a claims set unacceptable. Read:
 * `sub` (the user), `exp` (required, no leeway), `nbf` (a few seconds of
 * leeway), `subscribe` and `publish` (arrays of patterns, "{sub}" allowed).
 * Other claims are ignored. An entry of `subscribe` or `publish` that is
 * not a valid pattern makes the whole token invalid, so that an issuer's
 * mistake shows at once rather than as a grant silently missing.
 */
#ifndef WSB_AUTH_CLAIMS_H
#define WSB_AUTH_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include "auth/grants.h"

/* Seconds `nbf` may lie in the future (clock skew between the issuer and
 * the broker). `exp` has no leeway: it is when the grants end. */
#define CLAIMS_NBF_LEEWAY 5
/* Longest `sub` accepted, in bytes. */
#define CLAIMS_MAX_SUB 255
/* Entries a `subscribe` or `publish` claim may hold. */
#define CLAIMS_MAX_GRANTS 64

/* What a verified token says. The lists hold the claim's templates as given
 * (each valid per grants_template_valid, "{sub}" not yet replaced). */
struct claims {
    char *sub;   /* NULL when absent */
    int64_t exp; /* seconds since the epoch */
    struct grant_list subscribe;
    struct grant_list publish;
};

/* Parses and checks the claims set (JSON, len bytes) at time `now`
 * (seconds since the epoch). 0, or -1 with a static reason in *why and
 * `out` zeroed. */
int claims_parse(const char *json, size_t len, int64_t now, struct claims *out, const char **why);

/* Frees what `c` holds and zeroes it; harmless on a zeroed struct. */
void claims_free(struct claims *c);

#endif
