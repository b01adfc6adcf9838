/* SPDX-License-Identifier: MIT */
/*
 * access.c: what a WebSocket session may do, and the life of its
 * credential (docs/protocol.md section 10, Auth; docs/auth.md).
 *
 * Owns the session's access fields (session.h): its state, its grants, the
 * principal a token or API key resolved to, and the one deadline that moves
 * the state on. Why a layer of its own: the checks must happen at
 * subscribe, publish, history and presence, never per delivered message, so
 * they sit in front of the dispatch (core.c) and the fan-out never sees
 * them. Deadlines are kept per session and visited by core_access_tick a few
 * times a second, not by a timer per connection (see net/heartbeat.h for
 * why lws timers cost O(connections) per arm).
 *
 *   OPEN       no auth configured: everything, no deadline
 *   ANONYMOUS  no credential: the anonymous grants; until the first request
 *              they allow, closed with 4001 after 10 s of silence
 *   GRANTED    a token or API key; at its `exp`, `token_expired` and EXPIRED
 *   EXPIRED    requests other than auth and ping get `token_expired`; closed
 *              with 4003 after auth_grace unless a fresh auth arrives
 */
#include "core/core_int.h"

#include <inttypes.h>
#include <string.h>

#include "proto/answer.h"
#include "util/log.h"

/* How long a connection without credential may stay silent. */
#define ACCESS_SILENCE_MS 10000
/* How often deadlines are visited: the resolution of expiry and grace. */
#define ACCESS_TICK_MS 250

void core_set_credentials(struct core *core, const struct credentials *creds)
{
    core->creds = creds;
}

static bool access_grants_nothing(const struct grants *g)
{
    return !g->everything && g->subscribe.count == 0 && g->publish.count == 0;
}

void access_session_start(struct core *core, struct session *s)
{
    if (!core->creds) {
        s->access = ACCESS_OPEN;
        return;
    }
    s->access = ACCESS_ANONYMOUS;
    s->grants = credentials_anonymous(core->creds);
    if (!s->is_sse)
        s->access_due_ms = core_now_ms() + ACCESS_SILENCE_MS;
}

/* Without credential, a request the anonymous grants do not allow ends
 * the connection: it should have authenticated first. The close code says
 * why; no reply precedes it, so a client sees one failure, not two. */
static void access_require_auth(struct session *s)
{
    session_close(s, 4001, "authentication required");
}

static bool access_topic_allowed(const struct session *s, const struct request *req)
{
    switch (req->op) {
    case OP_SUBSCRIBE:
    case OP_HISTORY:
    case OP_PRESENCE:
        return grants_may_subscribe(s->grants, req->topic);
    case OP_PUBLISH:
        return grants_may_publish(s->grants, req->topic);
    default:
        return true;
    }
}

bool access_allows(struct core *core, struct session *s, const struct request *req)
{
    if (s->access == ACCESS_OPEN || s->grants->everything)
        return true;
    if (s->access == ACCESS_EXPIRED && req->op != OP_PING) {
        core_reply_error_code(core, s, req, ERR_TOKEN_EXPIRED, "the token has expired: send auth");
        return false;
    }
    bool allowed = access_topic_allowed(s, req);
    if (s->access == ACCESS_ANONYMOUS) {
        if (!allowed || access_grants_nothing(s->grants)) {
            access_require_auth(s);
            return false;
        }
        s->access_due_ms = 0; /* a legitimate anonymous client */
        return true;
    }
    if (!allowed) {
        struct request_error err;
        request_error_set(&err, req, ERR_FORBIDDEN, "%s to %s is not allowed",
                          req->op == OP_PUBLISH ? "publish" : "subscribe", req->topic);
        core_reply_error(core, s, &err);
    }
    return allowed;
}

/* Subscriptions the session's new grants do not cover are ended, each
 * with an `error` `forbidden` naming it. */
static void access_prune_subscriptions(struct core *core, struct session *s)
{
    struct subscription *sub = s->subs;
    while (sub) {
        struct subscription *next = sub->next;
        if (!grants_may_subscribe(s->grants, sub->pattern)) {
            struct request_error err = {.code = ERR_FORBIDDEN};
            snprintf(err.message, sizeof(err.message),
                     "subscription to %s ended: the new credential does not cover it",
                     sub->pattern);
            core_reply_error(core, s, &err);
            core_unsubscribe_sub(core, s, sub);
        }
        sub = next;
    }
}

/* Resolves `token` for `s`: 0 with the session granted, or -1 with the
 * reason in *why and the session as it was. */
static bool access_same_user(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Presence members are shown with their user: a credential of another user
 * makes the session's memberships leave as the old user (before it is
 * freed) and join again as the new one (after the grants are pruned). */
static void access_presence_leave(struct core *core, struct session *s)
{
    for (struct subscription *sub = s->subs; sub; sub = sub->next) {
        sub->presence_rejoin = sub->presence;
        presence_leave(core->presence, sub);
    }
}

static void access_presence_rejoin(struct core *core, struct session *s)
{
    for (struct subscription *sub = s->subs; sub; sub = sub->next) {
        if (sub->presence_rejoin)
            presence_join(core->presence, sub);
        sub->presence_rejoin = false;
    }
}

static int access_grant(struct core *core, struct session *s, const char *token, size_t len,
                        const char **why)
{
    struct principal p;
    if (credentials_resolve(core->creds, token, len, core_now_ms() / 1000, &p, why) < 0)
        return -1;
    bool new_user = !access_same_user(s->principal.user, p.user);
    if (new_user)
        access_presence_leave(core, s);
    principal_free(&s->principal);
    s->principal = p;
    s->grants = &s->principal.grants;
    s->access = ACCESS_GRANTED;
    s->access_due_ms = p.expires > 0 ? p.expires * 1000 : 0;
    access_prune_subscriptions(core, s);
    if (new_user)
        access_presence_rejoin(core, s);
    log_debug("%s: authenticated as %s", s->id, p.user ? p.user : "(api key)");
    return 0;
}

int access_session_token(struct core *core, struct session *s, const char *token, size_t len)
{
    const char *why;
    if (!core->creds || access_grant(core, s, token, len, &why) == 0)
        return 0; /* without auth everything is allowed: the token is not needed */
    struct request_error err = {.code = ERR_UNAUTHORIZED};
    snprintf(err.message, sizeof(err.message), "invalid token: %s", why);
    core_reply_error(core, s, &err);
    session_close(s, 4001, "invalid token");
    return -1;
}

void core_session_expires(struct core *core, struct session *s, int64_t expires)
{
    if (!core->creds || expires <= 0)
        return;
    s->access = ACCESS_GRANTED;
    s->access_due_ms = expires * 1000;
}

void access_auth(struct core *core, struct session *s, const struct request *req)
{
    if (!core->creds) {
        core_reply_error_code(core, s, req, ERR_BAD_REQUEST,
                              "authentication is not configured on this broker");
        return;
    }
    const char *why;
    if (access_grant(core, s, req->token, strlen(req->token), &why) < 0) {
        struct request_error err;
        request_error_set(&err, req, ERR_UNAUTHORIZED, "invalid token: %s", why);
        core_reply_error(core, s, &err);
        if (s->access == ACCESS_ANONYMOUS && access_grants_nothing(s->grants))
            session_close(s, 4001, "invalid token");
        return;
    }
    if (req->has_id)
        core_reply(core, s, true, req->id,
                   answer_auth_ack(req->id, s->principal.user, s->principal.expires));
}

/* The session's deadline passed: move its state on. */
static void access_due(struct core *core, struct session *s, int64_t now_ms)
{
    s->access_due_ms = 0;
    if (s->access == ACCESS_ANONYMOUS) {
        access_require_auth(s);
    } else if (s->access == ACCESS_GRANTED) {
        struct request_error err = {.code = ERR_TOKEN_EXPIRED};
        snprintf(err.message, sizeof(err.message), "the token has expired: send auth within %d s",
                 core->cfg->auth_grace);
        core_reply_error(core, s, &err);
        s->access = ACCESS_EXPIRED;
        s->access_due_ms = now_ms + (int64_t)core->cfg->auth_grace * 1000;
    } else if (s->access == ACCESS_EXPIRED) {
        session_close(s, 4003, "token expired");
    }
}

void core_access_tick(struct core *core)
{
    if (!core->creds)
        return;
    int64_t now_ms = core_now_ms();
    if (now_ms < core->access_tick_ms)
        return;
    core->access_tick_ms = now_ms + ACCESS_TICK_MS;
    for (struct session *s = core->sessions; s; s = s->next)
        if (s->access_due_ms != 0 && s->access_due_ms <= now_ms && session_is_open(s))
            access_due(core, s, now_ms);
}

int core_access_wait_ms(const struct core *core)
{
    return core->creds ? ACCESS_TICK_MS : INT32_MAX;
}
