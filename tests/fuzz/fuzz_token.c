/* SPDX-License-Identifier: MIT */
/*
 * fuzz_token.c: libFuzzer target for JWT verification and the claims parser
 * (broker/auth/token.c, claims.c, grants.c; docs/auth.md).
 *
 * Each input is used three ways: as a whole token for an HS256 verifier
 * with a fixed secret (arbitrary bytes must be refused cleanly); as a
 * claims set given straight to claims_parse; and as the payload of a token
 * signed here with that secret, so that the claims behind a good signature
 * are reached too, where token_verify must agree with claims_parse. A
 * success must hold only what claims.h promises (exp ahead, a bounded sub,
 * valid templates, at most 64 of each), and expanding each template for
 * the sub must give valid patterns or drop them.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/grants.h"
#include "auth/token.h"
#include "common/base64.h"
#include "common/topic.h"
#include "fuzz_common.h"

#define FUZZ_SECRET "fuzz-secret-0123456789abcdef-0123456789"
#define FUZZ_NOW 1800000000
#define FUZZ_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" /* {"alg":"HS256","typ":"JWT"} */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Made once: verifiers hold no state between calls. */
static struct token_verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verifier = token_verifier_new_secret(FUZZ_SECRET, strlen(FUZZ_SECRET));
    fuzz_require(verifier != NULL, "cannot make the verifier");
    return 0;
}

static void check_templates(const struct grant_list *list, const char *sub)
{
    fuzz_require(list->count <= CLAIMS_MAX_GRANTS, "more templates than allowed");
    struct grant_list expanded = {0};
    for (size_t i = 0; i < list->count; i++) {
        fuzz_require(grants_template_valid(list->patterns[i], NULL) == 0, "an invalid template");
        int rc = grant_list_add(&expanded, list->patterns[i], sub);
        fuzz_require(rc == 0 || rc == 1, "grant_list_add failed");
    }
    for (size_t i = 0; i < expanded.count; i++) {
        const char *p = expanded.patterns[i];
        fuzz_require(topic_validate_pattern(p, strlen(p), NULL) == 0, "an invalid granted pattern");
        fuzz_require(strstr(p, GRANTS_SUB) == NULL, "a placeholder left in a grant");
    }
    grant_list_free(&expanded);
}

/* The result of a verify or parse: a reason on refusal, promises kept on
 * success. */
static void check_result(int rc, const struct claims *claims, const char *why)
{
    fuzz_require(rc == 0 || rc == -1, "neither 0 nor -1");
    if (rc != 0) {
        fuzz_require(why != NULL && why[0] != '\0', "a refusal without a reason");
        fuzz_require(claims->sub == NULL && claims->subscribe.count == 0 &&
                         claims->publish.count == 0,
                     "claims left after a refusal");
        return;
    }
    fuzz_require(claims->exp > FUZZ_NOW, "an expired token accepted");
    if (claims->sub != NULL)
        fuzz_require(claims->sub[0] != '\0' && strlen(claims->sub) <= CLAIMS_MAX_SUB,
                     "sub empty or too long");
    check_templates(&claims->subscribe, claims->sub);
    check_templates(&claims->publish, claims->sub);
}

/* Writes the unpadded base64url of bytes[0..n) at out; returns its length. */
static size_t base64url_encode(const unsigned char *bytes, size_t n, char *out)
{
    char *b64 = malloc(base64_encoded_size(n));
    fuzz_require(b64 != NULL, "out of memory");
    size_t b64_len = base64_encode(bytes, n, b64);
    size_t len = 0;
    for (size_t i = 0; i < b64_len && b64[i] != '='; i++)
        out[len++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    free(b64);
    return len;
}

/* FUZZ_HEADER.base64url(payload).HMAC, in a malloc'd string; NULL when the
 * payload is too large to make a token of. */
static char *sign_payload(const uint8_t *payload, size_t size)
{
    if (size > TOKEN_MAX_LEN)
        return NULL;
    size_t header_len = strlen(FUZZ_HEADER);
    char *token = malloc(header_len + base64_encoded_size(size) + 64);
    fuzz_require(token != NULL, "out of memory");
    memcpy(token, FUZZ_HEADER ".", header_len + 1);
    size_t len = header_len + 1;
    len += base64url_encode(payload, size, token + len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET), (const unsigned char *)token, len,
         mac, &mac_len);
    token[len++] = '.';
    len += base64url_encode(mac, mac_len, token + len);
    token[len] = '\0';
    return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct claims claims;
    const char *why = NULL;

    /* the input as a whole token */
    int rc = token_verify(verifier, (const char *)data, size, FUZZ_NOW, &claims, &why);
    check_result(rc, &claims, why);
    claims_free(&claims);

    /* the input as a claims set, directly and behind a good signature */
    const char *parse_why = NULL;
    int parse_rc = claims_parse((const char *)data, size, FUZZ_NOW, &claims, &parse_why);
    check_result(parse_rc, &claims, parse_why);
    claims_free(&claims);

    char *token = sign_payload(data, size);
    if (token == NULL)
        return 0;
    why = NULL;
    rc = token_verify(verifier, token, strlen(token), FUZZ_NOW, &claims, &why);
    check_result(rc, &claims, why);
    /* An empty payload is refused as a segment before it is a claims set. */
    if (size > 0 && strlen(token) <= TOKEN_MAX_LEN) {
        fuzz_require(rc == parse_rc, "a signed token and its claims disagree");
        fuzz_require(rc == 0 || strcmp(why, parse_why) == 0, "different reasons for the claims");
    }
    claims_free(&claims);
    free(token);
    return 0;
}
