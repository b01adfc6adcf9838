/* SPDX-License-Identifier: MIT */
/*
 * token.c: JSON Web Token verification with OpenSSL (see token.h).
 *
 * A compact token is three base64url segments, header.payload.signature;
 * the signature covers the bytes "header.payload" as sent. The checks run
 * cheapest first, and nothing is decoded before the size and the shape are
 * known good: size, three segments, header (alg must be the configured one,
 * no `crit`), signature, then the claims (claims.c). The signature is
 * checked before the claims are parsed, so an attacker's JSON only ever
 * reaches jansson in the header.
 */
#include "auth/token.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

/* SHA-256: the HMAC's size, and the size of each of r and s in ES256. */
#define TOKEN_HASH_LEN 32
/* Smallest RSA key accepted (RFC 7518 section 3.3). */
#define TOKEN_MIN_RSA_BITS 2048

struct token_verifier {
    enum token_alg alg;
    unsigned char *secret; /* HS256 */
    size_t secret_len;
    EVP_PKEY *key; /* RS256, ES256 */
};

static int token_fail(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return -1;
}

/* ---------------------------------------------------------- verifiers */

struct token_verifier *token_verifier_new_secret(const void *secret, size_t len)
{
    struct token_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->secret = malloc(len > 0 ? len : 1)) == NULL) {
        free(v);
        return NULL;
    }
    memcpy(v->secret, secret, len);
    v->secret_len = len;
    v->alg = TOKEN_HS256;
    return v;
}

/* The algorithm a public key verifies, or -1 with `err` set. */
static int token_alg_of_key(EVP_PKEY *key, char *err, size_t errlen)
{
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(key) < TOKEN_MIN_RSA_BITS) {
            snprintf(err, errlen, "RSA key shorter than %d bits", TOKEN_MIN_RSA_BITS);
            return -1;
        }
        return TOKEN_RS256;
    }
    char group[64] = "";
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
        strcmp(group, "prime256v1") == 0)
        return TOKEN_ES256;
    snprintf(err, errlen, "not an RSA or P-256 public key");
    return -1;
}

struct token_verifier *token_verifier_new_pem(const char *pem, size_t len, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key == NULL) {
        snprintf(err, errlen, "not a PEM public key");
        return NULL;
    }
    int alg = token_alg_of_key(key, err, errlen);
    struct token_verifier *v = alg >= 0 ? calloc(1, sizeof(*v)) : NULL;
    if (v == NULL) {
        if (alg >= 0)
            snprintf(err, errlen, "out of memory");
        EVP_PKEY_free(key);
        return NULL;
    }
    v->alg = (enum token_alg)alg;
    v->key = key;
    return v;
}

void token_verifier_free(struct token_verifier *v)
{
    if (v == NULL)
        return;
    if (v->secret != NULL)
        OPENSSL_cleanse(v->secret, v->secret_len);
    free(v->secret);
    EVP_PKEY_free(v->key);
    free(v);
}

enum token_alg token_verifier_alg(const struct token_verifier *v)
{
    return v->alg;
}

const char *token_alg_name(enum token_alg alg)
{
    switch (alg) {
    case TOKEN_HS256:
        return "HS256";
    case TOKEN_RS256:
        return "RS256";
    case TOKEN_ES256:
        return "ES256";
    }
    return "?";
}

/* ---------------------------------------------------------- base64url */

static bool token_is_base64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Decodes unpadded base64url (RFC 7515 section 2) through the strict
 * base64 decoder, after mapping the alphabet: one rule for what decodes. */
static int token_base64url_decode(const char *text, size_t len, unsigned char **out,
                                  size_t *out_len)
{
    char standard[TOKEN_MAX_LEN];
    if (len == 0 || len > sizeof(standard))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!token_is_base64url(text[i]))
            return -1;
        standard[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    }
    return base64_decode_strict(standard, len, out, out_len);
}

/* ------------------------------------------------------------- header */

/* The header must name exactly the configured algorithm and carry no
 * `crit` (no extension is understood, RFC 7515 section 4.1.11). */
static int token_check_header(const struct token_verifier *v, const char *text, size_t len,
                              const char **why)
{
    unsigned char *bytes;
    size_t bytes_len;
    if (token_base64url_decode(text, len, &bytes, &bytes_len) != 0)
        return token_fail(why, "token header is not base64url");
    json_t *header = json_loadb((const char *)bytes, bytes_len, JSON_REJECT_DUPLICATES, NULL);
    free(bytes);
    if (!json_is_object(header)) {
        json_decref(header);
        return token_fail(why, "token header is not a JSON object");
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    int rc = 0;
    if (alg == NULL)
        rc = token_fail(why, "token header has no alg");
    else if (strcmp(alg, token_alg_name(v->alg)) != 0)
        rc = token_fail(why, "token alg is not the one configured");
    else if (json_object_get(header, "crit") != NULL)
        rc = token_fail(why, "token header has crit");
    json_decref(header);
    return rc;
}

/* ---------------------------------------------------------- signature */

static bool token_hmac_ok(const struct token_verifier *v, const char *input, size_t input_len,
                          const unsigned char *sig, size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const unsigned char *)input, input_len,
             mac, &mac_len) == NULL)
        return false;
    return sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
}

static bool token_digest_verify_ok(EVP_PKEY *key, const char *input, size_t input_len,
                                   const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* An ES256 signature is r||s, 32 bytes each (RFC 7518 section 3.4);
 * OpenSSL verifies the DER form. */
static bool token_ecdsa_ok(EVP_PKEY *key, const char *input, size_t input_len,
                           const unsigned char *sig, size_t sig_len)
{
    if (sig_len != 2 * TOKEN_HASH_LEN)
        return false;
    ECDSA_SIG *ecdsa = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, TOKEN_HASH_LEN, NULL);
    BIGNUM *s = BN_bin2bn(sig + TOKEN_HASH_LEN, TOKEN_HASH_LEN, NULL);
    if (ecdsa == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(ecdsa, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(ecdsa);
        return false;
    }
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(ecdsa, &der);
    ECDSA_SIG_free(ecdsa);
    bool ok = der_len > 0 && token_digest_verify_ok(key, input, input_len, der, (size_t)der_len);
    OPENSSL_free(der);
    return ok;
}

static int token_check_signature(const struct token_verifier *v, const char *input,
                                 size_t input_len, const char *text, size_t len, const char **why)
{
    unsigned char *sig;
    size_t sig_len;
    if (token_base64url_decode(text, len, &sig, &sig_len) != 0)
        return token_fail(why, "token signature is not base64url");
    bool ok = false;
    switch (v->alg) {
    case TOKEN_HS256:
        ok = token_hmac_ok(v, input, input_len, sig, sig_len);
        break;
    case TOKEN_RS256:
        ok = token_digest_verify_ok(v->key, input, input_len, sig, sig_len);
        break;
    case TOKEN_ES256:
        ok = token_ecdsa_ok(v->key, input, input_len, sig, sig_len);
        break;
    }
    free(sig);
    return ok ? 0 : token_fail(why, "token signature does not verify");
}

/* ------------------------------------------------------------- public */

int token_verify(const struct token_verifier *v, const char *token, size_t len, int64_t now,
                 struct claims *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (len > TOKEN_MAX_LEN)
        return token_fail(why, "token longer than 8192 bytes");
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL)
        return token_fail(why, "token is not three dot-separated parts");
    if (token_check_header(v, token, (size_t)(dot1 - token), why) != 0 ||
        token_check_signature(v, token, (size_t)(dot2 - token), dot2 + 1, (size_t)(end - dot2 - 1),
                              why) != 0)
        return -1;
    unsigned char *payload;
    size_t payload_len;
    if (token_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload, &payload_len) != 0)
        return token_fail(why, "token payload is not base64url");
    int rc = claims_parse((const char *)payload, payload_len, now, out, why);
    free(payload);
    return rc;
}
