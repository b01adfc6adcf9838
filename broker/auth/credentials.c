/* SPDX-License-Identifier: MIT */
/*
 * credentials.c: the configured credentials and resolving a presented one
 * (see credentials.h).
 */
#include "auth/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token.h"

#define CREDENTIALS_DIGEST_LEN 32 /* SHA-256 */

struct credentials {
    struct token_verifier *verifier; /* NULL: JWTs are not accepted */
    /* API keys as SHA-256 digests: comparing digests of equal size takes
     * the same time whatever the key's length or content. */
    unsigned char (*api_keys)[CREDENTIALS_DIGEST_LEN];
    size_t api_key_count;
    struct grants anonymous;
    struct grant_list user_patterns; /* templates, "{sub}" not replaced */
};

static int credentials_fail(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return -1;
}

static int credentials_digest(const void *bytes, size_t len,
                              unsigned char digest[CREDENTIALS_DIGEST_LEN])
{
    return EVP_Digest(bytes, len, digest, NULL, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

/* Appends each template of `from` to `to` with "{sub}" replaced by `sub`;
 * templates that cannot take this `sub` are dropped. -1 out of memory. */
static int credentials_add_all(struct grant_list *to, const struct grant_list *from,
                               const char *sub)
{
    for (size_t i = 0; i < from->count; i++) {
        if (grant_list_add(to, from->patterns[i], sub) < 0)
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- loading */

static int credentials_load_verifier(struct credentials *c, const struct config *cfg, char *err,
                                     size_t errlen)
{
    if (cfg->auth_secret != NULL) {
        c->verifier = token_verifier_new_secret(cfg->auth_secret, strlen(cfg->auth_secret));
        if (c->verifier == NULL)
            snprintf(err, errlen, "wsbroker: out of memory");
        return c->verifier != NULL ? 0 : -1;
    }
    if (cfg->auth_public_key_pem == NULL)
        return 0;
    char reason[128];
    c->verifier = token_verifier_new_pem(cfg->auth_public_key_pem, strlen(cfg->auth_public_key_pem),
                                         reason, sizeof(reason));
    if (c->verifier == NULL) {
        snprintf(err, errlen, "wsbroker: --auth-public-key: %s: %s", cfg->auth_public_key, reason);
        return -1;
    }
    return 0;
}

static int credentials_load_api_keys(struct credentials *c, const struct config *cfg)
{
    const struct config_list *keys = &cfg->api_key;
    if (keys->count == 0)
        return 0;
    c->api_keys = calloc(keys->count, sizeof(*c->api_keys));
    if (c->api_keys == NULL)
        return -1;
    for (size_t i = 0; i < keys->count; i++) {
        if (credentials_digest(keys->items[i], strlen(keys->items[i]), c->api_keys[i]) != 0)
            return -1;
        c->api_key_count++;
    }
    return 0;
}

/* Copies the items of a configuration list (patterns already checked by
 * config_load) into a grant list, as they are. */
static int credentials_copy_list(struct grant_list *to, const struct config_list *from)
{
    for (size_t i = 0; i < from->count; i++) {
        if (grant_list_append(to, from->items[i]) != 0)
            return -1;
    }
    return 0;
}

static int credentials_load_grants(struct credentials *c, const struct config *cfg)
{
    c->anonymous.everything = !config_auth_configured(cfg);
    if (credentials_copy_list(&c->anonymous.subscribe, &cfg->anonymous) != 0 ||
        credentials_copy_list(&c->anonymous.publish, &cfg->anonymous_publish) != 0 ||
        credentials_copy_list(&c->user_patterns, &cfg->user_pattern) != 0)
        return -1;
    return 0;
}

int credentials_load(struct credentials **out, const struct config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    struct credentials *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "wsbroker: out of memory");
        return -1;
    }
    if (credentials_load_verifier(c, cfg, err, errlen) != 0) {
        credentials_free(c);
        return -1;
    }
    if (credentials_load_api_keys(c, cfg) != 0 || credentials_load_grants(c, cfg) != 0) {
        snprintf(err, errlen, "wsbroker: out of memory");
        credentials_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void credentials_free(struct credentials *c)
{
    if (c == NULL)
        return;
    token_verifier_free(c->verifier);
    free(c->api_keys);
    grants_free(&c->anonymous);
    grant_list_free(&c->user_patterns);
    free(c);
}

const struct grants *credentials_anonymous(const struct credentials *c)
{
    return &c->anonymous;
}

/* ------------------------------------------------------------- resolving */

/* Whether `presented` is one of the API keys. Every key is compared, so the
 * time taken does not say which one matched. */
static bool credentials_is_api_key(const struct credentials *c, const char *presented, size_t len)
{
    unsigned char digest[CREDENTIALS_DIGEST_LEN];
    if (c->api_key_count == 0 || credentials_digest(presented, len, digest) != 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < c->api_key_count; i++)
        found |= CRYPTO_memcmp(digest, c->api_keys[i], sizeof(digest)) == 0;
    return found;
}

/* The principal of verified claims; takes `claims->sub`. */
static int credentials_from_claims(const struct credentials *c, struct claims *claims,
                                   struct principal *out)
{
    out->kind = PRINCIPAL_TOKEN;
    out->user = claims->sub;
    claims->sub = NULL;
    out->expires = claims->exp;
    struct grants *g = &out->grants;
    if (credentials_add_all(&g->subscribe, &c->anonymous.subscribe, NULL) != 0 ||
        credentials_add_all(&g->subscribe, &c->user_patterns, out->user) != 0 ||
        credentials_add_all(&g->subscribe, &claims->subscribe, out->user) != 0 ||
        credentials_add_all(&g->publish, &c->anonymous.publish, NULL) != 0 ||
        credentials_add_all(&g->publish, &claims->publish, out->user) != 0)
        return -1;
    return 0;
}

int credentials_resolve(const struct credentials *c, const char *presented, size_t len, int64_t now,
                        struct principal *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return credentials_fail(why, "empty credential");
    if (len > TOKEN_MAX_LEN)
        return credentials_fail(why, "credential longer than 8192 bytes");
    if (credentials_is_api_key(c, presented, len)) {
        out->kind = PRINCIPAL_API_KEY;
        out->grants.everything = true;
        return 0;
    }
    if (memchr(presented, '.', len) == NULL)
        return credentials_fail(why, "not a known API key nor a JWT");
    if (c->verifier == NULL)
        return credentials_fail(why, "JWTs are not accepted (no secret or public key configured)");
    struct claims claims;
    if (token_verify(c->verifier, presented, len, now, &claims, why) != 0)
        return -1;
    int rc = credentials_from_claims(c, &claims, out);
    claims_free(&claims);
    if (rc != 0) {
        principal_free(out);
        return credentials_fail(why, "out of memory");
    }
    return 0;
}

void principal_free(struct principal *p)
{
    free(p->user);
    grants_free(&p->grants);
    memset(p, 0, sizeof(*p));
}
