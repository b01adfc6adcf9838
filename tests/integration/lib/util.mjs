// util.mjs: small helpers shared by the integration tests.
//
// Owns: a broker shared by the tests of one file (started in before(),
// stopped and checked in after()), unique topic names, error assertions and
// publishing many messages with a bounded number in flight.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startBroker } from './broker.mjs';

// One broker for every test of a describe() block. Returns an object whose
// `broker` property is set once before() ran.
export function sharedBroker(opts = {}) {
    const ctx = { broker: null };
    before(async () => {
        ctx.broker = await startBroker(opts);
    });
    after(async () => {
        if (ctx.broker) await ctx.broker.cleanup();
    });
    return ctx;
}

let counter = 0;

// A topic name no other test uses: prefix.<n><random>.
export function uniqueTopic(prefix) {
    counter += 1;
    return `${prefix}.u${counter}${Math.random().toString(36).slice(2, 8)}`;
}

// Asserts `reply` is an error with this code and (when given) this id, and a
// non-empty message.
export function assertError(reply, code, { id, what = '' } = {}) {
    const shown = JSON.stringify(reply);
    assert.equal(reply.op, 'error', `${what} expected error ${code}, got ${shown}`);
    assert.equal(reply.code, code, `${what} expected error ${code}, got ${shown}`);
    assert.equal(typeof reply.message, 'string', `${what} error without message: ${shown}`);
    assert.ok(reply.message.length > 0, `${what} error with empty message: ${shown}`);
    if (id !== undefined) assert.equal(reply.id, id, `${what} error id: ${shown}`);
}

export function assertAck(reply, what = '') {
    assert.equal(reply.op, 'ack', `${what} expected ack, got ${JSON.stringify(reply)}`);
}

export const isMessage = (topic) => (f) => f.op === 'message' && (topic === undefined || f.topic === topic);

// Publishes every item of `datas` on `topic` with at most `window` requests
// in flight. Resolves with the replies in order (ack frames).
export async function publishMany(client, topic, datas, { window = 100, extra = {}, timeoutMs = 20000 } = {}) {
    const replies = new Array(datas.length);
    let nextIndex = 0;
    async function lane() {
        while (nextIndex < datas.length) {
            const i = nextIndex++;
            replies[i] = await client.request({ op: 'publish', topic, data: datas[i], ...extra }, { timeoutMs });
            if (replies[i].op !== 'ack') {
                throw new Error(`publish #${i} on ${topic} failed: ${JSON.stringify(replies[i])}`);
            }
        }
    }
    const lanes = [];
    for (let i = 0; i < Math.min(window, datas.length); i++) lanes.push(lane());
    await Promise.all(lanes);
    return replies;
}

// Fires every publish at once (no waiting in between); resolves the replies.
export function publishBurst(client, topic, datas, { timeoutMs = 20000 } = {}) {
    return Promise.all(datas.map((data) => client.request({ op: 'publish', topic, data }, { timeoutMs })));
}

export function range(n, from = 0) {
    return Array.from({ length: n }, (_, i) => from + i);
}

export function seqsOf(frames) {
    return frames.map((f) => f.seq);
}

export function assertAscending(seqs, what = 'seqs') {
    for (let i = 1; i < seqs.length; i++) {
        assert.ok(seqs[i] > seqs[i - 1], `${what} not strictly ascending at ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
    }
}
