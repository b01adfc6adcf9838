/* SPDX-License-Identifier: MIT */
/*
 * test_token.c: unit tests of broker/auth/token.c and claims.c, and of
 * JWTs resolved by credentials.c (docs/auth.md).
 *
 * The keys are made at run time with OpenSSL (an HMAC secret, an RSA 2048
 * key and a P-256 key, whose public halves go to PEM files in a temporary
 * directory), and the tokens are signed here with OpenSSL: valid HS256,
 * RS256 and ES256 tokens, then the attack list (tampered payload and
 * signature, alg none, another algorithm, the key-confusion attack, wrong
 * secret, expired, oversized, malformed). The claims themselves are
 * covered in test_claims.c.
 */
#include "auth/credentials.h"
#include "auth/token.h"

#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"
#define NOW 1800000000
#define TOKEN_BUF (3 * TOKEN_MAX_LEN)

/* Made once in main(), before the tests fork. */
static EVP_PKEY *rsa_key;
static EVP_PKEY *ec_key;
static char *rsa_pem; /* public halves */
static char *ec_pem;
static char key_dir[64];
static char rsa_path[128];
static char ec_path[128];

/* ------------------------------------------------------------ signing */

/* Appends the unpadded base64url of bytes[0..len) at out; returns the end. */
static char *b64url(char *out, const void *bytes, size_t len)
{
    char *text = malloc(base64_encoded_size(len));
    ck_assert_ptr_nonnull(text);
    size_t n = base64_encode(bytes, len, text);
    for (size_t i = 0; i < n && text[i] != '='; i++)
        *out++ = text[i] == '+' ? '-' : text[i] == '/' ? '_' : text[i];
    free(text);
    *out = '\0';
    return out;
}

/* An ES256 signature as JWS wants it: r||s, 32 bytes each. */
static size_t ecdsa_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *raw)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    ck_assert_ptr_nonnull(sig);
    ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32), 32);
    ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32), 32);
    ECDSA_SIG_free(sig);
    return 64;
}

static size_t sign_with_key(EVP_PKEY *key, const char *input, unsigned char *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t len = 1024;
    ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_eq(EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input, strlen(input)),
                     1);
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return len;
    unsigned char der[1024];
    memcpy(der, sig, len);
    return ecdsa_der_to_raw(der, len, sig);
}

/* Signs header.payload (JSON texts) into `out`: with HMAC over `secret` when
 * `key` is NULL, else with `key`. */
static void sign_token(char *out, const char *header, const char *payload, EVP_PKEY *key,
                       const char *secret)
{
    char *end = b64url(out, header, strlen(header));
    *end++ = '.';
    end = b64url(end, payload, strlen(payload));
    unsigned char sig[1024];
    size_t sig_len;
    if (key == NULL) {
        unsigned int mac_len = 0;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)out, strlen(out),
             sig, &mac_len);
        sig_len = mac_len;
    } else {
        sig_len = sign_with_key(key, out, sig);
    }
    *end++ = '.';
    b64url(end, sig, sig_len);
}

static const char *const HS256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
static const char *const RS256 = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
static const char *const ES256 = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
static const char *const CLAIMS =
    "{\"sub\":\"alice\",\"exp\":1800000060,\"subscribe\":[\"prices.>\",\"notify.{sub}.>\"],"
    "\"publish\":[\"chat.*\"]}";

/* ----------------------------------------------------------- verifying */

static struct token_verifier *hs256(void)
{
    struct token_verifier *v = token_verifier_new_secret(SECRET, strlen(SECRET));
    ck_assert_ptr_nonnull(v);
    return v;
}

static struct token_verifier *from_pem(const char *pem)
{
    char err[128] = "";
    struct token_verifier *v = token_verifier_new_pem(pem, strlen(pem), err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    return v;
}

/* Verifies and expects success. */
static void expect_valid(const struct token_verifier *v, const char *token)
{
    struct claims claims;
    const char *why = "";
    ck_assert_msg(token_verify(v, token, strlen(token), NOW, &claims, &why) == 0, "refused: %s",
                  why);
    ck_assert_str_eq(claims.sub, "alice");
    ck_assert_int_eq(claims.exp, 1800000060);
    ck_assert_uint_eq(claims.subscribe.count, 2);
    ck_assert_str_eq(claims.subscribe.patterns[1], "notify.{sub}.>");
    ck_assert_uint_eq(claims.publish.count, 1);
    claims_free(&claims);
}

/* Verifies and expects a refusal whose reason contains `reason`. */
static void expect_refused(const struct token_verifier *v, const char *token, size_t len,
                           const char *reason)
{
    struct claims claims;
    const char *why = NULL;
    ck_assert_int_eq(token_verify(v, token, len, NOW, &claims, &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, reason) != NULL, "reason \"%s\", expected \"%s\"", why, reason);
    ck_assert_ptr_null(strstr(why, SECRET));
    ck_assert_ptr_null(claims.sub);
    ck_assert_uint_eq(claims.subscribe.count, 0);
}

/* The three algorithms by index, for loop tests: HS256, RS256, ES256. */
#define ALG_COUNT 3

static struct token_verifier *alg_verifier(size_t alg)
{
    return alg == TOKEN_HS256 ? hs256() : from_pem(alg == TOKEN_RS256 ? rsa_pem : ec_pem);
}

/* Signs `claims` with the algorithm's key and header. */
static void alg_sign(char *out, size_t alg, const char *claims)
{
    const char *headers[ALG_COUNT] = {
        [TOKEN_HS256] = HS256, [TOKEN_RS256] = RS256, [TOKEN_ES256] = ES256};
    EVP_PKEY *key = alg == TOKEN_HS256 ? NULL : alg == TOKEN_RS256 ? rsa_key : ec_key;
    sign_token(out, headers[alg], claims, key, SECRET);
}

START_TEST(test_valid)
{
    char token[TOKEN_BUF];
    alg_sign(token, (size_t)_i, CLAIMS);
    struct token_verifier *v = alg_verifier((size_t)_i);
    ck_assert_int_eq(token_verifier_alg(v), _i);
    expect_valid(v, token);
    token_verifier_free(v);
}
END_TEST

START_TEST(test_tampered_payload)
{
    /* The signature of one payload on another. */
    char token[TOKEN_BUF];
    char other[TOKEN_BUF];
    alg_sign(token, (size_t)_i, CLAIMS);
    alg_sign(other, (size_t)_i, "{\"sub\":\"alice\",\"exp\":1800000060,\"subscribe\":[\">\"]}");
    /* other's header and payload, token's signature */
    char forged[2 * TOKEN_BUF];
    snprintf(forged, sizeof(forged), "%.*s%s", (int)(strrchr(other, '.') - other), other,
             strrchr(token, '.'));
    struct token_verifier *v = alg_verifier((size_t)_i);
    expect_refused(v, forged, strlen(forged), "signature");
    token_verifier_free(v);
}
END_TEST

START_TEST(test_tampered_signature)
{
    char token[TOKEN_BUF];
    alg_sign(token, (size_t)_i, CLAIMS);
    char *sig = strrchr(token, '.') + 1;
    sig[3] = sig[3] == 'A' ? 'B' : 'A';
    struct token_verifier *v = alg_verifier((size_t)_i);
    expect_refused(v, token, strlen(token), "signature");
    /* cut short: no longer the size of a signature */
    sig[10] = '\0';
    expect_refused(v, token, strlen(token), "signature");
    token_verifier_free(v);
}
END_TEST

START_TEST(test_alg_none)
{
    char token[TOKEN_BUF];
    char *end = b64url(token, "{\"alg\":\"none\"}", 14);
    *end++ = '.';
    end = b64url(end, CLAIMS, strlen(CLAIMS));
    strcpy(end, ".");
    struct token_verifier *v = hs256();
    expect_refused(v, token, strlen(token), "alg is not the one configured");
    strcpy(end, ".c2ln");
    expect_refused(v, token, strlen(token), "alg is not the one configured");
    token_verifier_free(v);
    /* other spellings */
    static const char *const headers[] = {
        "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",  "{\"alg\":\"\"}",     "{\"alg\":null}",
        "{\"typ\":\"JWT\"}",  "{\"alg\":\"HS512\"}", "{\"alg\":\"hs256\"}"};
    v = hs256();
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        sign_token(token, headers[i], CLAIMS, NULL, SECRET);
        expect_refused(v, token, strlen(token), "alg");
    }
    token_verifier_free(v);
}
END_TEST

START_TEST(test_other_algorithm)
{
    /* Every token algorithm against every other verifier: an RS256 token
     * against an HS256 broker, ES256 against RS256, ... */
    for (size_t signed_with = 0; signed_with < ALG_COUNT; signed_with++) {
        for (size_t verified_with = 0; verified_with < ALG_COUNT; verified_with++) {
            if (signed_with == verified_with)
                continue;
            char token[TOKEN_BUF];
            alg_sign(token, signed_with, CLAIMS);
            struct token_verifier *v = alg_verifier(verified_with);
            expect_refused(v, token, strlen(token), "alg is not the one configured");
            token_verifier_free(v);
        }
    }
}
END_TEST

START_TEST(test_key_confusion)
{
    /* HS256 signed with the public key's PEM as the HMAC secret: a verifier
     * that took `alg` from the token would accept it. */
    const char *pems[] = {rsa_pem, ec_pem};
    for (size_t i = 0; i < 2; i++) {
        char token[TOKEN_BUF];
        sign_token(token, HS256, CLAIMS, NULL, pems[i]);
        struct token_verifier *v = from_pem(pems[i]);
        expect_refused(v, token, strlen(token), "alg is not the one configured");
        token_verifier_free(v);
    }
}
END_TEST

START_TEST(test_wrong_secret)
{
    char token[TOKEN_BUF];
    sign_token(token, HS256, CLAIMS, NULL, "another-secret-of-at-least-32-bytes!");
    struct token_verifier *v = hs256();
    expect_refused(v, token, strlen(token), "signature");
    token_verifier_free(v);
    /* and a key pair that is not the configured one */
    EVP_PKEY *other = EVP_EC_gen("P-256");
    sign_token(token, ES256, CLAIMS, other, NULL);
    v = from_pem(ec_pem);
    expect_refused(v, token, strlen(token), "signature");
    token_verifier_free(v);
    EVP_PKEY_free(other);
}
END_TEST

START_TEST(test_oversized)
{
    /* A validly signed token past the limit is refused before decoding. */
    char claims[TOKEN_MAX_LEN];
    snprintf(claims, sizeof(claims), "{\"exp\":1800000060,\"pad\":\"%06200d\"}", 0);
    char token[TOKEN_BUF];
    sign_token(token, HS256, claims, NULL, SECRET);
    ck_assert_uint_gt(strlen(token), TOKEN_MAX_LEN);
    struct token_verifier *v = hs256();
    expect_refused(v, token, strlen(token), "longer than 8192");
    /* one that fits is fine */
    snprintf(claims, sizeof(claims), "{\"exp\":1800000060,\"pad\":\"%05000d\"}", 0);
    sign_token(token, HS256, claims, NULL, SECRET);
    ck_assert_uint_le(strlen(token), TOKEN_MAX_LEN);
    struct claims out;
    const char *why = "";
    ck_assert_msg(token_verify(v, token, strlen(token), NOW, &out, &why) == 0, "%s", why);
    claims_free(&out);
    token_verifier_free(v);
}
END_TEST

START_TEST(test_malformed)
{
    char good[TOKEN_BUF];
    sign_token(good, HS256, CLAIMS, NULL, SECRET);
    const char *dot1 = strchr(good, '.');
    const char *dot2 = strrchr(good, '.');
    char buf[2 * TOKEN_BUF];
    struct token_verifier *v = hs256();
    static const char *const shapes[] = {"", ".", "..", "...", "abc", "a.b", "a.b.c.d", "a..c"};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        struct claims claims;
        const char *why = NULL;
        ck_assert_int_eq(token_verify(v, shapes[i], strlen(shapes[i]), NOW, &claims, &why), -1);
        ck_assert_ptr_nonnull(why);
    }
    /* a NUL inside */
    memcpy(buf, good, strlen(good) + 1);
    buf[5] = '\0';
    expect_refused(v, buf, strlen(good), "base64url");
    /* standard base64 characters and padding are not base64url */
    snprintf(buf, sizeof(buf), "%.*s+%s", (int)(dot1 - good), good, dot1);
    expect_refused(v, buf, strlen(buf), "header is not base64url");
    snprintf(buf, sizeof(buf), "%.*s=%s", (int)(dot2 - good), good, dot2);
    expect_refused(v, buf, strlen(buf), "signature");
    snprintf(buf, sizeof(buf), "%s=", good);
    expect_refused(v, buf, strlen(buf), "signature is not base64url");
    snprintf(buf, sizeof(buf), "%s.", good);
    expect_refused(v, buf, strlen(buf), "three");
    /* a header that is not a JSON object, or asks for an extension */
    static const char *const headers[] = {"not json", "[\"HS256\"]", "\"HS256\"",
                                          "{\"alg\":\"HS256\",\"alg\":\"none\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        sign_token(buf, headers[i], CLAIMS, NULL, SECRET);
        expect_refused(v, buf, strlen(buf), "header is not a JSON object");
    }
    sign_token(buf, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", CLAIMS, NULL, SECRET);
    expect_refused(v, buf, strlen(buf), "crit");
    /* a payload that is not JSON, signed properly */
    sign_token(buf, HS256, "exp=1800000060", NULL, SECRET);
    expect_refused(v, buf, strlen(buf), "claims are not valid JSON");
    token_verifier_free(v);
}
END_TEST

START_TEST(test_es256_der_signature_refused)
{
    /* JWS wants r||s; OpenSSL's DER form must not be accepted as such. */
    char token[TOKEN_BUF];
    char *end = b64url(token, ES256, strlen(ES256));
    *end++ = '.';
    end = b64url(end, CLAIMS, strlen(CLAIMS));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[256];
    size_t der_len = sizeof(der);
    ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec_key), 1);
    ck_assert_int_eq(
        EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)token, strlen(token)), 1);
    EVP_MD_CTX_free(ctx);
    *end++ = '.';
    b64url(end, der, der_len);
    struct token_verifier *v = from_pem(ec_pem);
    expect_refused(v, token, strlen(token), "signature");
    token_verifier_free(v);
}
END_TEST

START_TEST(test_pem_keys_refused)
{
    char err[128];
    ck_assert_ptr_null(token_verifier_new_pem("nope", 4, err, sizeof(err)));
    ck_assert_str_eq(err, "not a PEM public key");
    /* a small RSA key, and an EC key on another curve */
    EVP_PKEY *keys[] = {EVP_RSA_gen(1024), EVP_EC_gen("P-384")};
    const char *reasons[] = {"RSA key shorter than 2048 bits", "not an RSA or P-256 public key"};
    for (size_t i = 0; i < 2; i++) {
        BIO *bio = BIO_new(BIO_s_mem());
        ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, keys[i]), 1);
        char *pem;
        long len = BIO_get_mem_data(bio, &pem);
        ck_assert_ptr_null(token_verifier_new_pem(pem, (size_t)len, err, sizeof(err)));
        ck_assert_str_eq(err, reasons[i]);
        BIO_free(bio);
        EVP_PKEY_free(keys[i]);
    }
}
END_TEST

/* -------------------------------------------------------- credentials */

/* Reads a whole small file into a malloc'd string. */
static char *read_all(const char *path)
{
    FILE *file = fopen(path, "r");
    ck_assert_ptr_nonnull(file);
    char *text = calloc(1, 16384);
    ck_assert_ptr_nonnull(text);
    fread(text, 1, 16383, file);
    fclose(file);
    return text;
}

/* Appends an item to a configuration list, as config_load would. */
static void list_add(struct config_list *list, const char *item)
{
    ck_assert_uint_lt(list->count, CONFIG_MAX_LIST);
    list->items[list->count++] = (char *)item;
}

START_TEST(test_resolve_jwt_grants)
{
    struct config cfg = {0};
    cfg.auth_public_key = ec_path;
    cfg.auth_public_key_pem = read_all(ec_path);
    list_add(&cfg.anonymous, "public.>");
    list_add(&cfg.anonymous_publish, "guestbook");
    list_add(&cfg.user_pattern, "inbox.{sub}.>");
    struct credentials *c = NULL;
    char err[256] = "";
    ck_assert_msg(credentials_load(&c, &cfg, err, sizeof(err)) == 0, "%s", err);
    free(cfg.auth_public_key_pem);

    char token[TOKEN_BUF];
    sign_token(token, ES256, CLAIMS, ec_key, NULL);
    struct principal p;
    const char *why = "";
    ck_assert_msg(credentials_resolve(c, token, strlen(token), NOW, &p, &why) == 0, "%s", why);
    ck_assert_int_eq(p.kind, PRINCIPAL_TOKEN);
    ck_assert_str_eq(p.user, "alice");
    ck_assert_int_eq(p.expires, 1800000060);
    const struct grants *g = &p.grants;
    ck_assert(!g->everything);
    ck_assert(grants_may_subscribe(g, "public.news"));   /* anonymous */
    ck_assert(grants_may_subscribe(g, "inbox.alice.x")); /* user pattern */
    ck_assert(!grants_may_subscribe(g, "inbox.bob.x"));
    ck_assert(grants_may_subscribe(g, "notify.alice.>")); /* claim with {sub} */
    ck_assert(!grants_may_subscribe(g, "notify.*.x"));
    ck_assert(grants_may_subscribe(g, "prices.*")); /* claim */
    ck_assert(!grants_may_subscribe(g, ">"));
    ck_assert(grants_may_publish(g, "guestbook"));      /* anonymous publish */
    ck_assert(grants_may_publish(g, "chat.room"));      /* claim */
    ck_assert(!grants_may_publish(g, "prices.x"));      /* subscribe only */
    ck_assert(!grants_may_publish(g, "inbox.alice.x")); /* user patterns: subscribe only */
    principal_free(&p);

    /* a user that is not a topic segment gets nothing through {sub} */
    sign_token(token, ES256,
               "{\"sub\":\"j\\u00f6rg.>\",\"exp\":1800000060,\"subscribe\":[\"notify.{sub}\"]}",
               ec_key, NULL);
    ck_assert_msg(credentials_resolve(c, token, strlen(token), NOW, &p, &why) == 0, "%s", why);
    ck_assert_str_eq(p.user, "j\xc3\xb6rg.>");
    ck_assert_uint_eq(p.grants.subscribe.count, 1); /* public.> only */
    principal_free(&p);

    /* expired: refused with the reason */
    ck_assert_int_eq(credentials_resolve(c, token, strlen(token), 1800000060, &p, &why), -1);
    ck_assert_str_eq(why, "token expired");
    credentials_free(c);
}
END_TEST

/* --------------------------------------------------------------- keys */

/* Key setup runs outside the tests, where check's asserts cannot report. */
static void setup_require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "test_token: setup failed: %s\n", what);
        exit(1);
    }
}

static char *public_pem(EVP_PKEY *key, const char *path)
{
    BIO *bio = BIO_new(BIO_s_mem());
    setup_require(PEM_write_bio_PUBKEY(bio, key) == 1, "PEM_write_bio_PUBKEY");
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    char *pem = strndup(data, (size_t)len);
    BIO_free(bio);
    FILE *file = fopen(path, "w");
    setup_require(file != NULL, path);
    fputs(pem, file);
    fclose(file);
    return pem;
}

static void keys_make(void)
{
    snprintf(key_dir, sizeof(key_dir), "/tmp/test_token.XXXXXX");
    setup_require(mkdtemp(key_dir) != NULL, "mkdtemp");
    snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.pem", key_dir);
    snprintf(ec_path, sizeof(ec_path), "%s/ec.pem", key_dir);
    rsa_key = EVP_RSA_gen(2048);
    ec_key = EVP_EC_gen("P-256");
    setup_require(rsa_key != NULL && ec_key != NULL, "key generation");
    rsa_pem = public_pem(rsa_key, rsa_path);
    ec_pem = public_pem(ec_key, ec_path);
}

static void keys_free(void)
{
    unlink(rsa_path);
    unlink(ec_path);
    rmdir(key_dir);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    free(rsa_pem);
    free(ec_pem);
}

static Suite *token_suite(void)
{
    Suite *suite = suite_create("token");
    TCase *tc = tcase_create("valid");
    tcase_add_loop_test(tc, test_valid, 0, ALG_COUNT);
    suite_add_tcase(suite, tc);

    tc = tcase_create("attacks");
    tcase_add_loop_test(tc, test_tampered_payload, 0, ALG_COUNT);
    tcase_add_loop_test(tc, test_tampered_signature, 0, ALG_COUNT);
    tcase_add_test(tc, test_alg_none);
    tcase_add_test(tc, test_other_algorithm);
    tcase_add_test(tc, test_key_confusion);
    tcase_add_test(tc, test_wrong_secret);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_es256_der_signature_refused);
    tcase_add_test(tc, test_pem_keys_refused);
    suite_add_tcase(suite, tc);

    tc = tcase_create("credentials");
    tcase_add_test(tc, test_resolve_jwt_grants);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    keys_make();
    SRunner *runner = srunner_create(token_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    keys_free();
    return failed != 0;
}
