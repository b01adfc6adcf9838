// SPDX-License-Identifier: MIT
// pubsub.test.mjs: publish and subscribe (docs/protocol.md sections 3, 4 and 5):
// acks, message fields, wildcards, once per connection, echo, unsubscribe,
// the no-id rule and fan-out to many subscribers.
//
// To show that a message did NOT reach a subscriber, the tests publish a
// matching "sentinel" after it: messages reach a connection in seq order, so
// once the sentinel arrived, anything published before it would have too.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import {
    assertAck, assertAscending, assertError, isMessage, publishMany, range, sharedBroker, uniqueTopic,
} from './lib/util.mjs';

describe('pubsub', () => {
    const ctx = sharedBroker();

    it('publish is acked with a strictly increasing seq', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('ps.ack');
        const seqs = [];
        for (let i = 0; i < 5; i++) {
            const ack = await p.request({ op: 'publish', topic, data: i });
            assertAck(ack);
            assert.ok(Number.isSafeInteger(ack.seq) && ack.seq > 0, `seq ${ack.seq}`);
            assert.notEqual(ack.duplicate, true);
            seqs.push(ack.seq);
        }
        assert.ok(seqs[0] > p.welcome.seq, 'first seq above the welcome seq');
        // Many in flight from one connection: seqs follow the order of sending.
        const acks = await Promise.all(range(50).map((i) => p.ok({ op: 'publish', topic, data: i })));
        seqs.push(...acks.map((a) => a.seq));
        assertAscending(seqs, 'acked seqs in send order');
    });

    it('delivers a message with op, topic, seq, ts and exactly the published data', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('ps.fields');
        const newest = (await p.ok({ op: 'publish', topic: `${topic}.before`, data: 0 })).seq;
        const sub = await s.request({ op: 'subscribe', topic });
        assertAck(sub);
        assert.equal(sub.id, 1);
        assert.equal(sub.topic, topic);
        assert.equal(sub.replayed, 0, 'no replay without since/last');
        assert.equal(typeof sub.recovered, 'boolean');
        assert.ok(Number.isSafeInteger(sub.seq) && sub.seq >= newest, `subscribe ack seq ${sub.seq}`);
        const values = [
            { px: 189.2, sym: 'AAPL', nested: { a: [1, 2, { b: null }], t: true, f: false } },
            [1, 'two', { three: 3 }, [], {}],
            'a string with "quotes", \\ backslash, unicode é ✓ 😀 and \n newline',
            42,
            -17.25,
            0,
            null,
            true,
            false,
            {},
            [],
            '',
        ];
        for (const data of values) {
            const before = Date.now();
            const ack = await p.ok({ op: 'publish', topic, data });
            const after = Date.now();
            const m = await s.next(isMessage(topic));
            assert.equal(m.op, 'message');
            assert.equal(m.topic, topic);
            assert.equal(m.seq, ack.seq);
            assert.ok(Number.isSafeInteger(m.ts), `ts ${m.ts}`);
            assert.ok(m.ts >= before - 1000 && m.ts <= after + 1000, `ts ${m.ts} not in [${before}, ${after}]`);
            assert.ok('data' in m, 'data present (also when null)');
            assert.deepEqual(m.data, data);
            assert.equal(m.from, undefined, 'no from without auth');
        }
    });

    it('wildcard * matches exactly one segment', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('ps.star');
        await s.ok({ op: 'subscribe', topic: `${base}.*` });
        await s.ok({ op: 'subscribe', topic: `${base}.*.end` });
        await s.ok({ op: 'subscribe', topic: `${base}.sentinel` });
        const publishTo = [
            [`${base}.a`, true],
            [`${base}.a.b`, false],
            [`${base}`, false],
            [`${base}.x.end`, true],
            [`${base}.x.nope`, false],
            [`${base}.x.y.end`, false],
            [`${base}x.a`, false],
        ];
        for (const [topic] of publishTo) await p.ok({ op: 'publish', topic, data: topic });
        await p.ok({ op: 'publish', topic: `${base}.sentinel`, data: 'end' });
        const got = await s.collectUntil(isMessage(), (m) => m.data === 'end');
        assert.deepEqual(got.map((m) => m.topic),
            [...publishTo.filter(([, match]) => match).map(([topic]) => topic), `${base}.sentinel`]);
    });

    it('wildcard > matches one or more remaining segments', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('ps.gt');
        await s.ok({ op: 'subscribe', topic: `${base}.>` });
        await s.ok({ op: 'subscribe', topic: `${base}x.*.>` });
        const publishTo = [
            [`${base}.a`, true],
            [`${base}.a.b`, true],
            [`${base}.a.b.c.d.e`, true],
            [`${base}`, false],
            [`${base}x.a`, false],
            [`${base}x.a.b`, true],
            [`${base}x.a.b.c`, true],
        ];
        for (const [topic] of publishTo) await p.ok({ op: 'publish', topic, data: topic });
        await p.ok({ op: 'publish', topic: `${base}.sentinel`, data: 'end' });
        const got = await s.collectUntil(isMessage(), (m) => m.data === 'end');
        assert.deepEqual(got.map((m) => m.topic),
            [...publishTo.filter(([, match]) => match).map(([topic]) => topic), `${base}.sentinel`]);
    });

    it('the section 5 example: prices.* vs prices.>', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const star = await connect(ctx.broker.url, { t });
        const gt = await connect(ctx.broker.url, { t });
        const root = uniqueTopic('ps.ex');
        await star.ok({ op: 'subscribe', topic: `${root}.prices.*` });
        await gt.ok({ op: 'subscribe', topic: `${root}.prices.>` });
        await p.ok({ op: 'publish', topic: `${root}.prices.us.AAPL`, data: 1 });
        await p.ok({ op: 'publish', topic: `${root}.prices.AAPL`, data: 2 });
        const s1 = await star.next(isMessage());
        assert.equal(s1.topic, `${root}.prices.AAPL`, 'prices.* does not match prices.us.AAPL');
        const g = await gt.collect(isMessage(), 2);
        assert.deepEqual(g.map((m) => m.data), [1, 2]);
    });

    it('a connection gets a message once even when several subscriptions match', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('ps.once');
        for (const topic of [`${base}.a`, `${base}.*`, `${base}.>`]) await s.ok({ op: 'subscribe', topic });
        const acks = [];
        for (let i = 0; i < 5; i++) acks.push(await p.ok({ op: 'publish', topic: `${base}.a`, data: i }));
        await p.ok({ op: 'publish', topic: `${base}.b.c`, data: 'end' });
        const got = await s.collectUntil(isMessage(), (m) => m.data === 'end');
        assert.deepEqual(got.map((m) => m.seq), [...acks.map((a) => a.seq), got.at(-1).seq]);
    });

    it('echo:false keeps the message from the publisher only', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const other = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('ps.echo');
        await p.ok({ op: 'subscribe', topic });
        await other.ok({ op: 'subscribe', topic });
        const quiet = await p.ok({ op: 'publish', topic, data: 'quiet', echo: false });
        const loud = await p.ok({ op: 'publish', topic, data: 'loud' });
        const explicit = await p.ok({ op: 'publish', topic, data: 'loud2', echo: true });
        const mine = await p.collectUntil(isMessage(topic), (m) => m.data === 'loud2');
        assert.deepEqual(mine.map((m) => m.seq), [loud.seq, explicit.seq], 'publisher does not see echo:false');
        const theirs = await other.collect(isMessage(topic), 3);
        assert.deepEqual(theirs.map((m) => m.seq), [quiet.seq, loud.seq, explicit.seq]);
    });

    it('echo:false with a pattern subscription on the publisher', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('ps.echo2');
        await p.ok({ op: 'subscribe', topic: `${base}.>` });
        await p.ok({ op: 'publish', topic: `${base}.a`, data: 'quiet', echo: false });
        await p.ok({ op: 'publish', topic: `${base}.a`, data: 'loud' });
        const m = await p.next(isMessage());
        assert.equal(m.data, 'loud');
    });

    it('unsubscribe stops delivery', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('ps.unsub');
        const sentinel = `${topic}.sentinel`;
        await s.ok({ op: 'subscribe', topic });
        await s.ok({ op: 'subscribe', topic: sentinel });
        await p.ok({ op: 'publish', topic, data: 'before' });
        assert.equal((await s.next(isMessage(topic))).data, 'before');
        const ack = await s.request({ op: 'unsubscribe', topic });
        assertAck(ack);
        await p.ok({ op: 'publish', topic, data: 'after' });
        await p.ok({ op: 'publish', topic: sentinel, data: 'end' });
        await s.next(isMessage(sentinel));
        assert.deepEqual(s.peek(isMessage(topic)), [], 'nothing after unsubscribe');
    });

    it('unsubscribe of a pattern not held is not_subscribed', async (t) => {
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('ps.nsub');
        assertError(await s.request({ op: 'unsubscribe', topic }), 'not_subscribed', { id: 1 });
        await s.ok({ op: 'subscribe', topic: `${topic}.*` });
        assertError(await s.request({ op: 'unsubscribe', topic: `${topic}.>` }), 'not_subscribed');
        await s.ok({ op: 'unsubscribe', topic: `${topic}.*` });
        assertError(await s.request({ op: 'unsubscribe', topic: `${topic}.*` }), 'not_subscribed',
            { what: 'second unsubscribe' });
        await s.sync();
    });

    it('subscribing again to a held pattern acks and does not duplicate delivery', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('ps.resub');
        await s.ok({ op: 'subscribe', topic });
        const again = await s.request({ op: 'subscribe', topic });
        assertAck(again);
        assert.equal(again.topic, topic);
        const a = await p.ok({ op: 'publish', topic, data: 1 });
        const b = await p.ok({ op: 'publish', topic, data: 2 });
        const got = await s.collect(isMessage(topic), 2);
        assert.deepEqual(got.map((m) => m.seq), [a.seq, b.seq]);
        await p.ok({ op: 'publish', topic: `${topic}.x`, data: 'unrelated' });
        await s.sync();
        assert.deepEqual(s.peek(isMessage(topic)), []);
        // One unsubscribe removes the (single) subscription.
        await s.ok({ op: 'unsubscribe', topic });
        assertError(await s.request({ op: 'unsubscribe', topic }), 'not_subscribed');
    });

    it('requests without id get no reply on success', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('ps.noid');
        s.send({ op: 'subscribe', topic });
        await s.ok({ op: 'subscribe', topic: `${topic}.sync` }); // replies come in order
        p.send({ op: 'publish', topic, data: 'no id' });
        const later = await p.ok({ op: 'publish', topic, data: 'with id' });
        const got = await s.collect(isMessage(topic), 2);
        assert.deepEqual(got.map((m) => m.data), ['no id', 'with id']);
        assert.equal(got[1].seq, later.seq);
        s.send({ op: 'unsubscribe', topic });
        await s.sync();
        await p.sync();
        assert.deepEqual(p.peek(), [], `publisher got no reply for the publish without id`);
        assert.deepEqual(s.peek(), [], `subscriber got no reply for subscribe/unsubscribe without id`);
        assert.equal(p.log.filter((f) => f.op === 'ack').length, 1);
        // The unsubscribe without id took effect.
        await p.ok({ op: 'publish', topic, data: 'gone' });
        await p.ok({ op: 'publish', topic: `${topic}.sync`, data: 'end' });
        await s.next(isMessage(`${topic}.sync`));
        assert.deepEqual(s.peek(isMessage(topic)), []);
    });

    it('many subscribers all get every message in seq order', async (t) => {
        const topic = uniqueTopic('ps.fan');
        const subs = [];
        for (let i = 0; i < 20; i++) {
            const s = await connect(ctx.broker.url, { t });
            await s.ok({ op: 'subscribe', topic });
            subs.push(s);
        }
        const p1 = await connect(ctx.broker.url, { t });
        const p2 = await connect(ctx.broker.url, { t });
        const [r1, r2] = await Promise.all([
            publishMany(p1, topic, range(150).map((i) => ({ p: 1, i })), { window: 150 }),
            publishMany(p2, topic, range(150).map((i) => ({ p: 2, i })), { window: 150 }),
        ]);
        const expected = [...r1, ...r2].map((a) => a.seq).sort((a, b) => a - b);
        assert.equal(new Set(expected).size, 300, 'every publish got its own seq');
        for (const s of subs) {
            const got = await s.collect(isMessage(topic), 300, { timeoutMs: 15000 });
            assert.deepEqual(got.map((m) => m.seq), expected);
        }
        const bySeq = new Map();
        [...r1.map((a, i) => [a.seq, { p: 1, i }]), ...r2.map((a, i) => [a.seq, { p: 2, i }])]
            .forEach(([seq, d]) => bySeq.set(seq, d));
        for (const m of subs[0].log.filter(isMessage(topic))) assert.deepEqual(m.data, bySeq.get(m.seq));
    });
});
