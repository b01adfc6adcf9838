/* SPDX-License-Identifier: MIT */
/*
 * test_store_limits.c: unit tests of the store's bounds on disk
 * (broker/store/, docs/design.md section 4) on real SQLite files: the
 * max_topics and max_db_bytes refusals, the trimmed bookkeeping that
 * collapses into one watermark, free pages given back to the file system,
 * and the conversion of a database of the previous format.
 *
 * Each test gets a fresh temporary directory (store_fixture.h) and talks to
 * the store through store.h, waiting for results with a wake callback (with
 * a timeout). Conditions that take time (age retention, vacuum) are polled
 * with a deadline; nothing asserts on wall-clock time.
 */
#include "store_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Topics keep many messages; commits need not reach the disk. */
static void setup(void)
{
    store_fixture_setup();
    fx.cfg.retain_count = 100000;
    fx.cfg.durability = STORE_DURABLE_OS;
}

/* A publish request of `n` messages, to topics[i], each `size` bytes of JSON. */
static struct store_req *pub_many(size_t n, const char *const *topics, size_t size)
{
    struct store_req *req = calloc(1, sizeof(*req));
    req->op = STORE_PUBLISH;
    req->n_pubs = n;
    req->pubs = calloc(n, sizeof(*req->pubs));
    for (size_t i = 0; i < n; i++) {
        struct store_msg *msg = &req->pubs[i].msg;
        msg->topic = strdup(topics[i]);
        msg->data = malloc(size + 1);
        memset(msg->data, '7', size);
        msg->data[size] = '\0';
        msg->data_len = size;
    }
    return req;
}

/* Publishes one message; returns the finished request (the caller frees it). */
static struct store_req *publish_sized(const char *topic, size_t size)
{
    return run(pub_many(1, &topic, size));
}

static uint64_t publish_ok(const char *topic)
{
    return publish(topic, "1", NULL, NULL);
}

static struct store_req *read_req(enum store_op op, const char *pattern, uint64_t since)
{
    struct store_req *req = calloc(1, sizeof(*req));
    req->op = op;
    req->pattern = strdup(pattern);
    req->since = since;
    req->limit = 1000;
    req->start = true; /* a replay's first chunk: the one whose `recovered` counts */
    req = run(req);
    ck_assert_int_eq(req->status, STORE_OK);
    return req;
}

static size_t count_matches(const char *pattern)
{
    struct store_req *req = read_req(STORE_HISTORY, pattern, 0);
    size_t n = req->n_msgs;
    store_req_free(req);
    return n;
}

static bool recovered(const char *pattern, uint64_t since)
{
    struct store_req *req = read_req(STORE_REPLAY, pattern, since);
    bool result = req->recovered;
    store_req_free(req);
    return result;
}

static struct store_stats stats(void)
{
    struct store_stats out;
    store_get_stats(fx.st, &out);
    return out;
}

/* One integer from the store's file, read on a connection of our own. */
static int64_t file_int(const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    int64_t value = sql_int(db, sql);
    sqlite3_close(db);
    return value;
}

static off_t file_size(void)
{
    struct stat sb;
    ck_assert_int_eq(stat(fx.path, &sb), 0);
    return sb.st_size;
}

/* ---- max_topics -------------------------------------------------------------- */

START_TEST(test_max_topics)
{
    fx.cfg.max_topics = 3;
    open_store();
    publish_ok("lim.a");
    publish_ok("lim.b");
    publish_ok("lim.c");
    struct store_req *req = publish_sized("lim.d", 1);
    ck_assert_int_eq(req->status, STORE_FULL);
    ck_assert_int_eq(req->full_reason, STORE_FULL_TOPICS);
    ck_assert_uint_eq(req->pubs[0].msg.seq, 0);
    char why_max_topics[128];
    store_failure_text(req, "written", why_max_topics, sizeof(why_max_topics));
    ck_assert_str_eq(why_max_topics, "publish refused: the store reached its max_topics limit");
    store_req_free(req);
    ck_assert_uint_eq(publish_ok("lim.a"), 4); /* existing topics still take messages */

    /* A request that names a new topic is refused as a whole. */
    const char *mixed[] = {"lim.b", "lim.e", "lim.c"};
    req = run(pub_many(3, mixed, 1));
    ck_assert_int_eq(req->status, STORE_FULL);
    store_req_free(req);
    ck_assert_uint_eq(count_matches("lim.>"), 4);
    ck_assert_uint_eq(store_last_seq(fx.st), 4);

    struct store_stats s = stats();
    ck_assert_uint_eq(s.live_topics, 3);
    ck_assert_uint_eq(s.refused_full, 4); /* publishes, not requests */
    ck_assert(store_healthy(fx.st));

    /* One slot: a request with the same new topic twice fits. */
    fx.cfg.max_topics = 4;
    reopen_store();
    const char *twice[] = {"lim.f", "lim.f"};
    req = run(pub_many(2, twice, 1));
    ck_assert_int_eq(req->status, STORE_OK);
    store_req_free(req);
    ck_assert_uint_eq(stats().live_topics, 4);
}
END_TEST

/* Topics that age retention emptied no longer count. */
START_TEST(test_max_topics_freed_by_retention)
{
    fx.cfg.max_topics = 2;
    fx.cfg.retain_age_s = 1;
    open_store();
    publish_ok("old.a");
    publish_ok("old.b");
    struct store_req *req = publish_sized("new.c", 1);
    ck_assert_int_eq(req->status, STORE_FULL);
    store_req_free(req);
    wait_until_empty("old.>");
    ck_assert_uint_eq(stats().live_topics, 0);
    publish_ok("new.c");
}
END_TEST

/* ---- max_db_bytes ------------------------------------------------------------- */

START_TEST(test_max_db_size)
{
    enum { SIZE = 8192, MAX_BYTES = 1 << 20 };
    fx.cfg.max_db_bytes = MAX_BYTES;
    open_store();
    size_t accepted = 0;
    struct store_req *req = NULL;
    for (int i = 0; i < 1000; i++) {
        req = publish_sized("big.x", SIZE);
        if (req->status != STORE_OK)
            break;
        accepted++;
        store_req_free(req);
        req = NULL;
    }
    ck_assert_ptr_nonnull(req);
    ck_assert_int_eq(req->status, STORE_FULL);
    ck_assert_int_eq(req->full_reason, STORE_FULL_DB_SIZE);
    char why_max_db_size[128];
    store_failure_text(req, "written", why_max_db_size, sizeof(why_max_db_size));
    ck_assert_str_eq(why_max_db_size, "publish refused: the store reached its max_db_size limit");
    store_req_free(req);
    /* About the bound: not far under it, and not far over it. */
    ck_assert_uint_ge(accepted * SIZE, MAX_BYTES / 2);
    ck_assert_uint_le(accepted * SIZE, 2 * MAX_BYTES);

    struct store_stats s = stats();
    ck_assert_uint_ge(s.db_bytes, MAX_BYTES - MAX_BYTES / 8); /* measured within a step */
    ck_assert_uint_eq(s.refused_full, 1);
    ck_assert_uint_eq(s.live_topics, 1);
    ck_assert(store_healthy(fx.st));

    /* Every publish is refused while it is full, and nothing is lost. */
    req = publish_sized("big.x", 1);
    ck_assert_int_eq(req->status, STORE_FULL);
    store_req_free(req);
    ck_assert_uint_eq(count_matches("big.x"), accepted);
    reopen_store();
    req = publish_sized("big.y", 1);
    ck_assert_int_eq(req->status, STORE_FULL);
    store_req_free(req);
    ck_assert_uint_eq(count_matches("big.x"), accepted);
}
END_TEST

/* ---- Trimmed bookkeeping ------------------------------------------------------ */

START_TEST(test_trimmed_collapses_into_watermark)
{
    enum { TOPICS = 50 };
    fx.cfg.retain_age_s = 1;
    open_store();
    char topic[32];
    uint64_t last = 0;
    for (int i = 0; i < TOPICS; i++) {
        snprintf(topic, sizeof(topic), "u.t%d", i);
        last = publish_ok(topic);
    }
    wait_until_empty("u.>");
    /* Every topic emptied: no row per topic is left, one watermark is. */
    ck_assert_int_eq(file_int("SELECT count(*) FROM trimmed"), 0);
    ck_assert_int_eq(file_int("SELECT value FROM meta WHERE key = 'trimmed_watermark'"),
                     (int64_t)last);
    ck_assert_uint_eq(stats().live_topics, 0);

    /* Below the watermark nobody knows what was dropped: not recovered,
     * whichever topic; from the watermark on: recovered. */
    uint64_t fresh = publish_ok("u.t0");
    ck_assert_uint_eq(fresh, last + 1);
    ck_assert(!recovered("u.t7", last - 1));
    ck_assert(!recovered("never.seen", 0));
    ck_assert(!recovered("u.>", last - 1));
    ck_assert(recovered("u.t7", last));
    ck_assert(recovered("u.>", last));
    ck_assert(recovered("never.seen", last));

    /* The watermark and the seq counter survive a reopen. */
    reopen_store();
    ck_assert(!recovered("u.t3", last - 1));
    ck_assert(recovered("u.t3", last));
    ck_assert_uint_eq(publish_ok("u.t9"), fresh + 1);
}
END_TEST

/* ---- Free pages go back --------------------------------------------------------- */

START_TEST(test_file_shrinks_after_retention)
{
    enum { MESSAGES = 2000, SIZE = 8000 };
    fx.cfg.retain_age_s = 2;
    open_store();
    static char names[MESSAGES][16];
    static const char *topics[MESSAGES];
    for (int i = 0; i < MESSAGES; i++) {
        snprintf(names[i], sizeof(names[i]), "v.t%d", i);
        topics[i] = names[i];
    }
    struct store_req *req = run(pub_many(MESSAGES, topics, SIZE)); /* one commit */
    ck_assert_int_eq(req->status, STORE_OK);
    store_req_free(req);
    /* Copy the WAL into the file, as a checkpoint would. */
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_gt(sql_int(db, "SELECT count(*) FROM sqlite_master"), 0); /* opens the WAL */
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    sqlite3_close(db);
    off_t peak = file_size();
    ck_assert_int_ge(peak, (off_t)MESSAGES * SIZE);

    wait_until_empty("v.>");
    int64_t deadline = mono_ms() + WAIT_MS;
    while (file_size() > peak / 8 || stats().db_bytes > (uint64_t)peak / 8) {
        ck_assert_msg(mono_ms() < deadline,
                      "the file stayed at %lld bytes (peak %lld), %llu in pages, %lld free",
                      (long long)file_size(), (long long)peak, (unsigned long long)stats().db_bytes,
                      (long long)file_int("PRAGMA freelist_count"));
        pause_ms(50);
    }
    ck_assert_int_eq(file_int("PRAGMA auto_vacuum"), 2); /* incremental */
}
END_TEST

/* ---- A file of the previous format ------------------------------------------------ */

/* Version 2: no auto_vacuum, and trimmed rows of topics without messages. */
START_TEST(test_convert_v2)
{
    static const char v2_sql[] =
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
        "ts INTEGER NOT NULL, from_user TEXT, is_binary INTEGER NOT NULL, data BLOB NOT NULL);"
        "CREATE INDEX messages_topic_seq ON messages (topic, seq);"
        "CREATE TABLE dedupe (topic TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, "
        "ts INTEGER NOT NULL, PRIMARY KEY (topic, key)) WITHOUT ROWID;"
        "CREATE INDEX dedupe_ts ON dedupe (ts);"
        "CREATE TABLE trimmed (topic TEXT PRIMARY KEY, upto_seq INTEGER NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
        "INSERT INTO meta VALUES ('epoch', '0badcafe'), ('schema_version', 2);"
        "INSERT INTO trimmed VALUES ('keep.a', 3), ('gone.b', 9);"
        "PRAGMA user_version = 2;";
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, v2_sql, NULL, NULL, NULL), SQLITE_OK);
    char rows[256];
    snprintf(rows, sizeof(rows),
             "INSERT INTO messages VALUES (5, 'keep.a', %lld, NULL, 0, '{\"n\":5}');",
             (long long)time(NULL) * 1000);
    ck_assert_int_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sql_int(db, "PRAGMA auto_vacuum"), 0);
    sqlite3_close(db);

    open_store();
    ck_assert_str_eq(store_epoch(fx.st), "0badcafe");
    ck_assert_uint_eq(store_last_seq(fx.st), 9);
    struct store_req *req = read_req(STORE_HISTORY, "keep.a", 0);
    ck_assert_uint_eq(req->n_msgs, 1);
    ck_assert_uint_eq(req->msgs[0].seq, 5);
    ck_assert_str_eq((const char *)req->msgs[0].data, "{\"n\":5}");
    store_req_free(req);
    ck_assert(!recovered("keep.a", 3)); /* below the watermark: gone.b's 9 */
    ck_assert(recovered("keep.a", 9));
    ck_assert_uint_eq(publish_ok("keep.a"), 10);
    ck_assert_uint_eq(stats().live_topics, 1);
    store_close(fx.st);
    fx.st = NULL;

    ck_assert_int_eq(file_int("PRAGMA user_version"), 3);
    ck_assert_int_eq(file_int("PRAGMA auto_vacuum"), 2);
    ck_assert_int_eq(file_int("SELECT count(*) FROM trimmed"), 1);
    ck_assert_int_eq(file_int("SELECT upto_seq FROM trimmed WHERE topic = 'keep.a'"), 3);
    ck_assert_int_eq(file_int("SELECT value FROM meta WHERE key = 'trimmed_watermark'"), 9);
    ck_assert_int_eq(file_int("SELECT count(*) FROM messages"), 2);
}
END_TEST

static Suite *store_limits_suite(void)
{
    Suite *s = suite_create("store_limits");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, store_fixture_teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_max_topics);
    tcase_add_test(tc, test_max_topics_freed_by_retention);
    tcase_add_test(tc, test_max_db_size);
    tcase_add_test(tc, test_trimmed_collapses_into_watermark);
    tcase_add_test(tc, test_file_shrinks_after_retention);
    tcase_add_test(tc, test_convert_v2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_limits_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
