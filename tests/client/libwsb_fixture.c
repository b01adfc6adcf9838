/* SPDX-License-Identifier: MIT */
/*
 * libwsb_fixture.c: the client side shared by the libwsb tests; see
 * libwsb_fixture.h.
 */
#include "libwsb_fixture.h"

#include "common/base64.h"

#include <check.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct broker shared_broker;

int fixture_run_suite(Suite *suite, int with_shared_broker)
{
    if (!getenv("WSBROKER_BIN")) {
        fprintf(stderr, "WSBROKER_BIN is not set: run through ctest\n");
        return 1;
    }
    lws_set_log_level(0, NULL);
    if (with_shared_broker && broker_start(&shared_broker) < 0) {
        fprintf(stderr, "cannot start the broker (log: %s)\n", shared_broker.log);
        return 1;
    }
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (with_shared_broker)
        broker_cleanup(&shared_broker);
    return failed != 0;
}

int broker_start_or_skip(struct broker *b, const char *what)
{
    if (broker_start(b) == 0)
        return 0;
    char buf[512] = "";
    FILE *f = fopen(b->log, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    ck_assert_msg(strstr(buf, "not supported") != NULL, "broker did not start: %s", buf);
    fprintf(stderr, "%s: the broker does not support it yet; skipped\n", what);
    broker_cleanup(b);
    return 1;
}

/* Base64url without padding (RFC 7515 section 2) of in[0..n) into out. */
static size_t base64url(const unsigned char *in, size_t n, char *out)
{
    size_t len = base64_encode(in, n, out);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return len;
}

void token_hs256(const char *secret, const char *claims, char *out, size_t len)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char *signing =
        malloc(base64_encoded_size(sizeof(header)) + base64_encoded_size(strlen(claims)) + 2);
    char sig[128];
    ck_assert_ptr_nonnull(signing);
    size_t n = base64url((const unsigned char *)header, strlen(header), signing);
    signing[n++] = '.';
    n += base64url((const unsigned char *)claims, strlen(claims), signing + n);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signing, n, mac,
         &maclen);
    base64url(mac, maclen, sig);
    snprintf(out, len, "%s.%s", signing, sig);
    free(signing);
}

/* ---- collecting what a client receives ---- */

void collector_init(struct collector *col)
{
    memset(col, 0, sizeof(*col));
    pthread_mutex_init(&col->lock, NULL);
}

void collector_free(struct collector *col)
{
    for (size_t i = 0; i < col->n; i++)
        free(col->m[i].data);
    free(col->m);
    pthread_mutex_destroy(&col->lock);
}

size_t collector_count(struct collector *col)
{
    pthread_mutex_lock(&col->lock);
    size_t n = col->n;
    pthread_mutex_unlock(&col->lock);
    return n;
}

static void on_collect(wsb_client *c, const struct wsb_message *m, void *arg)
{
    (void)c;
    struct collector *col = arg;
    pthread_mutex_lock(&col->lock);
    if (col->n == col->cap) {
        col->cap = col->cap ? col->cap * 2 : 64;
        col->m = realloc(col->m, col->cap * sizeof(*col->m));
    }
    struct rx_msg *r = &col->m[col->n++];
    snprintf(r->topic, sizeof(r->topic), "%s", m->topic);
    r->seq = m->seq;
    r->len = m->len;
    r->binary = m->binary;
    r->data = malloc(m->len + 1);
    memcpy(r->data, m->data, m->len + 1); /* includes the promised NUL */
    pthread_mutex_unlock(&col->lock);
}

static void on_sub_ack(wsb_client *c, const struct wsb_reply *r, void *arg)
{
    (void)c;
    struct collector *col = arg;
    pthread_mutex_lock(&col->lock);
    col->acks++;
    if (r->status != WSB_OK) {
        col->ack_errors++;
        snprintf(col->last_code, sizeof(col->last_code), "%s", r->code ? r->code : "");
    }
    if (r->status == WSB_OK && !r->recovered)
        col->not_recovered++;
    if (r->resumed)
        col->resumed_acks++;
    pthread_mutex_unlock(&col->lock);
}

struct wsb_sub_options collect_opts(struct collector *col)
{
    struct wsb_sub_options o = {.on_message = on_collect, .on_ack = on_sub_ack, .arg = col};
    return o;
}

void on_event(wsb_client *c, const struct wsb_event *e, void *user)
{
    (void)c;
    struct events *ev = user;
    if (getenv("WSB_TEST_VERBOSE"))
        fprintf(stderr, "[%lld] event %d: %s (close %d, retry %d)\n", harness_now_ms(), e->type,
                e->message, e->close_code, e->retry_ms);
    if (!ev)
        return;
    switch (e->type) {
    case WSB_EVENT_CONNECTED:
        ev->connected++;
        break;
    case WSB_EVENT_DISCONNECTED:
        ev->disconnected++;
        break;
    case WSB_EVENT_GAP:
        ev->gaps++;
        break;
    case WSB_EVENT_ERROR:
        ev->errors++;
        break;
    case WSB_EVENT_GAVE_UP:
        ev->gave_up++;
        break;
    case WSB_EVENT_TOKEN_EXPIRED:
        ev->expired++;
        break;
    }
}

wsb_client *client_for(const char *url, struct events *ev)
{
    char err[256] = "";
    struct wsb_options o = {.url = url,
                            .timeout_ms = 5000,
                            .reconnect_min_ms = 20,
                            .reconnect_max_ms = 300,
                            .on_event = on_event,
                            .user = ev};
    wsb_client *c = wsb_client_new(&o, err, sizeof(err));
    ck_assert_msg(c != NULL, "wsb_client_new: %s", err);
    ck_assert_int_eq(wsb_client_connect(c), WSB_OK);
    return c;
}

wsb_client *shared_client(void)
{
    return client_for(shared_broker.url, NULL);
}

int pump_count(wsb_client *a, wsb_client *b, struct collector *col, size_t target, int ms)
{
    long long deadline = harness_now_ms() + ms;
    while (collector_count(col) < target && harness_now_ms() < deadline) {
        wsb_client_service(a, b ? 5 : 20);
        if (b)
            wsb_client_service(b, 5);
    }
    return collector_count(col) >= target;
}

int pump_flag(wsb_client *a, wsb_client *b, const int *flag, int ms)
{
    long long deadline = harness_now_ms() + ms;
    while (!*flag && harness_now_ms() < deadline) {
        wsb_client_service(a, b ? 5 : 20);
        if (b)
            wsb_client_service(b, 5);
    }
    return *flag;
}

void topic_name(char *buf, size_t len, const char *prefix)
{
    snprintf(buf, len, "%s.p%d", prefix, (int)getpid());
}

uint64_t publish_text(wsb_client *c, const char *topic, const char *json)
{
    uint64_t seq = 0;
    struct wsb_publish p = {.topic = topic, .json = json};
    ck_assert_int_eq(wsb_publish_sync(c, &p, &seq, NULL), WSB_OK);
    ck_assert_uint_gt(seq, 0);
    return seq;
}

void on_pub_ack(wsb_client *c, const struct wsb_reply *r, void *arg)
{
    (void)c;
    struct ack_count *a = arg;
    if (r->status == WSB_OK && a->acks < 64)
        a->seqs[a->acks] = r->seq;
    if (r->status == WSB_OK)
        a->acks++;
    else
        a->errors++;
}
