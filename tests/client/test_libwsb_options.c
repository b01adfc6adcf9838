/* SPDX-License-Identifier: MIT */
/*
 * test_libwsb_options.c: libwsb's options and refusals against the real
 * broker.
 *
 * The no-echo and presence subscription options, the error replies of the
 * broker, a blocking call made inside a callback (refused), a message over the
 * broker's limit, and permessage-deflate.
 *
 * Needs WSBROKER_BIN (set by ctest). Most tests share one broker
 * (libwsb_fixture.h); the ones that kill or reconfigure a broker start
 * their own.
 */
#include "libwsb_fixture.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_no_echo)
{
    char topic[64];
    struct collector mine, theirs;
    collector_init(&mine);
    collector_init(&theirs);
    topic_name(topic, sizeof(topic), "echo");
    wsb_client *a = shared_client();
    wsb_client *b = shared_client();
    struct wsb_sub_options oa = collect_opts(&mine), ob = collect_opts(&theirs);
    ck_assert_int_eq(wsb_subscribe_sync(a, topic, &oa, NULL), WSB_OK);
    ck_assert_int_eq(wsb_subscribe_sync(b, topic, &ob, NULL), WSB_OK);
    struct wsb_publish quiet = {.topic = topic, .json = "\"quiet\"", .no_echo = 1};
    uint64_t s1 = 0;
    ck_assert_int_eq(wsb_publish_sync(a, &quiet, &s1, NULL), WSB_OK);
    uint64_t s2 = publish_text(a, topic, "\"loud\"");
    ck_assert(pump_count(a, b, &mine, 1, 5000));
    ck_assert(pump_count(b, a, &theirs, 2, 5000));
    ck_assert_uint_eq(mine.m[0].seq, s2); /* the quiet one never came back */
    ck_assert_uint_eq(collector_count(&mine), 1);
    ck_assert_uint_eq(theirs.m[0].seq, s1);
    wsb_client_free(a);
    wsb_client_free(b);
    collector_free(&mine);
    collector_free(&theirs);
}
END_TEST

struct presence_log {
    int joins, leaves;
};

static void on_presence(wsb_client *c, const struct wsb_presence_event *e, void *arg)
{
    (void)c;
    struct presence_log *log = arg;
    if (e->joined)
        log->joins++;
    else
        log->leaves++;
}

START_TEST(test_presence)
{
    char topic[64];
    struct presence_log log = {0};
    topic_name(topic, sizeof(topic), "room");
    wsb_client *a = shared_client();
    wsb_client *b = shared_client();
    struct wsb_sub_options oa = {.presence = 1, .on_presence = on_presence, .arg = &log};
    struct wsb_sub_options ob = {.presence = 1};
    ck_assert_int_eq(wsb_subscribe_sync(a, topic, &oa, NULL), WSB_OK);
    ck_assert_int_eq(wsb_subscribe_sync(b, topic, &ob, NULL), WSB_OK);
    ck_assert(pump_flag(a, b, &log.joins, 5000));
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_presence_sync(a, topic, &r), WSB_OK);
    ck_assert_uint_eq(r->n_members, 2);
    ck_assert_ptr_null(r->members[0].user); /* anonymous */
    ck_assert(r->members[0].client[0] != '\0');
    wsb_reply_free(r);
    wsb_client_free(b);
    ck_assert(pump_flag(a, NULL, &log.leaves, 5000));
    ck_assert_int_eq(wsb_presence_sync(a, topic, &r), WSB_OK);
    ck_assert_uint_eq(r->n_members, 1);
    wsb_reply_free(r);
    /* Presence on a pattern is refused. */
    struct wsb_sub_options bad = {.presence = 1};
    ck_assert_int_eq(wsb_subscribe_sync(a, "room.*", &bad, &r), WSB_EBROKER);
    ck_assert_str_eq(r->code, "bad_request");
    wsb_reply_free(r);
    wsb_client_free(a);
}
END_TEST

START_TEST(test_errors)
{
    struct collector col;
    collector_init(&col);
    wsb_client *c = shared_client();
    struct wsb_reply *r = NULL;
    struct wsb_publish bad_topic = {.topic = "a..b", .json = "1"};
    ck_assert_int_eq(wsb_publish_sync(c, &bad_topic, NULL, &r), WSB_EBROKER);
    ck_assert_str_eq(r->code, "invalid_topic");
    ck_assert(r->message[0] != '\0');
    wsb_reply_free(r);
    struct wsb_publish reserved = {.topic = "$sys.x", .json = "1"};
    ck_assert_int_eq(wsb_publish_sync(c, &reserved, NULL, &r), WSB_EBROKER);
    wsb_reply_free(r);

    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(c, "x.>.y", &so, &r), WSB_EBROKER);
    ck_assert_str_eq(r->code, "invalid_topic");
    ck_assert_str_eq(r->topic, "x.>.y");
    wsb_reply_free(r);
    ck_assert_int_eq(col.ack_errors, 1);
    /* A refused subscription is gone: the same pattern may be tried again. */
    ck_assert_int_eq(wsb_subscribe_sync(c, "x.>.y", &so, NULL), WSB_EBROKER);

    struct wsb_publish bad_json = {.topic = "t", .json = "{nope"};
    ck_assert_int_eq(wsb_publish_sync(c, &bad_json, NULL, &r), WSB_EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(wsb_publish(c, NULL, NULL, NULL), WSB_EINVAL);
    ck_assert_int_eq(wsb_subscribe(c, "", NULL), WSB_EINVAL);
    ck_assert_int_eq(wsb_history_sync(c, NULL, NULL, NULL), WSB_EINVAL);
    ck_assert_int_eq(wsb_history_sync(c, "a..b", NULL, &r), WSB_EBROKER);
    wsb_reply_free(r);
    ck_assert_int_eq(wsb_presence_sync(c, "a.*", &r), WSB_EBROKER);
    wsb_reply_free(r);
    /* The connection survived all of it. */
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK);
    ck_assert_int_eq(wsb_client_is_connected(c), 1);
    wsb_client_free(c);
    collector_free(&col);
}
END_TEST

static void on_message_tries_blocking(wsb_client *c, const struct wsb_message *m, void *arg)
{
    (void)m;
    int *status = arg;
    *status = wsb_ping_sync(c);
}

START_TEST(test_blocking_call_in_callback_is_refused)
{
    char topic[64];
    int status = 1;
    topic_name(topic, sizeof(topic), "busy");
    wsb_client *c = shared_client();
    struct wsb_sub_options so = {.on_message = on_message_tries_blocking, .arg = &status};
    ck_assert_int_eq(wsb_subscribe_sync(c, topic, &so, NULL), WSB_OK);
    publish_text(c, topic, "1");
    long long deadline = harness_now_ms() + 5000;
    while (status == 1 && harness_now_ms() < deadline)
        wsb_client_service(c, 20);
    ck_assert_int_eq(status, WSB_EBUSY);
    wsb_client_free(c);
}
END_TEST

START_TEST(test_too_big)
{
    struct broker b = {0};
    b.extra[0] = "--max-message";
    b.extra[1] = "2000";
    ck_assert_int_eq(broker_start(&b), 0);
    wsb_client *c = client_for(b.url, NULL);
    char *big = malloc(4000);
    memset(big, 'x', 3998);
    big[0] = '"';
    big[3997] = '"';
    big[3998] = '\0';
    struct wsb_publish p = {.topic = "big", .json = big};
    ck_assert_int_eq(wsb_publish_sync(c, &p, NULL, NULL), WSB_ETOOBIG);
    /* Just under the limit for the data, over it for the frame. */
    memset(big, 'y', 1997);
    big[0] = '"';
    big[1996] = '"';
    big[1997] = '\0';
    struct wsb_reply *r = NULL;
    int status = wsb_publish_sync(c, &p, NULL, &r);
    ck_assert_msg(status == WSB_ETOOBIG || status == WSB_EBROKER, "status %d", status);
    wsb_reply_free(r);
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK);
    publish_text(c, "big", "\"small\"");
    free(big);
    wsb_client_free(c);
    broker_cleanup(&b);
}
END_TEST

START_TEST(test_permessage_deflate)
{
    char topic[64], err[256];
    struct collector col;
    collector_init(&col);
    topic_name(topic, sizeof(topic), "deflate");
    struct wsb_options o = {.url = shared_broker.url, .compress = 1, .timeout_ms = 5000};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    struct wsb_sub_options so = collect_opts(&col);
    ck_assert_int_eq(wsb_subscribe_sync(c, topic, &so, NULL), WSB_OK);
    char *big = malloc(100002);
    big[0] = '"';
    memset(big + 1, 'z', 100000);
    big[100001] = '"';
    char *json = malloc(100003);
    memcpy(json, big, 100002);
    json[100002] = '\0';
    uint64_t seq = publish_text(c, topic, json);
    ck_assert(pump_count(c, NULL, &col, 1, 5000));
    ck_assert_uint_eq(col.m[0].seq, seq);
    ck_assert_uint_eq(col.m[0].len, 100002);
    ck_assert_str_eq(col.m[0].data, json);
    free(big);
    free(json);
    wsb_client_free(c);
    collector_free(&col);
}
END_TEST

/* expect_last: stored only on the topic's newest seq; otherwise the
 * reply is "conflict" with that seq in wsb_reply.last. */
START_TEST(test_expect_last)
{
    char topic[64];
    topic_name(topic, sizeof(topic), "cond");
    wsb_client *c = shared_client();
    struct wsb_reply *r = NULL;
    struct wsb_publish first = {.topic = topic, .json = "1", .has_expect_last = 1};
    uint64_t seq = 0;
    ck_assert_int_eq(wsb_publish_sync(c, &first, &seq, NULL), WSB_OK);
    ck_assert_uint_gt(seq, 0);
    struct wsb_publish stale = {.topic = topic, .json = "2", .has_expect_last = 1};
    ck_assert_int_eq(wsb_publish_sync(c, &stale, NULL, &r), WSB_EBROKER);
    ck_assert_str_eq(r->code, "conflict");
    ck_assert_uint_eq(r->last, seq);
    wsb_reply_free(r);
    struct wsb_publish next = {
        .topic = topic, .json = "3", .has_expect_last = 1, .expect_last = seq};
    uint64_t seq2 = 0;
    ck_assert_int_eq(wsb_publish_sync(c, &next, &seq2, NULL), WSB_OK);
    ck_assert_uint_gt(seq2, seq);
    wsb_client_free(c);
}
END_TEST

static Suite *libwsb_options_suite(void)
{
    Suite *s = suite_create("libwsb_options");
    TCase *tc = tcase_create("basic");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_no_echo);
    tcase_add_test(tc, test_presence);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_blocking_call_in_callback_is_refused);
    tcase_add_test(tc, test_too_big);
    tcase_add_test(tc, test_permessage_deflate);
    tcase_add_test(tc, test_expect_last);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(libwsb_options_suite(), 1);
}
