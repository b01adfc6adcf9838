/* SPDX-License-Identifier: MIT */
/*
 * bench_net.c: the connections of `wsb bench`: one libwebsockets context,
 * on a libuv loop, with every connection of the run; opening them (in
 * batches), pacing the publishers, dropping and reopening on purpose.
 *
 * What is said on a connection is bench_wire.c's. It does not use libwsb's
 * reconnect machinery: a connection the broker closes is counted, not
 * revived; only a scenario drops and reopens connections on purpose
 * (bnet_drop, bnet_reopen). More connections than one source address has
 * ephemeral ports are spread over 127.0.0.1, 127.0.0.2, ... (bound before
 * connect: lws's `iface`). URLs are parsed as libwsb does (wsb_util).
 */
#include "bench.h"

#include "common/wsframe.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#define MAX_SOURCES 250 /* 127.0.0.1 .. 127.0.0.250 */

static int bench_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len);

static const struct lws_protocols bench_protocols[] = {
    {"wsb-bench-raw", bench_callback, 0, 65536, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

static void on_closed(struct bench *b, struct bconn *c)
{
    if (c->phase == BC_CLOSED)
        return;
    if (c->dropping) {
        c->dropping = 0;
    } else if (c->phase == BC_CONNECTING) {
        b->st.connect_failed++;
    } else {
        b->st.broker_closed++;
        if (c->close_code) {
            char code[16];
            snprintf(code, sizeof(code), "%d", c->close_code);
            bwire_note_error(b, "the broker closed a connection with code %s", code);
        }
    }
    c->phase = BC_CLOSED;
    c->wsi = NULL;
}

static int bench_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    (void)user;
    struct bconn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!c)
        return 0;
    struct bench *b = c->b;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        bwire_note_error(b, "cannot connect: %s", in ? (const char *)in : "connection failed");
        on_closed(b, c);
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    case LWS_CALLBACK_RAW_CONNECTED:
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return bwire_rx(b, c, in, len);
    case LWS_CALLBACK_RAW_WRITEABLE:
        return bwire_writeable(b, c, wsi);
    case LWS_CALLBACK_RAW_CLOSE:
        on_closed(b, c);
        lws_set_opaque_user_data(wsi, NULL);
        return 0;
    default:
        return 0;
    }
}

static void assign_roles(struct bench *b)
{
    int i = 0;
    /* Subscribers first, so they are ready before anyone publishes. */
    int slow = (int)(b->cfg.slow_fraction * b->cfg.subscribers + 0.5);
    for (int k = 0; k < b->cfg.subscribers; k++, i++) {
        b->conns[i].role = ROLE_SUB;
        b->conns[i].index = k;
        b->conns[i].slow = k < slow;
        b->conns[i].node = b->cfg.spread_subs ? k % b->cfg.n_urls : 0;
        b->conns[i].topic = b->cfg.pattern ? b->topics[0] : b->cfg.topic;
    }
    for (int k = 0; k < b->cfg.publishers; k++, i++) {
        b->conns[i].role = ROLE_PUB;
        b->conns[i].index = k;
        b->conns[i].topic = b->cfg.pattern ? b->topics[1 + k] : b->cfg.topic;
        b->conns[i].node = b->cfg.spread_pubs ? k % b->cfg.n_urls : 0;
    }
    for (int k = 0; k < b->cfg.connections; k++, i++) {
        b->conns[i].role = ROLE_IDLE;
        b->conns[i].index = k;
        b->conns[i].topic = b->idle_topics ? b->idle_topics[k] : b->cfg.topic;
    }
}

static int make_topics(struct bench *b)
{
    if (b->cfg.pattern) {
        b->topics = calloc((size_t)b->cfg.publishers + 1, sizeof(*b->topics));
        if (!b->topics)
            return -1;
        snprintf(b->topics[0], sizeof(b->topics[0]), "%s.>", b->cfg.topic);
        for (int k = 0; k < b->cfg.publishers; k++)
            snprintf(b->topics[1 + k], sizeof(b->topics[0]), "%s.p%d", b->cfg.topic, k);
    }
    if (b->cfg.subscribe_idle) {
        b->idle_topics = calloc((size_t)b->cfg.connections, sizeof(*b->idle_topics));
        if (!b->idle_topics)
            return -1;
        for (int k = 0; k < b->cfg.connections; k++)
            snprintf(b->idle_topics[k], sizeof(b->idle_topics[0]), "%.40s.c%d", b->cfg.topic, k);
    }
    return 0;
}

static int alloc_buffers(struct bench *b)
{
    b->n_conns = b->cfg.publishers + b->cfg.subscribers + b->cfg.connections;
    b->conns = calloc((size_t)b->n_conns, sizeof(*b->conns));
    b->padding = malloc((size_t)b->cfg.size + 1);
    b->scratch_cap = TX_HEADROOM + (size_t)b->cfg.size;
    b->scratch = malloc(b->scratch_cap);
    /* One batch buffer for the whole run: lws copies what it cannot send. */
    b->tx_cap = WRITE_BURST * (b->scratch_cap + WSFRAME_HEADER_MAX) + 4096 + WSB_URL_PATH_MAX;
    b->tx = malloc(b->tx_cap);
    if (!b->conns || !b->padding || !b->scratch || !b->tx || make_topics(b) < 0)
        return -1;
    memset(b->padding, 'x', (size_t)b->cfg.size);
    for (int i = 0; i < b->n_conns; i++)
        b->conns[i].b = b;
    assign_roles(b);
    for (int i = 0; i < b->n_conns; i++) {
        if (b->conns[i].role != ROLE_PUB)
            continue;
        b->conns[i].sent_us = calloc(ACK_RING, sizeof(int64_t));
        if (!b->conns[i].sent_us)
            return -1;
    }
    return 0;
}

/* The context runs on a libuv (epoll) loop of ours instead of poll(),
 * whose cost grows with the connection count at every wakeup. */
static int use_event_loop(struct bench *b, struct lws_context_creation_info *info,
                          void **foreign_loops)
{
    b->loop = calloc(1, sizeof(uv_loop_t));
    b->wake = calloc(1, sizeof(uv_timer_t));
    if (!b->loop || !b->wake || uv_loop_init(b->loop) != 0) {
        free(b->loop);
        free(b->wake);
        b->loop = b->wake = NULL;
        return -1;
    }
    /* Our own timer bounds each wait: lws 4.1 does not re-arm its libuv
     * timer when a sooner sul is scheduled from outside a callback. */
    uv_timer_init(b->loop, b->wake);
    foreign_loops[0] = b->loop;
    info->foreign_loops = foreign_loops;
    info->pcontext = &b->ctx; /* lws clears it when the context is gone */
    info->options |= LWS_SERVER_OPTION_LIBUV;
    return 0;
}

/* Every destination is loopback IPv4: any 127.0.0.x source reaches it. */
static int loopback_v4(const struct bench_config *cfg)
{
    for (int i = 0; i < cfg->n_urls; i++) {
        const char *host = cfg->urls[i].host;
        if (strcmp(host, "localhost") != 0 && strncmp(host, "127.", 4) != 0)
            return 0;
    }
    return 1;
}

static int any_tls(const struct bench_config *cfg)
{
    for (int i = 0; i < cfg->n_urls; i++)
        if (cfg->urls[i].tls)
            return 1;
    return 0;
}

/* One source address gives one destination at most the ephemeral port
 * range (about 28k); more connections than that get several sources.
 * A bound socket gets its port at bind() time, from a search of the range
 * for a port free on that address; past about half full that search in
 * the kernel dominates (70 % of the bench's CPU at 83 % full), so each
 * source takes at most half the range, which also leaves room for the
 * TIME_WAIT ports of a previous run. */
static int plan_sources(struct bench *b, char *err, size_t errlen)
{
    long ports = proc_ephemeral_ports();
    if (ports <= 0)
        ports = 28232; /* 32768-60999, the Linux default */
    long per_src = ports / 2;
    int want = b->cfg.source_addrs;
    if (!want)
        want = (int)((b->n_conns + per_src - 1) / per_src);
    if (want <= 1)
        return 0;
    if (!loopback_v4(&b->cfg)) {
        if (b->cfg.source_addrs) {
            snprintf(err, errlen, "--source-addrs needs a 127.x.x.x (loopback) URL");
            return -1;
        }
        fprintf(stderr,
                "wsb bench: %d connections exceed the %ld ephemeral ports of one source "
                "address; only a loopback URL gets more sources, expect failures\n",
                b->n_conns, ports);
        return 0;
    }
    if (want > MAX_SOURCES) {
        snprintf(err, errlen, "%d source addresses needed, at most %d", want, MAX_SOURCES);
        return -1;
    }
    b->src_addrs = calloc((size_t)want, sizeof(*b->src_addrs));
    if (!b->src_addrs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < want; i++)
        snprintf(b->src_addrs[i], sizeof(b->src_addrs[i]), "127.0.0.%d", i + 1);
    b->n_src = want;
    return 0;
}

/* Room for every connection and some for lws and stdio, and no more: the
 * lws 4.1 of Debian scans its whole fd table (as long as the limit) at
 * every connect and close, a sanity check built in. */
static long set_fd_limit(struct bench *b, char *err, size_t errlen)
{
    long need = (long)b->n_conns + 256;
    long fds = proc_set_fd_limit(need);
    if (fds < need) {
        snprintf(err, errlen,
                 "%d connections need %ld open files; the limit is %ld and only root (with "
                 "CAP_SYS_RESOURCE) may raise it: as root `ulimit -Hn %ld; ulimit -n %ld` in "
                 "the shell that runs wsb, or `prlimit --pid PID --nofile=%ld:%ld` on it; in "
                 "a container start it with `--ulimit nofile=%ld:%ld`",
                 b->n_conns, need, fds, need, need, need, need, need, need);
        return -1;
    }
    return fds;
}

int bnet_init(struct bench *b, char *err, size_t errlen)
{
    struct lws_context_creation_info info;
    void *foreign_loops[1];

    if (alloc_buffers(b) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long fds = set_fd_limit(b, err, errlen);
    if (fds < 0 || plan_sources(b, err, errlen) < 0)
        return -1;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = bench_protocols;
    info.gid = -1;
    info.uid = -1;
    /* As many as the open-file limit: lws then finds a socket's wsi by
     * indexing its fd; below the limit it scans its table at every insert,
     * removal and (poll) event. */
    info.fd_limit_per_thread = (unsigned int)fds;
    info.timeout_secs = 30;
    if (any_tls(&b->cfg))
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = b->cfg.cacert;
    if (use_event_loop(b, &info, foreign_loops) < 0) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    b->ctx = lws_create_context(&info);
    if (!b->ctx) {
        snprintf(err, errlen, "cannot create the libwebsockets context");
        return -1;
    }
    return 0;
}

void bnet_free(struct bench *b)
{
    if (b->ctx)
        lws_context_destroy(b->ctx);
    if (b->loop) {
        uv_close((uv_handle_t *)b->wake, NULL);
        /* Let lws and the timer close their handles, for a bounded time. */
        for (int i = 0; i < 1000 && uv_run(b->loop, UV_RUN_NOWAIT); i++)
            ;
        if (b->ctx) /* lws 4.1 may wait for a second call to finish */
            lws_context_destroy(b->ctx);
        uv_loop_close(b->loop);
        free(b->loop);
        free(b->wake);
    }
    for (int i = 0; b->conns && i < b->n_conns; i++) {
        free(b->conns[i].sent_us);
        free(b->conns[i].rx);
    }
    free(b->conns);
    free(b->padding);
    free(b->scratch);
    free(b->tx);
    free(b->topics);
    free(b->idle_topics);
    free(b->src_addrs);
}

static void wake_cb(uv_timer_t *timer)
{
    (void)timer;
}

void bnet_service(struct bench *b, int ms)
{
    /* Repeating: a timer that fires at the top of uv_run(UV_RUN_ONCE)
     * (the loop clock is stale) would otherwise leave the poll unbounded. */
    uv_update_time(b->loop);
    uv_timer_start(b->wake, wake_cb, (uint64_t)ms, (uint64_t)ms);
    uv_run(b->loop, UV_RUN_ONCE);
    uv_timer_stop(b->wake);
}

static void connect_one(struct bench *b, struct bconn *c)
{
    const struct wsb_url *url = &b->cfg.urls[c->node];
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = b->ctx;
    ci.address = url->host;
    ci.port = url->port;
    ci.path = "";
    ci.host = url->host;
    ci.method = "RAW";
    ci.protocol = "wsb-bench-raw";
    ci.local_protocol_name = "wsb-bench-raw";
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    if (b->n_src > 1) /* lws binds the socket to it before connecting */
        ci.iface = b->src_addrs[(c - b->conns) % b->n_src];
    if (url->tls)
        ci.ssl_connection =
            LCCSCF_USE_SSL |
            (b->cfg.insecure ? LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK
                             : 0);
    c->phase = BC_CONNECTING;
    if (!lws_client_connect_via_info(&ci) && c->phase == BC_CONNECTING) {
        bwire_note_error(b, "cannot connect: %s", "no connection started (out of local ports?)");
        b->st.connect_failed++;
        c->phase = BC_CLOSED;
    }
}

int bnet_connect_batch(struct bench *b, int batch)
{
    for (int n = 0; n < batch && b->next_connect < b->n_conns; n++)
        connect_one(b, &b->conns[b->next_connect++]);
    return b->n_conns - b->next_connect;
}

void bnet_start_publishing(struct bench *b, int use_key)
{
    b->publishing = 1;
    b->use_key_now = use_key;
    b->key_nonce = (uint64_t)clock_wall_us();
    b->phase_start_us = clock_mono_us();
    b->issued = 0;
    for (int i = 0; i < b->n_conns; i++) {
        struct bconn *c = &b->conns[i];
        c->credits = 0;
        if (c->role == ROLE_PUB && c->phase == BC_OPEN && b->cfg.rate == 0)
            lws_callback_on_writable(c->wsi);
    }
}

void bnet_stop_publishing(struct bench *b)
{
    b->publishing = 0;
}

void bnet_pace(struct bench *b)
{
    if (!b->publishing || b->cfg.rate <= 0 || b->cfg.publishers == 0)
        return;
    double elapsed = (double)(clock_mono_us() - b->phase_start_us) / 1e6;
    uint64_t due = (uint64_t)(elapsed * b->cfg.rate);
    int first_pub = b->cfg.subscribers;
    while (b->issued < due) {
        struct bconn *c = &b->conns[first_pub + b->pub_rr];
        b->pub_rr = (b->pub_rr + 1) % b->cfg.publishers;
        b->issued++;
        if (c->phase != BC_OPEN)
            continue;
        c->credits++;
        lws_callback_on_writable(c->wsi);
    }
}

void bnet_drop(struct bench *b, struct bconn *c)
{
    if (!c->wsi || c->phase == BC_CLOSED)
        return;
    if (b->cfg.reset) {
        /* Linger 0: close() sends a RST instead of a FIN. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(lws_get_socket_fd(c->wsi), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    c->dropping = 1;
    /* Closes now (a raw socket sends no close frame), calling RAW_CLOSE. */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void bnet_reopen(struct bench *b, struct bconn *c)
{
    if (c->phase != BC_CLOSED)
        return;
    c->sub_sent = c->sub_refused = 0;
    c->upgrade_sent = c->upgraded = 0;
    c->close_code = 0;
    c->pong_pending = 0;
    c->rx_len = 0;
    c->resume = 1;
    connect_one(b, c);
}

uint64_t bnet_inflight(const struct bench *b)
{
    uint64_t n = 0;
    for (int i = 0; i < b->n_conns; i++)
        if (b->conns[i].role == ROLE_PUB && b->conns[i].phase != BC_CLOSED)
            n += b->conns[i].inflight;
    return n;
}
