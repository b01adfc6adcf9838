/* SPDX-License-Identifier: MIT */
/*
 * test_redis_wire.c: unit tests of broker/store/redis_wire.c, the byte
 * formats of the Redis engine and its redis:// URL.
 *
 * Records are bytes that any client of the same Redis can write, so besides
 * the round trips (anonymous, a user, an empty user, binary data with NUL
 * bytes, empty data) most of this file is the list of what the decoder must
 * refuse: lengths that do not add up, a missing newline, non-digits, signs
 * and over-long numbers. The live payload reader and the URL parser get the
 * same treatment: what they accept, with their defaults, and what they
 * refuse.
 */
#include "store/redis_wire.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

/* ------------------------------------------------------------ records */

/* Encodes msg, decodes the record as seq 42 and checks every field. */
static void check_round_trip(const struct store_msg *msg)
{
    size_t len = 0;
    char *rec = redis_record_encode(msg, &len);
    ck_assert_ptr_nonnull(rec);
    struct store_msg back;
    ck_assert_int_eq(redis_record_decode(rec, len, 42, &back), 0);
    ck_assert_uint_eq(back.seq, 42);
    ck_assert_int_eq(back.ts, msg->ts);
    ck_assert_int_eq(back.is_binary, msg->is_binary);
    ck_assert_str_eq(back.topic, msg->topic);
    if (msg->from_user)
        ck_assert_str_eq(back.from_user, msg->from_user);
    else
        ck_assert_ptr_null(back.from_user);
    ck_assert_uint_eq(back.data_len, msg->data_len);
    ck_assert_ptr_nonnull(back.data);
    ck_assert_int_eq(back.data[back.data_len], '\0');
    if (msg->data_len)
        ck_assert_mem_eq(back.data, msg->data, msg->data_len);
    store_msg_clear(&back);
    free(rec);
}

START_TEST(record_anonymous)
{
    struct store_msg msg = {.ts = 1700000000123,
                            .topic = "chat/room1",
                            .data = (unsigned char *)"{\"text\":\"hi\"}",
                            .data_len = 13};
    size_t len = 0;
    char *rec = redis_record_encode(&msg, &len);
    ck_assert_ptr_nonnull(rec);
    const char expected[] = "1700000000123 0 -1 10 13\nchat/room1{\"text\":\"hi\"}";
    ck_assert_uint_eq(len, sizeof(expected) - 1);
    ck_assert_mem_eq(rec, expected, len);
    free(rec);
    check_round_trip(&msg);
}
END_TEST

START_TEST(record_user)
{
    struct store_msg msg = {.ts = 5,
                            .topic = "a/b",
                            .from_user = "alice",
                            .data = (unsigned char *)"42",
                            .data_len = 2};
    check_round_trip(&msg);
    msg.from_user = "";
    check_round_trip(&msg);
}
END_TEST

START_TEST(record_binary_with_nul)
{
    unsigned char bytes[] = {0, 1, '\n', ' ', 0, 0xff, '-', '9', 0};
    struct store_msg msg = {.ts = 0,
                            .topic = "bin",
                            .from_user = "u 1\n",
                            .is_binary = true,
                            .data = bytes,
                            .data_len = sizeof(bytes)};
    check_round_trip(&msg);
}
END_TEST

START_TEST(record_empty_data)
{
    struct store_msg msg = {.ts = 9, .topic = "t", .data = NULL, .data_len = 0};
    check_round_trip(&msg);
    msg.is_binary = true;
    check_round_trip(&msg);
}
END_TEST

START_TEST(record_negative_ts)
{
    struct store_msg msg = {.ts = -3, .topic = "t", .data = (unsigned char *)"1", .data_len = 1};
    check_round_trip(&msg);
}
END_TEST

/* Decodes a text record; on refusal the message must be left empty. */
static int decode_text(const char *rec)
{
    struct store_msg msg;
    memset(&msg, 0x5a, sizeof(msg));
    int rc = redis_record_decode(rec, strlen(rec), 1, &msg);
    if (rc == 0) {
        store_msg_clear(&msg);
        return 0;
    }
    ck_assert_ptr_null(msg.topic);
    ck_assert_ptr_null(msg.from_user);
    ck_assert_ptr_null(msg.data);
    ck_assert_uint_eq(msg.data_len, 0);
    return rc;
}

/* Each reject sits next to the nearest record that is accepted, so that a
 * decoder refusing everything fails too. */
START_TEST(record_lengths_must_add_up)
{
    ck_assert_int_eq(decode_text("1 0 -1 1 2\nabc"), 0);
    ck_assert_int_eq(decode_text("1 0 -1 1 2\nab"), -1);   /* short */
    ck_assert_int_eq(decode_text("1 0 -1 1 2\nabcd"), -1); /* long */
    ck_assert_int_eq(decode_text("1 0 2 1 2\nuuabc"), 0);
    ck_assert_int_eq(decode_text("1 0 3 1 2\nuuabc"), -1); /* user eats the data */
    ck_assert_int_eq(decode_text("1 0 9 1 2\nuuabc"), -1); /* user past the end */
    ck_assert_int_eq(decode_text("1 0 -1 9 0\nabc"), -1);  /* topic past the end */
}
END_TEST

START_TEST(record_missing_newline)
{
    ck_assert_int_eq(decode_text("1 0 -1 1 0\nt"), 0);
    ck_assert_int_eq(decode_text("1 0 -1 1 0 t"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1 0"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1\n0 t"), -1);
    ck_assert_int_eq(decode_text(""), -1);
}
END_TEST

START_TEST(record_non_digits)
{
    ck_assert_int_eq(decode_text("x 0 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 x -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1a 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1 0x\nt"), -1);
    ck_assert_int_eq(decode_text(" 1 0 -1 1 0\nt"), -1);  /* leading space */
    ck_assert_int_eq(decode_text("1  0 -1 1 0\nt"), -1);  /* two spaces */
    ck_assert_int_eq(decode_text("1 0 - 1 0\nt"), -1);    /* a sign alone */
    ck_assert_int_eq(decode_text("1 0 -1 1 0\r\nt"), -1); /* CRLF */
}
END_TEST

START_TEST(record_leading_plus)
{
    ck_assert_int_eq(decode_text("+1 0 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 +0 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 +1 1 0\nut"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 +1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1 +0\nt"), -1);
}
END_TEST

/* One way to write each number: "01" and "-0" are not numbers here. */
START_TEST(record_one_spelling_per_number)
{
    ck_assert_int_eq(decode_text("0 0 -1 1 0\nt"), 0);
    ck_assert_int_eq(decode_text("10 0 -1 1 0\nt"), 0);
    ck_assert_int_eq(decode_text("01 0 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 00 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -0 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 01 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1 00\nt"), -1);
}
END_TEST

START_TEST(record_too_many_digits)
{
    ck_assert_int_eq(decode_text("999999999999999999 0 -1 1 0\nt"), 0); /* 18 */
    ck_assert_int_eq(decode_text("1000000000000000000 0 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("-1000000000000000000 0 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1 0000000000000000000\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1 18446744073709551617\nt"), -1);
}
END_TEST

START_TEST(record_bin_zero_or_one)
{
    ck_assert_int_eq(decode_text("1 1 -1 1 0\nt"), 0);
    ck_assert_int_eq(decode_text("1 2 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 -1 -1 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 10 -1 1 0\nt"), -1);
}
END_TEST

START_TEST(record_topic_not_empty)
{
    ck_assert_int_eq(decode_text("1 0 -1 0 1\nd"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 0 0\n"), -1);
}
END_TEST

START_TEST(record_negative_lengths)
{
    ck_assert_int_eq(decode_text("1 0 -1 1 0\nt"), 0);
    ck_assert_int_eq(decode_text("1 0 -2 1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 -1 0\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 1 -1\nt"), -1);
    ck_assert_int_eq(decode_text("1 0 -1 -2 1\nt"), -1);
}
END_TEST

/* ------------------------------------------------------- live payloads */

START_TEST(live_several_entries)
{
    const char payload[] = "7 node-a 5\nhello12 b 0\n13 node-c 3\nx\0y";
    size_t len = sizeof(payload) - 1;
    size_t at = 0;
    struct redis_live_entry e;

    ck_assert_int_eq(redis_live_next(payload, len, &at, &e), 1);
    ck_assert_uint_eq(e.seq, 7);
    ck_assert_uint_eq(e.origin_len, 6);
    ck_assert_mem_eq(e.origin, "node-a", 6);
    ck_assert_uint_eq(e.rec_len, 5);
    ck_assert_mem_eq(e.rec, "hello", 5);

    ck_assert_int_eq(redis_live_next(payload, len, &at, &e), 1);
    ck_assert_uint_eq(e.seq, 12);
    ck_assert_uint_eq(e.origin_len, 1);
    ck_assert_mem_eq(e.origin, "b", 1);
    ck_assert_uint_eq(e.rec_len, 0);

    ck_assert_int_eq(redis_live_next(payload, len, &at, &e), 1);
    ck_assert_uint_eq(e.seq, 13);
    ck_assert_mem_eq(e.origin, "node-c", 6);
    ck_assert_uint_eq(e.rec_len, 3);
    ck_assert_mem_eq(e.rec, "x\0y", 3);

    ck_assert_uint_eq(at, len);
    ck_assert_int_eq(redis_live_next(payload, len, &at, &e), 0);
}
END_TEST

/* A record made by the encoder travels in a payload and decodes back. */
START_TEST(live_carries_a_record)
{
    struct store_msg msg = {.ts = 77,
                            .topic = "x/y",
                            .from_user = "bob",
                            .data = (unsigned char *)"[1]",
                            .data_len = 3};
    size_t rec_len = 0;
    char *rec = redis_record_encode(&msg, &rec_len);
    ck_assert_ptr_nonnull(rec);
    char payload[256];
    int head = snprintf(payload, sizeof(payload), "99 n1 %zu\n", rec_len);
    memcpy(payload + head, rec, rec_len);
    size_t len = (size_t)head + rec_len;

    size_t at = 0;
    struct redis_live_entry e;
    ck_assert_int_eq(redis_live_next(payload, len, &at, &e), 1);
    struct store_msg back;
    ck_assert_int_eq(redis_record_decode(e.rec, e.rec_len, e.seq, &back), 0);
    ck_assert_uint_eq(back.seq, 99);
    ck_assert_str_eq(back.from_user, "bob");
    ck_assert_str_eq(back.topic, "x/y");
    ck_assert_mem_eq(back.data, "[1]", 3);
    store_msg_clear(&back);
    free(rec);
    ck_assert_int_eq(redis_live_next(payload, len, &at, &e), 0);
}
END_TEST

/* Reads the first entry of a text payload. */
static int live_first(const char *payload)
{
    size_t at = 0;
    struct redis_live_entry e;
    return redis_live_next(payload, strlen(payload), &at, &e);
}

START_TEST(live_truncated)
{
    ck_assert_int_eq(live_first("5 n 3\nabc"), 1);
    ck_assert_int_eq(live_first("5 n 3\nab"), -1);
    ck_assert_int_eq(live_first("5 n 3"), -1);
    ck_assert_int_eq(live_first("5 n"), -1);
    ck_assert_int_eq(live_first("5"), -1);

    /* a good entry, then a cut one */
    const char payload[] = "5 n 1\na6 n 4\nab";
    size_t at = 0;
    struct redis_live_entry e;
    ck_assert_int_eq(redis_live_next(payload, sizeof(payload) - 1, &at, &e), 1);
    ck_assert_int_eq(redis_live_next(payload, sizeof(payload) - 1, &at, &e), -1);
}
END_TEST

START_TEST(live_malformed_head)
{
    ck_assert_int_eq(live_first("0 n 1\na"), -1);  /* seq 0 */
    ck_assert_int_eq(live_first("-5 n 1\na"), -1); /* negative seq */
    ck_assert_int_eq(live_first("5  1\na"), -1);   /* empty origin */
    ck_assert_int_eq(live_first("5 n -1\na"), -1); /* negative length */
    ck_assert_int_eq(live_first("+5 n 1\na"), -1);
    ck_assert_int_eq(live_first("5 n 1 \na"), -1);
}
END_TEST

START_TEST(live_empty)
{
    size_t at = 0;
    struct redis_live_entry e;
    ck_assert_int_eq(redis_live_next("", 0, &at, &e), 0);
    ck_assert_uint_eq(at, 0);
}
END_TEST

/* ---------------------------------------------------------------- URL */

static char url_err[512];

static int parse(const char *text, struct redis_url *out)
{
    url_err[0] = '\0';
    int rc = redis_url_parse(text, out, url_err, sizeof(url_err));
    if (rc != 0) {
        ck_assert_ptr_nonnull(strstr(url_err, "--redis"));
        ck_assert_ptr_null(strchr(url_err, '\n'));
    }
    return rc;
}

START_TEST(url_defaults)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://localhost", &u), 0);
    ck_assert_str_eq(u.host, "localhost");
    ck_assert_int_eq(u.port, 6379);
    ck_assert_int_eq(u.db, 0);
    ck_assert_str_eq(u.password, "");
    ck_assert_int_eq(parse("redis://10.0.0.1/", &u), 0);
    ck_assert_str_eq(u.host, "10.0.0.1");
    ck_assert_int_eq(u.db, 0);
}
END_TEST

START_TEST(url_port_and_db)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://h:6380/3", &u), 0);
    ck_assert_str_eq(u.host, "h");
    ck_assert_int_eq(u.port, 6380);
    ck_assert_int_eq(u.db, 3);
    ck_assert_int_eq(parse("redis://h:1/15", &u), 0);
    ck_assert_int_eq(u.port, 1);
    ck_assert_int_eq(u.db, 15);
    ck_assert_int_eq(parse("redis://h:65535", &u), 0);
    ck_assert_int_eq(u.port, 65535);
}
END_TEST

START_TEST(url_password)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://:s3cret@cache.local:7000/2", &u), 0);
    ck_assert_str_eq(u.password, "s3cret");
    ck_assert_str_eq(u.host, "cache.local");
    ck_assert_int_eq(u.port, 7000);
    ck_assert_int_eq(u.db, 2);
    ck_assert_int_eq(parse("redis://default:pw@h", &u), 0);
    ck_assert_str_eq(u.password, "pw");
    ck_assert_str_eq(u.host, "h");
    ck_assert_int_eq(u.port, 6379);
    /* the last '@' ends the credentials, so a password may hold one */
    ck_assert_int_eq(parse("redis://:p@ss@h", &u), 0);
    ck_assert_str_eq(u.password, "p@ss");
    ck_assert_str_eq(u.host, "h");
}
END_TEST

START_TEST(url_other_user_refused)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://alice:pw@h", &u), -1);
    ck_assert_ptr_nonnull(strstr(url_err, "default user"));
    ck_assert_int_eq(parse("redis://defaultx:pw@h", &u), -1);
    ck_assert_int_eq(parse("redis://pw@h", &u), -1); /* no ':' */
    ck_assert_int_eq(parse("redis://:@h", &u), -1);  /* empty password */
}
END_TEST

START_TEST(url_bad_port)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://h:0", &u), -1);
    ck_assert_ptr_nonnull(strstr(url_err, "bad port"));
    ck_assert_int_eq(parse("redis://h:65536", &u), -1);
    ck_assert_int_eq(parse("redis://h:abc", &u), -1);
    ck_assert_int_eq(parse("redis://h:", &u), -1);
    ck_assert_int_eq(parse("redis://h:-1", &u), -1);
    ck_assert_int_eq(parse("redis://h:+80", &u), -1);
    ck_assert_int_eq(parse("redis://h:6379x/0", &u), -1);
}
END_TEST

/* A refusal is one line, and never shows the password. */
START_TEST(url_refusal_one_line_no_password)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://:s3cret@h:0", &u), -1);
    ck_assert_ptr_null(strstr(url_err, "s3cret"));
    ck_assert_ptr_nonnull(strstr(url_err, ":***@h:0"));
    ck_assert_int_eq(parse("redis://h\n:0\r", &u), -1);
    ck_assert_ptr_null(strchr(url_err, '\n'));
    ck_assert_ptr_null(strchr(url_err, '\r'));
}
END_TEST

START_TEST(url_bad_db)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://h/16", &u), -1);
    ck_assert_ptr_nonnull(strstr(url_err, "database"));
    ck_assert_int_eq(parse("redis://h/x", &u), -1);
    ck_assert_int_eq(parse("redis://h/-1", &u), -1);
    ck_assert_int_eq(parse("redis://h/1/2", &u), -1);
}
END_TEST

START_TEST(url_missing_host)
{
    struct redis_url u;
    ck_assert_int_eq(parse("redis://", &u), -1);
    ck_assert_ptr_nonnull(strstr(url_err, "host"));
    ck_assert_int_eq(parse("redis://:6379", &u), -1);
    ck_assert_int_eq(parse("redis:///0", &u), -1);
    ck_assert_int_eq(parse("redis://:pw@", &u), -1);
    ck_assert_int_eq(parse("redis://:pw@:6379/1", &u), -1);
}
END_TEST

START_TEST(url_not_redis)
{
    struct redis_url u;
    ck_assert_int_eq(parse("http://h:6379", &u), -1);
    ck_assert_ptr_nonnull(strstr(url_err, "not a redis:// URL"));
    ck_assert_int_eq(parse("rediss://h", &u), -1);
    ck_assert_int_eq(parse("h:6379", &u), -1);
    ck_assert_int_eq(parse("redis:/h", &u), -1);
    ck_assert_int_eq(parse("", &u), -1);
}
END_TEST

static Suite *redis_wire_suite(void)
{
    Suite *s = suite_create("redis_wire");
    TCase *rec = tcase_create("records");
    tcase_add_test(rec, record_anonymous);
    tcase_add_test(rec, record_user);
    tcase_add_test(rec, record_binary_with_nul);
    tcase_add_test(rec, record_empty_data);
    tcase_add_test(rec, record_negative_ts);
    tcase_add_test(rec, record_lengths_must_add_up);
    tcase_add_test(rec, record_missing_newline);
    tcase_add_test(rec, record_non_digits);
    tcase_add_test(rec, record_leading_plus);
    tcase_add_test(rec, record_one_spelling_per_number);
    tcase_add_test(rec, record_too_many_digits);
    tcase_add_test(rec, record_bin_zero_or_one);
    tcase_add_test(rec, record_topic_not_empty);
    tcase_add_test(rec, record_negative_lengths);
    suite_add_tcase(s, rec);
    TCase *live = tcase_create("live");
    tcase_add_test(live, live_several_entries);
    tcase_add_test(live, live_carries_a_record);
    tcase_add_test(live, live_truncated);
    tcase_add_test(live, live_malformed_head);
    tcase_add_test(live, live_empty);
    suite_add_tcase(s, live);
    TCase *url = tcase_create("url");
    tcase_add_test(url, url_defaults);
    tcase_add_test(url, url_port_and_db);
    tcase_add_test(url, url_password);
    tcase_add_test(url, url_other_user_refused);
    tcase_add_test(url, url_bad_port);
    tcase_add_test(url, url_refusal_one_line_no_password);
    tcase_add_test(url, url_bad_db);
    tcase_add_test(url, url_missing_host);
    tcase_add_test(url, url_not_redis);
    suite_add_tcase(s, url);
    return s;
}

int main(void)
{
    return check_run(redis_wire_suite());
}
