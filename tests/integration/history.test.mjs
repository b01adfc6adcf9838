// SPDX-License-Identifier: MIT
// history.test.mjs: the `history` request (docs/protocol.md section 4 and 10):
// default limit 100, limit and `more`, since, patterns, the 1000 maximum,
// `recovered`, and binary messages as base64.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import { assertAck, assertError, publishMany, range, sharedBroker, uniqueTopic } from './lib/util.mjs';

function assertMessageObject(m, topic) {
    assert.equal(m.op, 'message', JSON.stringify(m));
    if (topic) assert.equal(m.topic, topic);
    assert.ok(Number.isSafeInteger(m.seq), JSON.stringify(m));
    assert.ok(Number.isSafeInteger(m.ts), JSON.stringify(m));
    assert.ok('data' in m, JSON.stringify(m));
}

describe('history', () => {
    const ctx = sharedBroker();

    it('without since starts at the oldest message; default limit 100 with more', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('hi.def');
        const acks = await publishMany(c, topic, range(150).map((i) => ({ i })), { window: 50 });
        const seqs = acks.map((a) => a.seq);
        const h = await c.request({ op: 'history', topic });
        assertAck(h);
        assert.ok(Array.isArray(h.messages));
        assert.equal(h.messages.length, 100);
        assert.equal(h.more, true);
        assert.equal(h.recovered, true);
        h.messages.forEach((m) => assertMessageObject(m, topic));
        assert.deepEqual(h.messages.map((m) => m.seq), seqs.slice(0, 100));
        assert.deepEqual(h.messages.map((m) => m.data), range(100).map((i) => ({ i })));
        const h2 = await c.ok({ op: 'history', topic, since: h.messages.at(-1).seq });
        assert.equal(h2.messages.length, 50);
        assert.equal(h2.more, false);
        assert.deepEqual(h2.messages.map((m) => m.seq), seqs.slice(100));
    });

    it('limit and more', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('hi.lim');
        const seqs = (await publishMany(c, topic, range(12))).map((a) => a.seq);
        const h = await c.ok({ op: 'history', topic, limit: 5 });
        assert.deepEqual(h.messages.map((m) => m.seq), seqs.slice(0, 5));
        assert.equal(h.more, true);
        const exact = await c.ok({ op: 'history', topic, limit: 12 });
        assert.equal(exact.messages.length, 12);
        assert.equal(exact.more, false, 'more is false when nothing follows the last one returned');
        const h3 = await c.ok({ op: 'history', topic, limit: 1000 });
        assert.equal(h3.messages.length, 12);
        assert.equal(h3.more, false);
        const one = await c.ok({ op: 'history', topic, limit: 1 });
        assert.deepEqual(one.messages.map((m) => m.seq), [seqs[0]]);
    });

    it('since returns only seq > since', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('hi.since');
        const seqs = (await publishMany(c, topic, range(10), { window: 1 })).map((a) => a.seq);
        const h = await c.ok({ op: 'history', topic, since: seqs[6] });
        assert.deepEqual(h.messages.map((m) => m.seq), seqs.slice(7));
        assert.deepEqual(h.messages.map((m) => m.data), [7, 8, 9]);
        assert.equal(h.more, false);
        assert.equal(h.recovered, true);
        const none = await c.ok({ op: 'history', topic, since: seqs[9] });
        assert.deepEqual(none.messages, []);
        assert.equal(none.more, false);
    });

    it('an empty topic has no messages', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const h = await c.ok({ op: 'history', topic: uniqueTopic('hi.empty') });
        assert.deepEqual(h.messages, []);
        assert.equal(h.more, false);
        assert.equal(typeof h.recovered, 'boolean');
    });

    it('patterns are allowed and merge topics in seq order', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('hi.pat');
        const plan = [`${base}.a`, `${base}.b`, `${base}.a.x`, `${base}.c`, `${base}.b`];
        const acks = [];
        for (const topic of plan) acks.push({ topic, seq: (await c.ok({ op: 'publish', topic, data: topic })).seq });
        const star = await c.ok({ op: 'history', topic: `${base}.*` });
        assert.deepEqual(star.messages.map((m) => [m.topic, m.seq]),
            acks.filter((a) => a.topic.split('.').length === base.split('.').length + 1)
                .map((a) => [a.topic, a.seq]));
        const gt = await c.ok({ op: 'history', topic: `${base}.>`, limit: 2 });
        assert.deepEqual(gt.messages.map((m) => m.seq), acks.slice(0, 2).map((a) => a.seq));
        assert.equal(gt.more, true);
        const rest = await c.ok({ op: 'history', topic: `${base}.>`, since: gt.messages[1].seq });
        assert.deepEqual(rest.messages.map((m) => m.seq), acks.slice(2).map((a) => a.seq));
    });

    it('limit above 1000 is bad_request; limit must be a positive integer', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('hi.max');
        await c.ok({ op: 'publish', topic, data: 1 });
        assertError(await c.request({ op: 'history', topic, limit: 1001 }), 'bad_request', { id: 2 });
        assertError(await c.request({ op: 'history', topic, limit: -1 }), 'bad_request');
        assertError(await c.request({ op: 'history', topic, limit: '10' }), 'bad_request');
        assertError(await c.request({ op: 'history', topic, since: 'abc' }), 'bad_request');
        assertError(await c.request({ op: 'history', topic: `${topic}..x` }), 'invalid_topic');
        assertError(await c.request({ op: 'history' }), 'bad_request');
        const ok = await c.ok({ op: 'history', topic, limit: 1000 });
        assert.equal(ok.messages.length, 1);
    });

    it('limit 1000 returns 1000 messages', async (t) => {
        // 1000 is also the default retention per topic: publish exactly 1000.
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('hi.thousand');
        const seqs = (await publishMany(c, topic, range(1000), { window: 200 })).map((a) => a.seq);
        const h = await c.ok({ op: 'history', topic, limit: 1000 });
        assert.equal(h.messages.length, 1000);
        assert.equal(h.more, false);
        assert.deepEqual(h.messages.map((m) => m.seq), seqs);
        const h2 = await c.ok({ op: 'history', topic, limit: 999 });
        assert.equal(h2.messages.length, 999);
        assert.equal(h2.more, true);
        const dflt = await c.ok({ op: 'history', topic, since: seqs[949] });
        assert.deepEqual(dflt.messages.map((m) => m.seq), seqs.slice(950));
        assert.equal(dflt.more, false);
    });

    it('binary messages appear as base64 with encoding "base64"', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('hi.bin');
        const payload = Buffer.from(range(256));
        const bin = await c.requestBinary({ op: 'publish', topic }, payload);
        assertAck(bin);
        const text = await c.ok({ op: 'publish', topic, data: { text: true } });
        const h = await c.ok({ op: 'history', topic });
        assert.equal(h.messages.length, 2);
        const [m0, m1] = h.messages;
        assertMessageObject(m0, topic);
        assert.equal(m0.seq, bin.seq);
        assert.equal(m0.encoding, 'base64');
        assert.equal(typeof m0.data, 'string');
        assert.deepEqual(Buffer.from(m0.data, 'base64'), payload);
        assert.equal(m1.seq, text.seq);
        assert.equal(m1.encoding, undefined, 'JSON messages carry no encoding');
        assert.deepEqual(m1.data, { text: true });
    });

    it('history does not subscribe', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('hi.nosub');
        await c.ok({ op: 'history', topic });
        await c.ok({ op: 'publish', topic, data: 1 });
        await c.sync();
        assert.deepEqual(c.peek((f) => f.op === 'message'), []);
        assertError(await c.request({ op: 'unsubscribe', topic }), 'not_subscribed');
    });
});
