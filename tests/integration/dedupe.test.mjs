// SPDX-License-Identifier: MIT
// dedupe.test.mjs: idempotent publish with `key` (docs/protocol.md section 4
// "Publish" and section 10 "Dedupe window"), also across a restart.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { assertAck, assertError, isMessage, sharedBroker, uniqueTopic } from './lib/util.mjs';

describe('dedupe', () => {
    const ctx = sharedBroker();

    it('a second publish with the same key acks the original seq with duplicate:true', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('dd.a');
        await s.ok({ op: 'subscribe', topic });
        const first = await p.request({ op: 'publish', topic, data: { v: 1 }, key: 'order-17' });
        assertAck(first);
        assert.notEqual(first.duplicate, true, 'first publish is not a duplicate');
        const second = await p.request({ op: 'publish', topic, data: { v: 2 }, key: 'order-17' });
        assertAck(second);
        assert.equal(second.seq, first.seq);
        assert.equal(second.duplicate, true);
        const third = await p.request({ op: 'publish', topic, data: { v: 1 }, key: 'order-17' });
        assert.equal(third.seq, first.seq);
        assert.equal(third.duplicate, true);
        const end = await p.ok({ op: 'publish', topic, data: 'end' });
        const got = await s.collectUntil(isMessage(topic), (m) => m.data === 'end');
        assert.deepEqual(got.map((m) => m.seq), [first.seq, end.seq], 'delivered once');
        assert.deepEqual(got[0].data, { v: 1 }, 'the original data');
        const h = await p.ok({ op: 'history', topic });
        assert.deepEqual(h.messages.map((m) => m.seq), [first.seq, end.seq], 'stored once');
    });

    it('the same key on another topic is a new message', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const a = uniqueTopic('dd.x');
        const b = uniqueTopic('dd.y');
        const ra = await p.ok({ op: 'publish', topic: a, data: 1, key: 'same' });
        const rb = await p.ok({ op: 'publish', topic: b, data: 1, key: 'same' });
        assert.notEqual(rb.seq, ra.seq);
        assert.notEqual(rb.duplicate, true);
        assert.ok(rb.seq > ra.seq);
    });

    it('publishes without key are never deduplicated', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('dd.nokey');
        const r1 = await p.ok({ op: 'publish', topic, data: 'same' });
        const r2 = await p.ok({ op: 'publish', topic, data: 'same' });
        assert.ok(r2.seq > r1.seq);
        assert.notEqual(r2.duplicate, true);
    });

    it('dedupe holds across connections and for concurrent retries', async (t) => {
        const p1 = await connect(ctx.broker.url, { t });
        const p2 = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('dd.conc');
        const replies = await Promise.all([
            p1.request({ op: 'publish', topic, data: 1, key: 'k1' }),
            p2.request({ op: 'publish', topic, data: 1, key: 'k1' }),
            p1.request({ op: 'publish', topic, data: 1, key: 'k1' }),
            p2.request({ op: 'publish', topic, data: 1, key: 'k1' }),
        ]);
        replies.forEach((r) => assertAck(r));
        const seqs = new Set(replies.map((r) => r.seq));
        assert.equal(seqs.size, 1, `one seq for one key: ${JSON.stringify(replies)}`);
        assert.equal(replies.filter((r) => r.duplicate === true).length, 3);
        const h = await p1.ok({ op: 'history', topic });
        assert.equal(h.messages.length, 1);
    });

    it('a non-string key is bad_request', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('dd.badkey');
        assertError(await p.request({ op: 'publish', topic, data: 1, key: 5 }), 'bad_request');
        assertError(await p.request({ op: 'publish', topic, data: 1, key: { k: 1 } }), 'bad_request');
        const h = await p.ok({ op: 'history', topic });
        assert.deepEqual(h.messages, [], 'nothing stored');
    });
});

describe('dedupe across restarts', () => {
    it('survives SIGTERM and kill -9', async (t) => {
        const broker = await startBroker({ t });
        const topic = uniqueTopic('dd.restart');
        let p = await connect(broker.url, { t });
        const first = await p.ok({ op: 'publish', topic, data: 'once', key: 'k-restart' });
        const killed = await p.ok({ op: 'publish', topic, data: 'once', key: 'k-killed' });
        await p.close();

        assert.equal(await broker.stop(), 0);
        await broker.restart();
        p = await connect(broker.url, { t });
        const again = await p.request({ op: 'publish', topic, data: 'twice', key: 'k-restart' });
        assertAck(again);
        assert.equal(again.seq, first.seq);
        assert.equal(again.duplicate, true);

        await broker.kill9();
        await broker.restart();
        p = await connect(broker.url, { t });
        const again2 = await p.request({ op: 'publish', topic, data: 'twice', key: 'k-killed' });
        assertAck(again2);
        assert.equal(again2.seq, killed.seq);
        assert.equal(again2.duplicate, true);
        const h = await p.ok({ op: 'history', topic });
        assert.deepEqual(h.messages.map((m) => m.data), ['once', 'once']);
    });
});
