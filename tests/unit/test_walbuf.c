/* SPDX-License-Identifier: MIT */
/*
 * test_walbuf.c: unit tests of broker/store/walbuf.c, the VFS that gathers WAL
 * writes.
 *
 * A writer on the walbuf VFS (WAL, synchronous FULL or NORMAL) and a reader on the
 * default VFS, as the store and its checkpointer are: after every commit the
 * reader must see exactly what was committed, through transactions larger
 * than the buffer, a page cache small enough to spill frames before the
 * commit (and rewrite them), checkpoints from both sides and WAL restarts.
 * After close, the file must pass integrity_check on the default VFS.
 */
#include "store/walbuf.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char path[96];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_walbuf.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
}

static void teardown(void)
{
    char file[128];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
        unlink(file);
    }
    rmdir(dir);
}

static sqlite3 *open_db(const char *vfs)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, flags, vfs), SQLITE_OK);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
}

static sqlite3_int64 query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    sqlite3_int64 v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

/* _i: 0 synchronous=FULL (a sync before each commit is published), 1
 * NORMAL (no sync: the commit frame itself must send the buffer out). */
START_TEST(test_reader_sees_every_commit)
{
    const char *vfs = walbuf_vfs();
    ck_assert_ptr_nonnull(vfs);
    sqlite3 *writer = open_db(vfs);
    exec(writer, _i == 0 ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL"
                         : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
    exec(writer, "PRAGMA cache_size=20; PRAGMA wal_autocheckpoint=0;"
                 "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB);"
                 "CREATE INDEX t_k ON t (k);");
    sqlite3 *reader = open_db(NULL);
    sqlite3_stmt *ins = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(writer, "INSERT INTO t (k, v) VALUES (?1, randomblob(?2))",
                                        -1, &ins, NULL),
                     SQLITE_OK);
    srand(7);
    sqlite3_int64 rows = 0, bytes = 0;
    for (int txn = 0; txn < 60; txn++) {
        /* Mostly small commits, some far larger than the 1 MiB buffer. */
        int n = txn % 10 == 9 ? 3000 + rand() % 3000 : 1 + rand() % 200;
        exec(writer, "BEGIN");
        for (int i = 0; i < n; i++) {
            char key[32];
            snprintf(key, sizeof(key), "k%d", rand() % 50); /* index inserts all over */
            int len = 50 + rand() % 400;
            sqlite3_bind_text(ins, 1, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(ins, 2, len);
            ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
            sqlite3_reset(ins);
            bytes += len;
        }
        if (txn % 7 == 3) /* rows rewritten and deleted inside the transaction */
            exec(writer, "UPDATE t SET v = zeroblob(length(v)) WHERE id % 5 = 0;"
                         "DELETE FROM t WHERE id % 97 = 0");
        exec(writer, "COMMIT");
        rows = query_int(writer, "SELECT count(*) FROM t");
        bytes = query_int(writer, "SELECT total(length(v)) FROM t");
        ck_assert_int_eq(query_int(reader, "SELECT count(*) FROM t"), rows);
        ck_assert_int_eq(query_int(reader, "SELECT total(length(v)) FROM t"), bytes);
        if (txn % 5 == 4)
            ck_assert_int_eq(
                sqlite3_wal_checkpoint_v2(reader, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL),
                SQLITE_OK);
        if (txn % 13 == 12) /* everything copied: the next commit restarts the WAL */
            ck_assert_int_eq(
                sqlite3_wal_checkpoint_v2(writer, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL),
                SQLITE_OK);
    }
    sqlite3_finalize(ins);
    ck_assert_int_eq(sqlite3_close(reader), SQLITE_OK);
    ck_assert_int_eq(sqlite3_close(writer), SQLITE_OK);

    sqlite3 *again = open_db(NULL);
    sqlite3_stmt *check = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(again, "PRAGMA integrity_check", -1, &check, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(check), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(check, 0), "ok");
    sqlite3_finalize(check);
    ck_assert_int_eq(query_int(again, "SELECT count(*) FROM t"), rows);
    ck_assert_int_eq(query_int(again, "SELECT total(length(v)) FROM t"), bytes);
    ck_assert_int_eq(sqlite3_close(again), SQLITE_OK);
}
END_TEST

/* A rollback throws away frames that may still be in the buffer. */
START_TEST(test_rollback_leaves_nothing)
{
    sqlite3 *writer = open_db(walbuf_vfs());
    exec(writer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=10;"
                 "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);"
                 "INSERT INTO t (v) VALUES (randomblob(100));");
    exec(writer, "BEGIN; INSERT INTO t (v) SELECT randomblob(300) FROM t, t AS a, t AS b;"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
                 " INSERT INTO t (v) SELECT randomblob(300) FROM n; ROLLBACK");
    exec(writer, "INSERT INTO t (v) VALUES (randomblob(10))");
    sqlite3 *reader = open_db(NULL);
    ck_assert_int_eq(query_int(reader, "SELECT count(*) FROM t"), 2);
    ck_assert_int_eq(query_int(reader, "SELECT total(length(v)) FROM t"), 110);
    sqlite3_close(reader);
    sqlite3_close(writer);
}
END_TEST

static Suite *walbuf_suite(void)
{
    Suite *suite = suite_create("walbuf");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_reader_sees_every_commit, 0, 2);
    tcase_add_test(tc, test_rollback_leaves_nothing);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(walbuf_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
