// SPDX-License-Identifier: MIT
// backup.test.mjs: online backups (docs/operations.md section 4): POST
// /api/backup under publish load, the copy checked with SQLite's
// integrity_check and opened by a second broker that finds every message
// acknowledged before the backup began, under an epoch of its own; the
// refusals (no --backup-dir: 403, outside it: 403, an existing file: 409, a
// bad body: 400); and `wsb backup FILE` with WSB_URL.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, onCleanup, scaled, startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { history, publishOk } from './lib/http_api.mjs';
import { SECRET, claims, hs256 } from './lib/jwt.mjs';
import { assertHttpError, httpRequest, range, uniqueTopic } from './lib/util.mjs';

const WSB_BIN = process.env.WSB_BIN
    ? path.resolve(process.env.WSB_BIN) : path.join(REPO_ROOT, 'build', 'bin', 'wsb');
const RETAIN = ['--retain', '1000000'];

async function tempDir(t) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-backup-'));
    onCleanup(t, () => fs.rm(dir, { recursive: true, force: true }));
    return dir;
}

function postBackup(broker, body, { timeoutMs = 60000 } = {}) {
    return httpRequest(`${broker.http}/api/backup`, { method: 'POST', body, timeoutMs });
}

// Every seq stored on `topic`, by pages of history.
async function storedSeqs(broker, topic) {
    const seqs = new Set();
    let since = 0;
    for (;;) {
        const page = await history(broker, { topic, since, limit: 1000 });
        for (const m of page.messages) seqs.add(m.seq);
        if (!page.more || page.messages.length === 0) return seqs;
        since = page.messages.at(-1).seq;
    }
}

// Publishes on `topic` from `lanes` lanes until stop() is called; `acked`
// gets every acknowledged seq as it comes.
function publishLoad(client, topic, { lanes = 8 } = {}) {
    const acked = new Set();
    let stopping = false;
    let n = 0;
    const lane = async () => {
        while (!stopping) {
            const reply = await client.request({ op: 'publish', topic, data: { n: n++, pad: 'x'.repeat(200) } },
                { timeoutMs: 20000 });
            assert.equal(reply.op, 'ack', JSON.stringify(reply));
            acked.add(reply.seq);
        }
    };
    const running = Promise.all(range(lanes).map(lane));
    return { acked, stop: async () => { stopping = true; await running; } };
}

function runWsb(args, env) {
    return new Promise((resolve) => {
        const proc = spawn(WSB_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
        let stdout = '';
        let stderr = '';
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => proc.kill('SIGKILL'), scaled(60000));
        proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
}

describe('backup', () => {
    it('under publish load: a whole copy with every message acknowledged before it', async (t) => {
        const dir = await tempDir(t);
        const broker = await startBroker({ t, args: ['--backup-dir', dir, ...RETAIN] });
        const topic = uniqueTopic('bk.load');
        // A store of a few MB, so that the copy takes many slices.
        const pad = 'p'.repeat(1000);
        for (let batch = 0; batch < 4; batch++) {
            await publishOk(broker, { messages: range(1000).map((i) => ({ topic, data: { i, pad } })) });
        }
        const client = await connect(broker.url, { t });
        const load = publishLoad(client, topic);
        while (load.acked.size < 200) await new Promise((r) => setTimeout(r, 5));
        const ackedBefore = new Set(load.acked);
        const res = await postBackup(broker, { path: 'copy.db' });
        const duringCount = load.acked.size - ackedBefore.size;
        await load.stop();
        assert.equal(res.status, 200, res.text);
        const copy = path.join(await fs.realpath(dir), 'copy.db');
        assert.equal(res.json.path, copy);
        assert.ok(res.json.bytes > 4_000_000, `bytes ${res.json.bytes}`);
        assert.ok(res.json.seq >= Math.max(...ackedBefore), `seq ${res.json.seq}`);
        t.diagnostic(`${duringCount} publishes acknowledged while the copy ran`);
        assert.deepEqual((await fs.readdir(dir)).sort(), ['copy.db'], 'no partial file left');
        assert.equal(execFileSync('sqlite3', [copy, 'PRAGMA integrity_check']).toString().trim(), 'ok');

        const second = await startBroker({ t, db: copy, args: RETAIN });
        const c2 = await connect(second.url, { t });
        assert.notEqual(c2.welcome.epoch, client.welcome.epoch, 'the copy has an epoch of its own');
        assert.equal(c2.welcome.seq, res.json.seq);
        const stored = await storedSeqs(second, topic);
        const missing = [...ackedBefore].filter((seq) => !stored.has(seq));
        assert.deepEqual(missing, [], 'acknowledged before the backup, missing from the copy');
        assert.ok(stored.size >= 4000 + ackedBefore.size);
    });

    it('is refused without --backup-dir (403), outside it (403), onto a file (409), for a bad body (400)',
        async (t) => {
            const off = await startBroker({ t });
            assertHttpError(await postBackup(off, { path: 'x.db' }), 403, 'forbidden');
            const dir = await tempDir(t);
            const outside = await tempDir(t);
            await fs.mkdir(path.join(dir, 'sub'));
            await fs.symlink(outside, path.join(dir, 'link'));
            const broker = await startBroker({ t, args: ['--backup-dir', dir] });
            for (const p of [path.join(outside, 'x.db'), '../x.db', 'link/x.db', '/etc/x.db']) {
                assertHttpError(await postBackup(broker, { path: p }), 403, 'forbidden', p);
            }
            for (const body of [{}, { path: 7 }, { path: '' }, { path: 'sub/' }, { path: 'none/x.db' }, '[1']) {
                assertHttpError(await postBackup(broker, body), 400, 'bad_request', JSON.stringify(body));
            }
            assert.equal((await postBackup(broker, { path: 'sub/a.db' })).status, 200);
            assertHttpError(await postBackup(broker, { path: 'sub/a.db' }), 409, 'bad_request');
            assert.deepEqual(await fs.readdir(outside), [], 'nothing written outside');
            const inDbDir = await startBroker({ t, args: ['--backup-dir', '.'] }); // cwd: the db's directory
            assertHttpError(await postBackup(inDbDir, { path: 'x.db' }), 403, 'forbidden');
        });

    it('with auth configured a backup needs the API key: 401 without, 403 with a token, 200 with the key',
        async (t) => {
            const dir = await tempDir(t);
            const broker = await startBroker({ t, args: ['--backup-dir', dir, '--api-key', 'k-admin', '--auth-secret', SECRET] });
            assertHttpError(await postBackup(broker, { path: 'a.db' }), 401, 'unauthorized');
            const token = hs256(claims({ sub: 'u', subscribe: ['>'], publish: ['>'] }));
            const asUser = await httpRequest(`${broker.http}/api/backup`, {
                method: 'POST', body: { path: 'a.db' }, headers: { authorization: `Bearer ${token}` } });
            assertHttpError(asUser, 403, 'forbidden');
            const asAdmin = await httpRequest(`${broker.http}/api/backup`, {
                method: 'POST', body: { path: 'a.db' }, headers: { authorization: 'Bearer k-admin' } });
            assert.equal(asAdmin.status, 200, asAdmin.text);
            assert.deepEqual(await fs.readdir(dir), ['a.db']);
        });

    it('wsb backup FILE takes the broker from WSB_URL and prints the answer', async (t) => {
        const dir = await tempDir(t);
        const broker = await startBroker({ t, args: ['--backup-dir', dir] });
        const topic = uniqueTopic('bk.cli');
        const { seq } = await publishOk(broker, { topic, data: 'kept' });
        const ok = await runWsb(['backup', 'cli.db'], { WSB_URL: broker.url });
        assert.equal(ok.code, 0, ok.stderr);
        const answer = JSON.parse(ok.stdout);
        assert.equal(answer.seq, seq);
        assert.equal(answer.path, path.join(await fs.realpath(dir), 'cli.db'));
        const again = await runWsb(['backup', '--url', broker.url, 'cli.db'], { WSB_URL: 'ws://127.0.0.1:1/ws' });
        assert.equal(again.code, 1, 'the flag wins over WSB_URL; the file exists: refused');
        assert.match(again.stderr, /409/);
    });
});
