/* SPDX-License-Identifier: MIT */
/*
 * server.c: libwebsockets context, callbacks and shutdown (see server.h).
 *
 * One protocol ("wsb.v1") is also the default one, so a browser that names
 * no sub-protocol lands on it too, and it receives the plain HTTP requests.
 * The callback only translates lws events into calls to conn.c and http.c;
 * it holds no broker logic.
 */
#include "net/server.h"

#include <signal.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/credentials.h"
#include "core/core.h"
#include "net/conn.h"
#include "net/evloop.h"
#include "net/heartbeat.h"
#include "net/ipcount.h"
#include "common/clock.h"
#include "common/wsframe.h"
#include "http/guard.h"
#include "http/http.h"
#include "net/listener.h"
#include "util/log.h"
#include "util/memtrim.h"
#include "util/notify.h"

struct server {
    const struct config *cfg;
    struct store *store;
    struct core *core;
    struct credentials *creds; /* NULL: no auth configured */
    struct lws_context *context;
    struct evloop *loop;
    _Atomic(struct lws_context *) wake_context;
    struct http_ctx http;
    lws_retry_bo_t idle_policy; /* all zero: lws's per-connection idle timers off */
    struct heartbeat heartbeat;
    struct listener listener;
    bool accepting;
    size_t max_streams;              /* WebSockets and SSE streams, below the descriptor limit */
    struct http_streams sse_streams; /* what http/ gets to open SSE streams */
    int64_t streams_warned_ms;       /* when a refusal for want of descriptors was last logged */
    struct ipcount per_ip;           /* open streams per address (--max-conns-per-ip) */
    int64_t per_ip_warned_ms;        /* when a refusal for that bound was last logged */
};

/* Descriptors kept free of WebSockets and SSE streams, so that HTTP requests
 * (/healthz above all), the store's files and the listener always find one:
 * without them a crowd of connections takes every descriptor, accept()
 * fails, and health checks time out as if the broker were dead. */
#define SERVER_FD_RESERVE 32

/* Per-connection user data, allocated by lws. */
struct server_conn {
    struct conn *ws;       /* a WebSocket connection */
    struct http_conn http; /* an HTTP API call or SSE stream */
    /* The address a WebSocket or SSE stream is counted under in per_ip;
     * "" when not counted. */
    char counted_addr[IPCOUNT_ADDR_MAX];
};

static volatile sig_atomic_t stop_requested;
static struct lws_context *signal_context;

/* --- listening ----------------------------------------------------------- */

int server_listen(struct server *srv, char *err, size_t errlen)
{
    return listener_open(&srv->listener, srv->cfg->bind, srv->cfg->port, err, errlen);
}

/* --- callbacks ----------------------------------------------------------- */

/* A peer's close frame carries a code lws echoes back. lws 4.1 turns some
 * invalid codes into 1002 before this callback but passes others (5000,
 * 65535) through; it copies the payload for the echo only after the
 * callback returns, so the answer is corrected here, in place. */
static void server_vet_peer_close(void *payload, size_t len)
{
    unsigned char *code = payload;
    if (len < 2 || wsframe_close_code_valid(((unsigned)code[0] << 8) | code[1]))
        return;
    code[0] = (unsigned char)(LWS_CLOSE_STATUS_PROTOCOL_ERR >> 8);
    code[1] = (unsigned char)(LWS_CLOSE_STATUS_PROTOCOL_ERR & 0xff);
}

/* --max-conns-per-ip: a stream is counted under its peer's address while
 * it is open. */
static void server_count_stream(struct server *srv, struct lws *wsi, struct server_conn *conn)
{
    if (srv->per_ip.max <= 0 || !lws_get_peer_simple(wsi, conn->counted_addr, IPCOUNT_ADDR_MAX))
        return;
    ipcount_add(&srv->per_ip, conn->counted_addr);
}

static void server_uncount_stream(struct server *srv, struct server_conn *conn)
{
    if (conn->counted_addr[0] == '\0')
        return;
    ipcount_remove(&srv->per_ip, conn->counted_addr);
    conn->counted_addr[0] = '\0';
}

/* SSE streams are connections of this layer (http/context.h says why the
 * HTTP module is handed these). */
static struct session *server_sse_open(struct core *core, struct lws *wsi, void **stream)
{
    struct conn *c = conn_open_sse(core, wsi);
    *stream = c;
    if (c)
        server_count_stream(lws_context_user(lws_get_context(wsi)), wsi, lws_wsi_user(wsi));
    return c ? c->session : NULL;
}

static int server_sse_writeable(void *stream)
{
    return conn_writeable(stream);
}

static void server_sse_closed(void *stream, struct core *core)
{
    conn_closed(stream, core);
}

/* The upgrade obeys the same Host and Origin rules as the HTTP API
 * (config.c): a header too long for the buffer counts as a wrong one, never
 * as a missing one. */
static bool server_upgrade_allowed(struct server *srv, struct lws *wsi)
{
    char header[GUARD_HEADER_MAX];
    int len = lws_hdr_copy(wsi, header, sizeof(header), WSI_TOKEN_HOST);
    if (!config_host_allowed(srv->cfg, header, len)) {
        lws_return_http_status(wsi, GUARD_STATUS_MISDIRECTED, NULL);
        return false;
    }
    len = lws_hdr_copy(wsi, header, sizeof(header), WSI_TOKEN_ORIGIN);
    if (!config_origin_allowed(srv->cfg, header, len)) {
        lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
        return false;
    }
    return true;
}

/* The peer of wsi has --max-conns-per-ip streams open already. */
static bool server_peer_full(struct server *srv, struct lws *wsi)
{
    char addr[IPCOUNT_ADDR_MAX];
    if (srv->per_ip.max <= 0 || !lws_get_peer_simple(wsi, addr, sizeof(addr)) ||
        !ipcount_full(&srv->per_ip, addr))
        return false;
    int64_t now = clock_mono_ms();
    if (now - srv->per_ip_warned_ms >= 10000) {
        srv->per_ip_warned_ms = now;
        log_warn("refusing a connection from %s: it has %ld open (--max-conns-per-ip)", addr,
                 srv->per_ip.max);
    }
    return true;
}

/* A new WebSocket or SSE stream from wsi's peer would eat into the
 * descriptor reserve or pass --max-conns-per-ip. */
static bool server_streams_full(void *owner, struct lws *wsi)
{
    struct server *srv = owner;
    if (server_peer_full(srv, wsi))
        return true;
    if (core_session_count(srv->core) < srv->max_streams)
        return false;
    int64_t now = clock_mono_ms();
    if (now - srv->streams_warned_ms >= 10000) {
        srv->streams_warned_ms = now;
        log_warn("refusing new connections: %zu open, the limit of open files keeps %d in reserve",
                 core_session_count(srv->core), SERVER_FD_RESERVE);
    }
    return true;
}

static int server_filter_upgrade(struct server *srv, struct lws *wsi)
{
    char uri[64];
    if (!srv->accepting)
        return 1;
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws") != 0)
        return 1;
    if (!server_upgrade_allowed(srv, wsi))
        return 1;
    if (server_streams_full(srv, wsi)) {
        lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "too many open connections");
        return 1;
    }
    return 0;
}

/* The listening socket is ready: accept a batch (and close it at once when
 * shutting down). lws closes the socket with the context. */
static int server_listener_event(struct server *srv, enum lws_callback_reasons reason)
{
    if (reason == LWS_CALLBACK_RAW_RX_FILE) {
        listener_accept(&srv->listener, srv->accepting);
        core_set_accept_pauses(srv->core, srv->listener.pauses);
    } else if (reason == LWS_CALLBACK_RAW_CLOSE_FILE)
        listener_forget(&srv->listener);
    return 0;
}

static int server_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct lws_context *context = lws_get_context(wsi);
    struct server *srv = lws_context_user(context);
    struct server_conn *conn = user;
    if (!srv)
        return 0;
    if (listener_owns(&srv->listener, wsi))
        return server_listener_event(srv, reason);
    if (!conn && reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION &&
        reason != LWS_CALLBACK_EVENT_WAIT_CANCELLED)
        /* lws reports the close of a connection that never sent a request
         * with no user data: there is nothing of ours to clean up. */
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return server_filter_upgrade(srv, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        conn->ws = conn_open_ws(srv->core, wsi);
        if (!conn->ws)
            return -1;
        server_count_stream(srv, wsi, conn);
        heartbeat_touch(&srv->heartbeat, conn->ws, clock_mono_ms());
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!conn->ws)
            return -1;
        conn_mark_received(conn->ws);
        heartbeat_touch(&srv->heartbeat, conn->ws, clock_mono_ms());
        return conn_receive(conn->ws, srv->core, (size_t)srv->cfg->max_message, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
        if (conn->ws)
            heartbeat_touch(&srv->heartbeat, conn->ws, clock_mono_ms());
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return conn->ws ? conn_writeable(conn->ws) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        server_vet_peer_close(in, len);
        return conn->ws ? conn_peer_close(conn->ws) : 0;
    case LWS_CALLBACK_CLOSED:
        if (conn->ws) {
            heartbeat_remove(&srv->heartbeat, conn->ws);
            conn_closed(conn->ws, srv->core);
        }
        conn->ws = NULL;
        server_uncount_stream(srv, conn);
        return 0;
    case LWS_CALLBACK_HTTP:
        if (!srv->accepting)
            return -1;
        return http_handle_request(&srv->http, wsi, in ? (const char *)in : "/", &conn->http);
    case LWS_CALLBACK_HTTP_BODY:
        return http_on_body(&srv->http, &conn->http, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return http_on_body_done(&srv->http, &conn->http);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_on_writeable(&srv->http, wsi, &conn->http);
    case LWS_CALLBACK_TIMER:
        return http_on_timer(&srv->http, wsi, &conn->http);
    case LWS_CALLBACK_CLOSED_HTTP:
        http_on_closed(&srv->http, &conn->http);
        server_uncount_stream(srv, conn);
        break;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (srv->core)
            core_store_wake(srv->core);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols server_protocols[] = {
    {
        .name = "wsb.v1",
        .callback = server_callback,
        .per_session_data_size = sizeof(struct server_conn),
        /* Allocated for every connection: 1 KiB keeps an idle one near 3 KB
         * (larger frames arrive in pieces, busy sockets are read again). */
        .rx_buffer_size = 1024,
        /* lws cuts every write to this size (0: to rx_buffer_size) and copies
         * the rest: a coalesced batch must leave in one send. */
        .tx_packet_size = CONN_COALESCE_BYTES + 16,
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_extension server_extensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
    {NULL, NULL, NULL},
};

/* --- lifecycle ----------------------------------------------------------- */

static void server_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    log_write(level == LLL_ERR ? LOG_ERROR : LOG_DEBUG, "lws: %.*s", (int)n, line);
}

void server_wake(void *arg)
{
    struct server *srv = arg;
    struct lws_context *context = atomic_load(&srv->wake_context);
    if (context)
        lws_cancel_service(context);
}

struct server *server_new(const struct config *cfg)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->cfg = cfg;
    srv->listener.fd = -1;
    /* Made before the store opens: the Redis engine runs on it. */
    srv->loop = evloop_new();
    return srv;
}

void *server_uv_loop(struct server *srv)
{
    return srv->loop ? evloop_uv(srv->loop) : NULL;
}

static void server_on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (signal_context)
        lws_cancel_service(signal_context);
}

/* --tls-cert and --tls-key: every connection on the port speaks TLS
 * (wss:// and https://). Accepted sockets are adopted with
 * lws_adopt_socket_vhost, whose flags allow TLS on a vhost that has a
 * certificate; a plain connection fails the handshake and is closed. The
 * files are read once here: a renewed certificate needs a restart. */
static void server_tls_options(const struct config *cfg, struct lws_context_creation_info *info)
{
    if (!cfg->tls_cert)
        return;
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info->ssl_cert_filepath = cfg->tls_cert;
    info->ssl_private_key_filepath = cfg->tls_key;
    /* HTTP/1.1 only: browsers would pick h2 over TLS, where lws 4.1 serves
     * the broker's static files with an empty body, and where a WebSocket
     * is a stream that the coalesced writes cannot frame (conn.c). */
    info->alpn = "http/1.1";
}

static bool server_bind_is_loopback(const char *bind)
{
    return strncmp(bind, "127.", 4) == 0 || strcmp(bind, "::1") == 0 ||
           strcmp(bind, "localhost") == 0;
}

/* Auth (docs/auth.md): the credentials are read once here and only read
 * afterwards; without auth, a broker others can reach says so once. */
static int server_load_credentials(struct server *srv, char *err, size_t errlen)
{
    const struct config *cfg = srv->cfg;
    if (!config_auth_configured(cfg)) {
        if (!server_bind_is_loopback(cfg->bind))
            log_warn("no auth configured and bound to %s: anyone who reaches port %d can publish "
                     "and read every topic (docs/auth.md)",
                     cfg->bind, cfg->port);
        return 0;
    }
    if (credentials_load(&srv->creds, cfg, err, errlen) < 0)
        return -1;
    core_set_credentials(srv->core, srv->creds);
    http_ctx_set_credentials(&srv->http, srv->creds);
    return 0;
}

int server_start(struct server *srv, struct store *store, char *err, size_t errlen)
{
    const struct config *cfg = srv->cfg;
    srv->store = store;
    srv->core = core_new(cfg, store);
    if (!srv->core) {
        snprintf(err, errlen, "wsbroker: out of memory");
        return -1;
    }
    srv->sse_streams = (struct http_streams){.owner = srv,
                                             .full = server_streams_full,
                                             .open = server_sse_open,
                                             .writeable = server_sse_writeable,
                                             .closed = server_sse_closed};
    http_ctx_init(&srv->http, cfg, srv->core, store, &srv->sse_streams);
    if (server_load_credentials(srv, err, errlen) < 0)
        return -1;
    lws_set_log_level(log_get_level() >= LOG_DEBUG ? LLL_ERR | LLL_WARN : LLL_ERR, server_log_emit);

    /* Pings and dropping silent peers are heartbeat.c's: lws's own idle
     * policy re-arms a timer per connection in O(connections). */
    memset(&srv->idle_policy, 0, sizeof(srv->idle_policy));
    heartbeat_init(&srv->heartbeat, cfg->heartbeat);
    if (ipcount_init(&srv->per_ip, cfg->max_conns_per_ip) < 0) {
        snprintf(err, errlen, "wsbroker: out of memory");
        return -1;
    }

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    /* The vhost serves connections listener.c accepts and hands over. */
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = server_protocols;
    info.extensions = server_extensions;
    info.user = srv;
    info.retry_and_idle_policy = &srv->idle_policy;
    /* No LWS_SERVER_OPTION_VALIDATE_UTF8: conn_receive checks text
     * messages and closes with 1007 itself. */
    info.options = 0;
    info.timeout_secs = 30;
    info.pt_serv_buf_size = 65536;
    info.token_limits = guard_token_limits();
    server_tls_options(cfg, &info);

    void *loops[1];
    if (srv->loop)
        evloop_attach(srv->loop, &info, loops, &srv->context);
    struct rlimit nofile;
    srv->max_streams = SIZE_MAX;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
        srv->max_streams = nofile.rlim_cur > 2 * SERVER_FD_RESERVE
                               ? nofile.rlim_cur - SERVER_FD_RESERVE
                               : SERVER_FD_RESERVE;
    srv->accepting = true;
    srv->context = lws_create_context(&info);
    if (!srv->context && srv->loop && cfg->redis) {
        snprintf(err, errlen, "wsbroker: --redis needs the libwebsockets libuv plugin (package "
                              "libwebsockets-evlib-uv)");
        return -1;
    }
    if (!srv->context && srv->loop) {
        evloop_fallback(srv->loop, &info);
        srv->context = lws_create_context(&info);
    }
    if (!srv->context) {
        snprintf(err, errlen, "wsbroker: cannot create the libwebsockets context%s",
                 cfg->tls_cert ? " (are --tls-cert and --tls-key a readable PEM pair?)" : "");
        return -1;
    }
    struct lws_vhost *vhost = lws_get_vhost_by_name(srv->context, "default");
    if (!vhost || listener_attach(&srv->listener, vhost, server_protocols[0].name) < 0) {
        snprintf(err, errlen, "wsbroker: cannot watch the listening socket");
        return -1;
    }
    atomic_store(&srv->wake_context, srv->context);
    signal_context = srv->context;
    signal(SIGTERM, server_on_signal);
    signal(SIGINT, server_on_signal);
    signal(SIGPIPE, SIG_IGN);
    log_info("wsbroker %s listening on %s:%d (%s %s, epoch %s, seq %llu)", WSB_VERSION, cfg->bind,
             cfg->port, cfg->redis ? "redis engine, node of" : "db",
             cfg->redis ? "a shared data set" : cfg->db, store_epoch(store),
             (unsigned long long)store_last_seq(store));
    return 0;
}

/* One turn of the event loop. What the turn's callbacks queued for the
 * connections is written as it ends (session_wake_ready): all the frames a
 * connection got in one turn leave in one send. */
static void server_service(struct server *srv, int max_ms)
{
    if (srv->loop)
        evloop_service(srv->loop, srv->context, max_ms);
    else
        lws_service(srv->context, max_ms);
    conn_read_more(srv->context);
    int64_t now_ms = clock_mono_ms();
    heartbeat_tick(&srv->heartbeat, now_ms, conn_send_ping, conn_drop);
    core_access_tick(srv->core);
    session_wake_ready();
    memtrim_tick(now_ms);
}

/* Services until `done(srv)` or the deadline. */
static void server_drain(struct server *srv, bool (*done)(struct server *), int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (!done(srv) && clock_mono_ms() < deadline)
        server_service(srv, 50);
}

static bool store_idle(struct server *srv)
{
    return core_pending_store(srv->core) == 0;
}

static bool sessions_gone(struct server *srv)
{
    return core_session_count(srv->core) == 0;
}

void server_run(struct server *srv)
{
    while (!stop_requested) {
        int wait_ms = heartbeat_wait_ms(&srv->heartbeat, clock_mono_ms());
        int access_ms = core_access_wait_ms(srv->core);
        server_service(srv, wait_ms < access_ms ? wait_ms : access_ms);
    }
    notify_stopping(); /* before the drain, which may take seconds */
    log_info("shutting down: finishing %zu store requests, closing %zu connections",
             core_pending_store(srv->core), core_session_count(srv->core));
    srv->accepting = false;
    server_drain(srv, store_idle, 10000);
    core_close_all(srv->core, LWS_CLOSE_STATUS_GOINGAWAY, "broker shutting down");
    server_drain(srv, sessions_gone, 5000);
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->wake_context, NULL);
    signal_context = NULL;
    evloop_free(srv->loop, &srv->context);
    listener_close(&srv->listener);
    core_free(srv->core);
    credentials_free(srv->creds);
    ipcount_free(&srv->per_ip);
    free(srv);
}
