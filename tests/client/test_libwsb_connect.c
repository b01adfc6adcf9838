/* SPDX-License-Identifier: MIT */
/*
 * test_libwsb_connect.c: how libwsb connects and notices a lost broker.
 *
 * Connecting asynchronously before the broker is up, giving up after the
 * configured reconnects, a blocking call that times out, API key
 * authentication, a broker that stops answering on an open connection, and
 * wss://. Each test starts (or withholds) a broker of its own.
 *
 * Needs WSBROKER_BIN (set by ctest).
 */
#include "libwsb_fixture.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_ping_reply(wsb_client *c, const struct wsb_reply *r, void *arg)
{
    (void)c;
    *(int *)arg = r->status == WSB_OK ? 1 : -1;
}

START_TEST(test_connect_async_waits_for_the_broker)
{
    struct broker b = {0};
    struct events ev = {0};
    struct ack_count a = {0};
    char err[256];
    int pong = 0;
    ck_assert_int_eq(broker_prepare(&b), 0); /* a port, nobody listening yet */
    struct wsb_options o = {.url = b.url,
                            .reconnect_min_ms = 20,
                            .reconnect_max_ms = 100,
                            .on_event = on_event,
                            .user = &ev};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect_async(c), WSB_OK);
    /* Requests made before the welcome wait for it. */
    ck_assert_int_eq(wsb_publish_json(c, "early.t", "\"early\"", on_pub_ack, &a), WSB_OK);
    ck_assert_int_eq(wsb_ping(c, on_ping_reply, &pong), WSB_OK);
    ck_assert_uint_eq(wsb_client_pending(c), 2);
    ck_assert(pump_flag(c, NULL, &ev.disconnected, 5000)); /* refused, retrying */
    ck_assert_int_eq(a.acks + a.errors, 0);
    ck_assert_int_eq(broker_start(&b), 0);
    ck_assert(pump_flag(c, NULL, &ev.connected, 5000));
    ck_assert(pump_flag(c, NULL, &pong, 5000));
    ck_assert_int_eq(pong, 1);
    ck_assert(pump_flag(c, NULL, &a.acks, 5000));
    ck_assert_int_eq(a.errors, 0);
    ck_assert_int_eq(ev.gave_up, 0);
    ck_assert_int_eq(wsb_client_is_connected(c), 1);
    wsb_client_free(c);
    broker_cleanup(&b);
}
END_TEST

/* ---- giving up, timeouts ---- */

START_TEST(test_gives_up_after_max_reconnects)
{
    struct broker b = {0};
    struct events ev = {0};
    struct ack_count a = {0};
    char err[256];
    ck_assert_int_eq(broker_start(&b), 0);
    struct wsb_options o = {.url = b.url,
                            .reconnect_min_ms = 10,
                            .reconnect_max_ms = 40,
                            .max_reconnects = 3,
                            .on_event = on_event,
                            .user = &ev};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    broker_kill(&b, SIGKILL);
    ck_assert_int_eq(wsb_publish_json(c, "gone", "1", on_pub_ack, &a), WSB_OK);
    ck_assert(pump_flag(c, NULL, &ev.gave_up, 10000));
    ck_assert_int_eq(ev.disconnected, 3);
    ck_assert_int_eq(a.errors, 1);
    ck_assert_int_eq(wsb_client_is_connected(c), 0);
    /* A later connect starts over. */
    ck_assert_int_eq(broker_start(&b), 0);
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK);
    wsb_client_free(c);
    broker_cleanup(&b);
}
END_TEST

START_TEST(test_blocking_call_times_out)
{
    struct broker b = {0};
    char err[256];
    ck_assert_int_eq(broker_start(&b), 0);
    struct wsb_options o = {.url = b.url, .timeout_ms = 300};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    broker_kill(&b, SIGSTOP);
    long long t0 = harness_now_ms();
    struct wsb_publish p = {.topic = "slow", .json = "1"};
    ck_assert_int_eq(wsb_publish_sync(c, &p, NULL, NULL), WSB_ETIMEDOUT);
    ck_assert_int_lt(harness_now_ms() - t0, 2000);
    broker_kill(&b, SIGCONT);
    /* The publish itself was not abandoned: it is still answered. */
    long long deadline = harness_now_ms() + 5000;
    while (wsb_client_pending(c) && harness_now_ms() < deadline)
        wsb_client_service(c, 20);
    ck_assert_uint_eq(wsb_client_pending(c), 0);
    wsb_client_free(c);
    broker_cleanup(&b);
}
END_TEST

START_TEST(test_auth_api_key)
{
    struct broker b = {0};
    struct events ev = {0};
    char err[256];
    b.extra[0] = "--api-key";
    b.extra[1] = "sekrit";
    if (broker_start_or_skip(&b, "test_auth_api_key"))
        return;
    /* With the key as token, everything is allowed. */
    struct wsb_options o = {.url = b.url, .token = "sekrit", .timeout_ms = 3000};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    uint64_t seq = publish_text(c, "auth.t", "1");
    ck_assert_uint_gt(seq, 0);
    wsb_client_free(c);

    /* Without a token: the first request closes the connection with 4001,
     * and the client does not hammer the broker with the same failure. */
    o.token = NULL;
    o.on_event = on_event;
    o.user = &ev;
    c = wsb_client_new(&o, err, sizeof(err));
    int status = wsb_client_connect(c);
    if (status == WSB_OK)
        status = wsb_ping_sync(c);
    ck_assert_int_eq(status, WSB_EAUTH);
    wsb_client_last_error(c, err, sizeof(err));
    ck_assert_msg(strstr(err, "4001") != NULL, "last error: %s", err);
    wsb_client_free(c);

    /* A wrong token likewise. */
    o.token = "wrong";
    c = wsb_client_new(&o, err, sizeof(err));
    status = wsb_client_connect(c);
    if (status == WSB_OK)
        status = wsb_ping_sync(c);
    ck_assert_int_eq(status, WSB_EAUTH);
    wsb_client_free(c);

    /* An auth request on an anonymous connection, then it works. */
    o.token = NULL;
    c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    struct wsb_reply *r = NULL;
    ck_assert_int_eq(wsb_auth_sync(c, "sekrit", &r), WSB_OK);
    wsb_reply_free(r);
    publish_text(c, "auth.t", "2");
    wsb_client_free(c);
    broker_cleanup(&b);
}
END_TEST

START_TEST(test_silent_broker_is_detected)
{
    struct broker b = {0};
    struct events ev = {0};
    b.extra[0] = "--heartbeat";
    b.extra[1] = "1";
    if (broker_start_or_skip(&b, "test_silent_broker_is_detected"))
        return;
    wsb_client *c = client_for(b.url, &ev);
    broker_kill(&b, SIGSTOP); /* the TCP connection stays up, nothing answers */
    long long t0 = harness_now_ms();
    ck_assert(pump_flag(c, NULL, &ev.disconnected, 8000));
    long long waited = harness_now_ms() - t0;
    ck_assert_msg(waited >= 2000 && waited < 6000, "detected after %lld ms", waited);
    broker_kill(&b, SIGCONT);
    int connected = ev.connected;
    long long deadline = harness_now_ms() + 10000;
    while (ev.connected == connected && harness_now_ms() < deadline)
        wsb_client_service(c, 20);
    ck_assert_int_gt(ev.connected, connected);
    ck_assert_int_eq(wsb_ping_sync(c), WSB_OK);
    wsb_client_free(c);
    broker_cleanup(&b);
}
END_TEST

/* ---- wss:// ---- */

/* A client of b with these TLS settings; the status of its connect. */
static int tls_connect(const char *url, const char *ca_file, int insecure)
{
    char err[256];
    struct wsb_options o = {
        .url = url, .ca_file = ca_file, .tls_insecure = insecure, .timeout_ms = 3000};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    int status = wsb_client_connect(c);
    if (status == WSB_OK) {
        uint64_t seq = publish_text(c, "tls", "\"secret\"");
        ck_assert_uint_gt(seq, 0);
    }
    wsb_client_free(c);
    return status;
}

START_TEST(test_tls)
{
    struct broker b = {.tls = 1};
    char wrong_host[128];
    if (broker_start_or_skip(&b, "test_tls"))
        return;
    /* Verified against the test's CA file, under the certificate's name. */
    ck_assert_int_eq(tls_connect(b.url, b.cert, 0), WSB_OK);
    /* The same certificate under another name, or without the CA file
     * (the system's CAs do not know it): refused. */
    snprintf(wrong_host, sizeof(wrong_host), "wss://127.0.0.1:%d/ws", b.port);
    ck_assert_int_ne(tls_connect(wrong_host, b.cert, 0), WSB_OK);
    ck_assert_int_ne(tls_connect(b.url, NULL, 0), WSB_OK);
    /* With verification off, both pass. */
    ck_assert_int_eq(tls_connect(wrong_host, NULL, 1), WSB_OK);
    broker_cleanup(&b);
}
END_TEST

static Suite *libwsb_connect_suite(void)
{
    Suite *s = suite_create("libwsb_connect");
    TCase *tc = tcase_create("reconnect");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_connect_async_waits_for_the_broker);
    tcase_add_test(tc, test_gives_up_after_max_reconnects);
    tcase_add_test(tc, test_blocking_call_times_out);
    tcase_add_test(tc, test_auth_api_key);
    tcase_add_test(tc, test_silent_broker_is_detected);
    tcase_add_test(tc, test_tls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(libwsb_connect_suite(), 0);
}
