/* SPDX-License-Identifier: MIT */
/*
 * floor.c: what one write costs on this machine, without any broker.
 *
 * A sender writes 113-byte frames (a 100-byte payload in a WebSocket
 * frame) round-robin to N loopback TCP sockets, R rounds per second (0: flat
 * out), optionally several frames per write; a forked reader epolls all N
 * and reads everything. Prints the sender's CPU per write and per frame:
 * the floor under any broker's "CPU per delivery" at that rate.
 *
 *   cc -O2 -o /tmp/floor tests/bench/floor.c
 *   /tmp/floor 1000 50 5        # 1000 sockets, 50 rounds/s (50k writes/s), 5 s
 *   /tmp/floor 1000 0 3 8       # flat out, 8 frames per write
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static double cpu(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
}
int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    double rate = atof(argv[2]);
    double secs = atof(argv[3]);
    int fpw = argc > 4 ? atoi(argv[4]) : 1;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(ls, (void *)&a, sizeof a);
    listen(ls, 4096);
    socklen_t al = sizeof a;
    getsockname(ls, (void *)&a, &al);
    pid_t p = fork();
    if (p == 0) {
        int ep = epoll_create1(0);
        for (int i = 0; i < n; i++) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            connect(c, (void *)&a, sizeof a);
            struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
        }
        char buf[65536];
        struct epoll_event ev[512];
        for (;;) {
            int k = epoll_wait(ep, ev, 512, -1);
            for (int i = 0; i < k; i++) {
                ssize_t r = read(ev[i].data.fd, buf, sizeof buf);
                if (r <= 0)
                    _exit(0);
            }
        }
    }
    int *fds = malloc(n * sizeof(int));
    for (int i = 0; i < n; i++) {
        fds[i] = accept(ls, 0, 0);
        int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    char frame[113 * 512];
    memset(frame, 'x', sizeof frame);
    double t0 = now(), c0 = cpu();
    long writes = 0, frames = 0;
    double next = t0;
    while (now() - t0 < secs) {
        for (int i = 0; i < n; i++) {
            send(fds[i], frame, 113 * fpw, MSG_NOSIGNAL);
            writes++;
            frames += fpw;
        }
        if (rate > 0) {
            next += 1.0 / rate;
            double d = next - now();
            if (d > 0) {
                struct timespec ts = {0, (long)(d * 1e9)};
                nanosleep(&ts, 0);
            }
        }
    }
    double c = cpu() - c0, t = now() - t0;
    printf("sockets %d rounds/s %.0f: %ld writes, %ld frames in %.1fs, sender cpu %.1f%%, %.2f "
           "us/write, %.3f us/frame\n",
           n, rate, writes, frames, t, 100 * c / t, c * 1e6 / writes, c * 1e6 / frames);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    kill(p, 9);
    wait(0);
    return 0;
}
