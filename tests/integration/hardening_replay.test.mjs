// SPDX-License-Identifier: MIT
// hardening_replay.test.mjs: replays and history are bounded (docs/protocol.md
// section 10, docs/design.md section 3): a replay is read in chunks and sent
// as the socket drains, so subscribers that never read hold about a chunk
// each while others publish; a subscriber that reads gets the whole replay,
// in order, with no gap; a history reply stops before max_message and says
// `more`, and never closes a client that reads.
//
// Memory is the broker's VmRSS from /proc, against its own value once the
// store is filled, with a margin; nothing is timed.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { REPO_ROOT, onCleanup, procStatusBytes, scaled, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { assertAscending, httpPublish, publishMany, range, sharedBroker } from './lib/util.mjs';

const MiB = 1024 * 1024;
const MESSAGE_BYTES = 32 * 1024;
const TOPICS = 8;
const PER_TOPIC = 300;
const BATCH = 100; // messages per HTTP publish: 3.2 MB bodies
const STALLED = 5;
const RSS_MARGIN = 64 * MiB;
const WSB_BIN = process.env.WSB_BIN ? path.resolve(process.env.WSB_BIN) : path.join(REPO_ROOT, 'build', 'bin', 'wsb');

// Fills the store with TOPICS x PER_TOPIC messages of MESSAGE_BYTES (~77 MB)
// through the HTTP batch publish; resolves the seqs, ascending.
async function fillStore(broker) {
    const pad = 'x'.repeat(MESSAGE_BYTES);
    const seqs = [];
    for (let i = 0; i < TOPICS * PER_TOPIC; i += BATCH) {
        const messages = range(BATCH, i).map((n) => ({ topic: `big.t${n % TOPICS}`, data: { n, pad } }));
        const res = await httpPublish(broker, { messages }, { timeoutMs: 30000 });
        assert.equal(res.status, 200, `batch publish: ${res.text.slice(0, 200)}`);
        seqs.push(...res.json.seqs);
    }
    assertAscending(seqs, 'stored seqs');
    return seqs;
}

// A WebSocket that subscribes to `>` from the start and then stops reading:
// its socket is paused, so the kernel buffers fill and the broker's queue
// for it can only grow.
async function stalledSubscriber(broker, t) {
    const ws = new WebSocket(broker.url);
    onCleanup(t, () => ws.terminate());
    await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
    });
    ws.send(JSON.stringify({ op: 'subscribe', id: 1, topic: '>', since: 0 }));
    ws._socket.pause();
    return ws;
}

// Subscribes to `>` from the start and reads the replay, keeping only the
// seqs (not the data); resolves {ack, seqs} once `count` messages came.
function readReplay(broker, t, count) {
    const ws = new WebSocket(broker.url, { maxPayload: 16 * MiB });
    onCleanup(t, () => ws.terminate());
    let ack = null;
    const seqs = [];
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`replay: ${seqs.length} of ${count} messages`)),
            scaled(60000));
        ws.once('open', () => ws.send(JSON.stringify({ op: 'subscribe', id: 1, topic: '>', since: 0 })));
        ws.on('error', reject);
        ws.on('close', (code, reason) => reject(new Error(`closed ${code} ${reason} after ${seqs.length}`)));
        ws.on('message', (data) => {
            const frame = JSON.parse(data.toString('utf8'));
            if (frame.op === 'ack' && frame.id === 1) ack = frame;
            if (frame.op !== 'message') return;
            assert.ok(ack, 'the ack comes before the replay');
            seqs.push(frame.seq);
            if (seqs.length === count) {
                clearTimeout(timer);
                resolve({ ack, seqs });
            }
        });
    });
}

describe('paced replay', () => {
    const ctx = sharedBroker({ args: ['--durability', 'os', '--max-backlog', String(8 * MiB)] });

    it('holds bounded memory for subscribers that never read, while others publish', async (t) => {
        const stored = await fillStore(ctx.broker);
        const baseline = procStatusBytes(ctx.broker, 'VmRSS');
        t.diagnostic(`store: ${stored.length} messages, broker RSS ${Math.round(baseline / MiB)} MiB`);

        const stalled = [];
        for (let i = 0; i < STALLED; i++) stalled.push(await stalledSubscriber(ctx.broker, t));

        // The publishes are answered after the stalled replays' first reads
        // (the store answers in order), and while they wait for the sockets.
        const pub = await connect(ctx.broker.url, { t });
        const acks = await publishMany(pub, 'live.t', range(200), { window: 10, timeoutMs: 60000 });
        assert.equal(acks.length, 200);
        let peak = procStatusBytes(ctx.broker, 'VmRSS');
        const more = await publishMany(pub, 'live.t', range(200), { window: 10, timeoutMs: 60000 });
        assert.equal(more.length, 200);
        peak = Math.max(peak, procStatusBytes(ctx.broker, 'VmRSS'));
        t.diagnostic(`with ${STALLED} stalled replays: RSS ${Math.round(peak / MiB)} MiB`);
        assert.ok(peak < baseline + RSS_MARGIN,
            `RSS ${Math.round(peak / MiB)} MiB over ${Math.round((baseline + RSS_MARGIN) / MiB)} MiB`);
        for (const ws of stalled) ws.terminate();
        await waitFor(async () => (await fetch(`${ctx.broker.http}/healthz`)).ok, { what: 'healthz' });
    });

    it('sends a large replay to a subscriber that reads, whole and in order', async (t) => {
        const pub = await connect(ctx.broker.url, { t });
        const last = (await pub.ok({ op: 'publish', topic: 'live.end', data: 0 })).seq;
        // Every seq up to `last` is retained (retention keeps 1000 per topic).
        const { ack, seqs } = await readReplay(ctx.broker, t, last);
        assert.equal(ack.replayed, last, 'replayed counts the whole replay');
        assert.deepEqual(seqs, range(last, 1), 'every message once, ascending, no gap');
    });
});

describe('bounded history', () => {
    const ctx = sharedBroker({ args: ['--durability', 'os', '--max-backlog', String(4 * MiB)] });

    it('pages large messages with more:true and never closes a client that reads', async (t) => {
        const pub = await connect(ctx.broker.url, { t });
        const pad = 'h'.repeat(1000 * 1000);
        const seqs = [];
        for (let i = 0; i < 10; i++) seqs.push((await pub.ok({ op: 'publish', topic: 'hist.t', data: pad })).seq);

        const reader = await connect(ctx.broker.url, { t });
        const got = [];
        let since = 0;
        for (let pages = 0; got.length < 10; pages++) {
            assert.ok(pages < 20, 'history ends');
            const reply = await reader.ok({ op: 'history', topic: 'hist.t', since, limit: 9 }, { timeoutMs: 30000 });
            assert.ok(reply.messages.length >= 1, 'at least one message per reply');
            got.push(...reply.messages.map((m) => m.seq));
            since = got.at(-1);
            assert.equal(reply.more, got.length < 10, `more after ${got.length}`);
        }
        assert.deepEqual(got, seqs);
        assert.equal((await reader.request({ op: 'ping' })).op, 'pong');
        assert.equal(reader.closeInfo, null);
    });

    // Over the ten messages of the test above.
    it('wsb history --limit pages on until it has printed the limit', async (t) => {
        if (!fs.existsSync(WSB_BIN)) {
            t.skip(`no ${WSB_BIN}`);
            return;
        }
        const stdout = await new Promise((resolve, reject) => {
            execFile(WSB_BIN, ['history', '--url', ctx.broker.url, 'hist.t', '--limit', '9'],
                { maxBuffer: 64 * MiB, timeout: scaled(30000) },
                (err, out, errText) => (err ? reject(new Error(`${err.message}: ${errText}`)) : resolve(out)));
        });
        const lines = stdout.split('\n').filter((l) => l.length > 0);
        assert.equal(lines.length, 9, 'nine messages, over several replies');
    });
});
