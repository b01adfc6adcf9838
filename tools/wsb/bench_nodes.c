/* SPDX-License-Identifier: MIT */
/*
 * bench_nodes.c: several broker URLs in one `wsb bench` run: brokers that
 * serve as one (nodes sharing one Redis), each measured apart.
 *
 * Owns the URL list (--url repeated or comma-separated, as the other
 * subcommands take it), each node's pid (found, like the single broker's,
 * by its listening port), and the cost of each node between two samples:
 * its CPU time against the deliveries received by subscribers connected
 * to it and the acks received by publishers connected to it. On one host
 * the nodes share the CPUs, so the sum is what the cluster costs and each
 * node's figure is its share. An aux process (--aux-pid, e.g.
 * redis-server) is measured over the same window.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bnodes_parse(struct bench_config *cfg, const char *const *args, int n_args, char *err,
                 size_t errlen)
{
    size_t total = 1;
    for (int i = 0; i < n_args; i++)
        total += strlen(args[i]) + 1;
    cfg->url_list = calloc(1, total);
    if (!cfg->url_list) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < n_args; i++) {
        strcat(cfg->url_list, args[i]);
        strcat(cfg->url_list, ",");
    }
    cfg->n_urls = 0;
    char *save = NULL;
    for (char *u = strtok_r(cfg->url_list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (cfg->n_urls == BENCH_MAX_NODES) {
            snprintf(err, errlen, "more than %d broker URLs", BENCH_MAX_NODES);
            return -1;
        }
        if (wsb_url_parse(u, &cfg->urls[cfg->n_urls], err, errlen) < 0)
            return -1;
        cfg->url_texts[cfg->n_urls++] = u;
    }
    if (cfg->n_urls == 0) {
        snprintf(err, errlen, "--url is empty");
        return -1;
    }
    cfg->url = cfg->urls[0];
    cfg->url_text = cfg->url_texts[0];
    return 0;
}

static int local_host(const char *h)
{
    return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 ||
           strcmp(h, "0.0.0.0") == 0;
}

void bnodes_find_pids(struct bench_config *cfg)
{
    for (int i = 0; i < cfg->n_urls; i++) {
        pid_t pid = i == 0 ? cfg->broker_pid : 0;
        if (pid <= 0 && local_host(cfg->urls[i].host))
            pid = proc_find_listener(cfg->urls[i].port);
        cfg->node_pids[i] = pid > 0 ? pid : 0;
        if (pid <= 0)
            fprintf(stderr,
                    "wsb bench: pid of the broker at %s unknown: no CPU or memory for it%s\n",
                    cfg->url_texts[i], i == 0 ? " (give --broker-pid)" : "");
    }
    cfg->broker_pid = cfg->node_pids[0];
}

void bnodes_cost(const struct bench *b, const struct sample *a, const struct sample *z,
                 struct node_cost *out)
{
    double hz = (double)sysconf(_SC_CLK_TCK);
    for (int i = 0; i < b->cfg.n_urls; i++) {
        long long t0 = a->node_ticks[i], t1 = z->node_ticks[i];
        out[i].cpu_s = t0 < 0 || t1 < 0 ? -1 : (double)(t1 - t0) / hz;
        out[i].delivered = z->node_delivered[i] - a->node_delivered[i];
        out[i].acked = z->node_acked[i] - a->node_acked[i];
    }
}

double bnodes_aux_cpu_s(const struct sample *a, const struct sample *z)
{
    if (a->aux_ticks < 0 || z->aux_ticks < 0)
        return -1;
    return (double)(z->aux_ticks - a->aux_ticks) / (double)sysconf(_SC_CLK_TCK);
}

double bnodes_us_per(double cpu_s, uint64_t units)
{
    return cpu_s < 0 || units == 0 ? -1 : cpu_s * 1e6 / (double)units;
}

struct node_cost bnodes_total(const struct bench *b, const struct node_cost *nc)
{
    struct node_cost t = {0, 0, 0};
    for (int i = 0; i < b->cfg.n_urls; i++) {
        t.cpu_s = t.cpu_s < 0 || nc[i].cpu_s < 0 ? -1 : t.cpu_s + nc[i].cpu_s;
        t.delivered += nc[i].delivered;
        t.acked += nc[i].acked;
    }
    return t;
}

static void json_cost(const struct node_cost *c)
{
    printf("\"cpu_s\":%.3f,\"delivered\":%llu,\"acked\":%llu,\"cpu_us_per_delivery\":%.2f,"
           "\"cpu_us_per_ack\":%.2f",
           c->cpu_s, (unsigned long long)c->delivered, (unsigned long long)c->acked,
           bnodes_us_per(c->cpu_s, c->delivered), bnodes_us_per(c->cpu_s, c->acked));
}

void bnodes_print_json(const struct bench *b, const char *prefix, const struct node_cost *nc,
                       double aux_cpu_s)
{
    char quoted[512];
    printf(",\"%snodes\":[", prefix);
    for (int i = 0; i < b->cfg.n_urls; i++) {
        jquote_string(b->cfg.url_texts[i], quoted, sizeof(quoted));
        printf("%s{\"url\":%s,\"pid\":%d,", i ? "," : "", quoted, (int)b->cfg.node_pids[i]);
        json_cost(&nc[i]);
        printf("}");
    }
    struct node_cost t = bnodes_total(b, nc);
    printf("],\"%snodes_total\":{", prefix);
    json_cost(&t);
    printf("}");
    if (b->cfg.aux_pid > 0)
        printf(",\"%saux_pid\":%d,\"%saux_cpu_s\":%.3f,\"%saux_cpu_us_per_ack\":%.2f,"
               "\"%saux_cpu_us_per_delivery\":%.2f",
               prefix, (int)b->cfg.aux_pid, prefix, aux_cpu_s, prefix,
               bnodes_us_per(aux_cpu_s, t.acked), prefix, bnodes_us_per(aux_cpu_s, t.delivered));
}

static void print_us(double v)
{
    if (v < 0)
        printf(" %12s", "-");
    else
        printf(" %12.2f", v);
}

static void table_row(const char *name, const struct node_cost *c)
{
    printf("  %-30.30s", name);
    if (c->cpu_s < 0)
        printf(" %9s", "-");
    else
        printf(" %9.3f", c->cpu_s);
    printf(" %12llu %10llu", (unsigned long long)c->delivered, (unsigned long long)c->acked);
    print_us(bnodes_us_per(c->cpu_s, c->delivered));
    print_us(bnodes_us_per(c->cpu_s, c->acked));
    printf("\n");
}

void bnodes_print_table(const struct bench *b, const char *label, const struct node_cost *nc,
                        double aux_cpu_s)
{
    char name[64];
    printf("broker cpu by node, %s:\n", label);
    printf("  %-30s %9s %12s %10s %12s %12s\n", "node", "cpu s", "deliveries", "acks",
           "us/delivery", "us/ack");
    for (int i = 0; i < b->cfg.n_urls; i++) {
        snprintf(name, sizeof(name), "%d %s", i + 1, b->cfg.url_texts[i]);
        table_row(name, &nc[i]);
    }
    struct node_cost t = bnodes_total(b, nc);
    if (b->cfg.n_urls > 1)
        table_row("all nodes", &t);
    if (b->cfg.aux_pid > 0) {
        struct node_cost aux = {aux_cpu_s, t.delivered, t.acked};
        snprintf(name, sizeof(name), "aux pid %d", (int)b->cfg.aux_pid);
        table_row(name, &aux);
    }
}
