/* SPDX-License-Identifier: MIT */
/*
 * libwsb_fixture.h: what the tests of tests/client/ (the libwsb tests
 * test_libwsb_*.c and the wsb tool's test_wsb_cli.c) share on the client
 * side of harness.h.
 *
 * Owns: the broker most tests share, and the main() of every test
 * executable there; a collector that keeps every message and subscribe reply a
 * client receives; counters of client events and of publish acks; clients
 * connected to a URL with short reconnect delays; and loops that service
 * one or two clients until a count or a flag is reached.
 */
#ifndef WSB_TEST_LIBWSB_FIXTURE_H
#define WSB_TEST_LIBWSB_FIXTURE_H

#include "harness.h"
#include "wsb.h"

#include <check.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* The broker most tests share: started by fixture_run_suite before the
 * tests fork, so that every test inherits it instead of starting its own.
 * Global because Check's test functions take no argument. */
extern struct broker shared_broker;

/* Runs the suite and returns main()'s exit status. With with_shared_broker
 * set, starts shared_broker first (WSBROKER_BIN must be set) and stops it
 * after. */
int fixture_run_suite(Suite *suite, int with_shared_broker);

/* Starts b (its extra flags set) for a test of a broker feature; 1 when
 * the broker refused the flags as "not supported" (the test is then
 * skipped, with a line on stderr naming `what`), 0 when it runs. Any other
 * failure fails the test. */
int broker_start_or_skip(struct broker *b, const char *what);

/* An HS256 JWT (docs/auth.md) over the claims, a JSON object text, signed
 * with secret; written into out. */
void token_hs256(const char *secret, const char *claims, char *out, size_t len);

/* ---- collecting what a client receives ---- */

struct rx_msg {
    char topic[64];
    uint64_t seq;
    char *data;
    size_t len;
    int binary;
};

struct collector {
    pthread_mutex_t lock;
    struct rx_msg *m;
    size_t n, cap;
    int acks;
    int ack_errors;
    int not_recovered;
    int resumed_acks;
    char last_code[64];
};

void collector_init(struct collector *col);
void collector_free(struct collector *col);
size_t collector_count(struct collector *col);

/* Subscription options whose callbacks fill col. */
struct wsb_sub_options collect_opts(struct collector *col);

/* ---- counting events and acks ---- */

/* Client events, counted. */
struct events {
    int connected, disconnected, gaps, errors, gave_up, expired;
};

/* A wsb_options.on_event that counts into `user` (a struct events, or
 * NULL); prints every event when WSB_TEST_VERBOSE is set. */
void on_event(wsb_client *c, const struct wsb_event *e, void *user);

/* Publish acks, counted; the first 64 sequence numbers kept. */
struct ack_count {
    int acks;
    int errors;
    uint64_t seqs[64];
};

/* A publish reply callback that counts into arg (a struct ack_count). */
void on_pub_ack(wsb_client *c, const struct wsb_reply *r, void *arg);

/* ---- clients and pumping ---- */

/* A client connected to url, events counted into ev (may be NULL). */
wsb_client *client_for(const char *url, struct events *ev);

/* A client connected to shared_broker. */
wsb_client *shared_client(void);

/* Services up to two clients (b may be NULL) until col holds target
 * messages or ms pass; nonzero when it does. */
int pump_count(wsb_client *a, wsb_client *b, struct collector *col, size_t target, int ms);

/* Services until *flag becomes nonzero or ms pass; returns *flag. */
int pump_flag(wsb_client *a, wsb_client *b, const int *flag, int ms);

/* PREFIX.pPID: a topic no other test process uses. */
void topic_name(char *buf, size_t len, const char *prefix);

/* Publishes json on topic, waits for the ack and returns its seq. */
uint64_t publish_text(wsb_client *c, const char *topic, const char *json);

#endif
