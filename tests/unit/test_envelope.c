/* SPDX-License-Identifier: MIT */
/*
 * test_envelope.c: request parsing and message/reply encoding.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"
#include "proto/answer.h"
#include "common/jscan.h"

static int parse(const char *text, struct request *req, struct request_error *err)
{
    return envelope_parse_text(text, strlen(text), req, err);
}

/* Parses `text`, expects failure with `code`; returns whether the error
 * carries an id. */
static bool expect_error(const char *text, const char *code)
{
    struct request req;
    struct request_error err;
    ck_assert_msg(parse(text, &req, &err) == -1, "accepted: %s", text);
    ck_assert_msg(strcmp(err.code, code) == 0, "%s: got %s, want %s", text, err.code, code);
    ck_assert(err.message[0] != '\0');
    return err.has_id;
}

START_TEST(test_subscribe_fields)
{
    struct request req;
    struct request_error err;
    ck_assert_int_eq(parse("{\"op\":\"subscribe\",\"id\":7,\"topic\":\"prices.>\",\"since\":41,"
                           "\"epoch\":\"9f1c2a7b\",\"extra\":[1]}",
                           &req, &err),
                     0);
    ck_assert_int_eq(req.op, OP_SUBSCRIBE);
    ck_assert(req.has_id);
    ck_assert_uint_eq(req.id, 7);
    ck_assert_str_eq(req.topic, "prices.>");
    ck_assert(req.has_since);
    ck_assert_uint_eq(req.since, 41);
    ck_assert_str_eq(req.epoch, "9f1c2a7b");
    ck_assert(!req.has_last);
    ck_assert(!req.presence);
    request_clear(&req);

    ck_assert_int_eq(
        parse("{\"op\":\"subscribe\",\"topic\":\"doc.1\",\"last\":5,\"presence\":true}", &req,
              &err),
        0);
    ck_assert(!req.has_id);
    ck_assert(req.has_last);
    ck_assert_uint_eq(req.last, 5);
    ck_assert(req.presence);
    request_clear(&req);
}
END_TEST

START_TEST(test_publish_text)
{
    struct request req;
    struct request_error err;
    ck_assert_int_eq(parse("{\"op\":\"publish\",\"id\":1,\"topic\":\"a.b\",\"data\":{\"px\":189.2,"
                           "\"n\":[1,true,null,\"\\u00e9\"]},\"key\":\"k\",\"echo\":false}",
                           &req, &err),
                     0);
    ck_assert_int_eq(req.op, OP_PUBLISH);
    ck_assert_str_eq(req.data_text, "{\"px\":189.2,\"n\":[1,true,null,\"\\u00e9\"]}");
    ck_assert_uint_eq(req.data_len, strlen(req.data_text));
    ck_assert_str_eq(req.key, "k");
    ck_assert(!req.echo);
    request_clear(&req);

    ck_assert_int_eq(parse("{\"op\":\"publish\",\"topic\":\"a\",\"data\":null}", &req, &err), 0);
    ck_assert_str_eq(req.data_text, "null");
    ck_assert(req.echo);
    request_clear(&req);
}
END_TEST

/* `data` leaves as it arrived: spacing, number spelling and escapes kept,
 * integers beyond 64 bits included (no precision lost). */
START_TEST(test_publish_data_verbatim)
{
    struct request req;
    struct request_error err;
    const char *data = "{ \"x\" : 1.50e0, \"big\": 123456789012345678901234567890,"
                       " \"s\": \"a\\/\\ud83d\\ude00\" }";
    char text[256];
    snprintf(text, sizeof(text), "{\"op\":\"publish\", \"topic\":\"t.1\",\n\"data\": %s }", data);
    ck_assert_int_eq(parse(text, &req, &err), 0);
    ck_assert_str_eq(req.data_text, data);
    ck_assert_uint_eq(req.data_len, strlen(data));
    ck_assert_str_eq(req.topic, "t.1");
    ck_assert_ptr_null(req.key);
    request_clear(&req);

    /* Through jansson (an escaped key is not for the fast path): the same bytes. */
    const char *plain = "{ \"x\" : 1.50e0, \"s\": \"a\\/\" }";
    snprintf(text, sizeof(text),
             "{\"op\":\"publish\",\"topic\":\"t.1\",\"key\":\"k\\u00e9\",\"data\": %s}", plain);
    ck_assert_int_eq(parse(text, &req, &err), 0);
    ck_assert_str_eq(req.key, "k\xc3\xa9");
    ck_assert_str_eq(req.data_text, plain);
    request_clear(&req);

    /* The member name itself escaped: the bytes cannot be told; compact. */
    snprintf(text, sizeof(text), "{\"op\":\"publish\",\"topic\":\"t.1\",\"d\\u0061ta\": %s}",
             plain);
    ck_assert_int_eq(parse(text, &req, &err), 0);
    ck_assert_str_eq(req.data_text, "{\"x\":1.5,\"s\":\"a/\"}");
    request_clear(&req);
}
END_TEST

/* A publish whose topic, key and data fit in the request lives in its
 * inline bytes; a bigger one goes to the heap. Both give the same fields
 * (ASan reports a leak or a bad free here if the ownership is wrong). */
START_TEST(test_publish_inline_and_heap)
{
    static char big[3000];
    memset(big, 'x', sizeof(big) - 3);
    big[0] = '"';
    big[sizeof(big) - 3] = '"';
    big[sizeof(big) - 2] = '\0';
    const char *datas[] = {"[1,2,3]", big};
    char *text = malloc(sizeof(big) + 200);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < 2; i++) {
        struct request req;
        struct request_error err;
        sprintf(text, "{\"op\":\"publish\",\"topic\":\"doc.7\",\"key\":\"k-1\",\"data\":%s}",
                datas[i]);
        ck_assert_int_eq(parse(text, &req, &err), 0);
        ck_assert_str_eq(req.topic, "doc.7");
        ck_assert_str_eq(req.key, "k-1");
        ck_assert_str_eq(req.data_text, datas[i]);
        ck_assert_uint_eq(req.data_len, strlen(datas[i]));
        bool inline_data = req.data_text >= req.inline_bytes &&
                           req.data_text < req.inline_bytes + sizeof(req.inline_bytes);
        ck_assert_int_eq(inline_data, i == 0);
        request_clear(&req);
        ck_assert_ptr_null(req.data_text);
        ck_assert_ptr_null(req.topic);
    }
    free(text);
}
END_TEST

/* sbuf_init_on: the caller's buffer until it is full, then the heap with
 * the content carried over; sbuf_free never frees the caller's buffer. */
START_TEST(test_sbuf_on_stack)
{
    char stack[16];
    struct sbuf b;
    sbuf_init_on(&b, stack, sizeof(stack));
    sbuf_add_str(&b, "{\"seq\":");
    sbuf_add_u64(&b, 42);
    ck_assert_ptr_eq(b.data, stack);
    ck_assert_str_eq(b.data, "{\"seq\":42");
    sbuf_add_str(&b, ",\"duplicate\":true}");
    ck_assert_ptr_ne(b.data, stack);
    ck_assert(!sbuf_failed(&b));
    ck_assert_str_eq(b.data, "{\"seq\":42,\"duplicate\":true}");
    ck_assert_uint_eq(b.len, strlen("{\"seq\":42,\"duplicate\":true}"));
    sbuf_free(&b);

    sbuf_init_on(&b, stack, sizeof(stack));
    sbuf_add(&b, "}", 1);
    ck_assert_str_eq(stack, "}");
    sbuf_free(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

/* Envelopes the fast path leaves to jansson still parse, with the same
 * fields; invalid ones get the same errors as from jansson alone. */
START_TEST(test_publish_fast_path_agrees)
{
    static const char *const accepted[] = {
        "{\"op\":\"publish\",\"t\\u006fpic\":\"a\",\"data\":1}",      /* escaped name */
        "{\"op\":\"publish\",\"topic\":\"a\",\"data\":1,\"data\":2}", /* repeated member */
        "{\"op\":\"pub\\u006cish\",\"topic\":\"a\",\"data\":[]}",     /* escaped op */
        "{\"topic\":\"a.b\",\"data\":\"x\",\"op\":\"publish\",\"id\":9007199254740991}",
        "{\"op\":\"publish\",\"topic\":\"a\",\"data\":{},\"other\":[1,{\"z\":null}]}",
    };
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        struct request fast, slow;
        struct request_error err;
        ck_assert_msg(parse(accepted[i], &fast, &err) == 0, "refused: %s", accepted[i]);
        ck_assert_int_eq(envelope_parse_text_jansson(accepted[i], strlen(accepted[i]), &slow, &err),
                         0);
        ck_assert_int_eq(fast.op, OP_PUBLISH);
        ck_assert_str_eq(fast.topic, slow.topic);
        ck_assert_str_eq(fast.data_text, slow.data_text);
        ck_assert_int_eq(fast.has_id, slow.has_id);
        ck_assert_uint_eq(fast.id, slow.id);
        request_clear(&fast);
        request_clear(&slow);
    }
    static const char *const refused[][2] = {
        {"{\"op\":\"publish\",\"topic\":\"a\"}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a.>\",\"data\":1}", ERR_INVALID_TOPIC},
        {"{\"op\":\"publish\",\"topic\":\"a..b\",\"data\":1}", ERR_INVALID_TOPIC},
        {"{\"op\":\"publish\",\"topic\":\"\",\"data\":1}", ERR_INVALID_TOPIC},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":1,\"key\":\"\"}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":1,\"id\":0}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":1,\"echo\":1}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":[1,]}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":\"\\udc00\"}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":\"\\ud800x\"}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":01}", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":1} x", ERR_BAD_REQUEST},
        {"{\"op\":\"publish\",\"topic\":\"a\",\"data\":\"\\u0000\"}", ERR_BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        expect_error(refused[i][0], refused[i][1]);
    char key[300];
    char text[400];
    memset(key, 'k', 256);
    key[256] = '\0';
    snprintf(text, sizeof(text), "{\"op\":\"publish\",\"topic\":\"a\",\"data\":1,\"key\":\"%s\"}",
             key);
    expect_error(text, ERR_BAD_REQUEST);
}
END_TEST

START_TEST(test_sbuf_integers)
{
    struct sbuf b;
    sbuf_init(&b);
    sbuf_add_u64(&b, 0);
    sbuf_add_str(&b, " ");
    sbuf_add_u64(&b, 10);
    sbuf_add_str(&b, " ");
    sbuf_add_u64(&b, UINT64_MAX);
    sbuf_add_str(&b, " ");
    sbuf_add_i64(&b, -1);
    sbuf_add_str(&b, " ");
    sbuf_add_i64(&b, INT64_MIN);
    sbuf_add_str(&b, " ");
    sbuf_add_i64(&b, INT64_MAX);
    sbuf_add(&b, "", 1);
    ck_assert(!sbuf_failed(&b));
    ck_assert_str_eq(b.data, "0 10 18446744073709551615 -1 -9223372036854775808 "
                             "9223372036854775807");
    sbuf_free(&b);
}
END_TEST

START_TEST(test_jscan_member_and_items)
{
    const char *doc = "{ \"a\" : [1, {\"b\":2} ,\"x\"], \"data\":1, \"data\" : {\"c\":3} }";
    const char *end = doc + strlen(doc);
    struct jspan v;
    ck_assert(jscan_member(doc, end, "data", &v));
    ck_assert_int_eq((int)(v.end - v.p), 7); /* the last one, as jansson keeps */
    ck_assert(strncmp(v.p, "{\"c\":3}", 7) == 0);
    ck_assert(!jscan_member(doc, end, "missing", &v));
    ck_assert(jscan_member(doc, end, "a", &v));
    struct jspan items[4];
    ck_assert_int_eq(jscan_items(v.p, v.end, items, 4), 3);
    ck_assert(strncmp(items[1].p, "{\"b\":2}", (size_t)(items[1].end - items[1].p)) == 0);
    ck_assert_int_eq(jscan_items(v.p, v.end, items, 2), -1); /* more than max */
    const char *escaped = "{\"d\\u0061ta\":1,\"data\":2}";
    ck_assert(!jscan_member(escaped, escaped + strlen(escaped), "data", &v));
}
END_TEST

/* jscan_string skips 8 plain bytes at a time and jumps to the first special
 * byte of a word: each kind of special byte, at each offset, after plain
 * bytes, must end or fail the string exactly there. */
START_TEST(test_jscan_string_special_at_each_offset)
{
    for (int lead = 0; lead < 20; lead++) {
        char buf[64];
        memset(buf, 'a', sizeof(buf));
        buf[0] = '"';
        char *at = buf + 1 + lead;
        const char *end;
        bool escaped;

        memcpy(at, "\"zzzzzzzzzz", 11); /* the closing quote */
        end = buf + 1 + lead + 11;
        ck_assert_ptr_eq(jscan_string(buf, end, &escaped), at + 1);
        ck_assert(!escaped);

        memcpy(at, "\\n\"zzzzzzzz", 11); /* an escape, then the quote */
        ck_assert_ptr_eq(jscan_string(buf, end, &escaped), at + 3);
        ck_assert(escaped);

        memcpy(at, "\xc3\xa9\"zzzzzzzz", 11); /* UTF-8 e-acute, then the quote */
        ck_assert_ptr_eq(jscan_string(buf, end, &escaped), at + 3);

        memcpy(at, "\x01\"zzzzzzzzz", 11); /* a raw control character */
        ck_assert_ptr_null(jscan_string(buf, end, &escaped));

        memcpy(at, "\xc3\"zzzzzzzzz", 11); /* a truncated UTF-8 sequence */
        ck_assert_ptr_null(jscan_string(buf, end, &escaped));
    }
}
END_TEST

/* Whole-message UTF-8 check (1007): ASCII runs of any length around each
 * kind of invalid sequence, and valid multi-byte sequences at every offset. */
START_TEST(test_jscan_utf8_valid)
{
    static const char *const bad[] = {
        "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xc3", "\xe2\x82", "\x80"};
    static const char *const good[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                       "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf"};
    unsigned char buf[64];
    for (size_t lead = 0; lead < 20; lead++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            memset(buf, 'a', sizeof(buf));
            size_t n = strlen(bad[i]);
            memcpy(buf + lead, bad[i], n);
            ck_assert_msg(!jscan_utf8_valid(buf, lead + n + 9), "bad %zu at %zu", i, lead);
        }
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            memset(buf, 'a', sizeof(buf));
            size_t n = strlen(good[i]);
            memcpy(buf + lead, good[i], n);
            ck_assert_msg(jscan_utf8_valid(buf, lead + n + 9), "good %zu at %zu", i, lead);
        }
    }
    ck_assert(jscan_utf8_valid((const unsigned char *)"", 0));
}
END_TEST

START_TEST(test_frame_cache)
{
    struct frame_cache c;
    memset(&c, 0, sizeof(c));
    struct frame *a = frame_from_text("a", 1);
    frame_cache_put(&c, 7, a);
    ck_assert_uint_eq(a->refs, 2);
    struct frame *got = frame_cache_get(&c, 7);
    ck_assert_ptr_eq(got, a);
    ck_assert_uint_eq(a->refs, 3);
    frame_unref(got);
    ck_assert_ptr_null(frame_cache_get(&c, 8));
    ck_assert_ptr_null(frame_cache_get(&c, 7 + FRAME_CACHE_SLOTS)); /* same slot, other seq */
    struct frame *b = frame_from_text("b", 1);
    frame_cache_put(&c, 7 + FRAME_CACHE_SLOTS, b); /* evicts a */
    ck_assert_uint_eq(a->refs, 1);
    ck_assert_ptr_null(frame_cache_get(&c, 7));
    struct frame *big = frame_new(FRAME_CACHE_MAX_BYTES + 1, false);
    frame_cache_put(&c, 9, big); /* too large to keep */
    ck_assert_uint_eq(big->refs, 1);
    ck_assert_ptr_null(frame_cache_get(&c, 9));
    frame_cache_clear(&c);
    ck_assert_uint_eq(b->refs, 1);
    frame_unref(a);
    frame_unref(b);
    frame_unref(big);
}
END_TEST

START_TEST(test_float_round_trip)
{
    json_t *v = json_real(0.1);
    char *text = envelope_dump_value(v);
    ck_assert_str_eq(text, "0.1");
    free(text);
    json_decref(v);
    /* 0.1 + 0.2 needs 17 digits to come back as the same double. */
    v = json_real(0.1 + 0.2);
    text = envelope_dump_value(v);
    ck_assert_double_eq(strtod(text, NULL), 0.1 + 0.2);
    free(text);
    json_decref(v);
}
END_TEST

START_TEST(test_binary_publish)
{
    const char env[] = "{\"op\":\"publish\",\"id\":3,\"topic\":\"bin.x\"}";
    unsigned char frame[64];
    size_t h = sizeof(env) - 1;
    frame[0] = 0;
    frame[1] = (unsigned char)h;
    memcpy(frame + 2, env, h);
    unsigned char payload[] = {0, 1, 255, 0};
    memcpy(frame + 2 + h, payload, sizeof(payload));
    struct request req;
    struct request_error err;
    ck_assert_int_eq(envelope_parse_binary(frame, 2 + h + sizeof(payload), &req, &err), 0);
    ck_assert(req.is_binary);
    ck_assert_uint_eq(req.data_len, sizeof(payload));
    ck_assert_mem_eq(req.payload, payload, sizeof(payload));
    request_clear(&req);

    /* Length header past the end; too short; not a publish. */
    frame[1] = 200;
    ck_assert_int_eq(envelope_parse_binary(frame, 2 + h, &req, &err), -1);
    ck_assert_str_eq(err.code, ERR_BAD_REQUEST);
    ck_assert_int_eq(envelope_parse_binary(frame, 1, &req, &err), -1);
    const char ping[] = "{\"op\":\"ping\",\"id\":9}";
    frame[1] = sizeof(ping) - 1;
    memcpy(frame + 2, ping, sizeof(ping) - 1);
    ck_assert_int_eq(envelope_parse_binary(frame, 2 + sizeof(ping) - 1, &req, &err), -1);
    ck_assert(err.has_id);
    ck_assert_uint_eq(err.id, 9);
}
END_TEST

START_TEST(test_errors)
{
    ck_assert(!expect_error("not json", ERR_BAD_REQUEST));
    ck_assert(!expect_error("[1,2]", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":1}", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":2,\"op\":5}", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":3,\"op\":\"fly\"}", ERR_UNKNOWN_OP));
    ck_assert(!expect_error("{\"id\":0,\"op\":\"ping\"}", ERR_BAD_REQUEST));
    ck_assert(!expect_error("{\"id\":-1,\"op\":\"ping\"}", ERR_BAD_REQUEST));
    ck_assert(!expect_error("{\"id\":1.5,\"op\":\"ping\"}", ERR_BAD_REQUEST));
    ck_assert(!expect_error("{\"id\":\"1\",\"op\":\"ping\"}", ERR_BAD_REQUEST));
    ck_assert(!expect_error("{\"id\":9007199254740992,\"op\":\"ping\"}", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":9007199254740991,\"op\":\"subscribe\"}", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":4,\"op\":\"subscribe\",\"topic\":7}", ERR_BAD_REQUEST));
    ck_assert(
        expect_error("{\"id\":4,\"op\":\"subscribe\",\"topic\":\"a..b\"}", ERR_INVALID_TOPIC));
    ck_assert(expect_error("{\"id\":4,\"op\":\"subscribe\",\"topic\":\"a\",\"since\":-1}",
                           ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":4,\"op\":\"subscribe\",\"topic\":\"a\",\"since\":1,\"last\":1}",
                           ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":4,\"op\":\"subscribe\",\"topic\":\"a.*\",\"presence\":true}",
                           ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":4,\"op\":\"subscribe\",\"topic\":\"a\",\"presence\":1}",
                           ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":5,\"op\":\"publish\",\"topic\":\"a.*\",\"data\":1}",
                           ERR_INVALID_TOPIC));
    ck_assert(expect_error("{\"id\":5,\"op\":\"publish\",\"topic\":\"a\"}", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":5,\"op\":\"publish\",\"topic\":\"a\",\"data\":1,\"key\":\"\"}",
                           ERR_BAD_REQUEST));
    ck_assert(
        expect_error("{\"id\":5,\"op\":\"publish\",\"topic\":\"a\",\"data\":1,\"echo\":\"no\"}",
                     ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":6,\"op\":\"history\",\"topic\":\"a\",\"limit\":1001}",
                           ERR_BAD_REQUEST));
    ck_assert(
        expect_error("{\"id\":6,\"op\":\"history\",\"topic\":\"a\",\"limit\":0}", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":7,\"op\":\"presence\",\"topic\":\"a.>\"}", ERR_BAD_REQUEST));
    ck_assert(expect_error("{\"id\":8,\"op\":\"auth\"}", ERR_BAD_REQUEST));
}
END_TEST

START_TEST(test_error_message_stays_utf8)
{
    /* 59 ASCII bytes and a 2-byte character: the 60-byte cut of the op name
     * in the message falls inside the character. */
    char text[128];
    snprintf(text, sizeof(text), "{\"id\":1,\"op\":\"%s\xc3\xa9\"}",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    struct request req;
    struct request_error err;
    ck_assert_int_eq(parse(text, &req, &err), -1);
    struct frame *f = answer_error(&err);
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)frame_payload(f), f->len, 0, &jerr);
    ck_assert_ptr_nonnull(obj);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(obj, "message")), "aaaa"));
    json_decref(obj);
    frame_unref(f);
}
END_TEST

START_TEST(test_deep_nesting)
{
    size_t depth = 5000;
    char *text = malloc(2 * depth + 1);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[2 * depth] = '\0';
    ck_assert(!expect_error(text, ERR_BAD_REQUEST));
    free(text);
}
END_TEST

START_TEST(test_encode_message)
{
    struct store_msg msg = {.seq = 1043,
                            .ts = 1764000000123,
                            .topic = "prices.AAPL",
                            .data = (unsigned char *)"{\"px\":189.2}",
                            .data_len = 12};
    struct frame *f = envelope_encode_message(&msg);
    const char want[] = "{\"op\":\"message\",\"topic\":\"prices.AAPL\",\"seq\":1043,"
                        "\"ts\":1764000000123,\"data\":{\"px\":189.2}}";
    ck_assert(!f->is_binary);
    ck_assert_uint_eq(f->len, sizeof(want) - 1);
    ck_assert_mem_eq(frame_payload(f), want, f->len);
    ck_assert_uint_le(f->len, envelope_message_size(msg.topic, NULL, false, msg.data_len));
    frame_unref(f);

    unsigned char bytes[] = {0, 0xff, 0x10};
    struct store_msg bin = {.seq = 5,
                            .ts = 7,
                            .topic = "b",
                            .from_user = "al\"ice",
                            .is_binary = true,
                            .data = bytes,
                            .data_len = 3};
    f = envelope_encode_message(&bin);
    ck_assert(f->is_binary);
    unsigned char *p = frame_payload(f);
    size_t h = (size_t)p[0] << 8 | p[1];
    const char env[] =
        "{\"op\":\"message\",\"topic\":\"b\",\"seq\":5,\"ts\":7,\"from\":\"al\\\"ice\"}";
    ck_assert_uint_eq(h, sizeof(env) - 1);
    ck_assert_mem_eq(p + 2, env, h);
    ck_assert_uint_eq(f->len, 2 + h + 3);
    ck_assert_mem_eq(p + 2 + h, bytes, 3);
    frame_unref(f);

    struct sbuf b;
    sbuf_init(&b);
    envelope_append_message_json(&b, &bin);
    json_error_t jerr;
    json_t *obj = json_loadb(b.data, b.len, 0, &jerr);
    ck_assert_ptr_nonnull(obj);
    ck_assert_str_eq(json_string_value(json_object_get(obj, "data")), "AP8Q");
    ck_assert_str_eq(json_string_value(json_object_get(obj, "encoding")), "base64");
    json_decref(obj);
    sbuf_free(&b);
}
END_TEST

START_TEST(test_encode_error_escapes)
{
    struct request_error err = {.code = ERR_UNKNOWN_OP, .has_id = true, .id = 12};
    snprintf(err.message, sizeof(err.message), "unknown op \"a\\b\"");
    struct frame *f = answer_error(&err);
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)frame_payload(f), f->len, 0, &jerr);
    ck_assert_ptr_nonnull(obj);
    ck_assert_str_eq(json_string_value(json_object_get(obj, "op")), "error");
    ck_assert_int_eq(json_integer_value(json_object_get(obj, "id")), 12);
    ck_assert_str_eq(json_string_value(json_object_get(obj, "code")), "unknown_op");
    ck_assert_str_eq(json_string_value(json_object_get(obj, "message")), "unknown op \"a\\b\"");
    json_decref(obj);
    frame_unref(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("envelope");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_subscribe_fields);
    tcase_add_test(tc, test_publish_text);
    tcase_add_test(tc, test_publish_data_verbatim);
    tcase_add_test(tc, test_publish_fast_path_agrees);
    tcase_add_test(tc, test_publish_inline_and_heap);
    tcase_add_test(tc, test_sbuf_on_stack);
    tcase_add_test(tc, test_sbuf_integers);
    tcase_add_test(tc, test_jscan_member_and_items);
    tcase_add_test(tc, test_jscan_string_special_at_each_offset);
    tcase_add_test(tc, test_jscan_utf8_valid);
    tcase_add_test(tc, test_frame_cache);
    tcase_add_test(tc, test_float_round_trip);
    tcase_add_test(tc, test_binary_publish);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_error_message_stays_utf8);
    tcase_add_test(tc, test_encode_message);
    tcase_add_test(tc, test_encode_error_escapes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
