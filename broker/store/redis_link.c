/* SPDX-License-Identifier: MIT */
/*
 * redis_link.c: the Redis engine's two connections and their lives.
 *
 * Owns: the command connection (publish batches, reads, the polls) and the
 * pub/sub connection (the live payloads of every node), their set-up
 * (AUTH, SELECT, CLIENT SETNAME, the persistence check, SCRIPT LOAD, the
 * epoch; SUBSCRIBE), the link state (ready only when both are set up),
 * the loss of either (both go, and come back together, after a backoff of
 * 100 ms doubling to 2 s), the watchdog, and the tick (the epoch poll, which
 * also finds a lost last message, and housekeeping).
 *
 * Why both go together: a node that still publishes while it hears
 * nothing from the others would deliver its own messages ahead of theirs;
 * with one link state, "ready" means both directions work.
 *
 * What of hiredis 0.14 this relies on: redisAsyncConnect (a non-blocking
 * connect), redisAsyncCommandArgv, the connect and disconnect callbacks,
 * pending callbacks called with a NULL reply when a connection goes, and
 * an event-loop adapter (redis_uv.c, for a bug of 0.14's libuv one). It has
 * no timeouts in its async API, so an unanswered command, or a connect
 * that does not finish, is the watchdog's (REDIS_COMMAND_TIMEOUT_MS).
 */
#include "store/redis_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "store/redis_uv.h"
#include "util/log.h"

extern const char redis_publish_lua[];
extern const char redis_epoch_lua[];
extern const char redis_housekeep_lua[];
extern const char redis_presence_lua[];

uint64_t redis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

bool redis_link_ready(const struct redis_store *st)
{
    return st->state == LINK_READY;
}

static struct redis_store *store_of(const redisAsyncContext *ac)
{
    return ac->data;
}

/* --- loss and reconnection ----------------------------------------------- */

static void link_connect(struct redis_store *st);

static void reconnect_cb(uv_timer_t *timer)
{
    link_connect(timer->data);
}

/* Both connections go (the one that failed is already going), and a
 * reconnect is scheduled. Idempotent. */
static void link_lost(struct redis_store *st, const char *why)
{
    if (st->losing) /* freeing one connection calls back here */
        return;
    st->losing = true;
    bool was_ready = st->state == LINK_READY;
    st->state = LINK_DOWN;
    st->cmd_setup = st->sub_setup = false;
    st->poll_in_flight = st->housekeep_in_flight = false;
    st->cmd_outstanding = 0;
    /* No reply of a batch sent so far can come: its messages, if Redis
     * stored them, come back through the feed as anyone else's. */
    st->batch_oldest = st->batch_no;
    redisAsyncContext *cmd = st->cmd, *sub = st->sub;
    st->cmd = st->sub = NULL;
    if (cmd)
        redisAsyncFree(cmd);
    if (sub)
        redisAsyncFree(sub);
    if (was_ready)
        log_error("redis: connection to %s:%d lost (%s): publishes are refused until it is back",
                  st->url.host, st->url.port, why);
    redis_write_fail_unsent(st);
    redis_presence_lost(st);
    redis_feed_release(st);
    if (!st->closing && !uv_is_active((uv_handle_t *)&st->reconnect_timer)) {
        uv_timer_start(&st->reconnect_timer, reconnect_cb, st->backoff_ms, 0);
        st->backoff_ms =
            st->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : st->backoff_ms * 2;
    }
    st->losing = false;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_store *st = store_of(ac);
    if (st->cmd == ac)
        st->cmd = NULL;
    if (st->sub == ac)
        st->sub = NULL;
    link_lost(st, status == REDIS_OK ? "closed" : ac->errstr[0] ? ac->errstr : "error");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_store *st = store_of(ac);
    if (status == REDIS_OK)
        return;
    /* hiredis frees the context after this callback. */
    if (st->cmd == ac)
        st->cmd = NULL;
    if (st->sub == ac)
        st->sub = NULL;
    if (!st->down_logged) /* once per outage, not per attempt */
        log_warn("redis: cannot connect to %s:%d: %s (retrying)", st->url.host, st->url.port,
                 ac->errstr);
    st->down_logged = true;
    link_lost(st, ac->errstr);
}

/* --- set-up -------------------------------------------------------------- */

static bool reply_ok(const redisReply *r)
{
    return r && r->type != REDIS_REPLY_ERROR;
}

static void setup_failed(redisAsyncContext *ac, const redisReply *r, const char *step)
{
    if (!r) /* the connection went: link_lost says so, once */
        return;
    log_error("redis: %s failed: %s", step,
              r ? (r->str ? r->str : "unexpected reply") : "connection lost");
    if (ac && r) /* inside ac's callback: a disconnect, not a free */
        redisAsyncDisconnect(ac);
}

static void link_became_ready(struct redis_store *st)
{
    if (!st->cmd_setup || !st->sub_setup || st->state == LINK_READY)
        return;
    st->state = LINK_READY;
    st->sub_progress_ms = redis_now_ms();
    st->down_logged = false;
    st->backoff_ms = REDIS_BACKOFF_MIN_MS;
    log_info("redis: connected to %s:%d as node %s (epoch %s, seq %" PRIu64 ")", st->url.host,
             st->url.port, st->node, st->epoch, st->known_max);
    redis_presence_connected(st);
    redis_feed_release(st);
}

/* The reply {epoch, seq} of epoch.lua, at set-up and at every poll. */
static void epoch_answer(struct redis_store *st, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len != 8 ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return;
    uint64_t seq = strtoull(r->element[1]->str, NULL, 10);
    const char *epoch = r->element[0]->str;
    if (st->epoch[0] == '\0') {
        memcpy(st->epoch, epoch, 9);
        redis_feed_reset(st, seq, false, true);
    } else if (strcmp(st->epoch, epoch) != 0) {
        log_warn("redis: the data set's epoch changed from %s to %s (its seq is %" PRIu64
                 "): closing every connection so that clients resume in the new epoch",
                 st->epoch, epoch, seq);
        memcpy(st->epoch, epoch, 9);
        redis_feed_reset(st, seq, true, true);
    } else {
        redis_feed_known(st, seq);
    }
}

static void epoch_args(struct redis_store *st, const char **argv, size_t *lens, char *seen,
                       size_t seen_len, char *proposed)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) < 0)
        r = (uint32_t)now_us();
    snprintf(proposed, 9, "%08" PRIx32, r);
    snprintf(seen, seen_len, "%" PRIu64, st->known_max);
    argv[0] = "EVALSHA";
    argv[1] = st->sha_epoch;
    argv[2] = "1";
    argv[3] = REDIS_PREFIX;
    argv[4] = st->epoch;
    argv[5] = seen;
    argv[6] = proposed;
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
}

static void setup_epoch_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct redis_store *st = store_of(ac);
    redisReply *r = reply;
    if (!reply_ok(r) || r->type != REDIS_REPLY_ARRAY) {
        setup_failed(ac, r, "reading the epoch");
        return;
    }
    epoch_answer(st, r);
    st->cmd_setup = true;
    link_became_ready(st);
}

static void script_loaded_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct redis_store *st = store_of(ac);
    redisReply *r = reply;
    char *sha = priv;
    if (!reply_ok(r) || r->type != REDIS_REPLY_STRING || r->len != 40) {
        setup_failed(ac, r, "SCRIPT LOAD");
        return;
    }
    memcpy(sha, r->str, 41);
    if (sha != st->sha_presence) /* the last one loaded */
        return;
    const char *argv[7];
    size_t lens[7];
    char seen[24], proposed[9];
    epoch_args(st, argv, lens, seen, sizeof(seen), proposed);
    redisAsyncCommandArgv(ac, setup_epoch_cb, NULL, 7, argv, lens);
}

/* CONFIG GET appendonly / appendfsync: the guarantee an ack gives. */
static void persistence_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct redis_store *st = store_of(ac);
    redisReply *r = reply;
    const char *want = priv;
    if (!r || st->warned_persistence)
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        log_warn("redis: cannot read its persistence settings (CONFIG GET refused): make sure it "
                 "runs with appendonly yes and appendfsync always, or acknowledged messages can "
                 "be lost when Redis stops");
        st->warned_persistence = true;
        return;
    }
    const char *name = r->element[0]->str, *value = r->element[1]->str;
    if (strcmp(value, want) != 0) {
        log_warn("redis: WARNING: %s is \"%s\", not \"%s\": a Redis crash can lose messages the "
                 "brokers acknowledged (docs/operations.md, several nodes); the brokers then start "
                 "a new epoch",
                 name, value, want);
        st->warned_persistence = true;
    }
}

static void setup_step_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    if (!reply_ok(reply))
        setup_failed(ac, reply, priv);
}

static void send_auth_select(struct redis_store *st, redisAsyncContext *ac, const char *role)
{
    if (st->url.password[0])
        redisAsyncCommand(ac, setup_step_cb, "AUTH", "AUTH %s", st->url.password);
    if (st->url.db && ac == st->cmd)
        redisAsyncCommand(ac, setup_step_cb, "SELECT", "SELECT %d", st->url.db);
    redisAsyncCommand(ac, setup_step_cb, "CLIENT SETNAME", "CLIENT SETNAME wsb-%s-%s", st->node,
                      role);
}

static void setup_cmd(struct redis_store *st)
{
    redisAsyncContext *ac = st->cmd;
    send_auth_select(st, ac, "cmd");
    redisAsyncCommand(ac, persistence_cb, "yes", "CONFIG GET appendonly");
    redisAsyncCommand(ac, persistence_cb, "always", "CONFIG GET appendfsync");
    redisAsyncCommand(ac, script_loaded_cb, st->sha_publish, "SCRIPT LOAD %s", redis_publish_lua);
    redisAsyncCommand(ac, script_loaded_cb, st->sha_epoch, "SCRIPT LOAD %s", redis_epoch_lua);
    redisAsyncCommand(ac, script_loaded_cb, st->sha_housekeep, "SCRIPT LOAD %s",
                      redis_housekeep_lua);
    redisAsyncCommand(ac, script_loaded_cb, st->sha_presence, "SCRIPT LOAD %s", redis_presence_lua);
}

static void sub_message_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct redis_store *st = store_of(ac);
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    st->sub_progress_ms = redis_now_ms();
    if (strcmp(r->element[0]->str, "subscribe") == 0) {
        /* The reply's count of channels: all three are heard. */
        if (r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer == 3) {
            st->sub_setup = true;
            link_became_ready(st);
        }
    } else if (strcmp(r->element[0]->str, "message") == 0 &&
               r->element[1]->type == REDIS_REPLY_STRING &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        if (strcmp(r->element[1]->str, st->channel) == 0)
            redis_feed_live(st, r->element[2]->str, r->element[2]->len);
        else if (strcmp(r->element[1]->str, st->presence_channel) == 0)
            redis_presence_message(st, r->element[2]->str, r->element[2]->len);
        /* else the node's own heartbeat: only its arrival counts */
    }
}

static void setup_sub(struct redis_store *st)
{
    redisAsyncContext *ac = st->sub;
    send_auth_select(st, ac, "sub");
    redisAsyncCommand(ac, sub_message_cb, NULL, "SUBSCRIBE %s %s %s", st->channel,
                      st->presence_channel, st->heartbeat_channel);
}

static redisAsyncContext *link_open_one(struct redis_store *st)
{
    redisAsyncContext *ac = redisAsyncConnect(st->url.host, st->url.port);
    if (!ac)
        return NULL;
    if (ac->err) {
        log_warn("redis: cannot connect to %s:%d: %s", st->url.host, st->url.port, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = st;
    if (redis_uv_attach(ac, st->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void link_connect(struct redis_store *st)
{
    if (st->closing || st->cmd || st->sub)
        return;
    st->state = LINK_CONNECTING;
    st->cmd = link_open_one(st);
    st->sub = st->cmd ? link_open_one(st) : NULL;
    if (!st->cmd || !st->sub) {
        link_lost(st, "cannot open a connection");
        return;
    }
    st->cmd_progress_ms = redis_now_ms();
    setup_cmd(st);
    setup_sub(st);
}

/* --- commands, watchdog, tick -------------------------------------------- */

int redis_link_command(struct redis_store *st, redisCallbackFn *cb, void *privdata, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (st->state != LINK_READY || !st->cmd)
        return -1;
    if (st->cmd_outstanding == 0)
        st->cmd_progress_ms = redis_now_ms();
    if (redisAsyncCommandArgv(st->cmd, cb, privdata, argc, argv, argvlen) != REDIS_OK)
        return -1;
    st->cmd_outstanding++;
    return 0;
}

void redis_link_answered(struct redis_store *st)
{
    if (st->cmd_outstanding > 0)
        st->cmd_outstanding--;
    st->cmd_progress_ms = redis_now_ms();
}

static void poll_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct redis_store *st = store_of(ac);
    redis_link_answered(st);
    st->poll_in_flight = false;
    if (!reply)
        return;
    st->rtt_us = now_us() - st->poll_sent_us;
    epoch_answer(st, reply);
    redis_feed_release(st);
}

static void housekeep_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    struct redis_store *st = store_of(ac);
    redisReply *r = reply;
    redis_link_answered(st);
    st->housekeep_in_flight = false;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        snprintf(st->housekeep_cursor, sizeof(st->housekeep_cursor), "%s", r->element[1]->str);
    else if (r && r->type == REDIS_REPLY_ERROR)
        log_warn("redis: housekeeping failed: %s", r->str);
}

static void link_poll(struct redis_store *st)
{
    const char *argv[7];
    size_t lens[7];
    char seen[24], proposed[9];
    epoch_args(st, argv, lens, seen, sizeof(seen), proposed);
    st->poll_sent_us = now_us();
    if (redis_link_command(st, poll_cb, NULL, 7, argv, lens) == 0)
        st->poll_in_flight = true;
}

void redis_link_poll_now(struct redis_store *st)
{
    if (st->state == LINK_READY && !st->poll_in_flight)
        link_poll(st);
}

static void heartbeat_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    if (reply)
        redis_link_answered(store_of(ac));
}

/* A message to this node's own channel, every tick: the pub/sub connection
 * hears something at least that often, or it is dead (a connection can
 * die without a reset: nothing else would tell). */
static void link_heartbeat(struct redis_store *st)
{
    const char *argv[] = {"PUBLISH", st->heartbeat_channel, "1"};
    size_t lens[] = {7, strlen(st->heartbeat_channel), 1};
    redis_link_command(st, heartbeat_cb, NULL, 3, argv, lens);
}

static void link_housekeep(struct redis_store *st)
{
    char now[24], max[16], spare[16];
    snprintf(now, sizeof(now), "%" PRIu64, (uint64_t)time(NULL) * 1000);
    snprintf(max, sizeof(max), "%d", 500);
    snprintf(spare, sizeof(spare), "%d", 1000);
    const char *argv[] = {"EVALSHA", st->sha_housekeep,   "1", REDIS_PREFIX, now, max,
                          spare,     st->housekeep_cursor};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    if (redis_link_command(st, housekeep_cb, NULL, 8, argv, lens) == 0)
        st->housekeep_in_flight = true;
}

void redis_link_tick(struct redis_store *st)
{
    st->ticks++;
    if (st->state == LINK_CONNECTING &&
        redis_now_ms() - st->cmd_progress_ms > REDIS_COMMAND_TIMEOUT_MS) {
        link_lost(st, "the connection was not set up in time");
        return;
    }
    if (st->state != LINK_READY)
        return;
    if (st->cmd_outstanding > 0 &&
        redis_now_ms() - st->cmd_progress_ms > REDIS_COMMAND_TIMEOUT_MS) {
        log_error("redis: no answer for %d ms: dropping the connection", REDIS_COMMAND_TIMEOUT_MS);
        link_lost(st, "timed out");
        return;
    }
    if (redis_now_ms() - st->sub_progress_ms > REDIS_COMMAND_TIMEOUT_MS) {
        log_error("redis: the pub/sub connection heard nothing for %d ms: dropping the connection",
                  REDIS_COMMAND_TIMEOUT_MS);
        link_lost(st, "pub/sub silent");
        return;
    }
    if (!st->poll_in_flight)
        link_poll(st);
    link_heartbeat(st);
    if (st->ticks % REDIS_HOUSEKEEP_TICKS == 0 && !st->housekeep_in_flight)
        link_housekeep(st);
    if (st->ticks % REDIS_BEAT_TICKS == 0)
        redis_presence_beat(st);
}

int redis_link_start(struct redis_store *st)
{
    if (getrandom(st->node, 8, 0) < 0)
        return -1;
    unsigned char raw[8];
    memcpy(raw, st->node, 8);
    for (int i = 0; i < 8; i++)
        snprintf(st->node + 2 * i, 3, "%02x", raw[i]);
    snprintf(st->channel, sizeof(st->channel), REDIS_PREFIX "live:%d", st->url.db);
    snprintf(st->presence_channel, sizeof(st->presence_channel), REDIS_PREFIX "presence:%d",
             st->url.db);
    snprintf(st->heartbeat_channel, sizeof(st->heartbeat_channel), REDIS_PREFIX "hb:%s", st->node);
    snprintf(st->housekeep_cursor, sizeof(st->housekeep_cursor), "0");
    st->backoff_ms = REDIS_BACKOFF_MIN_MS;
    uv_timer_init(st->loop, &st->reconnect_timer);
    st->reconnect_timer.data = st;
    link_connect(st);
    return 0;
}

void redis_link_stop(struct redis_store *st)
{
    st->closing = true;
    uv_timer_stop(&st->reconnect_timer);
    redisAsyncContext *sub = st->sub;
    st->sub = NULL;
    if (sub)
        redisAsyncFree(sub);
    /* What the command connection still has to send (the leaves of the
     * sessions that closed) goes out before it closes: a disconnect waits
     * for the replies, for at most a second. */
    if (st->cmd && st->state == LINK_READY) {
        redisAsyncDisconnect(st->cmd);
        uint64_t deadline = redis_now_ms() + 1000;
        while (st->cmd && redis_now_ms() < deadline)
            uv_run(st->loop, UV_RUN_ONCE);
    }
    redisAsyncContext *cmd = st->cmd;
    st->cmd = NULL;
    st->state = LINK_DOWN;
    if (cmd)
        redisAsyncFree(cmd);
}
