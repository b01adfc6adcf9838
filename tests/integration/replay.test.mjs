// SPDX-License-Identifier: MIT
// replay.test.mjs: subscribe with `since`, `last` and `epoch` (docs/protocol.md
// section 4 "Replay" and section 10): ack first, then the replay in
// ascending seq, then live messages with no gap and no duplicate.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import {
    assertAck, assertAscending, isMessage, publishMany, range, sharedBroker, uniqueTopic,
} from './lib/util.mjs';

// Publishes n messages (data 0..n-1) one after another; resolves their seqs.
async function publishSeq(client, topic, n, from = 0) {
    const seqs = [];
    for (let i = 0; i < n; i++) seqs.push((await client.ok({ op: 'publish', topic, data: from + i })).seq);
    return seqs;
}

// The `count` messages that follow `ack` in the connection's frame log.
function framesAfter(client, ack, pred) {
    const at = client.log.indexOf(ack);
    assert.ok(at >= 0, 'ack is in the frame log');
    return client.log.slice(at + 1).filter(pred);
}

function otherEpoch(epoch) {
    return epoch === 'deadbeef' ? 'cafebabe' : 'deadbeef';
}

describe('replay', () => {
    const ctx = sharedBroker();

    it('since S replays only seq > S, ascending, after the ack, then live', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rp.since');
        const seqs = await publishSeq(p, topic, 10);
        await p.ok({ op: 'publish', topic: `${topic}.other`, data: 'not this topic' });
        const s = await connect(ctx.broker.url, { t });
        const ack = await s.request({ op: 'subscribe', topic, since: seqs[4] });
        assertAck(ack);
        assert.equal(ack.topic, topic);
        assert.equal(ack.replayed, 5);
        assert.equal(ack.recovered, true);
        assert.ok(Number.isSafeInteger(ack.seq) && ack.seq >= seqs[9], `ack.seq ${ack.seq}`);
        const replay = await s.collect(isMessage(topic), 5);
        assert.deepEqual(replay.map((m) => m.seq), seqs.slice(5));
        assert.deepEqual(replay.map((m) => m.data), [5, 6, 7, 8, 9]);
        assert.deepEqual(framesAfter(s, ack, isMessage(topic)).slice(0, 5), replay, 'replay follows the ack');
        for (const m of replay) {
            assert.ok(Number.isSafeInteger(m.ts));
            assert.equal(m.op, 'message');
        }
        const live = await p.ok({ op: 'publish', topic, data: 'live' });
        const m = await s.next(isMessage(topic));
        assert.equal(m.seq, live.seq);
        assert.equal(m.data, 'live');
    });

    it('since the newest seq replays nothing and recovered is true', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rp.none');
        const seqs = await publishSeq(p, topic, 3);
        const s = await connect(ctx.broker.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic, since: seqs[2] });
        assert.equal(ack.replayed, 0);
        assert.equal(ack.recovered, true);
        await s.sync();
        assert.deepEqual(s.peek(isMessage()), []);
    });

    it('since 0 replays everything retained', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rp.zero');
        const seqs = await publishSeq(p, topic, 4);
        const s = await connect(ctx.broker.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic, since: 0 });
        assert.equal(ack.replayed, 4);
        assert.equal(ack.recovered, true);
        assert.deepEqual((await s.collect(isMessage(topic), 4)).map((m) => m.seq), seqs);
    });

    it('last N replays the newest N matches', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rp.last');
        const seqs = await publishSeq(p, topic, 8);
        const s = await connect(ctx.broker.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic, last: 3 });
        assert.equal(ack.replayed, 3);
        assert.equal(ack.recovered, true);
        const got = await s.collect(isMessage(topic), 3);
        assert.deepEqual(got.map((m) => m.seq), seqs.slice(5));
        assert.deepEqual(framesAfter(s, ack, isMessage(topic)), got);

        const s2 = await connect(ctx.broker.url, { t });
        const ack2 = await s2.ok({ op: 'subscribe', topic, last: 100 });
        assert.equal(ack2.replayed, 8, 'last larger than what is stored replays all');
        assert.equal(ack2.recovered, true);
        assert.deepEqual((await s2.collect(isMessage(topic), 8)).map((m) => m.seq), seqs);
        const live = await p.ok({ op: 'publish', topic, data: 'live' });
        assert.equal((await s2.next(isMessage(topic))).seq, live.seq);
    });

    it('epoch given and equal: a normal replay', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rp.epok');
        const seqs = await publishSeq(p, topic, 4);
        const s = await connect(ctx.broker.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic, since: seqs[1], epoch: s.welcome.epoch });
        assert.equal(ack.recovered, true);
        assert.equal(ack.replayed, 2);
        assert.deepEqual((await s.collect(isMessage(topic), 2)).map((m) => m.seq), seqs.slice(2));
    });

    it('epoch mismatch: recovered false and everything retained is replayed', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rp.epoch');
        const seqs = await publishSeq(p, topic, 6);
        const s = await connect(ctx.broker.url, { t });
        const epoch = otherEpoch(s.welcome.epoch);
        const ack = await s.ok({ op: 'subscribe', topic, since: seqs[3], epoch });
        assert.equal(ack.recovered, false);
        assert.equal(ack.replayed, 6);
        assert.deepEqual((await s.collect(isMessage(topic), 6)).map((m) => m.seq), seqs);

        const s2 = await connect(ctx.broker.url, { t });
        const ack2 = await s2.ok({ op: 'subscribe', topic, last: 2, epoch });
        assert.equal(ack2.recovered, false, 'last N with another epoch');
        assert.ok(ack2.replayed >= 2, `replayed ${ack2.replayed}`);
        const got = await s2.collect(isMessage(topic), ack2.replayed);
        assertAscending(got.map((m) => m.seq));
        assert.deepEqual(got.map((m) => m.seq).slice(-2), seqs.slice(-2));
    });

    it('subscribing again to a held pattern with since acks replayed:0 and replays nothing', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rp.again');
        const seqs = await publishSeq(p, topic, 3);
        const s = await connect(ctx.broker.url, { t });
        await s.ok({ op: 'subscribe', topic, since: 0 });
        await s.collect(isMessage(topic), 3);
        const again = await s.ok({ op: 'subscribe', topic, since: 0 });
        assert.equal(again.replayed, 0);
        const again2 = await s.ok({ op: 'subscribe', topic, last: 5 });
        assert.equal(again2.replayed, 0);
        await s.sync();
        assert.deepEqual(s.peek(isMessage()), [], 'nothing replayed twice');
        const live = await p.ok({ op: 'publish', topic, data: 'live' });
        const m = await s.next(isMessage(topic));
        assert.equal(m.seq, live.seq);
        await s.sync();
        assert.deepEqual(s.peek(isMessage()), [], 'live delivered once');
        assert.ok(seqs.length === 3);
    });

    it('replay with a pattern replays only matching topics, ascending', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('rp.pat');
        const start = (await p.ok({ op: 'publish', topic: `${base}.x.1`, data: 'before' })).seq;
        const plan = [`${base}.x.1`, `${base}.y.1`, `${base}.x.2`, `${base}.z`, `${base}.y.1.deep`, `${base}.w.1`];
        const acks = [];
        for (const topic of plan) acks.push({ topic, seq: (await p.ok({ op: 'publish', topic, data: topic })).seq });
        const s = await connect(ctx.broker.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic: `${base}.*.1`, since: start });
        const want = acks.filter((a) => /\.(x|y|w)\.1$/.test(a.topic));
        assert.equal(ack.replayed, want.length);
        assert.equal(ack.recovered, true);
        const got = await s.collect(isMessage(), want.length);
        assert.deepEqual(got.map((m) => [m.topic, m.seq]), want.map((a) => [a.topic, a.seq]));
        const s2 = await connect(ctx.broker.url, { t });
        const ack2 = await s2.ok({ op: 'subscribe', topic: `${base}.>`, last: 2 });
        assert.equal(ack2.replayed, 2);
        assert.deepEqual((await s2.collect(isMessage(), 2)).map((m) => m.seq), acks.slice(-2).map((a) => a.seq));
    });

    it('replay skips what another subscription of the connection already delivered', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('rp.skip');
        const s = await connect(ctx.broker.url, { t });
        await s.ok({ op: 'subscribe', topic: `${base}.a` });
        const start = (await p.ok({ op: 'publish', topic: `${base}.start`, data: 'start' })).seq;
        const m1 = await p.ok({ op: 'publish', topic: `${base}.a`, data: 'm1' });
        const m2 = await p.ok({ op: 'publish', topic: `${base}.b`, data: 'm2' });
        const m3 = await p.ok({ op: 'publish', topic: `${base}.a`, data: 'm3' });
        const live = await s.collect(isMessage(`${base}.a`), 2);
        assert.deepEqual(live.map((m) => m.seq), [m1.seq, m3.seq]);
        const ack = await s.ok({ op: 'subscribe', topic: `${base}.>`, since: start });
        const m4 = await p.ok({ op: 'publish', topic: `${base}.a`, data: 'm4' });
        const after = await s.collectUntil(isMessage(), (m) => m.seq === m4.seq);
        assert.deepEqual(after.map((m) => m.data), ['m2', 'm4'],
            'm2 is replayed; m1 and m3 are not sent again; m4 arrives once');
        assert.equal(ack.replayed, 1, 'replayed counts the replay messages that follow');
        assert.equal(after[0].seq, m2.seq);
    });

    it('replay joined with live under concurrent publishing: no gap, no duplicate', async (t) => {
        const topic = uniqueTopic('rp.race');
        const p1 = await connect(ctx.broker.url, { t });
        const p2 = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const since = (await p1.ok({ op: 'publish', topic, data: 'start' })).seq;
        const sent = [];
        const fire = (client, tag, n) => {
            for (let i = 0; i < n; i++) {
                sent.push(client.request({ op: 'publish', topic, data: { tag, i } }, { timeoutMs: 30000 }));
            }
        };
        // 4 x 200 after `start`: under the default --retain (1000), so
        // however the publishes and the subscribe interleave, retention
        // removes nothing the replay should hold (recovered stays true).
        fire(p1, 'a', 200);
        fire(p2, 'b', 200);
        // Subscribe while those are being committed and fanned out.
        await sent[20];
        const subReply = s.request({ op: 'subscribe', topic, since }, { timeoutMs: 30000 });
        fire(p1, 'c', 200);
        fire(p2, 'd', 200);
        const ack = await subReply;
        assertAck(ack);
        assert.equal(ack.recovered, true);
        const replies = await Promise.all(sent);
        for (const r of replies) assertAck(r, 'publish');
        const expected = replies.map((r) => r.seq).sort((a, b) => a - b);
        assert.ok(expected[0] > since);
        const last = expected.at(-1);
        await s.next((f) => f.op === 'message' && f.seq === last, { timeoutMs: 20000, what: `seq ${last}` });
        const got = framesAfter(s, ack, isMessage(topic));
        const gotSeqs = got.map((m) => m.seq);
        assertAscending(gotSeqs, 'delivered seqs');
        assert.deepEqual(gotSeqs, expected, 'every acked seq above since exactly once');
        assert.ok(ack.replayed >= 0 && ack.replayed <= expected.length, `replayed ${ack.replayed}`);
        const before = s.log.slice(0, s.log.indexOf(ack)).filter(isMessage(topic));
        assert.deepEqual(before, [], 'no message before the subscribe ack');
        const dataBySeq = new Map(replies.map((r, i) => [r.seq, i]));
        assert.equal(dataBySeq.size, expected.length);
    });

    it('replay of many messages joined with live on a wildcard', async (t) => {
        const base = uniqueTopic('rp.racew');
        const p = await connect(ctx.broker.url, { t });
        const since = (await p.ok({ op: 'publish', topic: `${base}.a`, data: 'start' })).seq;
        const first = await publishMany(p, `${base}.a`, range(200), { window: 50 });
        const s = await connect(ctx.broker.url, { t });
        const burst = Promise.all(range(200).map((i) =>
            p.request({ op: 'publish', topic: `${base}.${i % 2 ? 'b' : 'c'}`, data: i }, { timeoutMs: 20000 })));
        const ack = await s.ok({ op: 'subscribe', topic: `${base}.*`, since }, { timeoutMs: 20000 });
        const second = await burst;
        const expected = [...first, ...second].map((r) => r.seq).sort((a, b) => a - b);
        await s.next((f) => f.op === 'message' && f.seq === expected.at(-1), { timeoutMs: 20000 });
        const gotSeqs = framesAfter(s, ack, isMessage()).map((m) => m.seq);
        assert.deepEqual(gotSeqs, expected);
        assert.ok(ack.replayed >= 200, `replayed ${ack.replayed}`);
    });
});

describe('replay with retention', () => {
    const ctx = sharedBroker({ args: ['--retain', '5'] });

    it('retention dropping a match after since gives recovered:false and replays what is left', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('rt.drop');
        const seqs = await publishSeq(p, topic, 10);
        // Retention may trim in the background: wait until it did.
        await waitFor(async () => {
            const h = await p.ok({ op: 'history', topic });
            return h.messages.length === 5 && h.messages[0].seq === seqs[5];
        }, { what: 'retention to keep the newest 5' });

        const s = await connect(ctx.broker.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic, since: seqs[1] });
        assert.equal(ack.recovered, false);
        assert.equal(ack.replayed, 5);
        assert.deepEqual((await s.collect(isMessage(topic), 5)).map((m) => m.seq), seqs.slice(5));

        const s2 = await connect(ctx.broker.url, { t });
        const ack2 = await s2.ok({ op: 'subscribe', topic, since: seqs[4] });
        assert.equal(ack2.recovered, true, 'nothing with seq > since was dropped');
        assert.equal(ack2.replayed, 5);
        assert.deepEqual((await s2.collect(isMessage(topic), 5)).map((m) => m.seq), seqs.slice(5));

        const s3 = await connect(ctx.broker.url, { t });
        const ack3 = await s3.ok({ op: 'subscribe', topic, last: 8 });
        assert.equal(ack3.recovered, true, 'last N: recovered is false only for an epoch mismatch');
        assert.equal(ack3.replayed, 5);
    });

    it('retention is per topic', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const a = uniqueTopic('rt.a');
        const b = uniqueTopic('rt.b');
        const seqsA = await publishSeq(p, a, 3);
        await publishSeq(p, b, 12);
        const s = await connect(ctx.broker.url, { t });
        const ack = await s.ok({ op: 'subscribe', topic: a, since: 0 });
        assert.equal(ack.recovered, true, 'topic a lost nothing');
        assert.deepEqual((await s.collect(isMessage(a), 3)).map((m) => m.seq), seqsA);
    });
});
