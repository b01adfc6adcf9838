-- schema/store.sql: the on-disk format of the wsbroker message store.
--
-- This file is compiled into the broker (cmake/embed.cmake) and executed by
-- the SQLite engine (broker/store/sqlite_open.c) each time a database is
-- opened, inside the transaction that also writes the meta rows below.
-- Every statement is idempotent (IF NOT EXISTS), so running it on an
-- existing database changes nothing.
--
-- Format version: PRAGMA user_version = 3 (also meta 'schema_version'), set
-- by sqlite_open.c (STORE_SCHEMA_VERSION). A broker refuses a database whose
-- user_version is newer than the one it knows. A change to this file that
-- an older broker could not read must raise that number.
--
-- Versions: in version 1 `dedupe` is a rowid table plus the index of its
-- primary key (three B-trees per key with dedupe_ts). Version 2 makes it a
-- WITHOUT ROWID table clustered on (topic, key): one lookup and one B-tree
-- fewer per keyed publish. Version 3 keeps a `trimmed` row only while its
-- topic holds a message (the rest fold into meta 'trimmed_watermark'), and
-- the file has incremental auto-vacuum. sqlite_open.c migrates an older file
-- in the transaction that opens it (rows kept, same columns), then, when the
-- file has no auto-vacuum yet, converts it with one VACUUM.
--
-- Free pages: PRAGMA auto_vacuum = INCREMENTAL (set before the first table
-- of a new file). Housekeeping moves free pages off the end of the file in
-- small slices (PRAGMA incremental_vacuum), so the file shrinks after
-- retention deleted messages.
--
-- The database runs in WAL mode (except ":memory:"). Only the broker's store
-- thread writes it; other processes may read it (e.g. for inspection) under
-- SQLite's usual locking.
--
-- Seq rule: seq is broker-wide and strictly increasing, and a seq once
-- assigned is never assigned again for the life of the file, even after
-- retention deleted every message. On open the broker continues from
-- max(max(messages.seq), max(trimmed.upto_seq), meta 'trimmed_watermark').

-- Every retained message. A row is a message exactly as it was accepted.
CREATE TABLE IF NOT EXISTS messages (
    seq       INTEGER PRIMARY KEY,  -- the message's seq (rowid alias, assigned by the broker)
    topic     TEXT    NOT NULL,     -- a topic name (docs/protocol.md section 5), never a pattern
    ts        INTEGER NOT NULL,     -- broker receipt time, ms since the Unix epoch
    from_user TEXT,                 -- the publisher's user; NULL when anonymous or API key
    is_binary INTEGER NOT NULL,     -- 0: data is the JSON text of the value; 1: raw bytes
    data      BLOB    NOT NULL      -- the message body, byte for byte
);

-- Replay and history by topic name, and count retention per topic.
CREATE INDEX IF NOT EXISTS messages_topic_seq ON messages (topic, seq);

-- Idempotent publish: the keys accepted per topic within the dedupe window.
-- A publish whose (topic, key) is here with ts within the window is a
-- duplicate of message `seq` (which retention may have removed since).
-- Rows older than the window are deleted in the background; a row past the
-- window is ignored (and overwritten) even before it is deleted.
-- Claimed with one upsert per keyed publish (insert, or take over a row
-- past the window; no row back means a duplicate).
CREATE TABLE IF NOT EXISTS dedupe (
    topic TEXT    NOT NULL,  -- the topic the key was published on
    key   TEXT    NOT NULL,  -- the client's idempotency key
    seq   INTEGER NOT NULL,  -- seq of the message first accepted with this key
    ts    INTEGER NOT NULL,  -- when that happened, ms since the Unix epoch
    PRIMARY KEY (topic, key)
) WITHOUT ROWID;

-- Expiry of dedupe rows, oldest first.
CREATE INDEX IF NOT EXISTS dedupe_ts ON dedupe (ts);

-- What retention (count or age) removed: per topic, the highest seq ever
-- deleted. Every message of that topic with seq <= upto_seq is gone. A row
-- lives only while its topic holds a message: when retention removes a
-- topic's last one, the row goes and its upto_seq raises the store-wide
-- meta 'trimmed_watermark' instead, so the table is bounded by the live
-- topics. A resume "since S" is complete when S >= the watermark and no
-- matching topic here has upto_seq > S (`recovered` in docs/protocol.md
-- section 4; under the watermark it is conservatively false). Also keeps
-- the seq counter from going back when retention emptied the messages table.
CREATE TABLE IF NOT EXISTS trimmed (
    topic    TEXT PRIMARY KEY,
    upto_seq INTEGER NOT NULL
);

-- Facts about the file itself. Keys:
--   'schema_version'  integer, equal to PRAGMA user_version
--   'trimmed_watermark'  integer seq: every topic without a `trimmed` row
--                     may have lost messages up to it (0: none)
--   'epoch'           8 lowercase hex digits, random, written once when the
--                     file is created; names this store to clients
--                     (welcome.epoch) so a seq from another store is never
--                     taken for one of this store
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value
);
