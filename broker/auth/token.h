/* SPDX-License-Identifier: MIT */
/*
 * token.h: JSON Web Tokens (RFC 7519, compact serialization) verified with
 * OpenSSL (docs/auth.md).
 *
 * Owns: the verifier (one algorithm and its key, fixed at start) and the
 * checks that come before the claims (claims.h): size, structure,
 * base64url, header and signature. The configured algorithm is the
 * only one accepted: a token naming another, or "none", is refused before
 * its signature is looked at, so a token signed with HMAC over the RSA
 * public key (the key-confusion attack) never reaches HMAC. Every refusal
 * comes with a static reason for the `error` message and the log; none of
 * them holds key material.
 */
#ifndef WSB_AUTH_TOKEN_H
#define WSB_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "auth/claims.h"

/* Longest token looked at: longer ones are refused before any decoding. */
#define TOKEN_MAX_LEN 8192
/* Shortest HS256 secret: the hash's size (RFC 7518 section 3.2); the
 * configuration refuses shorter ones. */
#define TOKEN_MIN_SECRET 32

enum token_alg { TOKEN_HS256, TOKEN_RS256, TOKEN_ES256 };

struct token_verifier;

/* An HS256 verifier over a copy of the secret; NULL when out of memory. */
struct token_verifier *token_verifier_new_secret(const void *secret, size_t len);

/* An RS256 or ES256 verifier from a PEM public key, the algorithm following
 * from the key's type (RSA of at least 2048 bits, or EC on P-256). NULL
 * with a one-line reason in `err` otherwise. */
struct token_verifier *token_verifier_new_pem(const char *pem, size_t len, char *err,
                                              size_t errlen);

void token_verifier_free(struct token_verifier *v);

enum token_alg token_verifier_alg(const struct token_verifier *v);

/* "HS256", "RS256" or "ES256". */
const char *token_alg_name(enum token_alg alg);

/* Verifies `token` (len bytes) at time `now` (seconds since the epoch; the
 * caller's clock, so tests choose it) and fills `out`. 0, or -1 with a
 * static reason in *why and `out` zeroed. */
int token_verify(const struct token_verifier *v, const char *token, size_t len, int64_t now,
                 struct claims *out, const char **why);

#endif
