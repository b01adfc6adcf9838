// SPDX-License-Identifier: MIT
// storefault.test.mjs: the store failing under the broker (docs/protocol.md
// sections 7-9: `unavailable`, 503, /healthz; "a bad flag, an unreadable
// config ...: one clear line on stderr and exit status 2, nothing
// half-started").
//
// (a) The database on a small tmpfs that fills up: publishes get
//     `unavailable` (WebSocket) and 503 (POST /api/publish), /healthz is
//     503, committed messages still reach subscribers, history and replay
//     still answer, other connections keep working, the broker does not
//     die; once space is freed the store's probe (about once a second)
//     makes it writable again: /healthz 200 and publishes succeed. Nothing
//     refused is ever stored or delivered.
// (b) A corrupt database at start (garbage bytes; a valid database with
//     one b-tree page overwritten; a truncated file): exit 2, one line on
//     stderr, the file byte for byte unchanged.
// (c) A database file that cannot be written (chattr +i, as root): exit 2,
//     one line, file unchanged.
// (d) A database path in a directory that does not exist: exit 2, one line,
//     the directory is not created.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { freePort, httpGet, onCleanup, runBroker, startBroker, waitFor } from '../integration/lib/broker.mjs';
import { connect } from '../integration/lib/client.mjs';
import { assertError, assertHttpError, httpPublish } from '../integration/lib/util.mjs';
import { freeBytes, fullHistory, isRoot, mountTmpfs, tempDir } from './lib/common.mjs';

// Fills the filesystem of `dir` with a new file `name` until only about
// `leave` bytes are free. Returns the file's path.
async function fillDisk(dir, leave, name) {
    const filler = path.join(dir, name);
    const fh = await fs.open(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    try {
        for (;;) {
            const free = await freeBytes(dir);
            if (free <= leave) break;
            const n = Math.min(chunk.length, free - leave);
            await fh.write(chunk, 0, Math.max(4096, n - (n % 4096)));
        }
    } catch (err) {
        if (err.code !== 'ENOSPC') throw err;
    } finally {
        await fh.close();
    }
    return filler;
}

function sha256(file) {
    return crypto.createHash('sha256').update(fsSync.readFileSync(file)).digest('hex');
}

// Runs the broker on `dbPath` and checks: exit 2, exactly one line on
// stderr naming the database, nothing on stdout.
async function expectRefusedStart(dbPath, what) {
    const port = await freePort();
    const res = await runBroker(['--bind', '127.0.0.1', '--port', String(port), '--db', dbPath], { timeoutMs: 10000 });
    const shown = `${what}: code ${res.code} signal ${res.signal}, stderr ${JSON.stringify(res.stderr.slice(0, 600))}`;
    assert.equal(res.timedOut, false, `${shown}: the broker did not exit`);
    assert.equal(res.code, 2, `${shown}: expected exit status 2`);
    assert.ok(res.stderr.endsWith('\n') && res.stderr.split('\n').length === 2,
        `${shown}: expected exactly one line on stderr`);
    assert.ok(res.stderr.includes(path.basename(dbPath)), `${shown}: the line does not name the database`);
    return res.stderr.trim();
}

// Starts a broker on dbPath, publishes `count` messages with `size`-byte
// data, stops it with SIGTERM (exit 0).
async function makeDatabase(t, dbPath, { count = 300, size = 400 } = {}) {
    const broker = await startBroker({ t, db: dbPath });
    const c = await connect(broker.url, { t });
    const acks = await Promise.all(Array.from({ length: count }, (_, i) =>
        c.ok({ op: 'publish', topic: `sf.mk.t${i % 7}`, data: `${i}:${'d'.repeat(size)}` }, { timeoutMs: 20000 })));
    await c.close();
    assert.equal(await broker.stop(), 0);
    return acks;
}

describe('store faults', () => {
    // A publish that cannot fit in what is left: 64 KiB of data needs more
    // pages than a failed transaction leaves allocated in the WAL.
    const HUGE = 'h'.repeat(64 * 1024);

    // Publishes huge messages until one is refused, then reads /healthz at
    // once. The store's probe may run in between (about once a second), so
    // this tries a few times. Resolves the /healthz status seen last.
    async function healthRightAfterRefusal(pub, broker, topic) {
        let status = null;
        for (let i = 0; i < 3 && status !== 503; i++) {
            const reply = await pub.request({ op: 'publish', topic, data: { probe: i, fill: HUGE } });
            assertError(reply, 'unavailable', { what: 'huge publish on a full disk' });
            status = (await httpGet(`${broker.http}/healthz`)).status;
        }
        return status;
    }

    // A broker whose database sits on a 6 MiB tmpfs filled up: through its
    // own writes up to the first refusal, then by a filler file to 0 bytes.
    async function fullDiskBroker(t) {
        const fsMount = await mountTmpfs(t, '6m');
        if (fsMount.skip) return { skip: fsMount.skip };
        const broker = await startBroker({ t, db: path.join(fsMount.dir, 'full.db') });
        return { broker, dir: fsMount.dir };
    }

    async function fillThroughPublishes(t, pub, dir, topic, acked) {
        const fillers = [await fillDisk(dir, 256 * 1024, 'filler-1')];
        const big = 'f'.repeat(4096);
        let refusal = null;
        for (let i = 0; i < 2000 && !refusal; i++) {
            const data = { i, fill: big };
            const reply = await pub.request({ op: 'publish', topic, data }, { timeoutMs: 20000 });
            if (reply.op === 'ack') acked.push({ seq: reply.seq, data });
            else refusal = reply;
        }
        assert.ok(refusal, 'the store never refused a publish on a full disk');
        assertError(refusal, 'unavailable', { what: 'publish on a full disk' });
        fillers.push(await fillDisk(dir, 0, 'filler-2'));
        t.diagnostic(`${acked.length} publishes acked before the disk was full; refusal: ${JSON.stringify(refusal)}; ` +
            `${await freeBytes(dir)} bytes free now`);
        return fillers;
    }

    it('(a) a full disk: unavailable / 503 while full, the rest keeps working, recovery once space is freed',
        { timeout: 90000 }, async (t) => {
            const { broker, dir, skip } = await fullDiskBroker(t);
            if (skip) return t.skip(skip);
            const topic = 'sf.full.a';
            const sub = await connect(broker.url, { t });
            await sub.ok({ op: 'subscribe', topic });
            const pub = await connect(broker.url, { t });
            const acked = [];
            for (let i = 0; i < 10; i++) {
                const ack = await pub.ok({ op: 'publish', topic, data: { i, before: true } });
                acked.push({ seq: ack.seq, data: { i, before: true } });
            }
            const fillers = await fillThroughPublishes(t, pub, dir, topic, acked);

            // While full: every publish that needs space is refused, over WebSocket and HTTP.
            for (let i = 0; i < 20; i++) {
                const request = { op: 'publish', topic, data: { refused: i, fill: HUGE } };
                if (i % 2 === 0) request.key = `k${i}`;
                assertError(await pub.request(request), 'unavailable', { what: `publish ${i} while full` });
            }
            const httpRes = await httpPublish(broker, { topic, data: { refused: 'http', fill: HUGE } });
            assertHttpError(httpRes, 503, 'unavailable', 'POST /api/publish while full');
            assert.equal(await healthRightAfterRefusal(pub, broker, topic), 503,
                '/healthz right after publishes were refused for a full disk');

            // ...while everything that needs no write keeps working.
            const live = await sub.collect((f) => f.op === 'message', acked.length, { timeoutMs: 20000, what: 'committed message' });
            assert.deepEqual(live.map((m) => m.seq), acked.map((a) => a.seq), 'live delivery of the committed messages');
            live.forEach((m, i) => assert.deepEqual(m.data, acked[i].data));
            await sub.sync();
            assert.equal(sub.peek((f) => f.op === 'message').length, 0, 'a refused publish was delivered');
            const other = await connect(broker.url, { t });
            await other.sync();
            const replay = await other.ok({ op: 'subscribe', topic, since: 0 });
            assert.equal(replay.replayed, acked.length, 'replay while full');
            const replayed = await other.collect((f) => f.op === 'message', acked.length, { what: 'replay while full' });
            assert.deepEqual(replayed.map((m) => m.seq), acked.map((a) => a.seq));
            const hist = await fullHistory(other, topic);
            assert.deepEqual(hist.map((m) => m.seq), acked.map((a) => a.seq), 'history while full');
            const httpHist = await httpGet(`${broker.http}/api/history?topic=${topic}&limit=5`);
            assert.equal(httpHist.status, 200, `GET /api/history while full: ${httpHist.status}`);
            assert.equal(broker.exit, null, 'the broker died on a full disk');

            // Free the space: the probe makes the store writable again.
            for (const f of fillers) await fs.unlink(f);
            await waitFor(async () => (await httpGet(`${broker.http}/healthz`)).status === 200,
                { timeoutMs: 15000, what: '/healthz 200 after freeing space' });
            const after = await pub.ok({ op: 'publish', topic, data: { after: true, fill: HUGE } });
            assert.ok(after.seq > acked.at(-1).seq, `seq after recovery ${after.seq} <= ${acked.at(-1).seq}`);
            const httpAfter = await httpPublish(broker, { topic, data: { after: 'http' } });
            assert.equal(httpAfter.status, 200, `POST /api/publish after recovery: ${httpAfter.status} ${httpAfter.text}`);
            const keyed = await pub.ok({ op: 'publish', topic, data: { refused: 0, again: true }, key: 'k0' });
            assert.ok(!keyed.duplicate, 'a key whose publish was refused counts as seen');
            acked.push({ seq: after.seq, data: { after: true, fill: HUGE } },
                { seq: httpAfter.json.seq, data: { after: 'http' } },
                { seq: keyed.seq, data: { refused: 0, again: true } });
            const fresh = await sub.collect((f) => f.op === 'message', 3, { timeoutMs: 10000, what: 'message after recovery' });
            assert.deepEqual(fresh.map((m) => m.seq), acked.slice(-3).map((a) => a.seq), 'live delivery after recovery');

            // Exactly the acked messages are stored: nothing refused.
            const final = await fullHistory(other, topic);
            assert.deepEqual(final.map((m) => m.seq), acked.map((a) => a.seq), 'history after recovery');
            final.forEach((m, i) => assert.deepEqual(m.data, acked[i].data, `data of seq ${m.seq}`));
            assert.match(broker.stderrText(), /refused|unavailable|full/i, 'the outage left no line in the log');
        });

    it('(a2) while the disk stays full, /healthz does not turn 200 for a store that refuses publishes',
        { timeout: 60000 }, async (t) => {
            const { broker, dir, skip } = await fullDiskBroker(t);
            if (skip) return t.skip(skip);
            const topic = 'sf.full.b';
            const pub = await connect(broker.url, { t });
            await fillThroughPublishes(t, pub, dir, topic, []);
            assert.equal(await healthRightAfterRefusal(pub, broker, topic), 503);
            // Watch /healthz over three probe periods; whenever it says 200,
            // check whether the store really takes a publish again.
            const deadline = Date.now() + 3000;
            const seen = [];
            while (Date.now() < deadline) {
                const status = (await httpGet(`${broker.http}/healthz`)).status;
                if (seen.at(-1) !== status) seen.push(status);
                if (status === 200) {
                    const reply = await pub.request({ op: 'publish', topic, data: { fill: HUGE } });
                    assert.equal(reply.op, 'ack', '/healthz answered 200 on a full disk while a publish right ' +
                        `after it was refused (${JSON.stringify(reply)}); health states seen: ${seen.join(' -> ')}`);
                }
                await pause(20); // the sampling interval
            }
            t.diagnostic(`/healthz states while full: ${seen.join(' -> ')}`);
        });

    it('(b1) garbage bytes as the database: exit 2, one line, file untouched', async (t) => {
        const dir = await tempDir(t);
        const garbage = path.join(dir, 'garbage.db');
        await fs.writeFile(garbage, crypto.randomBytes(64 * 1024));
        const before = sha256(garbage);
        t.diagnostic(`garbage: ${await expectRefusedStart(garbage, 'garbage file')}`);
        assert.equal(sha256(garbage), before, 'the garbage file was modified');
    });

    it('(b2) a valid database with one b-tree page overwritten: exit 2, one line, file untouched',
        { timeout: 60000 }, async (t) => {
            const dir = await tempDir(t);
            const valid = path.join(dir, 'page.db');
            await makeDatabase(t, valid);
            assert.ok(!fsSync.existsSync(`${valid}-wal`) || fsSync.statSync(`${valid}-wal`).size === 0,
                'the WAL was not checkpointed on SIGTERM (the page overwrite below would be masked)');
            const bytes = await fs.readFile(valid);
            const pageSize = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
            const pages = bytes.readUInt32BE(28);
            assert.ok(pages >= 4, `only ${pages} pages`);
            // Page 2 is the root of `messages` (the first table of schema/store.sql):
            // an interior page once the table outgrew one page.
            crypto.randomBytes(pageSize).copy(bytes, pageSize);
            await fs.writeFile(valid, bytes);
            const before = sha256(valid);
            t.diagnostic(`overwritten page: ${await expectRefusedStart(valid, 'overwritten page 2')}`);
            assert.equal(sha256(valid), before, 'the corrupt database was modified');
        });

    it('(b3) a truncated database: exit 2, one line, file untouched', { timeout: 60000 }, async (t) => {
        const dir = await tempDir(t);
        const cut = path.join(dir, 'cut.db');
        await makeDatabase(t, cut);
        const whole = await fs.readFile(cut);
        const pageSize = whole.readUInt16BE(16) === 1 ? 65536 : whole.readUInt16BE(16);
        await fs.writeFile(cut, whole.subarray(0, Math.floor(whole.length / 2 / pageSize) * pageSize));
        const before = sha256(cut);
        t.diagnostic(`truncated: ${await expectRefusedStart(cut, 'truncated database')}`);
        assert.equal(sha256(cut), before, 'the truncated database was modified');
    });

    it('(c) a database file that cannot be written (chattr +i): exit 2, one line, untouched', { timeout: 60000 }, async (t) => {
        if (!isRoot) return t.skip('needs root for chattr +i');
        const dir = await tempDir(t);
        const db = path.join(dir, 'immutable.db');
        await makeDatabase(t, db, { count: 20 });
        try {
            execFileSync('chattr', ['+i', db], { stdio: 'pipe' });
        } catch (err) {
            return t.skip(`chattr +i not supported here: ${String(err.stderr || err.message).trim()}`);
        }
        onCleanup(t, () => execFileSync('chattr', ['-i', db], { stdio: 'pipe' }));
        const before = sha256(db);
        t.diagnostic(`immutable: ${await expectRefusedStart(db, 'immutable database file')}`);
        assert.equal(sha256(db), before, 'the immutable database changed');
    });

    it('(d) a database in a directory that does not exist: exit 2, one line, nothing created', async (t) => {
        const dir = await tempDir(t);
        const missing = path.join(dir, 'no', 'such', 'dir');
        t.diagnostic(`missing dir: ${await expectRefusedStart(path.join(missing, 'x.db'), 'missing directory')}`);
        assert.equal(fsSync.existsSync(path.join(dir, 'no')), false, 'the broker created the directory');
    });
});
