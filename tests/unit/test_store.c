/* SPDX-License-Identifier: MIT */
/*
 * test_store.c: unit tests of the store's life cycle (broker/store/: the
 * front, the store thread and the SQLite engine) on real SQLite files: the
 * schema and the epoch, seqs across reopening, the files it refuses or
 * migrates, the disk refusing a write, :memory: and close.
 *
 * Publishing (group commit, dedupe, binary data) is in test_store_write.c,
 * replay and history in test_store_replay.c.
 *
 * Each test gets a fresh temporary directory (store_fixture.h) and talks
 * to the store only through store.h: it submits requests and waits for them
 * with a wake callback that signals a condition variable (with a timeout),
 * as the service thread does. No mocks, no fixed sleeps: conditions that take time
 * (age retention, the health probe) are polled with a deadline.
 */
#include "check_run.h"
#include "store_fixture.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool is_epoch(const char *epoch)
{
    if (strlen(epoch) != 8)
        return false;
    for (int i = 0; i < 8; i++)
        if (!strchr("0123456789abcdef", epoch[i]))
            return false;
    return true;
}

static void remove_db_files(void)
{
    char path[256];
    unlink(fx.path);
    snprintf(path, sizeof(path), "%s-wal", fx.path);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", fx.path);
    unlink(path);
}

/* ---- Schema and epoch ---------------------------------------------------- */

START_TEST(test_schema_and_epoch_stable)
{
    open_store();
    char epoch[9];
    snprintf(epoch, sizeof(epoch), "%s", store_epoch(fx.st));
    ck_assert_msg(is_epoch(epoch), "epoch '%s' is not 8 lowercase hex digits", epoch);
    ck_assert_uint_eq(store_last_seq(fx.st), 0);
    ck_assert(store_healthy(fx.st));
    store_close(fx.st);
    fx.st = NULL;

    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                 "('messages', 'dedupe', 'trimmed', 'meta', "
                                 "'messages_topic_seq', 'dedupe_ts')"),
                     6);
    ck_assert_int_eq(sql_int(db, "PRAGMA user_version"), 3);
    ck_assert_int_eq(sql_int(db, "SELECT value FROM meta WHERE key = 'schema_version'"), 3);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'dedupe' "
                                 "AND sql LIKE '%WITHOUT ROWID'"),
                     1);
    sqlite3_stmt *stmt;
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'epoch'", -1, &stmt, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), epoch);
    sqlite3_finalize(stmt);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);

    open_store();
    ck_assert_str_eq(store_epoch(fx.st), epoch);
}
END_TEST

START_TEST(test_epoch_changes_with_new_file)
{
    open_store();
    char epoch[9];
    snprintf(epoch, sizeof(epoch), "%s", store_epoch(fx.st));
    publish("a.b", "1", NULL, NULL);
    store_close(fx.st);
    fx.st = NULL;
    remove_db_files();
    open_store();
    ck_assert(is_epoch(store_epoch(fx.st)));
    ck_assert_str_ne(store_epoch(fx.st), epoch);
    ck_assert_uint_eq(store_last_seq(fx.st), 0);
}
END_TEST

/* ---- Seq ----------------------------------------------------------------- */

START_TEST(test_seq_increases_across_reopen)
{
    open_store();
    uint64_t a = publish("t.one", "1", NULL, NULL);
    uint64_t b = publish("t.two", "2", NULL, NULL);
    uint64_t c = publish("t.one", "3", NULL, NULL);
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_lt(a, b);
    ck_assert_uint_lt(b, c);
    ck_assert_uint_eq(store_last_seq(fx.st), c);
    reopen_store();
    ck_assert_uint_eq(store_last_seq(fx.st), c);
    uint64_t d = publish("t.three", "4", NULL, NULL);
    ck_assert_uint_eq(d, c + 1);
}
END_TEST

START_TEST(test_age_retention_and_seq_never_reused)
{
    fx.cfg.retain_age_s = 1;
    open_store();
    uint64_t a = publish("old.x", "1", NULL, NULL);
    uint64_t b = publish("old.y", "2", NULL, NULL);
    ck_assert_uint_eq(b, a + 1);
    wait_until_empty("old.x");
    wait_until_empty("old.y");
    struct store_stats stats;
    store_get_stats(fx.st, &stats);
    ck_assert_uint_eq(stats.trimmed, 2);

    /* The trimmed match makes a resume from before it incomplete. */
    struct store_req *req = replay("old.x", 0, 0, 0);
    ck_assert_uint_eq(req->n_msgs, 0);
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("old.*", a, 0, 0);
    ck_assert(!req->recovered);
    store_req_free(req);
    req = replay("old.*", b, 0, 0);
    ck_assert(req->recovered);
    store_req_free(req);

    /* Every message is gone, yet the counter does not go back. */
    reopen_store();
    ck_assert_uint_eq(store_last_seq(fx.st), b);
    ck_assert_uint_eq(publish("old.x", "3", NULL, NULL), b + 1);
}
END_TEST
/* ---- Failures ---------------------------------------------------------------- */

/* A write the disk refuses. Tests run as root, where chmod does not stop a
 * write; RLIMIT_FSIZE does (Check runs each test in its own process). */
START_TEST(test_write_failure_and_recovery)
{
    open_store();
    uint64_t first = publish("f.x", "1", NULL, NULL);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit saved;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    struct rlimit tiny = {.rlim_cur = 1024, .rlim_max = saved.rlim_max};
    struct store_req *reqs[2] = {pub_json("f.x", "2", "key"),
                                 read_new(STORE_HISTORY, "f.x", 0, 0, 0, 10)};
    /* While the limit holds, no ck_assert: Check writes a message per call. */
    int limited = setrlimit(RLIMIT_FSIZE, &tiny);
    struct store_req *done[2];
    store_submit(fx.st, reqs[0]);
    store_submit(fx.st, reqs[1]);
    size_t got = collect_done(done, 2);
    bool healthy_during = store_healthy(fx.st);
    uint64_t last_seq_during = store_last_seq(fx.st);
    int restored = setrlimit(RLIMIT_FSIZE, &saved);
    ck_assert_int_eq(limited, 0);
    ck_assert_int_eq(restored, 0);
    ck_assert_uint_eq(got, 2);

    ck_assert_int_eq(reqs[0]->status, STORE_UNAVAILABLE);
    ck_assert_uint_eq(reqs[0]->pubs[0].msg.seq, 0);
    ck_assert(!healthy_during);
    ck_assert_uint_eq(last_seq_during, first);
    ck_assert_int_eq(reqs[1]->status, STORE_OK); /* reads still work */
    expect_seqs(reqs[1], 1, (uint64_t[]){first});
    store_req_free(reqs[0]);
    store_req_free(reqs[1]);

    int64_t deadline = mono_ms() + WAIT_MS;
    while (!store_healthy(fx.st)) {
        ck_assert_msg(mono_ms() < deadline, "the store never became healthy again");
        pause_ms(20);
    }
    bool dup;
    ck_assert_uint_eq(publish("f.x", "2", "key", &dup), first + 1); /* seq not burnt */
    ck_assert(!dup); /* the failed publish left no dedupe row */
}
END_TEST

START_TEST(test_readonly_file)
{
    /* Only added to the suite when not running as root. */
    open_store();
    store_close(fx.st);
    fx.st = NULL;
    ck_assert_int_eq(chmod(fx.path, 0444), 0);
    char err[256] = "";
    struct store *st = (struct store *)&err; /* must be reset to NULL */
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, fx.path) && strstr(err, "read-only"), "err: %s", err);
}
END_TEST

static void write_file(const char *path, const void *bytes, size_t len, off_t offset)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, len, offset), (ssize_t)len);
    close(fd);
}

START_TEST(test_not_a_database)
{
    char garbage[8192];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)('a' + i % 26);
    write_file(fx.path, garbage, sizeof(garbage), 0);
    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    char want[256];
    snprintf(want, sizeof(want), "%s: file is not a database", fx.path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_corrupt_database)
{
    open_store();
    char json[600];
    memset(json, '7', sizeof(json) - 1);
    json[sizeof(json) - 1] = '\0';
    for (int i = 0; i < 40; i++)
        publish(i % 2 ? "c.a" : "c.b", json, NULL, NULL);
    store_close(fx.st); /* checkpoints the WAL into the file */
    fx.st = NULL;
    struct stat sb;
    ck_assert_int_eq(stat(fx.path, &sb), 0);
    ck_assert_int_ge(sb.st_size, 4 * 4096);
    unsigned char noise[4096];
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (unsigned char)(i * 131 + 17);
    write_file(fx.path, noise, sizeof(noise), 2 * 4096); /* page 3 */

    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strncmp(err, fx.path, strlen(fx.path)) == 0 && strlen(err) > strlen(fx.path) + 2,
                  "err: %s", err);
}
END_TEST

/* A file written by a version 1 broker (dedupe as a rowid table): opened,
 * it is migrated to the current version (3) with its messages and keys intact. */
START_TEST(test_migrate_v1)
{
    static const char v1_sql[] =
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
        "ts INTEGER NOT NULL, from_user TEXT, is_binary INTEGER NOT NULL, data BLOB NOT NULL);"
        "CREATE INDEX messages_topic_seq ON messages (topic, seq);"
        "CREATE TABLE dedupe (topic TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, "
        "ts INTEGER NOT NULL, PRIMARY KEY (topic, key));"
        "CREATE INDEX dedupe_ts ON dedupe (ts);"
        "CREATE TABLE trimmed (topic TEXT PRIMARY KEY, upto_seq INTEGER NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
        "INSERT INTO meta VALUES ('epoch', '0badcafe'), ('schema_version', 1);"
        "PRAGMA user_version = 1;";
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, v1_sql, NULL, NULL, NULL), SQLITE_OK);
    char rows[512];
    long long now = (long long)time(NULL) * 1000;
    snprintf(rows, sizeof(rows),
             "INSERT INTO messages VALUES (7, 'orders.eu', %lld, NULL, 0, '{\"n\":1}');"
             "INSERT INTO dedupe VALUES ('orders.eu', 'k1', 7, %lld);",
             now, now);
    ck_assert_int_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    open_store();
    ck_assert_str_eq(store_epoch(fx.st), "0badcafe");
    ck_assert_uint_eq(store_last_seq(fx.st), 7);
    bool dup = false;
    ck_assert_uint_eq(publish("orders.eu", "{\"n\":1}", "k1", &dup), 7); /* the key survived */
    ck_assert(dup);
    uint64_t next = publish("orders.eu", "{\"n\":2}", "k2", &dup);
    ck_assert(!dup);
    ck_assert_uint_eq(next, 8);
    struct store_req *req = history("orders.eu", 0, 100);
    expect_seqs(req, 2, (uint64_t[]){7, 8});
    store_req_free(req);
    store_close(fx.st);
    fx.st = NULL;

    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sql_int(db, "PRAGMA user_version"), 3);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM dedupe"), 2);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'dedupe_ts'"), 1);
    ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'dedupe_v2'"), 0);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(db, "CREATE TABLE x(y); PRAGMA user_version = 99", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "schema version 99"), "err: %s", err);
}
END_TEST

START_TEST(test_bad_path)
{
    fx.cfg.path = "/nonexistent-dir-for-test/x.db";
    char err[256] = "";
    struct store *st = NULL;
    ck_assert_int_eq(store_open(&st, &fx.cfg, err, sizeof(err)), -1);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "/nonexistent-dir-for-test/x.db: "), "err: %s", err);
}
END_TEST

/* ---- :memory: and close ------------------------------------------------------ */

START_TEST(test_memory_database)
{
    fx.cfg.path = ":memory:";
    fx.cfg.retain_count = 2;
    open_store();
    ck_assert(is_epoch(store_epoch(fx.st)));
    bool dup;
    uint64_t a = publish("m.x", "{\"a\":1}", "k", &dup);
    ck_assert_uint_eq(publish("m.x", "{\"a\":1}", "k", &dup), a);
    ck_assert(dup);
    publish("m.x", "2", NULL, NULL);
    publish("m.x", "3", NULL, NULL);
    struct store_req *req = replay("m.*", 0, 0, 0);
    expect_seqs(req, 2, (uint64_t[]){2, 3});
    ck_assert(!req->recovered);
    store_req_free(req);
}
END_TEST

START_TEST(test_close_finishes_submitted)
{
    fx.drain_in_wake = true;
    open_store();
    enum { N = 400 };
    struct store_req *reqs[N + 1];
    for (int i = 0; i < N; i++) {
        reqs[i] = pub_json("close.x", "1", NULL);
        store_submit(fx.st, reqs[i]);
    }
    reqs[N] = read_new(STORE_HISTORY, "close.x", 0, 0, 0, 1000);
    store_submit(fx.st, reqs[N]);
    store_close(fx.st);
    fx.st = NULL;

    ck_assert_uint_eq(fx.n_drained, N + 1);
    for (int i = 0; i <= N; i++) {
        ck_assert_ptr_eq(fx.drained[i], reqs[i]);
        ck_assert_int_eq(reqs[i]->status, STORE_OK);
    }
    ck_assert_uint_eq(reqs[N - 1]->pubs[0].msg.seq, N);
    ck_assert_uint_eq(reqs[N]->n_msgs, N);
    for (int i = 0; i <= N; i++)
        store_req_free(reqs[i]);

    fx.drain_in_wake = false;
    open_store();
    ck_assert_uint_eq(store_last_seq(fx.st), N);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = store_fixture_tcase("core");
    tcase_add_test(tc, test_schema_and_epoch_stable);
    tcase_add_test(tc, test_epoch_changes_with_new_file);
    tcase_add_test(tc, test_seq_increases_across_reopen);
    tcase_add_test(tc, test_age_retention_and_seq_never_reused);
    tcase_add_test(tc, test_write_failure_and_recovery);
    if (geteuid() != 0)
        tcase_add_test(tc, test_readonly_file);
    tcase_add_test(tc, test_not_a_database);
    tcase_add_test(tc, test_corrupt_database);
    tcase_add_test(tc, test_migrate_v1);
    tcase_add_test(tc, test_newer_schema_refused);
    tcase_add_test(tc, test_bad_path);
    tcase_add_test(tc, test_memory_database);
    tcase_add_test(tc, test_close_finishes_submitted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(store_suite());
}
