// SPDX-License-Identifier: MIT
// limits.test.mjs: too_large and close 1009 (--max-message), rate_limited
// and close 4029 (--max-rate), docs/protocol.md sections 7 and 10 "Limits".

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './lib/broker.mjs';
import { connect, encodeBinary } from './lib/client.mjs';
import { assertAck, assertError, isMessage, range, sharedBroker, uniqueTopic } from './lib/util.mjs';

// A publish frame of exactly `size` bytes (the string data is padded).
function publishFrame(topic, id, size) {
    const empty = JSON.stringify({ op: 'publish', topic, id, data: '' });
    assert.ok(size >= empty.length);
    const text = JSON.stringify({ op: 'publish', topic, id, data: 'x'.repeat(size - empty.length) });
    assert.equal(Buffer.byteLength(text), size);
    return text;
}

describe('limits: --max-message 1000', () => {
    const ctx = sharedBroker({ args: ['--max-message', '1000'] });

    it('welcome announces max_message', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        assert.equal(c.welcome.max_message, 1000);
    });

    it('a publish within the frame limit whose message would pass it is too_large', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('lm.big');
        await s.ok({ op: 'subscribe', topic });
        for (const size of [990, 1000]) {
            // The message object adds "op":"message", seq and ts: over 1000 bytes.
            c.send(publishFrame(topic, 100 + size, size));
            const err = await c.next((f) => f.op === 'error', { what: `too_large for ${size} bytes` });
            assertError(err, 'too_large', { id: 100 + size, what: `${size}-byte frame` });
            await c.sync();
        }
        const ok = await c.request({ op: 'publish', topic, data: 'x'.repeat(800) });
        assertAck(ok, 'a message well under the limit');
        const m = await s.next(isMessage(topic));
        assert.equal(m.seq, ok.seq, 'the refused publishes were not delivered');
        const h = await c.ok({ op: 'history', topic });
        assert.deepEqual(h.messages.map((x) => x.seq), [ok.seq], 'nor stored');
        assert.equal(c.closeInfo, null);
    });

    it('a binary publish within the frame limit whose message passes it is too_large', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('lm.bin');
        const envelope = { op: 'publish', topic, id: 1 };
        const head = encodeBinary(envelope, Buffer.alloc(0)).length;
        const frame = encodeBinary(envelope, Buffer.alloc(1000 - head, 0xab));
        assert.equal(frame.length, 1000);
        c.send(frame);
        // The delivered frame (envelope with seq and ts, then the payload)
        // would pass 1000 bytes.
        const reply = await c.next((f) => f.op === 'error' || f.op === 'ack');
        assertError(reply, 'too_large', { id: 1 });
        await c.sync();
    });

    it('a frame over max_message closes with 1009; other connections stay', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const other = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('lm.frame');
        c.send(publishFrame(topic, 1, 1001));
        const closed = await c.waitClosed();
        assert.equal(closed.code, 1009);
        await other.sync();
        const c2 = await connect(ctx.broker.url, { t });
        c2.send(publishFrame(topic, 1, 50000));
        assert.equal((await c2.waitClosed()).code, 1009);
        const c3 = await connect(ctx.broker.url, { t });
        c3.send(Buffer.alloc(1500, 0x41));
        assert.equal((await c3.waitClosed()).code, 1009, 'a binary frame over the limit');
        const c4 = await connect(ctx.broker.url, { t });
        c4.send(publishFrame(topic, 1, 1001));
        for (let i = 0; i < 300; i++) c4.send({ op: 'ping', id: i + 1 });
        assert.equal((await c4.waitClosed()).code, 1009, 'a client that keeps sending still sees 1009');
        await other.sync();
        const h = await other.ok({ op: 'history', topic });
        assert.deepEqual(h.messages, []);
    });
});

describe('limits: --max-rate 5', () => {
    const ctx = sharedBroker({ args: ['--max-rate', '5'] });

    it('a burst beyond the rate gets rate_limited with the ids; the connection stays open', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const other = await connect(ctx.broker.url, { t });
        const replies = await Promise.all(range(30).map(() => c.request({ op: 'ping' })));
        const pongs = replies.filter((r) => r.op === 'pong');
        const limited = replies.filter((r) => r.op === 'error');
        limited.forEach((r) => assertError(r, 'rate_limited'));
        assert.ok(pongs.length >= 5, `the burst (= rate) is allowed: ${pongs.length} pongs`);
        assert.ok(pongs.length <= 10, `${pongs.length} of 30 pings answered at rate 5/s`);
        assert.equal(pongs.length + limited.length, 30, 'exactly one reply each');
        assert.equal(c.closeInfo, null);
        // Another connection has its own bucket.
        await other.sync();
        // The bucket refills: a ping is answered again within a few seconds.
        await waitFor(async () => (await c.request({ op: 'ping' })).op === 'pong',
            { timeoutMs: 5000, intervalMs: 400, what: 'a pong after the refill' });
        assert.equal(c.closeInfo, null);
    });

    it('a refused publish is not stored', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('lm.rate');
        const replies = await Promise.all(range(20).map((i) => c.request({ op: 'publish', topic, data: i })));
        const acked = replies.filter((r) => r.op === 'ack');
        replies.filter((r) => r.op === 'error').forEach((r) => assertError(r, 'rate_limited'));
        assert.ok(acked.length >= 5 && acked.length < 20, `${acked.length} acked`);
        const h = await waitFor(async () => {
            const r = await c.request({ op: 'history', topic });
            return r.op === 'ack' ? r : null;
        }, { timeoutMs: 5000, intervalMs: 400, what: 'history after the refill' });
        assert.deepEqual(h.messages.map((m) => m.seq), acked.map((a) => a.seq));
    });

    it('sustained abuse closes with 4029 after more than max(100, 5*rate) refusals', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const other = await connect(ctx.broker.url, { t });
        let sent = 0;
        await assert.rejects(async () => {
            for (; sent < 300; sent++) await c.request({ op: 'ping' });
        }, /connection closed \(4029/);
        assert.equal(c.closeInfo.code, 4029);
        const refusals = c.log.filter((f) => f.op === 'error');
        refusals.forEach((r) => assertError(r, 'rate_limited'));
        assert.ok(refusals.length >= 100 && refusals.length <= 102,
            `closed after more than 100 refusals: ${refusals.length} refusals, ${sent} requests`);
        await other.sync();
        assert.equal(other.closeInfo, null);
    });

    it('a client flooding frames sees the 4029 close (not a reset)', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const other = await connect(ctx.broker.url, { t });
        for (let i = 0; i < 400 && c.isOpen; i++) c.send({ op: 'ping', id: i + 1 });
        const closed = await c.waitClosed({ timeoutMs: 10000 });
        assert.equal(closed.code, 4029,
            `close code; frames received before the close: ${c.log.length - 1}`);
        const refusals = c.log.filter((f) => f.op === 'error');
        refusals.forEach((r) => assertError(r, 'rate_limited'));
        await other.sync();
        assert.equal(other.closeInfo, null);
    });

    it('frames without id that are refused get rate_limited without id', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        for (let i = 0; i < 15; i++) c.send({ op: 'ping' });
        const err = await c.next((f) => f.op === 'error');
        assertError(err, 'rate_limited');
        assert.equal(err.id, undefined);
    });
});
