/* SPDX-License-Identifier: MIT */
/*
 * test_libwsb_auth.c: tokens in libwsb (docs/auth.md, "Clients"): the
 * token on the upgrade URL, token_fn asked before every connection and on
 * expiry, WSB_EVENT_TOKEN_EXPIRED, WSB_EEXPIRED, a 4003 close, wsb_auth().
 *
 * Expiry happens on the real broker only when the clock says so, so its
 * client side is tested against fake_broker.c, which expires on cue; the
 * real broker with --auth-secret checks grants and a refresh that keeps a
 * connection past its first token's exp.
 */
#include "fake_broker.h"
#include "libwsb_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "0123456789abcdef0123456789abcdef-test"

/* A token_fn giving "tok-1", "tok-2", ...; arg counts the calls. */
static int numbered_token(wsb_client *c, char *buf, size_t size, void *arg)
{
    int *calls = arg;
    (void)c;
    snprintf(buf, size, "tok-%d", ++*calls);
    return 0;
}

/* A client connected to the fake broker: what each test below starts from.
 * The test sets the script (f's script fields) before scripted_begin. */
struct scripted {
    struct fake_broker f;
    struct events ev;
    int calls; /* of numbered_token */
    wsb_client *c;
    char path[512];
};

/* Starts the fake broker and connects a client with token "static", and
 * with numbered_token as its token_fn when with_token_fn is set. */
static void scripted_begin(struct scripted *s, int with_token_fn)
{
    char err[256];
    ck_assert_int_eq(fake_broker_start(&s->f), 0);
    struct wsb_options o = {.url = s->f.url,
                            .token = "static",
                            .timeout_ms = 3000,
                            .reconnect_min_ms = 20,
                            .reconnect_max_ms = 100,
                            .on_event = on_event,
                            .user = &s->ev,
                            .token_fn = with_token_fn ? numbered_token : NULL,
                            .token_arg = &s->calls};
    s->c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_msg(s->c != NULL, "%s", err);
    ck_assert_int_eq(wsb_client_connect(s->c), WSB_OK);
}

static void scripted_end(struct scripted *s)
{
    wsb_client_free(s->c);
    fake_broker_stop(&s->f);
}

/* The upgrade path of the fake broker's connection i. */
static const char *scripted_path(struct scripted *s, int i)
{
    fake_broker_path(&s->f, i, s->path, sizeof(s->path));
    return s->path;
}

/* Services the client until the fake broker saw needle in a frame, or 3 s. */
static int scripted_wait_frame(struct scripted *s, const char *needle)
{
    long long deadline = harness_now_ms() + 3000;
    while (!fake_broker_saw(&s->f, needle) && harness_now_ms() < deadline)
        wsb_client_service(s->c, 20);
    return fake_broker_saw(&s->f, needle);
}

START_TEST(test_token_on_the_upgrade_url)
{
    struct scripted s = {0};
    scripted_begin(&s, 0);
    ck_assert_str_eq(scripted_path(&s, 0), "/ws?token=static");
    scripted_end(&s);
}
END_TEST

START_TEST(test_expiry_is_an_event_then_wsb_auth)
{
    struct scripted s = {.f = {.expire_after_welcome = 1}};
    scripted_begin(&s, 0);
    ck_assert(pump_flag(s.c, NULL, &s.ev.expired, 3000));
    ck_assert(!fake_broker_saw(&s.f, "\"op\":\"auth\""));

    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_auth_sync(s.c, "fresh", &r), WSB_OK);
    ck_assert_str_eq(r->user, "u");
    ck_assert_int_eq(r->exp, 2000000000);
    wsb_reply_free(r);
    ck_assert(fake_broker_saw(&s.f, "\"token\":\"fresh\""));
    scripted_end(&s);
}
END_TEST

START_TEST(test_expiry_asks_token_fn_and_sends_auth)
{
    struct scripted s = {.f = {.expire_after_welcome = 1}};
    scripted_begin(&s, 1);
    ck_assert_str_eq(scripted_path(&s, 0), "/ws?token=tok-1"); /* token_fn wins over token */
    ck_assert(pump_flag(s.c, NULL, &s.ev.expired, 3000));
    ck_assert_int_eq(s.calls, 2);
    ck_assert(scripted_wait_frame(&s, "\"token\":\"tok-2\""));
    ck_assert(fake_broker_saw(&s.f, "\"op\":\"auth\""));
    ck_assert_int_eq(wsb_ping_sync(s.c), WSB_OK);
    ck_assert_int_eq(s.ev.errors, 0); /* the refresh was accepted */
    scripted_end(&s);
}
END_TEST

START_TEST(test_request_refused_as_expired)
{
    struct scripted s = {.f = {.expire_requests = 1}};
    scripted_begin(&s, 0);
    struct wsb_publish p = {.topic = "t", .json = "1"};
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_publish_sync(s.c, &p, NULL, &r), WSB_EEXPIRED);
    ck_assert_str_eq(r->code, "token_expired");
    wsb_reply_free(r);
    ck_assert_str_eq(wsb_strerror(WSB_EEXPIRED), "token expired: present a fresh one");
    scripted_end(&s);
}
END_TEST

START_TEST(test_close_4003_reconnects_with_a_fresh_token)
{
    struct scripted s = {.f = {.close_4003_first = 1}};
    scripted_begin(&s, 1);
    ck_assert(pump_flag(s.c, NULL, &s.ev.disconnected, 3000));
    long long deadline = harness_now_ms() + 3000;
    while (s.ev.connected < 2 && harness_now_ms() < deadline)
        wsb_client_service(s.c, 20);
    ck_assert_int_eq(s.ev.connected, 2);
    ck_assert_int_eq(s.ev.gave_up, 0);
    ck_assert_str_eq(scripted_path(&s, 1), "/ws?token=tok-2");
    scripted_end(&s);
}
END_TEST

START_TEST(test_close_4003_without_token_fn_gives_up)
{
    struct scripted s = {.f = {.close_4003_first = 1}};
    char err[256];
    scripted_begin(&s, 0);
    ck_assert(pump_flag(s.c, NULL, &s.ev.gave_up, 3000));
    ck_assert_int_eq(fake_broker_conns(&s.f), 1);
    wsb_client_last_error(s.c, err, sizeof(err));
    ck_assert_msg(strstr(err, "4003") != NULL, "last error: %s", err);
    scripted_end(&s);
}
END_TEST

/* ---- against the real broker ---- */

static void alice_token(char *out, size_t len, long long exp)
{
    char claims[256];
    snprintf(claims, sizeof(claims),
             "{\"sub\":\"alice\",\"exp\":%lld,\"subscribe\":[\"chat.>\"],"
             "\"publish\":[\"chat.>\"]}",
             exp);
    token_hs256(SECRET, claims, out, len);
}

/* Gives alice a token valid for 3 s from now. */
static int alice_short_token(wsb_client *c, char *buf, size_t size, void *arg)
{
    (void)c;
    (void)arg;
    alice_token(buf, size, (long long)time(NULL) + 3);
    return 0;
}

START_TEST(test_jwt_grants_and_refresh)
{
    struct broker b = {0};
    struct events ev = {0};
    char err[256], token[1024];
    b.extra[0] = "--auth-secret";
    b.extra[1] = SECRET;
    b.extra[2] = "--auth-grace";
    b.extra[3] = "1";
    if (broker_start_or_skip(&b, "test_jwt_grants_and_refresh"))
        return;
    alice_token(token, sizeof(token), (long long)time(NULL) + 60);
    struct wsb_options o = {.url = b.url, .token = token, .timeout_ms = 3000};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    ck_assert_uint_gt(publish_text(c, "chat.x", "1"), 0);
    struct wsb_publish p = {.topic = "news.x", .json = "1"};
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_publish_sync(c, &p, NULL, &r), WSB_EBROKER);
    ck_assert_str_eq(r->code, "forbidden");
    wsb_reply_free(r);
    ck_assert_int_eq(wsb_auth_sync(c, token, &r), WSB_OK);
    ck_assert_str_eq(r->user, "alice");
    wsb_reply_free(r);
    wsb_client_free(c);

    /* A token too long for the URL goes in an `auth` ahead of the rest. */
    char claims[4096], long_token[8192], pad[3001];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(claims, sizeof(claims),
             "{\"sub\":\"alice\",\"exp\":%lld,\"publish\":[\"chat.>\"],\"pad\":\"%s\"}",
             (long long)time(NULL) + 60, pad);
    token_hs256(SECRET, claims, long_token, sizeof(long_token));
    o.token = long_token;
    c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    ck_assert_uint_gt(publish_text(c, "chat.x", "\"long\""), 0);
    wsb_client_free(c);
    o.token = token;

    /* An expired token gets an error and close 4001 (the welcome may come
     * first), and is not presented again. */
    alice_token(token, sizeof(token), (long long)time(NULL) - 10);
    c = wsb_client_new(&o, err, sizeof(err));
    int status = wsb_client_connect(c);
    if (status == WSB_OK)
        status = wsb_ping_sync(c);
    ck_assert_int_eq(status, WSB_EAUTH);
    wsb_client_free(c);

    /* Tokens of 3 s from token_fn: the client renews each on expiry and
     * the connection outlives them. */
    o.token = NULL;
    o.token_fn = alice_short_token;
    o.on_event = on_event;
    o.user = &ev;
    c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    ck_assert(pump_flag(c, NULL, &ev.expired, 8000));
    long long deadline = harness_now_ms() + 2500; /* past the grace period */
    while (harness_now_ms() < deadline)
        wsb_client_service(c, 50);
    ck_assert_int_eq(ev.disconnected, 0);
    ck_assert_uint_gt(publish_text(c, "chat.x", "2"), 0);
    wsb_client_free(c);
    broker_cleanup(&b);
}
END_TEST

static Suite *libwsb_auth_suite(void)
{
    Suite *s = suite_create("libwsb_auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_token_on_the_upgrade_url);
    tcase_add_test(tc, test_expiry_is_an_event_then_wsb_auth);
    tcase_add_test(tc, test_expiry_asks_token_fn_and_sends_auth);
    tcase_add_test(tc, test_request_refused_as_expired);
    tcase_add_test(tc, test_close_4003_reconnects_with_a_fresh_token);
    tcase_add_test(tc, test_close_4003_without_token_fn_gives_up);
    tcase_add_test(tc, test_jwt_grants_and_refresh);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(libwsb_auth_suite(), 0);
}
