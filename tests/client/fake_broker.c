/* SPDX-License-Identifier: MIT */
/*
 * fake_broker.c: a scripted stand-in for wsbroker; see fake_broker.h.
 *
 * Plain blocking sockets and one thread: the tests drive one client at a
 * time, and the frames are small. The framing is common/wsframe.h's.
 */
#include "fake_broker.h"

#include "common/base64.h"
#include "common/wsframe.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RX_CAP (64 * 1024)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_frame(int fd, enum wsframe_opcode opcode, const void *payload, size_t len)
{
    unsigned char header[WSFRAME_HEADER_MAX];
    size_t n = wsframe_put_header(header, opcode, len, false);
    return send_all(fd, header, n) < 0 ? -1 : send_all(fd, payload, len);
}

static int send_text(int fd, const char *text)
{
    return send_frame(fd, WSFRAME_TEXT, text, strlen(text));
}

/* Appends what arrives within 100 ms to rx; -1 when the peer closed or
 * the broker is stopping. */
static int receive(struct fake_broker *f, int fd, unsigned char *rx, size_t *len)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (atomic_load(&f->stop))
        return -1;
    if (poll(&p, 1, 100) <= 0)
        return 0;
    if (*len >= RX_CAP)
        return -1;
    ssize_t n = recv(fd, rx + *len, RX_CAP - *len, 0);
    if (n <= 0)
        return -1;
    *len += (size_t)n;
    return 0;
}

static void accept_key(const char *key, size_t keylen, char *out)
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    char text[128];
    snprintf(text, sizeof(text), "%.*s%s", (int)keylen, key, WS_GUID);
    SHA1((const unsigned char *)text, strlen(text), digest);
    base64_encode(digest, sizeof(digest), out);
}

/* Reads the upgrade request, records its path and answers 101. */
static int upgrade(struct fake_broker *f, int fd, unsigned char *rx)
{
    size_t len = 0;
    while (!memmem(rx, len, "\r\n\r\n", 4))
        if (receive(f, fd, rx, &len) < 0)
            return -1;
    rx[len] = '\0';
    const char *path = strchr((char *)rx, ' ');
    const char *key = strcasestr((char *)rx, "Sec-WebSocket-Key:");
    if (!path || !key)
        return -1;
    path++;
    key += strlen("Sec-WebSocket-Key:");
    key += strspn(key, " ");
    char accept[64], reply[256];
    accept_key(key, strcspn(key, "\r\n "), accept);
    pthread_mutex_lock(&f->lock);
    if (f->n_conns < FAKE_MAX_CONNS)
        snprintf(f->paths[f->n_conns], sizeof(f->paths[0]), "%.*s", (int)strcspn(path, " "), path);
    f->n_conns++;
    pthread_mutex_unlock(&f->lock);
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: wsb.v1\r\n\r\n",
             accept);
    return send_all(fd, reply, strlen(reply));
}

/* Records a text frame from the client and answers it per the script. */
static void answer(struct fake_broker *f, int fd, const char *text)
{
    char reply[256];
    pthread_mutex_lock(&f->lock);
    if (f->n_frames < FAKE_MAX_FRAMES)
        snprintf(f->frames[f->n_frames++], sizeof(f->frames[0]), "%s", text);
    pthread_mutex_unlock(&f->lock);

    json_t *root = json_loads(text, 0, NULL);
    const char *op = json_string_value(json_object_get(root, "op"));
    long long id = (long long)json_integer_value(json_object_get(root, "id"));
    if (!op) {
        json_decref(root);
        return;
    }
    if (strcmp(op, "ping") == 0)
        snprintf(reply, sizeof(reply), "{\"op\":\"pong\",\"id\":%lld}", id);
    else if (strcmp(op, "auth") == 0)
        snprintf(reply, sizeof(reply), "{\"op\":\"ack\",\"id\":%lld,\"user\":\"u\",\"exp\":%d}", id,
                 2000000000);
    else if (strcmp(op, "publish") == 0 && f->expire_requests)
        snprintf(reply, sizeof(reply),
                 "{\"op\":\"error\",\"id\":%lld,\"code\":\"token_expired\","
                 "\"message\":\"token expired\"}",
                 id);
    else
        snprintf(reply, sizeof(reply), "{\"op\":\"ack\",\"id\":%lld,\"seq\":%lld}", id, id);
    json_decref(root);
    send_text(fd, reply);
}

/* Reads frames until the client closes. A close is answered in kind. */
static void converse(struct fake_broker *f, int fd, unsigned char *rx)
{
    size_t len = 0;
    while (receive(f, fd, rx, &len) == 0) {
        struct wsframe_header h;
        while (len > 0 && wsframe_parse_header(rx, len, &h) == 1 &&
               h.header_len + h.payload_len <= len) {
            unsigned char *payload = rx + h.header_len;
            size_t n = (size_t)h.payload_len;
            for (size_t i = 0; h.masked && i < n; i++)
                payload[i] ^= h.mask[i % 4];
            if (h.opcode == WSFRAME_CLOSE) {
                send_frame(fd, WSFRAME_CLOSE, payload, n < 2 ? n : 2);
                return;
            }
            if (h.opcode == WSFRAME_TEXT) {
                char *text = strndup((char *)payload, n);
                if (text)
                    answer(f, fd, text);
                free(text);
            }
            len -= h.header_len + n;
            memmove(rx, rx + h.header_len + n, len);
        }
    }
}

static void serve(struct fake_broker *f, int fd, unsigned char *rx)
{
    if (upgrade(f, fd, rx) < 0)
        return;
    send_text(fd, "{\"op\":\"welcome\",\"v\":1,\"client\":\"c1\",\"epoch\":\"e1\",\"seq\":0,"
                  "\"heartbeat\":25,\"max_message\":1048576}");
    if (f->close_4003_first && fake_broker_conns(f) == 1) {
        static const unsigned char close_4003[] = {0x0f, 0xa3, 'e', 'x', 'p'};
        send_frame(fd, WSFRAME_CLOSE, close_4003, sizeof(close_4003));
    } else if (f->expire_after_welcome) {
        send_text(fd,
                  "{\"op\":\"error\",\"code\":\"token_expired\",\"message\":\"token expired\"}");
    }
    converse(f, fd, rx);
}

static void *fake_broker_main(void *arg)
{
    struct fake_broker *f = arg;
    unsigned char *rx = malloc(RX_CAP + 1);
    while (rx && !atomic_load(&f->stop)) {
        struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        serve(f, fd, rx);
        close(fd);
    }
    free(rx);
    return NULL;
}

int fake_broker_start(struct fake_broker *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    pthread_mutex_init(&f->lock, NULL);
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(f->listen_fd, 4) < 0 || getsockname(f->listen_fd, (struct sockaddr *)&a, &alen) < 0)
        return -1;
    f->port = ntohs(a.sin_port);
    snprintf(f->url, sizeof(f->url), "ws://127.0.0.1:%d/ws", f->port);
    return pthread_create(&f->thread, NULL, fake_broker_main, f) == 0 ? 0 : -1;
}

void fake_broker_stop(struct fake_broker *f)
{
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    pthread_mutex_destroy(&f->lock);
}

int fake_broker_conns(struct fake_broker *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->n_conns;
    pthread_mutex_unlock(&f->lock);
    return n;
}

void fake_broker_path(struct fake_broker *f, int i, char *buf, size_t len)
{
    pthread_mutex_lock(&f->lock);
    snprintf(buf, len, "%s", i >= 0 && i < f->n_conns && i < FAKE_MAX_CONNS ? f->paths[i] : "");
    pthread_mutex_unlock(&f->lock);
}

int fake_broker_saw(struct fake_broker *f, const char *needle)
{
    int found = 0;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->n_frames && !found; i++)
        found = strstr(f->frames[i], needle) != NULL;
    pthread_mutex_unlock(&f->lock);
    return found;
}
