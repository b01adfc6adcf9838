/* SPDX-License-Identifier: MIT */
/*
 * harness.c: broker process control and the lossy proxy (see harness.h).
 *
 * Exists so that the client tests run against the real wsbroker binary,
 * including crashes (kill -9) and lost replies, without sleeping fixed
 * times: every wait polls a condition with a deadline.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROXY_MAX_PAIRS 32

long long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int listen_on(int port, int *bound_port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t len = sizeof(sa);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close(fd);
        return -1;
    }
    *bound_port = ntohs(sa.sin_port);
    return fd;
}

int harness_free_port(void)
{
    int port = 0;
    int fd = listen_on(0, &port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

static int connect_port(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int harness_healthz(int port)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n";
    char buf[256] = "";
    int fd = connect_port(port);
    if (fd < 0)
        return 0;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = write(fd, req, sizeof(req) - 1);
    if (n == (ssize_t)sizeof(req) - 1)
        n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    return n > 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 200 : 0;
}

/* A self-signed certificate for the name "localhost" only, so that a
 * client verifying it against 127.0.0.1 sees a wrong host name. */
static int make_certificate(struct broker *b)
{
    char cmd[1200];
    snprintf(b->cert, sizeof(b->cert), "%s/cert.pem", b->dir);
    snprintf(b->key, sizeof(b->key), "%s/key.pem", b->dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -keyout %s -out %s >/dev/null 2>&1",
             b->key, b->cert);
    if (system(cmd) != 0)
        return -1;
    snprintf(b->url, sizeof(b->url), "wss://localhost:%d/ws", b->port);
    return 0;
}

int broker_prepare(struct broker *b)
{
    if (b->dir[0])
        return 0;
    snprintf(b->dir, sizeof(b->dir), "/tmp/wsb-test-XXXXXX");
    if (!mkdtemp(b->dir))
        return -1;
    snprintf(b->db, sizeof(b->db), "%s/x.db", b->dir);
    snprintf(b->log, sizeof(b->log), "%s/broker.log", b->dir);
    b->port = harness_free_port();
    snprintf(b->url, sizeof(b->url), "ws://127.0.0.1:%d/ws", b->port);
    if (b->port <= 0)
        return -1;
    return b->tls ? make_certificate(b) : 0;
}

static void broker_exec(struct broker *b, const char *bin)
{
    const char *argv[40];
    char port[16];
    int n = 0;

    snprintf(port, sizeof(port), "%d", b->port);
    argv[n++] = bin;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--db";
    argv[n++] = b->db;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    if (b->tls) {
        argv[n++] = "--tls-cert";
        argv[n++] = b->cert;
        argv[n++] = "--tls-key";
        argv[n++] = b->key;
    }
    for (int i = 0; b->extra[i] && n < 38; i++)
        argv[n++] = b->extra[i];
    argv[n] = NULL;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no broker behind */
    int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execv(bin, (char *const *)argv);
    _exit(127);
}

static int broker_ready(struct broker *b)
{
    if (!b->tls)
        return harness_healthz(b->port) == 200;
    int fd = connect_port(b->port);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

int broker_start(struct broker *b)
{
    const char *bin = getenv("WSBROKER_BIN");
    if (!bin || broker_prepare(b) < 0)
        return -1;
    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0)
        broker_exec(b, bin);
    long long deadline = harness_now_ms() + 15000;
    while (harness_now_ms() < deadline) {
        if (broker_ready(b))
            return 0;
        int status;
        if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
            b->pid = 0;
            return -1;
        }
        pause_ms(10);
    }
    return -1;
}

void broker_kill(struct broker *b, int sig)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, sig);
    if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT) {
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
}

void broker_cleanup(struct broker *b)
{
    char cmd[400];
    broker_kill(b, SIGTERM);
    if (b->dir[0] && !getenv("WSB_TEST_KEEP")) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", b->dir);
    }
    b->dir[0] = '\0';
}

const char *harness_wsb_bin(void)
{
    return getenv("WSB_BIN");
}

/* ---- the proxy ---- */

struct pair {
    int client_fd;
    int broker_fd;
};

static void pair_close(struct pair *p)
{
    if (p->client_fd >= 0)
        close(p->client_fd);
    if (p->broker_fd >= 0)
        close(p->broker_fd);
    p->client_fd = p->broker_fd = -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int chunk_has_ack(const char *buf, size_t len)
{
    static const char needle[] = "\"op\":\"ack\"";
    return memmem(buf, len, needle, sizeof(needle) - 1) != NULL;
}

/* Moves one chunk from fd `from` to `to`; -1 when the pair must close. */
static int proxy_forward(struct proxy *px, struct pair *p, int from_broker)
{
    char buf[65536];
    int from = from_broker ? p->broker_fd : p->client_fd;
    int to = from_broker ? p->client_fd : p->broker_fd;
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return -1;
    if (from_broker && atomic_load(&px->drop_ack) && chunk_has_ack(buf, (size_t)n)) {
        atomic_store(&px->drop_ack, 0);
        atomic_fetch_add(&px->acks_dropped, 1);
        /* Reset, like a network that dies: the client never sees the ack. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(p->client_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        return -1;
    }
    return write_all(to, buf, (size_t)n);
}

static void proxy_accept(struct proxy *px, struct pair *pairs)
{
    int fd = accept(px->listen_fd, NULL, NULL);
    if (fd < 0)
        return;
    int bfd = connect_port(px->target_port);
    if (bfd < 0) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (int i = 0; i < PROXY_MAX_PAIRS; i++) {
        if (pairs[i].client_fd < 0) {
            pairs[i].client_fd = fd;
            pairs[i].broker_fd = bfd;
            atomic_fetch_add(&px->accepted, 1);
            return;
        }
    }
    close(fd);
    close(bfd);
}

static void *proxy_main(void *arg)
{
    struct proxy *px = arg;
    struct pair pairs[PROXY_MAX_PAIRS];
    struct pollfd pfd[1 + 2 * PROXY_MAX_PAIRS];

    for (int i = 0; i < PROXY_MAX_PAIRS; i++)
        pairs[i].client_fd = pairs[i].broker_fd = -1;
    while (!atomic_load(&px->stop)) {
        if (atomic_exchange(&px->cut, 0))
            for (int i = 0; i < PROXY_MAX_PAIRS; i++)
                pair_close(&pairs[i]);
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = px->listen_fd, .events = POLLIN};
        for (int i = 0; i < PROXY_MAX_PAIRS; i++) {
            pfd[n++] = (struct pollfd){.fd = pairs[i].client_fd, .events = POLLIN};
            pfd[n++] = (struct pollfd){.fd = pairs[i].broker_fd, .events = POLLIN};
        }
        if (poll(pfd, (nfds_t)n, 20) <= 0)
            continue;
        if (pfd[0].revents & POLLIN)
            proxy_accept(px, pairs);
        for (int i = 0; i < PROXY_MAX_PAIRS; i++) {
            short crev = pfd[1 + 2 * i].revents, brev = pfd[2 + 2 * i].revents;
            if (pairs[i].client_fd < 0)
                continue;
            if ((crev & (POLLIN | POLLHUP | POLLERR)) && proxy_forward(px, &pairs[i], 0) < 0)
                pair_close(&pairs[i]);
            else if ((brev & (POLLIN | POLLHUP | POLLERR)) && proxy_forward(px, &pairs[i], 1) < 0)
                pair_close(&pairs[i]);
        }
    }
    for (int i = 0; i < PROXY_MAX_PAIRS; i++)
        pair_close(&pairs[i]);
    return NULL;
}

int proxy_start(struct proxy *p, int target_port)
{
    memset(p, 0, sizeof(*p));
    p->target_port = target_port;
    p->listen_fd = listen_on(0, &p->port);
    if (p->listen_fd < 0)
        return -1;
    snprintf(p->url, sizeof(p->url), "ws://127.0.0.1:%d/ws", p->port);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        close(p->listen_fd);
        return -1;
    }
    return 0;
}

void proxy_stop(struct proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
}
