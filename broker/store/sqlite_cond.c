/* SPDX-License-Identifier: MIT */
/*
 * sqlite_cond.c: the SQLite engine's conditional publish (expect_last,
 * docs/protocol.md section 11).
 *
 * Owns: judging a publish request's conditions inside the commit, before
 * any of its publishes is written, so that a request that fails one is
 * refused whole (an HTTP batch stores nothing) without undoing writes.
 * The newest seq of a topic comes from the counts map (sqlite_write.c keeps
 * it with every insert and trim), so a condition costs no SQL; a publish
 * with both a key and a condition costs one dedupe read, because a
 * duplicate is answered as such before its condition is looked at.
 *
 * The request's earlier publishes are counted as publish_one will write
 * them: each that is not a duplicate takes the next seq and becomes its
 * topic's newest (unless its topic keeps nothing). The predicted seq is
 * kept in msg.seq, which publish_one sets again.
 */
#include "store/sqlite_int.h"

#include "config/topic_rules.h"

#include <string.h>

bool sqlite_cond_present(const struct store_req *req)
{
    for (size_t i = 0; i < req->n_pubs; i++)
        if (req->pubs[i].has_expect_last)
            return true;
    return false;
}

/* Whether pubs[i]'s key was accepted within the dedupe window: by an
 * earlier publish of the request, or as the dedupe table says. */
static int cond_duplicate(struct sqlite_store *st, const struct store_req *req, size_t i,
                          int64_t now, bool *duplicate)
{
    const struct store_pub *pub = &req->pubs[i];
    *duplicate = false;
    if (!pub->key)
        return SQLITE_OK;
    for (size_t j = 0; j < i; j++) {
        const struct store_pub *earlier = &req->pubs[j];
        if (earlier->key && strcmp(earlier->key, pub->key) == 0 &&
            strcmp(earlier->msg.topic, pub->msg.topic) == 0) {
            *duplicate = true;
            return SQLITE_OK;
        }
    }
    sqlite3_stmt *get = st->stmt[STMT_DEDUPE_GET];
    sqlite3_bind_text(get, 1, pub->msg.topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 2, pub->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(get);
    /* A row past the window is claimed again (STMT_DEDUPE_CLAIM). */
    *duplicate = rc == SQLITE_ROW && sqlite3_column_int64(get, 1) >= now - st->cfg.dedupe_window_ms;
    sqlite3_reset(get);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Whether `topic` keeps its messages (a rule may keep none). */
static bool cond_topic_keeps(const struct sqlite_store *st, const struct topic_count *tc,
                             const char *topic)
{
    if (tc)
        return tc->retain > 0;
    const struct topic_rule *rule = topic_rules_find(st->cfg.rules, topic);
    return !(rule && rule->retain == 0);
}

/* The newest seq of pubs[i]'s topic once the request's earlier publishes
 * are written. */
static uint64_t cond_newest(const struct sqlite_store *st, const struct store_req *req, size_t i)
{
    const char *topic = req->pubs[i].msg.topic;
    const struct topic_count *tc = strmap_get(&st->counts, topic, strlen(topic));
    if (!cond_topic_keeps(st, tc, topic))
        return 0;
    for (size_t j = i; j-- > 0;)
        if (req->pubs[j].msg.seq != 0 && strcmp(req->pubs[j].msg.topic, topic) == 0)
            return req->pubs[j].msg.seq;
    return tc ? tc->newest : 0;
}

int sqlite_cond_check(struct sqlite_store *st, struct store_req *req, int64_t now, bool *holds,
                      uint64_t *last)
{
    uint64_t next_seq = st->seq;
    *holds = true;
    for (size_t i = 0; i < req->n_pubs; i++) {
        struct store_pub *pub = &req->pubs[i];
        bool duplicate;
        int rc = cond_duplicate(st, req, i, now, &duplicate);
        pub->msg.seq = 0;
        if (rc != SQLITE_OK)
            return rc;
        if (duplicate)
            continue;
        uint64_t newest = cond_newest(st, req, i);
        if (pub->has_expect_last && newest != pub->expect_last) {
            *holds = false;
            *last = newest;
            return SQLITE_OK;
        }
        pub->msg.seq = ++next_seq;
    }
    return SQLITE_OK;
}
