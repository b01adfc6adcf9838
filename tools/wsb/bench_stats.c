/* SPDX-License-Identifier: MIT */
/*
 * bench_stats.c: latency histograms and the /proc readings of `wsb bench`
 * (CPU ticks and resident memory of a process, the pid listening on a
 * port, the open-file limit, the ephemeral port range).
 *
 * Exists apart from the network code so that what is measured, and how,
 * can be read in one place.
 */
#include "bench.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int hist_bin(uint64_t v)
{
    if (v < HIST_SUB)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* v in [2^e, 2^(e+1)), e >= 6 */
    int bin = (e - 5) * HIST_SUB + (int)((v >> (e - 6)) & (HIST_SUB - 1));
    return bin < HIST_BINS ? bin : HIST_BINS - 1;
}

static uint64_t hist_bin_value(int bin)
{
    if (bin < HIST_SUB)
        return (uint64_t)bin;
    int e = bin / HIST_SUB + 5;
    uint64_t sub = (uint64_t)(bin % HIST_SUB);
    return ((uint64_t)HIST_SUB + sub) << (e - 6);
}

void hist_add(struct hist *h, uint64_t v)
{
    h->bins[hist_bin(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (!h->count)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BINS; i++) {
        seen += h->bins[i];
        if (seen > rank) {
            uint64_t v = hist_bin_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

static int read_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

long long proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long utime, stime;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_file(path, buf, sizeof(buf)) < 0)
        return -1;
    /* The command name may hold spaces: fields start after the last ')'. */
    const char *p = strrchr(buf, ')');
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (long long)(utime + stime);
}

long proc_rss_kb(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (read_file(path, buf, sizeof(buf)) < 0)
        return -1;
    const char *p = strstr(buf, "VmRSS:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

/* The inode of a socket listening on the port, from /proc/net/tcp{,6}. */
static unsigned long listen_inode(const char *table, int port)
{
    char line[512];
    unsigned long inode = 0;
    FILE *f = fopen(table, "r");
    if (!f)
        return 0;
    while (!inode && fgets(line, sizeof(line), f)) {
        char local[128];
        unsigned st;
        unsigned long ino;
        if (sscanf(line, " %*d: %127s %*s %x %*s %*s %*s %*d %*d %lu", local, &st, &ino) != 3)
            continue;
        const char *colon = strrchr(local, ':');
        if (st == 0x0A && colon && (int)strtol(colon + 1, NULL, 16) == port)
            inode = ino;
    }
    fclose(f);
    return inode;
}

static int pid_has_socket(int pid, const char *want)
{
    char dirpath[64], link[128], target[64];
    snprintf(dirpath, sizeof(dirpath), "/proc/%d/fd", pid);
    DIR *d = opendir(dirpath);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        snprintf(link, sizeof(link), "%s/%.32s", dirpath, e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strcmp(target, want) == 0;
        }
    }
    closedir(d);
    return found;
}

pid_t proc_find_listener(int port)
{
    unsigned long inode = listen_inode("/proc/net/tcp", port);
    if (!inode)
        inode = listen_inode("/proc/net/tcp6", port);
    if (!inode)
        return -1;
    char want[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    pid_t pid = -1;
    struct dirent *e;
    while (pid < 0 && (e = readdir(d))) {
        if (isdigit((unsigned char)e->d_name[0]) && pid_has_socket(atoi(e->d_name), want))
            pid = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return pid;
}

long proc_set_fd_limit(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if ((rlim_t)want > rl.rlim_max) {
        /* Raising the hard limit needs CAP_SYS_RESOURCE; it fails quietly
         * otherwise, and fs.nr_open caps it. */
        struct rlimit up = {.rlim_cur = (rlim_t)want, .rlim_max = (rlim_t)want};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            return want;
    }
    rl.rlim_cur = (rlim_t)want < rl.rlim_max ? (rlim_t)want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

long proc_ephemeral_ports(void)
{
    char buf[64];
    long lo, hi;
    if (read_file("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof(buf)) < 0 ||
        sscanf(buf, "%ld %ld", &lo, &hi) != 2 || hi < lo)
        return -1;
    return hi - lo + 1;
}

double bench_cpu_percent(long long t0, long long t1, double seconds)
{
    if (t0 < 0 || t1 < 0 || seconds <= 0)
        return -1;
    return (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / seconds * 100.0;
}

void bench_sample_take(const struct bench *b, struct sample *s)
{
    s->us = clock_mono_us();
    s->self_ticks = proc_cpu_ticks(getpid());
    s->broker_ticks = b->cfg.broker_pid > 0 ? proc_cpu_ticks(b->cfg.broker_pid) : -1;
    s->sent = b->st.sent;
    s->acked = b->st.acked;
    s->delivered = b->st.delivered;
    for (int i = 0; i < BENCH_MAX_NODES; i++) {
        pid_t pid = i < b->cfg.n_urls ? b->cfg.node_pids[i] : 0;
        s->node_ticks[i] = pid > 0 ? proc_cpu_ticks(pid) : -1;
        s->node_delivered[i] = b->st.node_delivered[i];
        s->node_acked[i] = b->st.node_acked[i];
    }
    s->aux_ticks = b->cfg.aux_pid > 0 ? proc_cpu_ticks(b->cfg.aux_pid) : -1;
}
