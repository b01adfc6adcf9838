/* SPDX-License-Identifier: MIT */
/*
 * test_common.c: unit tests of the common/ rules the clients use besides
 * the broker: strict base64, the binary frame split and prefix, growing a
 * receive buffer, RFC 6455 frame headers, JSON quoting (the broker's sbuf
 * included), and the scanner's member and item lookups (the repeated-key
 * rule included). Topic rules are in test_topic_*.c.
 */
#include "common/base64.h"
#include "common/binframe.h"
#include "common/growbuf.h"
#include "common/jquote.h"
#include "common/jscan.h"
#include "common/wsframe.h"
#include "util/sbuf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ---- base64 ------------------------------------------------------------ */

/* Decodes text and checks the bytes against want (want == NULL: refused). */
static void check_decode(const char *text, const char *want, size_t want_len)
{
    unsigned char *out = NULL;
    size_t out_len = 0;
    int rc = base64_decode_strict(text, strlen(text), &out, &out_len);
    if (!want) {
        ck_assert_msg(rc == -1, "accepted \"%s\"", text);
        return;
    }
    ck_assert_msg(rc == 0, "refused \"%s\"", text);
    ck_assert_uint_eq(out_len, want_len);
    ck_assert_mem_eq(out, want, want_len);
    ck_assert_int_eq(out[out_len], '\0');
    free(out);
}

START_TEST(test_base64_accepts)
{
    check_decode("", "", 0);
    check_decode("Zg==", "f", 1);
    check_decode("Zg", "f", 1); /* padding is optional */
    check_decode("Zm8=", "fo", 2);
    check_decode("Zm8", "fo", 2);
    check_decode("Zm9v", "foo", 3);
    check_decode("Zm9vYmFy", "foobar", 6);
    check_decode("AP8=", "\x00\xff", 2);
    check_decode("+/+/", "\xfb\xff\xbf", 3);
}
END_TEST

START_TEST(test_base64_refuses)
{
    check_decode("Z", NULL, 0);      /* one character left over */
    check_decode("Zm9vY", NULL, 0);  /* the same after a group */
    check_decode("Zg=", NULL, 0);    /* padding that does not fill the group */
    check_decode("Zg===", NULL, 0);  /* three '=' */
    check_decode("Z=g=", NULL, 0);   /* '=' inside */
    check_decode("Zm9v\n", NULL, 0); /* whitespace */
    check_decode("Zm 9v", NULL, 0);
    check_decode("Zm9-", NULL, 0); /* the URL-safe alphabet */
    check_decode("Zm9_", NULL, 0);
    check_decode("Zm9v====", NULL, 0); /* padding after a full group */
}
END_TEST

START_TEST(test_base64_round_trip)
{
    unsigned char bytes[256];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(255 - i);
    for (size_t n = 0; n <= sizeof(bytes); n += 37) {
        char *text = malloc(base64_encoded_size(n));
        size_t len = base64_encode(bytes, n, text);
        ck_assert_uint_eq(len, (n + 2) / 3 * 4);
        ck_assert_uint_eq(strlen(text), len);
        unsigned char *out;
        size_t out_len;
        ck_assert_int_eq(base64_decode_strict(text, len, &out, &out_len), 0);
        ck_assert_uint_eq(out_len, n);
        ck_assert_mem_eq(out, bytes, n);
        free(out);
        free(text);
    }
}
END_TEST

/* ---- binframe ---------------------------------------------------------- */

START_TEST(test_binframe_split)
{
    const unsigned char frame[] = {0, 2, '{', '}', 'x', 'y', 'z'};
    const char *env;
    const unsigned char *payload;
    size_t env_len, payload_len;

    ck_assert_int_eq(binframe_split(frame, sizeof(frame), &env, &env_len, &payload, &payload_len),
                     0);
    ck_assert_uint_eq(env_len, 2);
    ck_assert_mem_eq(env, "{}", 2);
    ck_assert_uint_eq(payload_len, 3);
    ck_assert_mem_eq(payload, "xyz", 3);

    /* No payload at all. */
    ck_assert_int_eq(binframe_split(frame, 4, &env, &env_len, &payload, &payload_len), 0);
    ck_assert_uint_eq(payload_len, 0);

    /* An empty envelope is split; refusing it is the caller's. */
    const unsigned char empty[] = {0, 0, 'p'};
    ck_assert_int_eq(binframe_split(empty, sizeof(empty), &env, &env_len, &payload, &payload_len),
                     0);
    ck_assert_uint_eq(env_len, 0);
    ck_assert_uint_eq(payload_len, 1);

    /* A prefix that does not fit. */
    ck_assert_int_eq(binframe_split(frame, 0, &env, &env_len, &payload, &payload_len), -1);
    ck_assert_int_eq(binframe_split(frame, 1, &env, &env_len, &payload, &payload_len), -1);
    ck_assert_int_eq(binframe_split(frame, 3, &env, &env_len, &payload, &payload_len), -1);
    const unsigned char big[] = {0xff, 0xff, '{', '}'};
    ck_assert_int_eq(binframe_split(big, sizeof(big), &env, &env_len, &payload, &payload_len), -1);
}
END_TEST

START_TEST(test_binframe_prefix)
{
    unsigned char out[2];
    ck_assert_int_eq(binframe_put_prefix(out, 0), 0);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 0);
    ck_assert_int_eq(binframe_put_prefix(out, 0x1234), 0);
    ck_assert_int_eq(out[0], 0x12);
    ck_assert_int_eq(out[1], 0x34);
    ck_assert_int_eq(binframe_put_prefix(out, BINFRAME_MAX_ENVELOPE), 0);
    ck_assert_int_eq(out[0], 0xff);
    ck_assert_int_eq(out[1], 0xff);
    ck_assert_int_eq(binframe_put_prefix(out, BINFRAME_MAX_ENVELOPE + 1), -1);
}
END_TEST

/* ---- growbuf ----------------------------------------------------------- */

START_TEST(test_growbuf_reserve)
{
    unsigned char *buf = NULL;
    size_t cap = 0;
    ck_assert_int_eq(growbuf_reserve(&buf, &cap, 0, 16), 0);
    ck_assert_ptr_null(buf); /* nothing needed, nothing allocated */
    ck_assert_int_eq(growbuf_reserve(&buf, &cap, 10, 16), 0);
    ck_assert_uint_eq(cap, 16);
    memcpy(buf, "0123456789", 10);
    ck_assert_int_eq(growbuf_reserve(&buf, &cap, 16, 16), 0);
    ck_assert_uint_eq(cap, 16);
    ck_assert_int_eq(growbuf_reserve(&buf, &cap, 17, 16), 0);
    ck_assert_uint_eq(cap, 32);
    ck_assert_int_eq(growbuf_reserve(&buf, &cap, 100, 16), 0);
    ck_assert_uint_eq(cap, 128);
    ck_assert_mem_eq(buf, "0123456789", 10); /* the bytes held are kept */
    free(buf);
}
END_TEST

/* ---- wsframe ----------------------------------------------------------- */

/* The three length forms, at and around their edges. */
static const uint64_t frame_lengths[] = {0, 1, 125, 126, 127, 65535, 65536, 1ull << 32};

START_TEST(test_wsframe_round_trip)
{
    size_t n_lengths = sizeof(frame_lengths) / sizeof(frame_lengths[0]);
    uint64_t len = frame_lengths[_i % n_lengths];
    bool masked = _i >= (int)n_lengths;
    unsigned char buf[WSFRAME_HEADER_MAX];
    size_t want = (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);

    size_t n = wsframe_put_header(buf, WSFRAME_BINARY, len, masked);
    ck_assert_uint_eq(n, want);
    ck_assert_int_eq(buf[0], 0x82);
    ck_assert_int_eq((buf[1] & 0x80) != 0, masked);

    struct wsframe_header h;
    for (size_t avail = 0; avail < n; avail++)
        ck_assert_int_eq(wsframe_parse_header(buf, avail, &h), 0);
    ck_assert_int_eq(wsframe_parse_header(buf, n, &h), 1);
    ck_assert(h.fin);
    ck_assert_int_eq(h.opcode, WSFRAME_BINARY);
    ck_assert_int_eq(h.masked, masked);
    ck_assert_uint_eq(h.payload_len, len);
    ck_assert_uint_eq(h.header_len, n);
    if (masked) {
        static const unsigned char zero[4];
        ck_assert_mem_eq(h.mask, zero, 4);
    }
}
END_TEST

START_TEST(test_wsframe_parse)
{
    struct wsframe_header h;
    /* A server's unmasked, non-final text frame. */
    const unsigned char text[] = {0x01, 0x05};
    ck_assert_int_eq(wsframe_parse_header(text, sizeof(text), &h), 1);
    ck_assert(!h.fin);
    ck_assert_int_eq(h.opcode, WSFRAME_TEXT);
    ck_assert_uint_eq(h.payload_len, 5);
    /* A mask key is read as it is. */
    const unsigned char masked[] = {0x89, 0x80, 1, 2, 3, 4};
    ck_assert_int_eq(wsframe_parse_header(masked, sizeof(masked), &h), 1);
    ck_assert_int_eq(h.opcode, WSFRAME_PING);
    ck_assert_mem_eq(h.mask, "\x01\x02\x03\x04", 4);
    /* A 64-bit length with its top bit set is malformed. */
    const unsigned char huge[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(wsframe_parse_header(huge, sizeof(huge), &h), -1);
}
END_TEST

/* ---- jquote ------------------------------------------------------------ */

START_TEST(test_jquote_escapes)
{
    char out[64];
    ck_assert_uint_eq(jquote_string("", out, sizeof(out)), 2);
    ck_assert_str_eq(out, "\"\"");
    jquote_string("a\"b\\c", out, sizeof(out));
    ck_assert_str_eq(out, "\"a\\\"b\\\\c\"");
    jquote_string("\n\t\x01\x1f/", out, sizeof(out));
    ck_assert_str_eq(out, "\"\\u000a\\u0009\\u0001\\u001f/\"");
    jquote_string("h\xc3\xa9", out, sizeof(out)); /* UTF-8 is copied */
    ck_assert_str_eq(out, "\"h\xc3\xa9\"");
}
END_TEST

START_TEST(test_jquote_truncates)
{
    char out[4];
    ck_assert_uint_eq(jquote_string("abcdef", out, sizeof(out)), 8);
    ck_assert_str_eq(out, "\"ab");
    ck_assert_uint_eq(jquote_string("abcdef", NULL, 0), 8);
    char one[1];
    ck_assert_uint_eq(jquote_string("x", one, 1), 3);
    ck_assert_str_eq(one, "");
}
END_TEST

/* The broker's buffer writes the same literal, also when it has to grow
 * out of a caller's small buffer on the way. */
START_TEST(test_jquote_in_sbuf)
{
    const char *texts[] = {"", "plain", "q\"b\\s\x01\x1f", "h\xc3\xa9 x"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char small[4], want[64];
        struct sbuf b;
        sbuf_init_on(&b, small, sizeof(small));
        sbuf_add_str(&b, "=");
        sbuf_add_json_string(&b, texts[i]);
        want[0] = '=';
        size_t n = jquote_string(texts[i], want + 1, sizeof(want) - 1);
        ck_assert(!sbuf_failed(&b));
        ck_assert_uint_eq(b.len, n + 1);
        ck_assert_str_eq(b.data, want);
        sbuf_free(&b);
    }
}
END_TEST

/* ---- jscan member and items --------------------------------------------- */

static bool member(const char *json, const char *name, const char **value)
{
    struct jspan span;
    static char buf[256];
    if (!jscan_member(json, json + strlen(json), name, &span))
        return false;
    size_t n = (size_t)(span.end - span.p);
    memcpy(buf, span.p, n);
    buf[n] = '\0';
    *value = buf;
    return true;
}

START_TEST(test_jscan_member)
{
    const char *v;
    ck_assert(member(" { \"a\" : 1 , \"data\" : {\"x\":[1,\"}\"]} } ", "data", &v));
    ck_assert_str_eq(v, "{\"x\":[1,\"}\"]}");
    ck_assert(member("{\"data\":\"s\\\"t\"}", "data", &v));
    ck_assert_str_eq(v, "\"s\\\"t\"");
    ck_assert(member("{\"n\":null}", "n", &v));
    ck_assert_str_eq(v, "null");
    ck_assert(!member("{\"dat\":1,\"datax\":2}", "data", &v));
    ck_assert(!member("[1,2]", "data", &v));
    ck_assert(!member("{}", "data", &v));
    /* A name found only inside a nested value is not a member. */
    ck_assert(!member("{\"o\":{\"data\":1}}", "data", &v));
}
END_TEST

/* A repeated member: the last one counts, as jansson keeps it (the broker's
 * rule, which the clients follow). */
START_TEST(test_jscan_member_repeated)
{
    const char *v;
    ck_assert(member("{\"data\":1,\"x\":0,\"data\":[2]}", "data", &v));
    ck_assert_str_eq(v, "[2]");
}
END_TEST

/* A member name with an escape could spell the name asked for: the
 * lookup then refuses to answer. */
START_TEST(test_jscan_member_escaped_name)
{
    const char *v;
    ck_assert(!member("{\"d\\u0061ta\":1}", "data", &v));
}
END_TEST

START_TEST(test_jscan_items)
{
    const char *json = " [ 1 , {\"a\":[2,3]} ,\"x,y\" ,[ ] ] ";
    struct jspan items[4];
    ck_assert_int_eq(jscan_items(json, json + strlen(json), items, 4), 4);
    ck_assert_mem_eq(items[0].p, "1", 1);
    ck_assert_uint_eq((size_t)(items[1].end - items[1].p), strlen("{\"a\":[2,3]}"));
    ck_assert_mem_eq(items[2].p, "\"x,y\"", 5);
    ck_assert_mem_eq(items[3].p, "[ ]", 3);
    ck_assert_int_eq(jscan_items(json, json + strlen(json), items, 3), -1);
    const char *empty = "[]";
    ck_assert_int_eq(jscan_items(empty, empty + 2, items, 4), 0);
    const char *obj = "{\"a\":1}";
    ck_assert_int_eq(jscan_items(obj, obj + strlen(obj), items, 4), -1);
}
END_TEST

/* Numbers: valid when finite as a double, as jansson reads them. */
static bool jscan_accepts(const char *json)
{
    const char *end = json + strlen(json);
    return jscan_value(json, end, 0) == end;
}

START_TEST(test_jscan_numbers)
{
    ck_assert(jscan_accepts("0"));
    ck_assert(jscan_accepts("-1.5e3"));
    ck_assert(jscan_accepts("1.7976931348623157e308"));
    ck_assert(jscan_accepts("1e-999")); /* underflows to 0: finite */
    ck_assert(jscan_accepts("18446744073709551616"));
    char digits[400];
    memset(digits, '9', 308);
    digits[308] = '\0';
    ck_assert(jscan_accepts(digits)); /* 308 nines: below DBL_MAX */
    ck_assert(!jscan_accepts("1e999"));
    ck_assert(!jscan_accepts("-1E+400"));
    ck_assert(!jscan_accepts("1.8e308"));
    ck_assert(!jscan_accepts("[1,{\"a\":2e308}]"));
    memset(digits, '9', 399);
    digits[399] = '\0';
    ck_assert(!jscan_accepts(digits)); /* 399 digits: past DBL_MAX */
    ck_assert(!jscan_accepts("01"));
    ck_assert(!jscan_accepts("1."));
    ck_assert(!jscan_accepts("1e"));
}
END_TEST

START_TEST(test_wsframe_close_codes)
{
    const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999};
    const unsigned invalid[] = {0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        ck_assert_msg(wsframe_close_code_valid(valid[i]), "%u", valid[i]);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        ck_assert_msg(!wsframe_close_code_valid(invalid[i]), "%u", invalid[i]);
}
END_TEST

static Suite *common_suite(void)
{
    Suite *suite = suite_create("common");
    TCase *b64 = tcase_create("base64");
    tcase_add_test(b64, test_base64_accepts);
    tcase_add_test(b64, test_base64_refuses);
    tcase_add_test(b64, test_base64_round_trip);
    suite_add_tcase(suite, b64);

    TCase *frames = tcase_create("frames");
    tcase_add_test(frames, test_binframe_split);
    tcase_add_test(frames, test_binframe_prefix);
    tcase_add_test(frames, test_growbuf_reserve);
    tcase_add_loop_test(frames, test_wsframe_round_trip, 0,
                        2 * (int)(sizeof(frame_lengths) / sizeof(frame_lengths[0])));
    tcase_add_test(frames, test_wsframe_parse);
    tcase_add_test(frames, test_wsframe_close_codes);
    suite_add_tcase(suite, frames);

    TCase *json = tcase_create("json");
    tcase_add_test(json, test_jquote_escapes);
    tcase_add_test(json, test_jquote_truncates);
    tcase_add_test(json, test_jquote_in_sbuf);
    tcase_add_test(json, test_jscan_member);
    tcase_add_test(json, test_jscan_member_repeated);
    tcase_add_test(json, test_jscan_member_escaped_name);
    tcase_add_test(json, test_jscan_items);
    tcase_add_test(json, test_jscan_numbers);
    suite_add_tcase(suite, json);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(common_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
