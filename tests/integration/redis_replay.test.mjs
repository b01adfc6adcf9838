// SPDX-License-Identifier: MIT
// redis_replay.test.mjs: reads through the Redis engine (docs/design.md
// section 7, "Reads"): a replay of a pattern much longer than one chunk,
// stored on one node and read on another, paced and whole, with live
// messages after it; `last` on a pattern; history bounded with `more`; and
// `recovered:false` when retention removed what a resume asked for, on a
// node that did not store it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import { history } from './lib/http_api.mjs';
import { waitFor } from './lib/broker.mjs';
import { sharedRedisNodes, stats } from './lib/redis.mjs';
import { assertAscending, httpPublish, range, uniqueTopic } from './lib/util.mjs';

const TOPICS = 3;
const PER_TOPIC = 400; // 1200 messages: several chunks of a paced replay (256 each)
const BATCH = 100;

// Stores TOPICS x PER_TOPIC messages under `base` on `broker` (HTTP batches);
// resolves their seqs, ascending.
async function fill(broker, base) {
    const seqs = [];
    for (let i = 0; i < TOPICS * PER_TOPIC; i += BATCH) {
        const messages = range(BATCH, i).map((n) => ({ topic: `${base}.t${n % TOPICS}`, data: { n } }));
        const res = await httpPublish(broker, { messages }, { timeoutMs: 30000 });
        assert.equal(res.status, 200, `batch publish: ${res.text.slice(0, 200)}`);
        seqs.push(...res.json.seqs);
    }
    assertAscending(seqs, 'stored seqs');
    return seqs;
}

// A node replays up to the newest seq it delivered itself (welcome.seq):
// before a test reads on `node` what another node stored, it waits until
// `node` delivered it, so that the whole of it is replay, not live.
function waitDelivered(node, seq) {
    return waitFor(async () => (await stats(node)).redis.delivered_seq >= seq,
        { timeoutMs: 10000, what: `delivered_seq >= ${seq}` });
}

describe('reads through redis', () => {
    const ctx = sharedRedisNodes({ count: 2, args: ['--topic-rule', 'small.> retain=5'] });

    it('a replay of a pattern stored on one node is read whole on another, paced, then live', async (t) => {
        const [a, b] = ctx.nodes;
        const base = uniqueTopic('rr.big');
        const seqs = await fill(a, base);
        await waitDelivered(b, seqs.at(-1));
        const s = await connect(b.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic: `${base}.>`, since: seqs[0] - 1 }, { timeoutMs: 30000 });
        assert.equal(ack.replayed, seqs.length, JSON.stringify(ack));
        assert.equal(ack.recovered, true);
        const live = await (await connect(a.url, { t })).ok({ op: 'publish', topic: `${base}.t0`, data: 'live' });
        const got = [];
        while (got.length < seqs.length + 1) {
            const m = await s.nextMessage(() => true, 20000);
            got.push(m.seq);
        }
        assert.deepEqual(got, [...seqs, live.seq], 'the replay in order, then the live message, once each');
    });

    it('last on a pattern gives the newest matches of every topic', async (t) => {
        const [a, b] = ctx.nodes;
        const base = uniqueTopic('rr.last');
        const acks = [];
        const p = await connect(a.url, { t });
        for (const i of range(12)) acks.push(await p.ok({ op: 'publish', topic: `${base}.t${i % 3}`, data: i }));
        await waitDelivered(b, acks.at(-1).seq);
        const s = await connect(b.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic: `${base}.*`, last: 5 });
        assert.equal(ack.replayed, 5);
        const got = [];
        for (const _ of range(5)) got.push((await s.nextMessage(() => true, 5000)).seq);
        assert.deepEqual(got, acks.slice(-5).map((r) => r.seq));
    });

    it('history is bounded by limit with more, and pages on with since', async (t) => {
        const [a, b] = ctx.nodes;
        const base = uniqueTopic('rr.hist');
        const p = await connect(a.url, { t });
        const seqs = [];
        for (const i of range(25)) seqs.push((await p.ok({ op: 'publish', topic: `${base}.x`, data: i })).seq);
        const first = await history(b, { topic: `${base}.>`, since: seqs[0] - 1, limit: 10 });
        assert.deepEqual(first.messages.map((m) => m.seq), seqs.slice(0, 10));
        assert.equal(first.more, true);
        const rest = await history(b, { topic: `${base}.>`, since: seqs[9], limit: 100 });
        assert.deepEqual(rest.messages.map((m) => m.seq), seqs.slice(10));
        assert.equal(rest.more, false);
    });

    it('a resume after retention removed messages says recovered:false, on any node', async (t) => {
        const [a, b] = ctx.nodes;
        const topic = uniqueTopic('small.trim');
        const p = await connect(a.url, { t });
        const seqs = [];
        for (const i of range(8)) seqs.push((await p.ok({ op: 'publish', topic, data: i })).seq);
        await waitDelivered(b, seqs.at(-1));
        const s = await connect(b.url, { t });
        const lost = await s.ok({ op: 'subscribe', topic, since: seqs[0] });
        assert.equal(lost.recovered, false, 'retain=5 removed seqs after since');
        assert.equal(lost.replayed, 5);
        const kept = await (await connect(b.url, { t })).ok({ op: 'subscribe', topic, since: seqs[3] });
        assert.equal(kept.recovered, true, 'nothing after since was removed');
        assert.equal(kept.replayed, 4);
    });

    it('one batch over a topic\'s retain keeps only its newest, trimmed in the same step', async () => {
        const [a, b] = ctx.nodes;
        const topic = uniqueTopic('small.batch');
        const messages = range(8).map((n) => ({ topic, data: { n } }));
        const res = await httpPublish(a, { messages });
        assert.equal(res.status, 200, res.text);
        const kept = await history(b, { topic, limit: 100 });
        assert.deepEqual(kept.messages.map((m) => m.seq), res.json.seqs.slice(-5));
        const resumed = await history(b, { topic, since: res.json.seqs[0], limit: 100 });
        assert.equal(resumed.recovered, false);
    });

    it('a history sent right behind a publish on one connection holds that publish', async (t) => {
        const [a] = ctx.nodes;
        const topic = uniqueTopic('rr.order');
        const c = await connect(a.url, { t });
        for (const i of range(20)) {
            // Both frames in one TCP segment: the broker reads them in one
            // turn of its loop, the read submitted right behind the publish.
            c.ws._socket.cork();
            const published = c.request({ op: 'publish', topic, data: i });
            const read = c.request({ op: 'history', topic, limit: 100 });
            c.ws._socket.uncork();
            const [ack, hist] = await Promise.all([published, read]);
            assert.equal(ack.op, 'ack', JSON.stringify(ack));
            assert.ok(hist.messages.some((m) => m.seq === ack.seq),
                `round ${i}: the history misses seq ${ack.seq}: ${JSON.stringify(hist.messages.map((m) => m.seq))}`);
        }
    });
});
