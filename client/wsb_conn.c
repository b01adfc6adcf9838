/* SPDX-License-Identifier: MIT */
/*
 * wsb_conn.c: the connection of a libwsb client: opening it, the welcome,
 * heartbeats, losing it, reconnecting with backoff, giving up. With several
 * broker URLs, each loss or failed attempt moves on to the next one.
 *
 * Owns the connection state of struct wsb_client (state, wsi, token,
 * failures, the URL index, epoch, heartbeat and retry timers, the connect
 * waiter). Runs on the service thread only; the lws callback (wsb_loop.c)
 * reports here what happened to the socket.
 *
 * After a loss, the requests that need a reply stay in flight and are sent
 * again after the next welcome (the exactly-once publish of wsb_request.c),
 * and every subscription is made again (wsb_sub.c).
 */
#include "wsb_conn.h"

#include "common/clock.h"
#include "wsb_frame.h"
#include "wsb_request.h"
#include "wsb_sub.h"
#include "wsb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void conn_open(wsb_client *c);
static void give_up(wsb_client *c, int status, const char *message);

/* The broker URL of the current connection or attempt. */
static const struct wsb_url *conn_url(wsb_client *c)
{
    return &c->urls[atomic_load(&c->url_index) % c->n_urls];
}

static const char *conn_url_text(wsb_client *c)
{
    return c->url_texts[atomic_load(&c->url_index) % c->n_urls];
}

/* The delay before the next attempt. With several URLs the backoff steps
 * once per full round of failed attempts: moving on to the next URL within
 * a round waits only a jitter of up to reconnect_min_ms, so that a client
 * whose broker died is on another one at once and a crowd of them arrives
 * spread out. With one URL every attempt is a round. */
static int backoff_ms(wsb_client *c)
{
    size_t n_urls = c->n_urls;
    if (n_urls > 1 && (size_t)c->failures % n_urls != 0)
        return (int)(wsb_prng_next(&c->prng) % (uint64_t)(c->opt.reconnect_min_ms + 1));
    int rounds = (int)((size_t)c->failures / n_urls);
    int64_t delay = c->opt.reconnect_min_ms;
    for (int i = 1; i < rounds && delay < c->opt.reconnect_max_ms; i++)
        delay *= 2;
    if (delay > c->opt.reconnect_max_ms)
        delay = c->opt.reconnect_max_ms;
    /* Equal jitter: half fixed, half random, so a crowd spreads out. */
    int64_t half = delay / 2;
    return (int)(half + (int64_t)(wsb_prng_next(&c->prng) % (uint64_t)(half + 1)));
}

static void retry_cb(lws_sorted_usec_list_t *sul)
{
    wsb_client *c = lws_container_of(sul, wsb_client, retry_sul);
    if (c->state == CONN_BACKOFF)
        conn_open(c);
}

/* Every subscription must be made again on the next connection; the
 * requests that need a reply are kept and sent again. */
static void reset_for_reconnect(wsb_client *c)
{
    wsb_outq_clear(c);
    wsb_sub_reset_all(c);
    struct request *r = c->inflight_head;
    while (r) {
        struct request *next = r->next;
        if (r->kind == REQ_SUBSCRIBE || r->internal) {
            wsb_req_untrack(c, r);
            wsb_req_free(r);
        } else if (r->kind == REQ_UNSUBSCRIBE) {
            /* The next connection simply does not subscribe. */
            wsb_req_complete(c, r, wsb_reply_local(WSB_OK, ""));
        }
        r = next;
    }
}

static void conn_lost(wsb_client *c, const char *reason, int close_code)
{
    if (c->state != CONN_CONNECTING && c->state != CONN_WELCOME && c->state != CONN_READY)
        return;
    int was_ready = c->state == CONN_READY;
    c->wsi = NULL;
    c->state = CONN_IDLE;
    atomic_store(&c->connected, 0);
    lws_sul_cancel(&c->heartbeat_sul);
    reset_for_reconnect(c);
    if (was_ready)
        c->failures = 0;
    c->failures++;

    char msg[384];
    if (close_code)
        snprintf(msg, sizeof(msg), "%s (close code %d)", reason, close_code);
    else
        snprintf(msg, sizeof(msg), "%s", reason);
    wsb_set_last_error(c, "%s", msg);
    const char *lost_url = conn_url_text(c);
    int auth_refused = close_code == 4001 || close_code == 4003;
    /* The next attempt goes to the next broker of the list. */
    atomic_store(&c->url_index, (atomic_load(&c->url_index) + 1) % c->n_urls);

    /* A first connect gives up once every URL failed (a refused token
     * would be refused by every broker). */
    if (c->fail_fast && !c->ever_connected && (auth_refused || (size_t)c->failures >= c->n_urls)) {
        give_up(c, auth_refused ? WSB_EAUTH : WSB_ECONNECT, msg);
        return;
    }
    /* 4003 is an expired token: a token_fn can supply a fresh one for the
     * next attempt. A refused token (4001) would only be refused again. */
    if (close_code == 4001 || (close_code == 4003 && !c->opt.token_fn)) {
        give_up(c, WSB_EAUTH, msg);
        return;
    }
    if (c->opt.max_reconnects > 0 && c->failures > c->opt.max_reconnects) {
        give_up(c, WSB_ECONNECT, msg);
        return;
    }
    int delay = backoff_ms(c);
    c->state = CONN_BACKOFF;
    lws_sul_schedule(c->ctx, 0, &c->retry_sul, retry_cb, (lws_usec_t)delay * 1000);
    struct wsb_event ev = {.type = WSB_EVENT_DISCONNECTED,
                           .message = msg,
                           .close_code = close_code,
                           .retry_ms = delay,
                           .url = lost_url};
    wsb_emit(c, &ev);
}

/* Closes the current connection from our side; conn_lost follows now. */
void wsb_conn_drop(wsb_client *c, const char *reason)
{
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    conn_lost(c, reason, 0);
}

static void conn_waiter_done(wsb_client *c, int status, const char *message)
{
    if (!c->connect_waiter)
        return;
    wsb_waiter_complete(c, c->connect_waiter, wsb_reply_local(status, message));
    c->connect_waiter = NULL;
}

static void conn_fail_all(wsb_client *c, int status, const char *message)
{
    while (c->inflight_head) {
        struct request *r = c->inflight_head;
        if (r->sub)
            wsb_sub_lose_request(r->sub);
        wsb_req_fail(c, r, status, message);
    }
    wsb_outq_clear(c);
}

static void give_up(wsb_client *c, int status, const char *message)
{
    /* A failed first attempt of wsb_client_connect() is its return value. */
    int silent = c->fail_fast && !c->ever_connected;
    c->state = CONN_IDLE;
    c->fail_fast = 0;
    lws_sul_cancel(&c->retry_sul);
    conn_waiter_done(c, status, message);
    conn_fail_all(c, status, message);
    struct wsb_event ev = {.type = WSB_EVENT_GAVE_UP, .message = message, .retry_ms = -1};
    if (!silent)
        wsb_emit(c, &ev);
}

/* Replaces the token with a fresh one from the application's token_fn;
 * 1 when it gave one, 0 when the current token stays. */
static int conn_fetch_token(wsb_client *c)
{
    char *buf = c->opt.token_fn ? malloc(WSB_TOKEN_MAX + 1) : NULL;
    if (!buf || wsb_call_token_fn(c, buf, WSB_TOKEN_MAX + 1) < 0) {
        free(buf);
        return 0;
    }
    free(c->token);
    c->token = buf;
    return 1;
}

static void conn_open(wsb_client *c)
{
    struct lws_client_connect_info ci;
    char path[WSB_URL_PATH_MAX + 3 * URL_TOKEN_MAX + 16];

    conn_fetch_token(c);
    const struct wsb_url *url = conn_url(c);
    snprintf(path, sizeof(path), "%s", url->path);
    if (c->token && strlen(c->token) <= URL_TOKEN_MAX &&
        wsb_url_add_token(path, sizeof(path), c->token) < 0) {
        give_up(c, WSB_EINVAL, "token too long");
        return;
    }
    memset(&ci, 0, sizeof(ci));
    ci.context = c->ctx;
    ci.address = url->host;
    ci.port = url->port;
    ci.path = path;
    ci.host = url->host;
    ci.protocol = "wsb.v1";
    ci.local_protocol_name = "wsb.v1";
    ci.pwsi = &c->wsi;
    if (url->tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        /* Verification (against ca_file or the system's CAs, wsb_loop.c)
         * is on unless the application turned it off. */
        if (c->opt.tls_insecure)
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                 LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->state = CONN_CONNECTING;
    c->close_code = 0;
    c->attempt_us = clock_mono_us();
    if (!lws_client_connect_via_info(&ci) && c->state == CONN_CONNECTING) {
        c->wsi = NULL;
        char msg[WSB_URL_HOST_MAX + 64];
        snprintf(msg, sizeof(msg), "cannot connect to %s:%d", url->host, url->port);
        conn_lost(c, msg, 0);
    }
}

static void send_internal_ping(wsb_client *c)
{
    struct request *r = wsb_req_new(REQ_PING);
    struct frame f;
    if (!r)
        return;
    r->id = wsb_take_id(c);
    r->internal = 1;
    wsb_frame_begin(&f, 64, "ping", r->id, NULL);
    wsb_frame_str(&f, "}");
    if (wsb_req_set_frame(r, &f, 0) < 0 || wsb_req_track(c, r) < 0)
        wsb_req_free(r);
}

/* Watches a connection that should be talking: no welcome in time, or a
 * broker silent for three heartbeats, means the connection is dead. */
static void heartbeat_cb(lws_sorted_usec_list_t *sul)
{
    wsb_client *c = lws_container_of(sul, wsb_client, heartbeat_sul);
    int64_t now = clock_mono_us();

    if (c->state == CONN_WELCOME) {
        if (now - c->attempt_us > (int64_t)c->opt.timeout_ms * 1000) {
            wsb_conn_drop(c, "no welcome from the broker");
            return;
        }
        lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb, 200 * 1000);
        return;
    }
    if (c->state != CONN_READY)
        return;
    int64_t idle = now - c->last_rx_us;
    int64_t beat = (int64_t)c->heartbeat_s * 1000000;
    if (idle > 3 * beat) {
        wsb_conn_drop(c, "the broker stopped answering");
        return;
    }
    if (idle > beat)
        send_internal_ping(c);
    lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb, beat / 2);
}

/* The answer to an `auth` the client sent by itself: a refused token is
 * an event, since no application call waits for it. */
static void refresh_done(wsb_client *c, const struct wsb_reply *r, void *arg)
{
    (void)arg;
    if (r->status == WSB_OK)
        return;
    struct wsb_event ev = {.type = WSB_EVENT_ERROR,
                           .code = r->code ? r->code : "auth",
                           .message = r->message,
                           .retry_ms = -1};
    wsb_emit(c, &ev);
}

/* Sends the current token with an `auth` request of the client's own. */
static void conn_send_auth(wsb_client *c)
{
    struct request *r = wsb_req_auth(c, c->token);
    if (!r)
        return;
    r->internal = 1;
    r->cb = refresh_done;
    if (wsb_req_track(c, r) < 0)
        wsb_req_free(r);
}

void wsb_conn_welcome(wsb_client *c, json_t *root)
{
    const char *epoch = json_string_value(json_object_get(root, "epoch"));
    json_int_t hb = json_integer_value(json_object_get(root, "heartbeat"));
    json_int_t max = json_integer_value(json_object_get(root, "max_message"));

    if (c->state != CONN_WELCOME)
        return;
    snprintf(c->epoch, sizeof(c->epoch), "%s", epoch ? epoch : "");
    c->welcome_seq = (uint64_t)json_integer_value(json_object_get(root, "seq"));
    c->heartbeat_s = hb > 0 ? (int)hb : 25;
    if (max > 0)
        atomic_store(&c->max_message, (size_t)max);
    c->state = CONN_READY;
    c->failures = 0;
    c->fail_fast = 0;
    int reconnects = c->ever_connected ? ++c->reconnects : 0;
    c->ever_connected = 1;
    atomic_store(&c->connected, 1);
    wsb_set_last_error(c, "%s", "");
    lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb,
                     (lws_usec_t)c->heartbeat_s * 500000);

    /* A token too long for the URL first, then the subscriptions, then
     * every request still waiting, in order. */
    if (c->token && strlen(c->token) > URL_TOKEN_MAX)
        conn_send_auth(c);
    wsb_sub_resend_all(c);
    wsb_outq_requeue(c);

    struct wsb_event ev = {.type = WSB_EVENT_CONNECTED,
                           .message = "connected",
                           .retry_ms = -1,
                           .reconnects = reconnects,
                           .epoch = c->epoch,
                           .seq = c->welcome_seq,
                           .url = conn_url_text(c)};
    conn_waiter_done(c, WSB_OK, "");
    wsb_emit(c, &ev);
}

void wsb_conn_connect(wsb_client *c, struct request *r)
{
    if (c->connect_waiter && c->connect_waiter != r->waiter)
        conn_waiter_done(c, WSB_ECLOSED, "superseded by another connect");
    c->connect_waiter = r->waiter;
    r->waiter = NULL;
    if (c->state == CONN_READY) {
        conn_waiter_done(c, WSB_OK, "");
        return;
    }
    if (c->state == CONN_IDLE) {
        c->ever_connected = 0;
        c->failures = 0;
        c->fail_fast = r->fail_fast;
        conn_open(c);
    } else if (c->state == CONN_BACKOFF) {
        lws_sul_cancel(&c->retry_sul);
        conn_open(c);
    }
}

void wsb_conn_close(wsb_client *c)
{
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    c->wsi = NULL;
    c->state = CONN_IDLE;
    atomic_store(&c->connected, 0);
    lws_sul_cancel(&c->retry_sul);
    lws_sul_cancel(&c->heartbeat_sul);
    reset_for_reconnect(c);
    conn_waiter_done(c, WSB_ECLOSED, "closed by the application");
    conn_fail_all(c, WSB_ECLOSED, "closed by the application");
}

/* LWS_CALLBACK_CLIENT_ESTABLISHED: upgraded, the welcome comes next. */
void wsb_conn_established(wsb_client *c)
{
    if (c->state != CONN_CONNECTING)
        return;
    c->state = CONN_WELCOME;
    lws_sul_schedule(c->ctx, 0, &c->heartbeat_sul, heartbeat_cb, 200 * 1000);
}

void wsb_conn_failed(wsb_client *c, const char *why)
{
    char msg[512];
    const struct wsb_url *url = conn_url(c);
    snprintf(msg, sizeof(msg), "cannot connect to %s:%d: %s", url->host, url->port,
             why ? why : "connection failed");
    conn_lost(c, msg, 0);
}

void wsb_conn_heard(wsb_client *c)
{
    c->last_rx_us = clock_mono_us();
}

void wsb_conn_peer_closing(wsb_client *c, const unsigned char *payload, size_t len)
{
    if (len >= 2)
        c->close_code = (payload[0] << 8) | payload[1];
}

void wsb_conn_closed(wsb_client *c)
{
    conn_lost(c, "connection closed", c->close_code);
}

void wsb_conn_set_token(wsb_client *c, const char *token)
{
    free(c->token);
    c->token = strdup(token);
}

void wsb_conn_token_expired(wsb_client *c, const char *message)
{
    struct wsb_event ev = {.type = WSB_EVENT_TOKEN_EXPIRED,
                           .code = "token_expired",
                           .message = message ? message : "token expired",
                           .retry_ms = -1};
    wsb_emit(c, &ev);
    if (c->state == CONN_READY && conn_fetch_token(c))
        conn_send_auth(c);
}

void wsb_conn_abandon(wsb_client *c, const char *message)
{
    c->state = CONN_IDLE;
    conn_waiter_done(c, WSB_ECLOSED, message);
    conn_fail_all(c, WSB_ECLOSED, message);
}
