/* SPDX-License-Identifier: MIT */
/*
 * bench.h: what the files of `wsb bench` share.
 *
 * Owns: the run configuration, the counters and latency histograms, the
 * per-connection state, and the parts, each calling only those below it:
 *   bench.c             command line and the table of scenarios
 *   bench_publish.c     fanout, throughput, latency: publish phases, report
 *   bench_conns.c       connections: idle connections, memory per connection
 *   bench_reconnect.c   reconnect: drop every subscriber at once, resume
 *                       with `since`
 *   bench_net.c         one libwebsockets context driving every connection
 *   bench_wire.c        the WebSocket framing, by hand over lws raw sockets,
 *                       and the broker frames scanned without allocating
 *   bench_stats.c       histograms, samples and /proc readings
 *   bench_nodes.c       several broker URLs (nodes sharing one store): the
 *                       URL list, each node's pid and its CPU per delivery
 *                       and per ack
 * The network layer never calls a scenario: a scenario that wants to hear
 * of events sets b->hooks.
 */
#ifndef WSB_BENCH_H
#define WSB_BENCH_H

#include "common/clock.h"
#include "common/jquote.h"
#include "wsb_util.h"

#include <libwebsockets.h>

#include <stdint.h>
#include <sys/types.h>

/* The longest token of a bench connection: it rides in the upgrade URL,
 * of which the broker reads about 2 KB (docs/auth.md). */
#define BENCH_TOKEN_MAX 2000

/* Broker URLs of one run: nodes of one cluster (one Redis) sharing the
 * load, each measured apart. */
#define BENCH_MAX_NODES 8

/* Latency histogram: log-linear, 64 sub-buckets per power of two
 * (about 1.5 % resolution), microseconds up to 2^40. */
#define HIST_SUB 64
#define HIST_BINS ((40 - 5) * HIST_SUB)

struct hist {
    uint64_t bins[HIST_BINS];
    uint64_t count;
    uint64_t max;
    uint64_t sum;
};

void hist_add(struct hist *h, uint64_t v);
/* The value below which a fraction p (0..1) of the samples fall. */
uint64_t hist_percentile(const struct hist *h, double p);

/* /proc readings; -1 when unavailable. */
long long proc_cpu_ticks(pid_t pid); /* utime + stime of the process */
long proc_rss_kb(pid_t pid);
pid_t proc_find_listener(int port); /* the process listening on a local TCP port */
/* Sets the soft open-file limit to `want`, lower or higher (the hard
 * limit too when it is below and the process may); returns the new soft
 * limit. */
long proc_set_fd_limit(long want);
/* Size of the ephemeral port range (net.ipv4.ip_local_port_range). */
long proc_ephemeral_ports(void);

enum role { ROLE_IDLE, ROLE_PUB, ROLE_SUB };

enum conn_phase { BC_NEW, BC_CONNECTING, BC_OPEN, BC_SUBSCRIBED, BC_CLOSED };

#define ACK_RING 4096   /* in-flight publishes per connection, at most */
#define WRITE_BURST 64  /* publish frames per write */
#define TX_HEADROOM 512 /* envelope bytes around the padding */

struct bconn {
    struct bench *b;
    struct lws *wsi;
    enum role role;
    enum conn_phase phase;
    int index; /* among connections of its role */
    int node;  /* the broker URL it connects to (cfg.urls) */
    int sub_sent;
    int sub_refused;
    int upgrade_sent; /* the HTTP upgrade request is out */
    int upgraded;     /* 101 received: frames follow */
    int close_code;
    int pong_pending; /* a ping to answer */
    size_t pong_len;
    unsigned char pong[125];
    uint64_t next_id;
    uint64_t credits; /* paced mode: publishes allowed now */
    uint32_t inflight;
    uint64_t last_seq; /* subscriber: for order checks */
    int slow;          /* a subscriber that stops reading once subscribed */
    int64_t *sent_us;  /* publisher: send time by id % ACK_RING */
    unsigned char *rx; /* the handshake, or a frame cut by the end of a read */
    size_t rx_len, rx_cap;
    const char *topic; /* publish or subscribe target */
    /* for a scenario with hooks (reconnect) */
    int control;     /* a subscriber that is never dropped */
    int dropping;    /* being closed by the bench on purpose */
    int resume;      /* the next subscribe carries since (last_seq) and epoch */
    uint64_t last_n; /* the publisher's counter in the last message */
};

struct bench_config {
    const char *scenario;
    struct wsb_url url;   /* the first node: cfg.urls[0] */
    const char *url_text; /* the first node's URL */
    int n_urls;
    struct wsb_url urls[BENCH_MAX_NODES];
    const char *url_texts[BENCH_MAX_NODES]; /* into url_list */
    char *url_list;                         /* the --url values, split at commas */
    pid_t node_pids[BENCH_MAX_NODES];       /* [0] is broker_pid; <= 0 unknown */
    pid_t aux_pid;          /* --aux-pid: one more process measured (e.g. redis-server) */
    int spread_subs;        /* subscribers round robin over the nodes (fanout, latency) */
    int spread_pubs;        /* publishers round robin over the nodes (throughput) */
    const char *token;      /* --token, or what cli_token_resolve found */
    const char *token_file; /* --token-file */
    const char *cacert;     /* --cacert */
    int insecure;
    int publishers;
    int subscribers;
    int connections;    /* idle connections (connections scenario) */
    int subscribe_idle; /* connections scenario: each subscribes to its own topic */
    double rate;        /* total offered publishes per second, 0 = flat out */
    int window;         /* in-flight publishes per publisher */
    int size;           /* bytes of padding in each payload */
    double duration;    /* seconds of publishing (or holding) */
    double drain;       /* seconds to wait for the tail after publishing */
    int use_key;
    int pattern; /* fanout: subscribe to a pattern over per-publisher topics */
    const char *topic;
    int json;
    pid_t broker_pid;
    int source_addrs; /* local addresses to spread connections over; 0 = auto */
    double warmup;    /* reconnect: seconds of publishing before the drop */
    int reset;        /* reconnect: drop with a TCP reset instead of a FIN */

    int conflate;         /* fanout: subscribe with "conflate": true */
    double slow_fraction; /* fanout: share of subscribers that stop reading */
};

struct bench_stats {
    uint64_t sent, acked, ack_errors, delivered, dups;
    uint64_t broker_closed, connect_failed;
    uint64_t node_delivered[BENCH_MAX_NODES]; /* by the subscriber's node */
    uint64_t node_acked[BENCH_MAX_NODES];     /* by the publisher's node */
    uint64_t welcomed, subscribed;
    struct hist latency;     /* publish to deliver, us */
    struct hist ack_latency; /* publish to ack, us */
    char first_error[160];
};

struct bench;

/* What a scenario hears from the network layer. When b->hooks is set,
 * every hook is called, and each publish carries the publisher's counter
 * ({"t":T,"n":N,"p":...}): deliveries go to on_message instead of the
 * latency histogram. */
struct bench_hooks {
    void (*on_welcome)(struct bench *b, struct bconn *c);
    void (*on_subscribed)(struct bench *b, struct bconn *c, int recovered, uint64_t replayed,
                          uint64_t seq);
    void (*on_published)(struct bench *b, uint64_t n, uint64_t seq);
    void (*on_message)(struct bench *b, struct bconn *c, uint64_t seq, uint64_t n, int64_t t_us);
};

struct bench {
    struct bench_config cfg;
    const struct bench_hooks *hooks; /* NULL, or set by the scenario's prepare */
    struct lws_context *ctx;
    void *loop; /* the libuv loop */
    void *wake; /* its timer that bounds one service call */
    struct bconn *conns;
    int n_conns;
    int next_connect; /* connections are opened in batches */
    int publishing;   /* the measured phase runs */
    int use_key_now;  /* this phase publishes with keys */
    uint64_t key_nonce;
    int64_t phase_start_us;
    uint64_t issued;   /* paced credits handed out this phase */
    int pub_rr;        /* round robin for paced credits */
    char *padding;     /* cfg.size bytes of 'x' */
    unsigned char *tx; /* the frames of one write */
    size_t tx_cap, tx_len;
    char *scratch; /* one publish being printed */
    size_t scratch_cap;
    char (*topics)[96]; /* per-publisher topics (pattern mode) */
    char (*idle_topics)[64];
    char (*src_addrs)[16]; /* 127.0.0.1, 127.0.0.2, ...: bound before connect */
    int n_src;             /* 0: the kernel picks the source */
    char epoch[64];        /* from the first welcome */
    struct brc *rc;        /* the reconnect scenario's state, or NULL */
    struct bench_stats st;
};

/* bench_net.c */
int bnet_init(struct bench *b, char *err, size_t errlen);
void bnet_free(struct bench *b);
/* Services the context for at most ms milliseconds. */
void bnet_service(struct bench *b, int ms);
/* Opens the next batch of connections; returns how many are still to open. */
int bnet_connect_batch(struct bench *b, int batch);
/* Starts or stops the publishing phase. */
void bnet_start_publishing(struct bench *b, int use_key);
void bnet_stop_publishing(struct bench *b);
/* Paced mode: hands out the credits due by now. */
void bnet_pace(struct bench *b);
/* Total publishes in flight. */
uint64_t bnet_inflight(const struct bench *b);
/* Closes a connection abruptly (no WebSocket close) without counting it
 * as closed by the broker. */
void bnet_drop(struct bench *b, struct bconn *c);
/* Opens a dropped connection again; its subscribe then carries `since`. */
void bnet_reopen(struct bench *b, struct bconn *c);

/* bench_wire.c */
/* Keeps the first error of the run (fmt has one %s, for detail). */
void bwire_note_error(struct bench *b, const char *fmt, const char *detail);
/* Bytes read on a connection: the upgrade answer, then frames. -1 closes. */
int bwire_rx(struct bench *b, struct bconn *c, const unsigned char *in, size_t len);
/* Writes what the connection has to say: the upgrade, a pong, its
 * subscribe, publishes. -1 closes. */
int bwire_writeable(struct bench *b, struct bconn *c, struct lws *wsi);

/* bench_stats.c: samples of the counters and of CPU use. */
struct sample {
    int64_t us;
    long long self_ticks, broker_ticks;
    uint64_t sent, acked, delivered;
    long long node_ticks[BENCH_MAX_NODES]; /* -1 unknown */
    long long aux_ticks;
    uint64_t node_delivered[BENCH_MAX_NODES], node_acked[BENCH_MAX_NODES];
};

void bench_sample_take(const struct bench *b, struct sample *s);
/* CPU use between two tick readings, in percent of one core; -1 unknown. */
double bench_cpu_percent(long long t0, long long t1, double seconds);

/* bench_nodes.c: what each node did between two samples. */
struct node_cost {
    double cpu_s; /* CPU seconds; -1 unknown */
    uint64_t delivered, acked;
};

/* Splits the --url values (each a URL or URL,URL,...) into cfg.urls; 0,
 * or -1 with the reason in err. */
int bnodes_parse(struct bench_config *cfg, const char *const *args, int n_args, char *err,
                 size_t errlen);
/* Finds each node's pid by its listening port (--broker-pid names the
 * first); warns about the ones not found. */
void bnodes_find_pids(struct bench_config *cfg);
/* Per node, the CPU time and the work between samples a and z. */
void bnodes_cost(const struct bench *b, const struct sample *a, const struct sample *z,
                 struct node_cost *out);
/* CPU seconds of the aux process between two samples; -1 unknown. */
double bnodes_aux_cpu_s(const struct sample *a, const struct sample *z);
/* Microseconds of CPU per unit; -1 when unknown or no units. */
double bnodes_us_per(double cpu_s, uint64_t units);
/* The sum over the nodes (cpu_s -1 when a node's is unknown). */
struct node_cost bnodes_total(const struct bench *b, const struct node_cost *nc);
/* Prints ,"<prefix>nodes":[...],"<prefix>nodes_total":{...} (and the aux
 * process's figures) for a JSON result. */
void bnodes_print_json(const struct bench *b, const char *prefix, const struct node_cost *nc,
                       double aux_cpu_s);
/* Prints one table line per node, and the total, with label as the first
 * column's prefix. */
void bnodes_print_table(const struct bench *b, const char *label, const struct node_cost *nc,
                        double aux_cpu_s);

/* bench.c, for the scenarios */
/* Opens every connection and waits for welcomes and subscribe acks. */
int bench_run_connect(struct bench *b, double timeout_s);
/* The header line of a result table. */
void bench_print_header(const struct bench *b);

/* The scenarios, each called only from bench.c's table. key_mode: -1 both
 * phases (with and without key), 0 without, 1 with. */
int bench_publish_run(struct bench *b, int key_mode);
int bench_conns_run(struct bench *b, int key_mode);
/* reconnect: prepare (before bnet_init) adds the control subscriber,
 * allocates the state and sets the hooks; release frees what prepare made. */
int brc_prepare(struct bench *b);
int brc_run(struct bench *b, int key_mode);
void brc_free(struct bench *b);

#endif
