/* SPDX-License-Identifier: MIT */
/*
 * test_core_access.c: unit tests of what a session's credential allows
 * (core/access.c, docs/auth.md): anonymous grants, the auth op with an API
 * key, refusals, and that delivery to an anonymous subscriber is the same
 * as without auth. Tokens and their expiry are covered against the real
 * binary (tests/integration/auth.test.mjs).
 *
 * Core runs on the fake transport of core_fixture.h, with a real store.
 */
#include "core_fixture.h"

#include <string.h>

#include "auth/credentials.h"

#define API_KEY "unit-test-api-key"

static struct credentials *creds;

/* Auth on: one API key and, when `anonymous`, anonymous subscribe rights
 * on pub.>. */
static void use_credentials(bool anonymous)
{
    credentials_free(creds);
    fx.cfg.api_key.items[0] = API_KEY;
    fx.cfg.api_key.count = 1;
    fx.cfg.anonymous.items[0] = "pub.>";
    fx.cfg.anonymous.count = anonymous ? 1 : 0;
    fx.cfg.auth_grace = 5;
    char err[256] = "";
    ck_assert_msg(credentials_load(&creds, &fx.cfg, err, sizeof(err)) == 0, "%s", err);
    core_set_credentials(fx.core, creds);
}

static void setup_auth(void)
{
    setup();
    creds = NULL;
    use_credentials(true);
}

/* Subscribes c to `topic` and expects the ack as frame `frame`. */
static void subscribe_ok(struct fake_conn *c, const char *topic, int id, size_t frame)
{
    send_text(c, "{\"op\":\"subscribe\",\"id\":%d,\"topic\":\"%s\"}", id, topic);
    expect_frame(c, frame, "ack", id);
    ck_assert_uint_eq(c->close_code, 0);
}

static void teardown_auth(void)
{
    teardown();
    credentials_free(creds);
    creds = NULL;
}

/* Asserts that frame i of c has the string member `key` equal to `value`. */
static void expect_string(const struct fake_conn *c, size_t i, const char *key, const char *value)
{
    json_t *v = frame_json(c, i);
    const char *got = json_string_value(json_object_get(v, key));
    ck_assert_msg(got && strcmp(got, value) == 0, "frame %zu: %s is not %s: %s", i, key, value,
                  c->frames[i]);
    json_decref(v);
}

START_TEST(test_anonymous_within_patterns)
{
    struct fake_conn *a = connect_fake();
    subscribe_ok(a, "pub.x", 1, 1);
    /* publishing needs --anonymous-publish: outside the grants, closed */
    publish(a, "pub.x", 2);
    ck_assert_uint_eq(a->close_code, 4001);
    disconnect_fake(a);
    free_fake(a);
}
END_TEST

START_TEST(test_api_key_allows_everything)
{
    struct fake_conn *a = connect_fake();
    struct fake_conn *b = connect_fake();
    send_text(a, "{\"op\":\"auth\",\"id\":1,\"token\":\"" API_KEY "\"}");
    expect_frame(a, 1, "ack", 1);
    json_t *ack = frame_json(a, 1);
    ck_assert(json_is_null(json_object_get(ack, "user")));
    ck_assert(json_is_null(json_object_get(ack, "exp")));
    json_decref(ack);
    subscribe_ok(b, "pub.>", 1, 1);
    subscribe_ok(a, "$sys.x", 2, 2);
    publish(a, "pub.k", 3);
    settle();
    pump();
    expect_frame(a, 3, "ack", 3);
    /* delivered to the anonymous subscriber, without `from` */
    ck_assert_uint_eq(count_messages(b, 2), 1);
    json_t *m = frame_json(b, 2);
    ck_assert_ptr_null(json_object_get(m, "from"));
    json_decref(m);
    disconnect_fake(a);
    disconnect_fake(b);
    free_fake(a);
    free_fake(b);
}
END_TEST

START_TEST(test_bad_auth_keeps_anonymous)
{
    struct fake_conn *a = connect_fake();
    send_text(a, "{\"op\":\"auth\",\"id\":1,\"token\":\"wrong\"}");
    expect_frame(a, 1, "error", 1);
    expect_string(a, 1, "code", "unauthorized");
    subscribe_ok(a, "pub.y", 2, 2);
    disconnect_fake(a);
    free_fake(a);
}
END_TEST

START_TEST(test_no_anonymous_first_request_closes)
{
    use_credentials(false);
    struct fake_conn *a = connect_fake();
    send_text(a, "{\"op\":\"ping\",\"id\":1}");
    ck_assert_uint_eq(a->close_code, 4001);
    ck_assert_uint_eq(a->n_frames, 1); /* the welcome only */
    struct fake_conn *b = connect_fake();
    send_text(b, "{\"op\":\"auth\",\"id\":1,\"token\":\"wrong\"}");
    expect_frame(b, 1, "error", 1);
    ck_assert_uint_eq(b->close_code, 4001);
    disconnect_fake(a);
    disconnect_fake(b);
    free_fake(a);
    free_fake(b);
}
END_TEST

static Suite *core_access_suite(void)
{
    Suite *s = suite_create("core_access");
    TCase *tc = tcase_create("core_access");
    tcase_add_checked_fixture(tc, setup_auth, teardown_auth);
    tcase_add_test(tc, test_anonymous_within_patterns);
    tcase_add_test(tc, test_api_key_allows_everything);
    tcase_add_test(tc, test_bad_auth_keeps_anonymous);
    tcase_add_test(tc, test_no_anonymous_first_request_closes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return core_fixture_run(core_access_suite());
}
