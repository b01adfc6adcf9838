/* SPDX-License-Identifier: MIT */
/*
 * listener.c: the listening socket and the pace at which it is accepted.
 * Why it exists, and what it owns: see listener.h.
 */
#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"

/* After accept() ran out of descriptors: how long the socket is not
 * watched (it would be ready again at once: a busy loop). */
#define LISTENER_PAUSE_US (100 * LWS_US_PER_MS)
/* At most one warning per 10 s while it lasts. */
#define LISTENER_WARN_EVERY_US (10 * LWS_US_PER_SEC)

static bool addr_from_literal(const char *bind, int port, struct sockaddr_storage *ss,
                              socklen_t *len)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return true;
    }
    if (inet_pton(AF_INET6, bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return true;
    }
    return false;
}

static int listen_on(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    int off = 0;
    /* Restart while old connections sit in TIME_WAIT; "::" takes IPv4 too. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0) ||
        bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int listener_open(struct listener *l, const char *bind, int port, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (!addr_from_literal(bind, port, &ss, &len)) {
        snprintf(err, errlen, "wsbroker: --bind: \"%s\" is not an IPv4 or IPv6 address", bind);
        return -1;
    }
    l->fd = listen_on(&ss, len);
    if (l->fd < 0) {
        snprintf(err, errlen, "wsbroker: cannot listen on %s port %d: %s", bind, port,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int listener_attach(struct listener *l, struct lws_vhost *vhost, const char *protocol)
{
    lws_sock_file_fd_type desc;
    desc.filefd = l->fd;
    l->vhost = vhost;
    l->wsi = lws_adopt_descriptor_vhost(vhost, LWS_ADOPT_RAW_FILE_DESC, desc, protocol, NULL);
    if (!l->wsi)
        return -1;
    return 0;
}

bool listener_owns(const struct listener *l, const struct lws *wsi)
{
    return l->wsi && l->wsi == wsi;
}

static void listener_resume(lws_sorted_usec_list_t *sul)
{
    struct listener *l = lws_container_of(sul, struct listener, resume);
    l->paused = false;
    if (l->wsi)
        lws_rx_flow_control(l->wsi, 1);
}

/* A trouble that can repeat at every accept is logged once per 10 s. */
static bool listener_may_warn(struct listener *l)
{
    lws_usec_t now = lws_now_usecs();
    if (now - l->warned_at < LISTENER_WARN_EVERY_US)
        return false;
    l->warned_at = now;
    return true;
}

/* accept() failed for want of descriptors or memory: stop watching the
 * socket for a moment instead of spinning on it. */
static void listener_pause(struct listener *l, int err)
{
    l->pauses++;
    if (listener_may_warn(l))
        log_warn("accept: %s: not accepting for %d ms (%lu pauses so far)", strerror(err),
                 (int)(LISTENER_PAUSE_US / LWS_US_PER_MS), l->pauses);
    l->paused = true;
    lws_rx_flow_control(l->wsi, 0);
    lws_sul_schedule(lws_get_context(l->wsi), 0, &l->resume, listener_resume, LISTENER_PAUSE_US);
}

static void listener_adopt(struct listener *l, int fd)
{
    int on = 1;
    /* Our writes are already batched per turn (session.c): no Nagle delay. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    /* On failure lws has closed fd. */
    if (!lws_adopt_socket_vhost(l->vhost, fd) && listener_may_warn(l))
        log_warn("accept: lws could not take a connection (its table of sockets is full?)");
}

void listener_accept(struct listener *l, bool admit)
{
    for (int n = 0; n < LISTENER_ACCEPT_BATCH && !l->paused; n++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO)
                continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                listener_pause(l, err);
            return; /* EAGAIN: the queue is empty */
        }
        if (admit)
            listener_adopt(l, fd);
        else
            close(fd);
    }
}

void listener_forget(struct listener *l)
{
    lws_sul_cancel(&l->resume);
    l->wsi = NULL;
    l->fd = -1;
}

void listener_close(struct listener *l)
{
    if (!l->wsi && l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
