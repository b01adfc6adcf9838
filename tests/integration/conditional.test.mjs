// SPDX-License-Identifier: MIT
// conditional.test.mjs: conditional publish, `expect_last` (docs/protocol.md
// section 11): checked inside the commit, in order with every other publish,
// so racing publishers see exactly one winner; `key` duplicates are
// answered before the condition; the newest seq survives kill -9; HTTP
// answers 409 and a batch with one conflict stores nothing.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { assertAck, assertError, assertHttpError, httpPublish, sharedBroker, uniqueTopic } from './lib/util.mjs';

const WSB_BIN = process.env.WSB_BIN
    ? path.resolve(process.env.WSB_BIN) : path.join(REPO_ROOT, 'build', 'bin', 'wsb');

// Runs `wsb` to its end: {code, stdout, stderr}.
function runWsb(args) {
    return new Promise((resolve) => {
        execFile(WSB_BIN, args, { timeout: 20000 }, (err, stdout, stderr) =>
            resolve({ code: err ? err.code : 0, stdout, stderr }));
    });
}

const RACERS = 20;
const ROUNDS = 1000;

// Every stored message of `topic`, oldest first (history pages of 1000).
async function wholeHistory(client, topic) {
    const all = [];
    for (let since = 0; ;) {
        const h = await client.ok({ op: 'history', topic, since, limit: 1000 }, { timeoutMs: 20000 });
        all.push(...h.messages);
        if (!h.more) return all;
        since = h.messages[h.messages.length - 1].seq;
    }
}

describe('conditional publish', () => {
    const ctx = sharedBroker({ args: ['--retain', '5000'] });

    it('welcome lists expect_last in features', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        assert.ok(Array.isArray(c.welcome.features), JSON.stringify(c.welcome));
        assert.ok(c.welcome.features.includes('expect_last'));
    });

    it('stores only when the newest seq matches, else conflict with last', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('cp.one');
        const wrong = await c.request({ op: 'publish', topic, data: 1, expect_last: 7 });
        assertError(wrong, 'conflict');
        assert.equal(wrong.last, 0);
        const first = await c.ok({ op: 'publish', topic, data: 1, expect_last: 0 });
        const stale = await c.request({ op: 'publish', topic, data: 2, expect_last: 0 });
        assertError(stale, 'conflict');
        assert.equal(stale.last, first.seq);
        const second = await c.ok({ op: 'publish', topic, data: 2, expect_last: first.seq });
        assert.ok(second.seq > first.seq);
        const h = await c.ok({ op: 'history', topic });
        assert.deepEqual(h.messages.map((m) => m.data), [1, 2]);
    });

    it('a conflict without id still gets an error', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('cp.noid');
        c.send({ op: 'publish', topic, data: 1, expect_last: 3 });
        const e = await c.next((f) => f.op === 'error');
        assert.equal(e.code, 'conflict');
        assert.equal(e.id, undefined);
        assert.equal(e.last, 0);
    });

    it('rejects an expect_last that is not an integer >= 0', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('cp.bad');
        for (const bad of [-1, 'x', 1.5, null, true]) {
            assertError(await c.request({ op: 'publish', topic, data: 1, expect_last: bad }), 'bad_request');
        }
        const h = await c.ok({ op: 'history', topic });
        assert.deepEqual(h.messages, []);
    });

    it(`${RACERS} connections racing ${ROUNDS} rounds: one winner each, no gap, key retries are duplicates`, async (t) => {
        const clients = await Promise.all(Array.from({ length: RACERS }, () => connect(ctx.broker.url, { t })));
        const topic = uniqueTopic('cp.race');
        let last = 0;
        const winners = [];
        for (let round = 0; round < ROUNDS; round++) {
            const key = (i) => `r${round}-c${i}`;
            const replies = await Promise.all(clients.map((c, i) =>
                c.request({ op: 'publish', topic, data: { round, i }, key: key(i), expect_last: last }, { timeoutMs: 20000 })));
            const won = replies.map((r, i) => [r, i]).filter(([r]) => r.op === 'ack');
            assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(replies)}`);
            for (const r of replies) {
                if (r.op === 'ack') continue;
                assert.equal(r.code, 'conflict', JSON.stringify(r));
                assert.equal(r.last, won[0][0].seq, 'a loser learns the winner');
            }
            const [ack, winner] = won[0];
            assert.notEqual(ack.duplicate, true);
            if (round % 50 === 0) {
                // The winner's retry: a duplicate, though its expect_last is stale now.
                const again = await clients[winner].request({ op: 'publish', topic, data: { round, i: winner }, key: key(winner), expect_last: last });
                assertAck(again);
                assert.equal(again.seq, ack.seq);
                assert.equal(again.duplicate, true);
                // A loser's retry: its key was not taken by the conflict.
                const loser = (winner + 1) % RACERS;
                assertError(await clients[loser].request({ op: 'publish', topic, data: 0, key: key(loser), expect_last: last }), 'conflict');
            }
            winners.push(ack.seq);
            last = ack.seq;
        }
        const stored = await wholeHistory(clients[0], topic);
        assert.deepEqual(stored.map((m) => m.seq), winners, 'the history is exactly the chain of winners');
    });
});

describe('conditional publish over HTTP', () => {
    const ctx = sharedBroker();

    it('409 conflict with last; a batch with one conflict stores nothing', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('cp.http');
        const ok = await httpPublish(ctx.broker, { topic, data: 1, expect_last: 0 });
        assert.equal(ok.status, 200, ok.text);
        const seq = ok.json.seq;
        const stale = await httpPublish(ctx.broker, { topic, data: 2, expect_last: 0 });
        assertHttpError(stale, 409, 'conflict');
        assert.equal(stale.json.error.last, seq);

        const batch = await httpPublish(ctx.broker, {
            messages: [
                { topic, data: 'a', expect_last: seq },
                { topic: uniqueTopic('cp.other'), data: 'b' },
                { topic, data: 'c', expect_last: seq },
            ],
        });
        assertHttpError(batch, 409, 'conflict');
        assert.equal(batch.json.error.last, seq + 1, 'the batch\'s own first message counts');
        const h = await c.ok({ op: 'history', topic });
        assert.deepEqual(h.messages.map((m) => m.seq), [seq], 'nothing of the batch stored');

        const chained = await httpPublish(ctx.broker, {
            messages: [{ topic, data: 'a', expect_last: seq }, { topic, data: 'c', expect_last: seq + 1 }],
        });
        assert.equal(chained.status, 200, chained.text);
        assert.deepEqual(chained.json.seqs, [seq + 1, seq + 2]);

        assertHttpError(await httpPublish(ctx.broker, { topic, data: 1, expect_last: -3 }), 400, 'bad_request');
    });
});

describe('wsb pub --expect-last', () => {
    const ctx = sharedBroker();

    it('publishes on the newest seq, exits 1 on a conflict and says the newest seq', async () => {
        const topic = uniqueTopic('cp.cli');
        const first = await runWsb(['pub', '--url', ctx.broker.url, '--expect-last', '0', topic, '1']);
        assert.equal(first.code, 0, first.stderr);
        const seq = JSON.parse(first.stdout).seq;
        const stale = await runWsb(['pub', '--url', ctx.broker.url, '--expect-last', '0', topic, '2']);
        assert.equal(stale.code, 1);
        assert.match(stale.stderr, new RegExp(`conflict: .*\\(last ${seq}\\)`));
        const next = await runWsb(['pub', '--url', ctx.broker.url, '--expect-last', String(seq), topic, '3']);
        assert.equal(next.code, 0, next.stderr);
        const usage = await runWsb(['pub', '--url', ctx.broker.url, '--expect-last', 'x', topic, '3']);
        assert.equal(usage.code, 2);
    });
});

describe('conditional publish across kill -9', () => {
    it('the newest seq is still known after a restart on the same db', async (t) => {
        const broker = await startBroker({ t });
        const topic = uniqueTopic('cp.kill');
        let c = await connect(broker.url, { t });
        let last = 0;
        for (let i = 0; i < 5; i++) last = (await c.ok({ op: 'publish', topic, data: i, expect_last: last })).seq;
        await c.close();
        await broker.kill9();
        await broker.restart();
        c = await connect(broker.url, { t });
        const stale = await c.request({ op: 'publish', topic, data: 'x', expect_last: last - 1 });
        assertError(stale, 'conflict');
        assert.equal(stale.last, last);
        const next = await c.ok({ op: 'publish', topic, data: 'y', expect_last: last });
        assert.ok(next.seq > last);
    });
});
