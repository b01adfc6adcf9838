/* SPDX-License-Identifier: MIT */
/*
 * bench.c: `wsb bench`, the load generator: the command line, the table of
 * scenarios, and what the scenarios share (opening every connection, the
 * header of a result).
 *
 * The scenarios are in bench_publish.c (fanout, throughput, latency),
 * bench_conns.c (connections) and bench_reconnect.c (reconnect). Each
 * reports live progress on stderr and its result (a table, or JSON) on
 * stdout. The CPU use of the bench itself is reported next to the
 * broker's (from /proc/PID/stat), so a result is only trusted when the
 * bench had room.
 */
#include "bench.h"
#include "cli.h"

#include <getopt.h>
#include <stddef.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char bench_usage[] =
    "Usage: wsb bench SCENARIO [OPTION]...\n"
    "Load generator for wsbroker. Scenarios:\n"
    "  fanout       P publishers, S subscribers on one topic, rate R or flat out\n"
    "  throughput   durable publish acks per second, without and with key\n"
    "  latency      publish-to-deliver percentiles at a fixed rate\n"
    "  connections  N idle connections; the broker's memory per connection\n"
    "  reconnect    S subscribers dropped at once mid-stream, resuming with since\n"
    "\n"
    "Options:\n"
    "  --url URL           broker (default " WSB_DEFAULT_URL "); several brokers\n"
    "                      serving as one (nodes of one Redis): --url again, or\n"
    "                      URL,URL,... fanout and latency spread the subscribers\n"
    "                      round robin over them (publishers on the first);\n"
    "                      throughput spreads the publishers; reconnect drops the\n"
    "                      subscribers of the first and resumes them on the second\n"
    "                      (a failover); each node's CPU per delivery and per ack\n"
    "                      is reported apart, and the sum\n"
    "  --token T           JWT or API key for every connection (shows in ps)\n"
    "  --token-file F      read the token from F (default: $WSB_TOKEN)\n"
    "  --cacert FILE       PEM file of the CAs to trust for wss://\n"
    "  --duration S        seconds of publishing, or of holding (default 10);\n"
    "                      reconnect: of publishing after the drop\n"
    "  --publishers P      publishing connections (default 1)\n"
    "  --subscribers S     subscribing connections (fanout 10, latency 1,\n"
    "                      reconnect 10000)\n"
    "  --rate R            offered publishes per second in total; 0 = flat out\n"
    "                      (default: fanout 0, latency 1000, reconnect 200)\n"
    "  --window W          publishes in flight per publisher (default 256, latency 4000)\n"
    "  --size BYTES        payload padding per message (default 100)\n"
    "  --topic T           topic, or topic prefix (default bench.SCENARIO)\n"
    "  --pattern           one topic per publisher (fanout: subscribers use T.>;\n"
    "                      throughput: as the compare.sh durable scenario)\n"
    "  --conflate          fanout: conflated subscriptions (a message that replaced\n"
    "                      N others counts N + 1 delivered)\n"
    "  --slow-fraction F   fanout: this fraction of the subscribers stops reading\n"
    "                      once subscribed (default 0); the rest must get it all\n"
    "  --key / --no-key    publish with / without an idempotency key\n"
    "                      (throughput: both, one phase each, unless one is given)\n"
    "  --connections N     connections scenario: how many (default 1000)\n"
    "  --subscribe         connections scenario: each subscribes to its own topic\n"
    "  --source-addrs N    spread connections over 127.0.0.1..127.0.0.N (loopback\n"
    "                      URL only; default: as many as the ephemeral port range needs)\n"
    "  --warmup S          reconnect: seconds of publishing before the drop (default 3)\n"
    "  --reset             reconnect: drop with a TCP reset instead of a FIN\n"
    "  --drain S           seconds to wait for the tail after publishing (default 5;\n"
    "                      reconnect 10, counted from the last resume when later)\n"
    "  --broker-pid PID    the (first) broker's pid for CPU and memory (alias --pid);\n"
    "                      default: the process listening on the URL's port\n"
    "  --aux-pid PID       one more process whose CPU is reported over the same\n"
    "                      window, per ack and per delivery (e.g. redis-server)\n"
    "  --insecure          accept any TLS certificate (wss://)\n"
    "  --json              print the result as one JSON object\n"
    "Progress goes to stderr once a second; the result to stdout. reconnect exits 1\n"
    "on a gap, a duplicate, a message missing at the end, a subscriber that did not\n"
    "resume or a resume with recovered:false.\n"
    "Latency is wall clock from the publisher's send to the subscriber's\n"
    "receipt (both on this machine); at a fixed rate a full window delays sends,\n"
    "so keep --window above rate x worst latency.\n";

enum {
    O_URL = 2000,
    O_TOKEN,
    O_DURATION,
    O_PUBS,
    O_SUBS,
    O_RATE,
    O_WINDOW,
    O_SIZE,
    O_TOPIC,
    O_PATTERN,
    O_KEY,
    O_NO_KEY,
    O_CONNS,
    O_SUBSCRIBE,
    O_DRAIN,
    O_PID,
    O_INSECURE,
    O_JSON,
    O_SOURCES,
    O_WARMUP,
    O_RESET,
    O_CONFLATE,
    O_SLOW,
    O_TOKEN_FILE,
    O_CACERT,
    O_AUX_PID
};

static const struct option bench_opts[] = {{"url", required_argument, NULL, O_URL},
                                           {"token", required_argument, NULL, O_TOKEN},
                                           {"duration", required_argument, NULL, O_DURATION},
                                           {"publishers", required_argument, NULL, O_PUBS},
                                           {"subscribers", required_argument, NULL, O_SUBS},
                                           {"rate", required_argument, NULL, O_RATE},
                                           {"window", required_argument, NULL, O_WINDOW},
                                           {"size", required_argument, NULL, O_SIZE},
                                           {"topic", required_argument, NULL, O_TOPIC},
                                           {"pattern", no_argument, NULL, O_PATTERN},
                                           {"key", no_argument, NULL, O_KEY},
                                           {"no-key", no_argument, NULL, O_NO_KEY},
                                           {"connections", required_argument, NULL, O_CONNS},
                                           {"subscribe", no_argument, NULL, O_SUBSCRIBE},
                                           {"drain", required_argument, NULL, O_DRAIN},
                                           {"broker-pid", required_argument, NULL, O_PID},
                                           {"pid", required_argument, NULL, O_PID},
                                           {"insecure", no_argument, NULL, O_INSECURE},
                                           {"json", no_argument, NULL, O_JSON},
                                           {"source-addrs", required_argument, NULL, O_SOURCES},
                                           {"warmup", required_argument, NULL, O_WARMUP},
                                           {"reset", no_argument, NULL, O_RESET},
                                           {"conflate", no_argument, NULL, O_CONFLATE},
                                           {"slow-fraction", required_argument, NULL, O_SLOW},
                                           {"token-file", required_argument, NULL, O_TOKEN_FILE},
                                           {"cacert", required_argument, NULL, O_CACERT},
                                           {"aux-pid", required_argument, NULL, O_AUX_PID},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};

/* ---- options ---- */

static const char *option_name(int val)
{
    for (const struct option *o = bench_opts; o->name; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

static int parse_double(const char *s, double *out, double min, double max)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int *out, int min, int max)
{
    double v;
    if (parse_double(s, &v, min, max) < 0 || v != (int)v)
        return -1;
    *out = (int)v;
    return 0;
}

static void scenario_defaults(struct bench_config *cfg)
{
    const char *s = cfg->scenario;
    cfg->duration = 10;
    cfg->drain = 5;
    cfg->size = 100;
    cfg->window = 256;
    cfg->publishers = 1;
    cfg->spread_subs = strcmp(s, "fanout") == 0 || strcmp(s, "latency") == 0;
    cfg->spread_pubs = strcmp(s, "throughput") == 0;
    if (strcmp(s, "fanout") == 0) {
        cfg->subscribers = 10;
    } else if (strcmp(s, "latency") == 0) {
        cfg->subscribers = 1;
        cfg->rate = 1000;
        cfg->window = 4000;
    } else if (strcmp(s, "connections") == 0) {
        cfg->publishers = 0;
        cfg->connections = 1000;
        cfg->duration = 3;
    } else if (strcmp(s, "reconnect") == 0) {
        cfg->subscribers = 10000;
        cfg->rate = 200;
        cfg->warmup = 3;
        cfg->drain = 10;
    }
}

/* What the command line gives beside the configuration. */
struct bench_args {
    int key_mode;                       /* -1 both phases (throughput default), 0 without, 1 with */
    const char *urls[CLI_MAX_URL_ARGS]; /* every --url value */
    int n_urls;
};

static int parse_pid(const char *arg, pid_t *out)
{
    int pid;
    if (parse_int(arg, &pid, 1, 1 << 30) < 0)
        return -1;
    *out = pid;
    return 0;
}

static int apply_option(struct bench_config *cfg, int opt, const char *arg, struct bench_args *ba)
{
    switch (opt) {
    case O_URL:
        if (ba->n_urls == CLI_MAX_URL_ARGS)
            return -1;
        ba->urls[ba->n_urls++] = arg;
        return 0;
    case O_TOKEN:
        cfg->token = arg;
        return 0;
    case O_DURATION:
        return parse_double(arg, &cfg->duration, 0.1, 86400);
    case O_PUBS:
        return parse_int(arg, &cfg->publishers, 0, 100000);
    case O_SUBS:
        return parse_int(arg, &cfg->subscribers, 0, 1000000);
    case O_RATE:
        return parse_double(arg, &cfg->rate, 0, 1e9);
    case O_WINDOW:
        return parse_int(arg, &cfg->window, 1, ACK_RING - 1);
    case O_SIZE:
        return parse_int(arg, &cfg->size, 0, 16 << 20);
    case O_TOPIC:
        cfg->topic = arg;
        return strlen(arg) < 64 && !strpbrk(arg, "\"\\*> ") ? 0 : -1;
    case O_PATTERN:
        cfg->pattern = 1;
        return 0;
    case O_KEY:
    case O_NO_KEY:
        ba->key_mode = opt == O_KEY;
        return 0;
    case O_CONNS:
        return parse_int(arg, &cfg->connections, 1, 1000000);
    case O_SUBSCRIBE:
        cfg->subscribe_idle = 1;
        return 0;
    case O_DRAIN:
        return parse_double(arg, &cfg->drain, 0, 3600);
    case O_PID:
        return parse_pid(arg, &cfg->broker_pid);
    case O_AUX_PID:
        return parse_pid(arg, &cfg->aux_pid);
    case O_INSECURE:
        cfg->insecure = 1;
        return 0;
    case O_JSON:
        cfg->json = 1;
        return 0;
    case O_SOURCES:
        return parse_int(arg, &cfg->source_addrs, 1, 250);
    case O_WARMUP:
        return parse_double(arg, &cfg->warmup, 0, 3600);
    case O_RESET:
        cfg->reset = 1;
        return 0;
    case O_CONFLATE:
        cfg->conflate = 1;
        return 0;
    case O_SLOW:
        return parse_double(arg, &cfg->slow_fraction, 0, 1);
    case O_TOKEN_FILE:
        cfg->token_file = arg;
        return 0;
    case O_CACERT:
        cfg->cacert = arg;
        return 0;
    default:
        return -1;
    }
}

/* ---- the scenarios and what they share ---- */

/* Every connection is closed, or ready for its role. */
static int connections_settled(const struct bench *b)
{
    for (int i = 0; i < b->n_conns; i++) {
        const struct bconn *c = &b->conns[i];
        int wants_sub = c->role == ROLE_SUB || (c->role == ROLE_IDLE && b->cfg.subscribe_idle);
        if (c->phase == BC_NEW || c->phase == BC_CONNECTING)
            return 0;
        if (wants_sub && c->phase == BC_OPEN && !c->sub_refused)
            return 0;
    }
    return 1;
}

/* Opens every connection, subscribers first; waits for welcomes and
 * subscribe acks. 0, or -1 with the reason printed. */
int bench_run_connect(struct bench *b, double timeout_s)
{
    int64_t start = clock_mono_us(), next_report = start + 1000000;
    for (;;) {
        int left = bnet_connect_batch(b, 256);
        bnet_service(b, 5);
        if (!left && connections_settled(b))
            break;
        int64_t now = clock_mono_us();
        if (now > start + (int64_t)(timeout_s * 1e6)) {
            fprintf(stderr, "wsb bench: timed out opening connections (%llu of %d welcomed)\n",
                    (unsigned long long)b->st.welcomed, b->n_conns);
            return -1;
        }
        if (now >= next_report) {
            fprintf(stderr, "[connect] %llu/%d welcomed, %llu failed, %llu subscribed\n",
                    (unsigned long long)b->st.welcomed, b->n_conns,
                    (unsigned long long)b->st.connect_failed, (unsigned long long)b->st.subscribed);
            next_report = now + 1000000;
        }
    }
    return 0;
}

void bench_print_header(const struct bench *b)
{
    const struct bench_config *c = &b->cfg;
    printf("wsb bench %s:", c->scenario);
    for (int i = 0; i < c->n_urls; i++) {
        printf("%s %s", i ? "," : "", c->url_texts[i]);
        if (c->node_pids[i] > 0)
            printf(" (%s pid %d)", c->n_urls > 1 ? "node" : "broker", (int)c->node_pids[i]);
    }
    printf("\n");
}

/* A scenario: prepare runs before the connections are made (NULL: none),
 * release after they are gone, whether run ran or not. */
struct bench_scenario {
    const char *name;
    int (*prepare)(struct bench *b);
    int (*run)(struct bench *b, int key_mode);
    void (*release)(struct bench *b);
};

static const struct bench_scenario bench_scenarios[] = {
    {"fanout", NULL, bench_publish_run, NULL},     {"throughput", NULL, bench_publish_run, NULL},
    {"latency", NULL, bench_publish_run, NULL},    {"connections", NULL, bench_conns_run, NULL},
    {"reconnect", brc_prepare, brc_run, brc_free},
};

static const struct bench_scenario *find_scenario(const char *name)
{
    size_t n = sizeof(bench_scenarios) / sizeof(bench_scenarios[0]);
    for (size_t i = 0; i < n; i++)
        if (strcmp(bench_scenarios[i].name, name) == 0)
            return &bench_scenarios[i];
    return NULL;
}

/* Reads the options into b->cfg and ba: -1 to go on, or the exit status
 * (--help, a bad option). */
static int read_options(struct bench *b, int argc, char **argv, struct bench_args *ba)
{
    char err[512] = "";
    int opt;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "h", bench_opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(bench_usage, stdout);
            return CLI_OK;
        }
        if (apply_option(&b->cfg, opt, optarg, ba) < 0) {
            if (opt != '?')
                fprintf(stderr, "wsb bench: bad value for --%s: %s\n", option_name(opt),
                        optarg ? optarg : "");
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wsb bench: unexpected argument (see wsb bench --help)\n");
        return CLI_USAGE;
    }
    if (ba->n_urls == 0)
        ba->urls[ba->n_urls++] = WSB_DEFAULT_URL;
    if (bnodes_parse(&b->cfg, ba->urls, ba->n_urls, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsb bench: %s\n", err);
        return CLI_USAGE;
    }
    return -1;
}

/* What no scenario can run with; 0, or -1 with the reason printed. */
static int check_config(struct bench_config *cfg)
{
    const char *why = NULL;
    int publishing = strcmp(cfg->scenario, "connections") != 0;
    int reconnect = strcmp(cfg->scenario, "reconnect") == 0;
    if (publishing && cfg->publishers == 0)
        why = "needs at least one publisher";
    else if (reconnect && (cfg->publishers != 1 || cfg->rate <= 0 || cfg->subscribers < 1))
        why = "takes one publisher, a rate above 0 and at least one subscriber";
    else if (!publishing && cfg->n_urls > 1)
        why = "takes one broker URL";
    else if (reconnect && cfg->n_urls > 2)
        why = "takes one or two broker URLs (the second: where the subscribers resume)";
    if (why)
        fprintf(stderr, "wsb bench: %s %s\n", cfg->scenario, why);
    return why ? -1 : 0;
}

/* Resolves the token into cfg.token (malloc'ed, or NULL); 0 or -1 printed. */
static int resolve_token(struct bench_config *cfg)
{
    char err[512] = "";
    char *token;
    if (cli_token_resolve(cfg->token, cfg->token_file, &token, err, sizeof(err)) < 0 ||
        (token && strlen(token) > BENCH_TOKEN_MAX)) {
        fprintf(stderr, "wsb bench: %s\n",
                err[0]  ? err
                : token ? "the token is too long for the URL"
                        : "out of memory");
        free(token);
        cfg->token = NULL;
        return -1;
    }
    cfg->token = token;
    return 0;
}

static int run_scenario(struct bench *b, const struct bench_scenario *sc, int key_mode)
{
    char err[512] = "";
    lws_set_log_level(0, NULL);
    bnodes_find_pids(&b->cfg);
    int rc = CLI_FAIL;
    if (sc->prepare && sc->prepare(b) < 0)
        fprintf(stderr, "wsb bench: out of memory\n");
    else if (bnet_init(b, err, sizeof(err)) < 0)
        fprintf(stderr, "wsb bench: %s\n", err);
    else
        rc = sc->run(b, key_mode);
    fflush(stdout);
    bnet_free(b);
    if (sc->release)
        sc->release(b);
    return rc;
}

int cli_bench(int argc, char **argv)
{
    struct bench_args ba = {.key_mode = -1};
    char topic[64];

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(bench_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const struct bench_scenario *sc = find_scenario(argv[1]);
    if (!sc) {
        fprintf(stderr, "wsb bench: unknown scenario '%s'\n", argv[1]);
        return CLI_USAGE;
    }
    struct bench *b = calloc(1, sizeof(*b));
    if (!b)
        return CLI_FAIL;
    b->cfg.scenario = argv[1];
    scenario_defaults(&b->cfg);
    int rc = read_options(b, argc, argv, &ba);
    if (rc < 0 && check_config(&b->cfg) < 0)
        rc = CLI_USAGE;
    if (rc < 0) {
        if (!b->cfg.topic) {
            snprintf(topic, sizeof(topic), "bench.%s", b->cfg.scenario);
            b->cfg.topic = topic;
        }
        if (strcmp(b->cfg.scenario, "throughput") == 0)
            b->cfg.subscribers = 0;
        else if (ba.key_mode < 0)
            ba.key_mode = 0;
        rc = resolve_token(&b->cfg) < 0 ? CLI_USAGE : run_scenario(b, sc, ba.key_mode);
        free((char *)b->cfg.token);
    }
    free(b->cfg.url_list);
    free(b);
    return rc;
}
