// SPDX-License-Identifier: MIT
// fsync.test.mjs: "fsync before ack" (docs/design.md invariant 1:
// --durability full, the default, acks a publish only after the COMMIT that
// fsyncs the WAL; section 4).
//
// 1. Under strace: several publishers; from the trace, for every publish
//    ack the broker sent, an fsync/fdatasync of the WAL completed after the
//    WAL write that carried the message and before the send of its ack
//    (lib/strace.mjs). The same check on a `--durability os` broker must
//    report "no fsync": the check can fail.
// 2. A simulated power cut (powercut_shim.c, LD_PRELOAD): every write to
//    the database files after their last fsync is dropped, then the broker
//    restarts on what is left: every acked message must be there, with the
//    same seq, data and epoch. With `--durability os` the same cut loses
//    acked messages: the test detects the absence of fsync-before-ack.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, onCleanup } from '../integration/lib/broker.mjs';
import { connect } from '../integration/lib/client.mjs';
import { checkFsyncBeforeAck, parseTrace } from './lib/strace.mjs';
import { WrappedBroker, fullHistory, prng, randInt, runSeed, startWrapped, tempDir } from './lib/common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function haveCommand(cmd) {
    try {
        execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
        return true;
    } catch {
        return false;
    }
}

// Publishes `count` messages from each of `publishers` connections (window
// of `window` in flight each); every message's data is a unique marker.
// Resolves [{seq, marker}] of the acked ones.
async function publishMarked(t, url, { publishers, count, window, tag, topicOf = (k) => `fs.${tag}.p${k}` }) {
    const clients = [];
    for (let k = 0; k < publishers; k++) clients.push(await connect(url, { t }));
    const acked = [];
    await Promise.all(clients.map(async (c, k) => {
        let next = 0;
        const lane = async () => {
            while (next < count) {
                const i = next++;
                const marker = `MK${tag}x${k}x${i}x${Math.random().toString(36).slice(2, 10)}`;
                const reply = await c.request({ op: 'publish', topic: topicOf(k), data: marker }, { timeoutMs: 30000 });
                assert.equal(reply.op, 'ack', `publish: ${JSON.stringify(reply)}`);
                acked.push({ seq: reply.seq, marker, topic: topicOf(k) });
            }
        };
        await Promise.all(Array.from({ length: window }, lane));
    }));
    await Promise.all(clients.map((c) => c.close()));
    return acked;
}

async function tracedRun(t, durability) {
    const dir = await tempDir(t);
    const dbPath = path.join(dir, 'trace.db');
    const traceFile = path.join(dir, 'trace.txt');
    const wrap = ['strace', '-f', '-ttt', '-y', '-xx', '-s', '1048576', '-o', traceFile,
        '-e', 'trace=openat,fsync,fdatasync,pwrite64,write,writev,sendto,sendmsg'];
    const broker = await startWrapped(t, { dir, dbPath, args: ['--durability', durability], wrap });
    const acked = await publishMarked(t, broker.url, { publishers: 3, count: 150, window: 10, tag: durability });
    const exit = await broker.stop();
    assert.equal(exit.code, 0, `traced broker exit ${JSON.stringify(exit)}: ${broker.stderr.slice(-2000)}`);
    const text = await fs.readFile(traceFile, 'latin1');
    return { acked, result: checkFsyncBeforeAck(text, `${dbPath}-wal`, acked) };
}

function tally(verdicts) {
    const out = {};
    for (const v of verdicts) out[v.verdict] = (out[v.verdict] ?? 0) + 1;
    return out;
}

// strace installed and allowed to trace (ptrace may be denied in a container).
function straceUsable() {
    if (!haveCommand('strace')) return 'strace is not installed (run.sh installs it)';
    try {
        execFileSync('strace', ['-f', '-o', '/dev/null', 'true'], { stdio: 'pipe' });
        return false;
    } catch (err) {
        return `strace cannot trace here: ${String(err.stderr || err.message).trim().split('\n')[0]}`;
    }
}

describe('fsync before ack (strace)', { skip: straceUsable() }, () => {
    it('--durability full: every publish ack is sent after an fsync of the WAL that followed the message\'s write',
        { timeout: 120000 }, async (t) => {
            const { acked, result } = await tracedRun(t, 'full');
            const counts = tally(result.verdicts);
            t.diagnostic(`${acked.length} acks; ${result.walWrites} WAL writes, ${result.walSyncs} WAL syncs, ` +
                `${result.sends} socket sends; verdicts ${JSON.stringify(counts)}`);
            assert.ok(result.walSyncs > 0, 'the trace holds no fsync of the WAL at all');
            const bad = result.verdicts.filter((v) => v.verdict !== 'ok');
            assert.equal(bad.length, 0, `acks without fsync before them: ${bad.slice(0, 5).map((v) => v.detail).join('; ')}`);
            assert.equal(counts.ok, acked.length);
        });

    it('--durability os: the same check reports "no fsync" (the check can fail)', { timeout: 120000 }, async (t) => {
        const { acked, result } = await tracedRun(t, 'os');
        const counts = tally(result.verdicts);
        t.diagnostic(`${acked.length} acks; ${result.walWrites} WAL writes, ${result.walSyncs} WAL syncs; ` +
            `verdicts ${JSON.stringify(counts)}`);
        // The WAL writes and the ack sends were found: only the fsync is missing.
        assert.equal((counts['no wal write'] ?? 0) + (counts['no ack send'] ?? 0), 0,
            `the checker could not place some messages: ${JSON.stringify(counts)}`);
        assert.equal(counts['no fsync'], acked.length, `expected "no fsync" for every ack, got ${JSON.stringify(counts)}`);
    });

    it('the checker judges by order: write, then a completed fsync, then the send', () => {
        const hex = (s) => [...Buffer.from(s, 'latin1')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
        const wal = '/d/x.db-wal';
        const fdw = `4<${hex(wal)}>`;
        const sock = `9<${hex('socket:[1]')}>`;
        const write = (m) => `10 1.000 pwrite64(${fdw}, "${hex(`..${m}..`)}", 6, 0) = 6`;
        const sync = `11 1.000 fdatasync(${fdw}) = 0`;
        const syncStart = `11 1.000 fdatasync(${fdw} <unfinished ...>`;
        const syncEnd = '11 1.000 <... fdatasync resumed>) = 0';
        const ack = (seq) => `10 1.000 sendto(${sock}, "${hex(`\x81\x1c{"op":"ack","id":1,"seq":${seq}}`)}", 30, MSG_NOSIGNAL, NULL, 0) = 30`;
        const check = (lines) => checkFsyncBeforeAck(lines.join('\n'), wal, [{ seq: 7, marker: 'MK1' }]).verdicts[0].verdict;
        assert.equal(check([write('MK1'), sync, ack(7)]), 'ok');
        assert.equal(check([write('MK1'), syncStart, syncEnd, ack(7)]), 'ok');
        assert.equal(check([sync, write('MK1'), ack(7)]), 'no fsync');
        assert.equal(check([write('MK1'), ack(7), sync]), 'no fsync');
        assert.equal(check([write('MK1'), syncStart, ack(7), syncEnd]), 'no fsync');
        assert.equal(check([write('MK2'), sync, ack(7)]), 'no wal write');
        assert.equal(check([write('MK1'), sync, ack(8)]), 'no ack send');
        assert.equal(parseTrace([write('MK1'), syncStart, ack(7), syncEnd].join('\n')).length, 3);
    });
});

// ---- Power cut -----------------------------------------------------------

async function shimPath(t) {
    if (process.env.WSB_POWERCUT_SHIM) return process.env.WSB_POWERCUT_SHIM;
    if (!haveCommand('cc')) return null;
    const dir = await tempDir(t, 'wsbroker-shim-');
    const out = path.join(dir, 'powercut_shim.so');
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', out, path.join(here, 'powercut_shim.c'), '-ldl', '-lpthread'],
        { stdio: 'pipe' });
    return out;
}

const RETAIN_ALL = 1000000; // messages kept per topic in the power-cut rounds

// Starts a broker with the shim on dir/db and publishes with several
// publishers. The power is cut through the FIFO once `cutAfterAcks` acks
// arrived, or by the shim itself right after WAL write `afterWalWrites`
// (mid-transaction). Resolves {acked, lines, epoch, walDropped} once the
// process died.
async function powerCutRound(t, { shim, dir, dbPath, durability, round, cutAfterAcks, afterWalWrites }) {
    const fifo = path.join(dir, `cut-${round}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const broker = new WrappedBroker({
        // Retention must not remove what the check looks for: a round may ack
        // thousands of messages per topic before its cut.
        dir, dbPath, port: await freePort(), args: ['--durability', durability, '--retain', String(RETAIN_ALL)],
        env: {
            LD_PRELOAD: shim, WSB_POWERCUT_DIR: dir, WSB_POWERCUT_FIFO: fifo,
            WSB_POWERCUT_AFTER_WAL_WRITES: String(afterWalWrites ?? 0),
        },
    });
    onCleanup(t, () => broker.kill9(), { last: true });
    await broker.start();
    const clients = [];
    for (let k = 0; k < 3; k++) clients.push(await connect(broker.url, { t }));
    const epoch = clients[0].welcome.epoch;
    const acked = [];
    let cut = null;
    let cutAt = 0;
    const doCut = () => {
        if (!cut) {
            cutAt = Date.now();
            cut = fs.writeFile(fifo, 'cut\n');
        }
        return cut;
    };
    await Promise.all(clients.map(async (c, k) => {
        let i = 0;
        const lane = async () => {
            for (;;) {
                if (cut && Date.now() - cutAt > 10000) return; // the shim did not cut: reported below
                const data = { round, k, i: i++ };
                let reply;
                try {
                    reply = await c.request({ op: 'publish', topic: `pc.r${round}.p${k}`, data }, { timeoutMs: 20000 });
                } catch {
                    return; // the power is gone
                }
                assert.equal(reply.op, 'ack', JSON.stringify(reply));
                acked.push({ seq: reply.seq, topic: `pc.r${round}.p${k}`, data });
                if (acked.length >= cutAfterAcks) doCut();
            }
        };
        await Promise.all(Array.from({ length: 20 }, lane));
    }));
    await Promise.race([broker.exited, new Promise((resolve) => setTimeout(resolve, 10000).unref())]);
    assert.equal(broker.exit?.signal, 'SIGKILL', `the shim did not cut: ${JSON.stringify(broker.exit)} ${broker.stderr.slice(-1500)}`);
    const lines = broker.stderr.split('\n').filter((l) => l.startsWith('powercut:'));
    assert.ok(lines.includes('powercut: cut done'), `no cut report: ${broker.stderr.slice(-1500)}`);
    const wal = lines.map((l) => l.match(/^powercut: (.*)-wal: dropped (\d+) unsynced/))
        .find((m) => m && m[1] === dbPath);
    assert.ok(wal, `the shim did not track the WAL: ${lines.join(' | ')}`);
    return { acked, lines, epoch, walDropped: Number(wal[2]) };
}

// Starts a plain broker on what the cut left; resolves {epoch, lost, present}.
async function afterCut(t, { dir, dbPath, acked, prefix }) {
    const broker = new WrappedBroker({ dir, dbPath, port: await freePort(), args: ['--retain', String(RETAIN_ALL)] });
    onCleanup(t, () => broker.stop(), { last: true });
    await broker.start();
    const c = await connect(broker.url, { t });
    const stored = await fullHistory(c, `${prefix}.>`);
    const bySeq = new Map(stored.map((m) => [m.seq, m]));
    const lost = [];
    for (const a of acked) {
        const m = bySeq.get(a.seq);
        if (!m) {
            lost.push(a);
            continue;
        }
        assert.equal(m.topic, a.topic, `seq ${a.seq}: topic`);
        assert.deepEqual(m.data, a.data, `seq ${a.seq}: data`);
    }
    const epoch = c.welcome.epoch;
    const newest = c.welcome.seq;
    await c.close();
    const exit = await broker.stop();
    assert.equal(exit.code, 0, `broker after the cut exited ${JSON.stringify(exit)}: ${broker.stderr.slice(-1500)}`);
    return { epoch, newest, lost, stored: stored.length };
}

describe('power cut (LD_PRELOAD shim drops every write not yet fsynced)', () => {
    it('--durability full: after each cut every acked message is there, same seq, data and epoch',
        { timeout: 120000 }, async (t) => {
            const shim = await shimPath(t);
            if (!shim) return t.skip('no C compiler to build powercut_shim.c');
            const seed = runSeed();
            t.diagnostic(`seed ${seed}`);
            const rand = prng(seed);
            const dir = await tempDir(t);
            const dbPath = path.join(dir, 'power.db');
            const everAcked = [];
            let epoch = null;
            let midTransaction = 0;
            for (let round = 0; round < 6; round++) {
                // Even rounds: cut from outside after some acks; odd: inside a transaction.
                const byWrites = round % 2 === 1;
                const cutAfterAcks = byWrites ? 100000 : randInt(rand, 50, 1500);
                const afterWalWrites = byWrites ? randInt(rand, 20, 800) : 0;
                const cut = await powerCutRound(t, {
                    shim, dir, dbPath, durability: 'full', round, cutAfterAcks, afterWalWrites,
                });
                if (byWrites) {
                    assert.ok(cut.walDropped > 0, `round ${round}: the cut after WAL write ${afterWalWrites} ` +
                        'dropped no WAL write');
                    midTransaction++;
                }
                epoch ??= cut.epoch;
                assert.equal(cut.epoch, epoch, `round ${round}: epoch changed after an earlier cut`);
                everAcked.push(...cut.acked);
                const maxAcked = Math.max(...everAcked.map((a) => a.seq));
                const res = await afterCut(t, { dir, dbPath, acked: everAcked, prefix: 'pc' });
                t.diagnostic(`round ${round}: cut ${byWrites ? `after WAL write ${afterWalWrites}` : `after ${cutAfterAcks} acks`}, ` +
                    `${cut.acked.length} acked, ` +
                    `${res.stored} stored after the cut; ${cut.lines.filter((l) => l.includes('dropped')).join('; ')}`);
                assert.equal(res.epoch, epoch, `round ${round}: epoch changed by the power cut`);
                assert.equal(res.lost.length, 0, `round ${round}: ${res.lost.length} ACKED messages lost by the power ` +
                    `cut, e.g. seq ${res.lost.slice(0, 5).map((a) => a.seq).join(', ')}`);
                assert.ok(res.newest >= maxAcked, `round ${round}: welcome.seq ${res.newest} < acked ${maxAcked}`);
                if (!fsSync.existsSync(dbPath)) assert.fail('database file gone');
            }
            assert.equal(midTransaction, 3);
        });

    it('--durability os: the same cut loses acked messages (the test detects missing fsyncs)',
        { timeout: 120000 }, async (t) => {
            const shim = await shimPath(t);
            if (!shim) return t.skip('no C compiler to build powercut_shim.c');
            const dir = await tempDir(t);
            const dbPath = path.join(dir, 'power-os.db');
            const cut = await powerCutRound(t, { shim, dir, dbPath, durability: 'os', round: 0, cutAfterAcks: 300 });
            const res = await afterCut(t, { dir, dbPath, acked: cut.acked, prefix: 'pc' });
            t.diagnostic(`${cut.acked.length} acked, ${res.lost.length} lost, epoch ${cut.epoch} -> ${res.epoch}; ` +
                `${cut.lines.filter((l) => l.includes('dropped')).join('; ')}`);
            assert.ok(res.lost.length > 0, 'no acked message lost without fsync: the power cut simulation is not biting');
        });
});
