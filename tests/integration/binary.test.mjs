// SPDX-License-Identifier: MIT
// binary.test.mjs: binary frames (docs/protocol.md section 2):
// [u16 BE H][H bytes JSON envelope][payload], published, delivered, replayed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, encodeBinary } from './lib/client.mjs';
import { assertAck, assertError, isMessage, range, sharedBroker, uniqueTopic } from './lib/util.mjs';

const ALL_BYTES = Buffer.from([...range(256), ...range(256).reverse()]);

function assertBinaryMessage(m, topic, seq, payload) {
    assert.equal(m.binary, true, `expected a binary frame, got ${JSON.stringify(m).slice(0, 200)}`);
    assert.equal(m.op, 'message');
    assert.equal(m.topic, topic);
    assert.equal(m.seq, seq);
    assert.ok(Number.isSafeInteger(m.ts), `ts ${m.ts}`);
    assert.equal(m.data, undefined, 'the envelope has no data');
    assert.ok(m.payload.equals(payload), `payload differs: ${m.payload.length} bytes vs ${payload.length}`);
}

describe('binary', () => {
    const ctx = sharedBroker();

    it('publishes a binary frame and delivers it byte for byte', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('bin.a');
        await s.ok({ op: 'subscribe', topic });
        const ack = await p.requestBinary({ op: 'publish', topic }, ALL_BYTES);
        assertAck(ack);
        assert.equal(ack.id, 1);
        assert.ok(Number.isSafeInteger(ack.seq));
        const m = await s.next(isMessage(topic));
        assertBinaryMessage(m, topic, ack.seq, ALL_BYTES);
    });

    it('an empty payload and a large payload', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('bin.size');
        await s.ok({ op: 'subscribe', topic });
        const empty = await p.requestBinary({ op: 'publish', topic }, Buffer.alloc(0));
        assertAck(empty);
        const big = Buffer.alloc(200000);
        for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
        const bigAck = await p.requestBinary({ op: 'publish', topic }, big);
        assertAck(bigAck);
        assertBinaryMessage(await s.next(isMessage(topic)), topic, empty.seq, Buffer.alloc(0));
        assertBinaryMessage(await s.next(isMessage(topic)), topic, bigAck.seq, big);
    });

    it('text and binary messages interleave in seq order', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('bin.mix');
        await s.ok({ op: 'subscribe', topic: `${topic}.>` });
        const a = await p.ok({ op: 'publish', topic: `${topic}.t`, data: 'text' });
        const b = await p.requestBinary({ op: 'publish', topic: `${topic}.b` }, Buffer.from([0, 1, 2]));
        const c = await p.ok({ op: 'publish', topic: `${topic}.t`, data: ['text', 2] });
        const got = await s.collect(isMessage(), 3);
        assert.deepEqual(got.map((m) => m.seq), [a.seq, b.seq, c.seq]);
        assert.equal(got[0].data, 'text');
        assertBinaryMessage(got[1], `${topic}.b`, b.seq, Buffer.from([0, 1, 2]));
        assert.deepEqual(got[2].data, ['text', 2]);
    });

    it('replay of a binary message is binary too (since and last)', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('bin.replay');
        const start = (await p.ok({ op: 'publish', topic, data: 'start' })).seq;
        const ack = await p.requestBinary({ op: 'publish', topic }, ALL_BYTES);
        const s = await connect(ctx.broker.url, { t });
        const sub = await s.ok({ op: 'subscribe', topic, since: start });
        assert.equal(sub.replayed, 1);
        assertBinaryMessage(await s.next(isMessage(topic)), topic, ack.seq, ALL_BYTES);
        const s2 = await connect(ctx.broker.url, { t });
        await s2.ok({ op: 'subscribe', topic, last: 1 });
        assertBinaryMessage(await s2.next(isMessage(topic)), topic, ack.seq, ALL_BYTES);
    });

    it('binary publish honours key and echo', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('bin.opts');
        await p.ok({ op: 'subscribe', topic });
        const first = await p.requestBinary({ op: 'publish', topic, key: 'k', echo: false }, Buffer.from([9]));
        assertAck(first);
        const dup = await p.requestBinary({ op: 'publish', topic, key: 'k' }, Buffer.from([9]));
        assertAck(dup);
        assert.equal(dup.seq, first.seq);
        assert.equal(dup.duplicate, true);
        const loud = await p.requestBinary({ op: 'publish', topic }, Buffer.from([7]));
        const m = await p.next(isMessage(topic));
        assert.equal(m.seq, loud.seq, 'echo:false on binary publish');
    });

    it('a malformed binary frame is bad_request and the connection stays open', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        c.send(Buffer.from([0x00]));
        assertError(await c.next((f) => f.op === 'error'), 'bad_request', { what: '1-byte frame' });
        const bad = Buffer.concat([Buffer.from([0x10, 0x00]), Buffer.from('{"op":"publish"}')]);
        c.send(bad);
        assertError(await c.next((f) => f.op === 'error'), 'bad_request', { what: 'length past the end' });
        const notJson = Buffer.concat([Buffer.from([0x00, 0x03]), Buffer.from('abc'), Buffer.from([1, 2])]);
        c.send(notJson);
        assertError(await c.next((f) => f.op === 'error'), 'bad_request', { what: 'envelope not JSON' });
        const topic = uniqueTopic('bin.bad');
        const withData = await c.requestBinary({ op: 'publish', topic, data: 1 }, Buffer.from([1]));
        assert.equal(withData.op === 'ack' || withData.code === 'bad_request', true,
            `envelope with data: ack or bad_request, got ${JSON.stringify(withData)}`);
        const noTopic = await c.requestBinary({ op: 'publish' }, Buffer.from([1]));
        assertError(noTopic, 'bad_request', { what: 'no topic' });
        const pattern = await c.requestBinary({ op: 'publish', topic: `${topic}.*` }, Buffer.from([1]));
        assertError(pattern, 'invalid_topic');
        c.send(encodeBinary({ op: 'publish', topic, id: 0 }, Buffer.from([1])));
        assertError(await c.next((f) => f.op === 'error'), 'bad_request', { what: 'id 0' });
        await c.sync();
        assert.equal(c.closeInfo, null);
    });
});
