// SPDX-License-Identifier: MIT
// crash.test.mjs: crash durability under kill -9 with publishes in flight
// (docs/protocol.md sections 3-4, docs/design.md section 3.1: "ack after
// commit; a seq that any client has seen is never reused, even after
// kill -9").
//
// Each round: 3-4 publishers keep a window of publishes in flight (every
// fourth with a `key`), a live subscriber listens, and the broker gets
// SIGKILL at a random point of the stream, once a random number of the
// round's publishes (up to 80 %) were acknowledged: mid-stream however fast
// the disk is (seeded PRNG; the seed is printed, WSB_SEED=N replays a run). After the restart
// on the same port and database the round checks:
//   - the epoch in welcome is unchanged and welcome.seq is at least every
//     seq seen so far;
//   - every acked and every delivered message is in history (paged) with
//     the same seq, topic and data; no message is stored twice;
//   - no seq is reused: every seq of the round is above every seq acked,
//     delivered or stored before the round, and a seq maps to one message
//     for the whole run;
//   - a subscriber resuming with since:0 gets exactly the stored messages
//     of the round, once each, ascending (so every acked one exactly once);
//   - every keyed publish retried after the crash: duplicate:true with its
//     original seq when it had been acked (or stored), otherwise stored
//     once with a new seq above all others; the retried-and-new ones reach
//     the resumed subscriber live, the duplicates do not.
// At the end, one subscriber with since:0 on every round's topics gets
// every message ever acked exactly once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBroker, waitFor } from '../integration/lib/broker.mjs';
import { connect } from '../integration/lib/client.mjs';
import { fullHistory, prng, randInt, runSeed } from './lib/common.mjs';

const ROUNDS = Math.max(20, Number(process.env.WSB_CRASH_ROUNDS) || 20);
const PER_PUBLISHER = 1000;  // publishes each publisher may send in a round
const WINDOW = 50;           // publishes each publisher keeps in flight
const KEY_EVERY = 4;         // every fourth publish carries a key

const idOf = (data) => `${data.r}/${data.k}/${data.i}`;

function randomText(rand) {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 é€"\\';
    const n = randInt(rand, 0, 160);
    let s = '';
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
    return s;
}

// One publisher: WINDOW lanes, each sending its next publish when the
// previous one is answered, until PER_PUBLISHER were sent or the
// connection is gone. Records every ack in `acked` (id -> {seq, ...}).
async function publishUntilKilled(client, plan, acked) {
    let next = 0;
    async function lane() {
        while (next < plan.length) {
            const msg = plan[next++];
            let reply;
            try {
                reply = await client.request(msg.request, { timeoutMs: 30000 });
            } catch {
                return; // the connection died with the broker
            }
            if (reply.op !== 'ack') throw new Error(`publish answered ${JSON.stringify(reply)}`);
            if (reply.duplicate) throw new Error(`first publish of ${msg.id} answered duplicate: ${JSON.stringify(reply)}`);
            acked.set(msg.id, { seq: reply.seq, msg });
        }
    }
    await Promise.all(Array.from({ length: WINDOW }, lane));
}

function planRound(rand, round, publishers) {
    return Array.from({ length: publishers }, (_, k) => Array.from({ length: PER_PUBLISHER }, (__, i) => {
        const topic = `cr.r${round}.p${k}`;
        const data = { r: round, k, i, s: randomText(rand) };
        const request = { op: 'publish', topic, data };
        const key = i % KEY_EVERY === 0 ? `key-${round}-${k}-${i}` : undefined;
        if (key) request.key = key;
        return { id: idOf(data), topic, data, key, request };
    }));
}

class Ledger {
    constructor() {
        this.bySeq = new Map(); // seq -> {id, topic, data}: every message seen anywhere
        this.maxSeq = 0;
        this.acked = new Map(); // seq -> {topic, data}: every message acked to a publisher
    }

    // Records that `seq` names this message; fails when it named another.
    note(seq, topic, data, where) {
        const id = idOf(data);
        const had = this.bySeq.get(seq);
        if (had) {
            assert.equal(had.id, id, `seq ${seq} reused: it was ${had.id} (${had.where}), now ${id} (${where})`);
            assert.equal(had.topic, topic, `seq ${seq}: topic ${had.topic} then ${topic}`);
            assert.deepEqual(had.data, data, `seq ${seq}: data changed (${where})`);
        } else {
            this.bySeq.set(seq, { id, topic, data, where });
        }
        if (seq > this.maxSeq) this.maxSeq = seq;
    }
}

async function crashRound({ t, broker, rand, round, epoch, ledger }) {
    const prefix = `cr.r${round}`;
    const seqBefore = ledger.maxSeq;
    const publishers = randInt(rand, 3, 4);
    const plans = planRound(rand, round, publishers);
    // The crash moment: a random point in the stream of acks, not in time,
    // so that it falls mid-stream however fast this machine's disk is.
    const killAtAcks = randInt(rand, 1, Math.floor(publishers * PER_PUBLISHER * 0.8));

    const sub = await connect(broker.url, { t });
    await sub.ok({ op: 'subscribe', topic: `${prefix}.>` });
    const pubs = [];
    for (let k = 0; k < publishers; k++) pubs.push(await connect(broker.url, { t }));

    // Publish, and kill -9 at the chosen moment while acks flow.
    const acked = new Map();
    const publishing = pubs.map((p, k) => publishUntilKilled(p, plans[k], acked));
    await waitFor(() => acked.size >= killAtAcks, { timeoutMs: 30000, intervalMs: 1, what: `${killAtAcks} acks` });
    const ackedAtKill = acked.size;
    await broker.kill9();
    await Promise.all(publishing);
    await Promise.all([sub, ...pubs].map((c) => c.waitClosed({ timeoutMs: 10000 })));
    const delivered = sub.log.filter((f) => f.op === 'message');

    for (const { seq, msg } of acked.values()) {
        assert.ok(seq > seqBefore, `round ${round}: ack seq ${seq} of ${msg.id} is not above ${seqBefore}, ` +
            'the newest seq before this round');
        ledger.note(seq, msg.topic, msg.data, `ack in round ${round}`);
        ledger.acked.set(seq, { topic: msg.topic, data: msg.data });
    }
    for (const m of delivered) ledger.note(m.seq, m.topic, m.data, `live delivery in round ${round}`);

    await broker.restart();
    const c = await connect(broker.url, { t });
    assert.equal(c.welcome.epoch, epoch, `round ${round}: epoch changed after kill -9`);
    assert.ok(c.welcome.seq >= ledger.maxSeq,
        `round ${round}: welcome.seq ${c.welcome.seq} < ${ledger.maxSeq}, a seq already seen`);

    // History holds every acked and delivered message, each once.
    const stored = await fullHistory(c, `${prefix}.>`);
    const storedById = new Map();
    let prevSeq = 0;
    for (const m of stored) {
        assert.ok(m.seq > prevSeq, `round ${round}: history not ascending at seq ${m.seq}`);
        prevSeq = m.seq;
        assert.ok(m.seq > seqBefore, `round ${round}: stored seq ${m.seq} not above ${seqBefore}`);
        const id = idOf(m.data);
        assert.ok(!storedById.has(id), `round ${round}: message ${id} stored twice (seqs ` +
            `${storedById.get(id)?.seq} and ${m.seq})`);
        storedById.set(id, m);
        ledger.note(m.seq, m.topic, m.data, `history after round ${round}`);
    }
    const storedSeqs = new Set(stored.map((m) => m.seq));
    for (const { seq, msg } of acked.values()) {
        assert.ok(storedSeqs.has(seq), `round ${round}: ACKED seq ${seq} (${msg.id}) lost after kill -9`);
    }
    for (const m of delivered) {
        assert.ok(storedSeqs.has(m.seq), `round ${round}: DELIVERED seq ${m.seq} lost after kill -9`);
    }

    // A resuming subscriber gets exactly the stored messages, once, in order.
    const r = await connect(broker.url, { t });
    const rack = await r.ok({ op: 'subscribe', topic: `${prefix}.>`, since: 0, epoch }, { timeoutMs: 20000 });
    assert.equal(rack.recovered, true, `round ${round}: resume not recovered`);
    assert.equal(rack.replayed, stored.length, `round ${round}: replayed ${rack.replayed}, stored ${stored.length}`);
    const replay = await r.collect((f) => f.op === 'message', stored.length, { timeoutMs: 20000, what: 'replay' });
    assert.deepEqual(replay.map((m) => m.seq), stored.map((m) => m.seq), `round ${round}: replay seqs`);
    replay.forEach((m, i) => assert.deepEqual(m.data, stored[i].data, `round ${round}: replay data of ${m.seq}`));

    // Retry every keyed publish: exactly once across the crash.
    const newOnes = [];
    let duplicates = 0;
    const retries = plans.flat().filter((m) => m.key);
    const replies = await Promise.all(retries.map((m) => c.request(m.request, { timeoutMs: 20000 })));
    const ackedById = new Map([...acked.values()].map(({ seq, msg }) => [msg.id, seq]));
    retries.forEach((m, i) => {
        const reply = replies[i];
        assert.equal(reply.op, 'ack', `round ${round}: retry of ${m.id}: ${JSON.stringify(reply)}`);
        const original = ackedById.get(m.id) ?? storedById.get(m.id)?.seq;
        if (original !== undefined) {
            assert.equal(reply.duplicate, true, `round ${round}: retry of ${m.id} (seq ${original}, ` +
                `${ackedById.has(m.id) ? 'acked' : 'stored, ack lost'}) not a duplicate: ${JSON.stringify(reply)}`);
            assert.equal(reply.seq, original, `round ${round}: retry of ${m.id} got seq ${reply.seq}, ` +
                `original ${original}`);
            duplicates++;
        } else {
            assert.ok(!reply.duplicate, `round ${round}: retry of never-stored ${m.id} says duplicate`);
            assert.ok(reply.seq > Math.max(ledger.maxSeq, prevSeq), `round ${round}: new seq ${reply.seq} ` +
                `of ${m.id} is not above every seq seen (${Math.max(ledger.maxSeq, prevSeq)})`);
            newOnes.push({ seq: reply.seq, m });
        }
    });
    for (const { seq, m } of newOnes) {
        ledger.note(seq, m.topic, m.data, `retry in round ${round}`);
        ledger.acked.set(seq, { topic: m.topic, data: m.data });
    }

    // The resumed subscriber gets the new ones live, and no duplicate.
    const sentinel = await c.ok({ op: 'publish', topic: `${prefix}.sentinel`, data: { r: round, k: 's', i: 0 } });
    ledger.note(sentinel.seq, `${prefix}.sentinel`, { r: round, k: 's', i: 0 }, 'sentinel');
    ledger.acked.set(sentinel.seq, { topic: `${prefix}.sentinel`, data: { r: round, k: 's', i: 0 } });
    const live = await r.collectUntil((f) => f.op === 'message', (f) => f.seq === sentinel.seq,
        { timeoutMs: 20000, what: 'the sentinel' });
    assert.deepEqual(live.slice(0, -1).map((f) => f.seq), newOnes.map((n) => n.seq).sort((a, b) => a - b),
        `round ${round}: live messages after the retries are not exactly the new ones`);

    // Keyed messages are now stored exactly once each.
    const after = await fullHistory(c, `${prefix}.>`);
    const count = new Map();
    for (const m of after) count.set(idOf(m.data), (count.get(idOf(m.data)) ?? 0) + 1);
    for (const m of retries) assert.equal(count.get(m.id), 1, `round ${round}: ${m.id} stored ${count.get(m.id)} times`);

    await r.close();
    await c.close();
    return {
        round, publishers, killAtAcks, ackedAtKill, acked: acked.size, delivered: delivered.length,
        stored: stored.length, committedUnacked: stored.length - acked.size, duplicates, newOnes: newOnes.length,
    };
}

describe('crash durability', () => {
    it(`${ROUNDS} rounds of kill -9 with publishes in flight: no acked message lost, no seq reused, ` +
        'epoch kept, exactly-once retries', { timeout: 240000 }, async (t) => {
        const seed = runSeed();
        t.diagnostic(`seed ${seed} (WSB_SEED=${seed} replays this run)`);
        const rand = prng(seed);
        const broker = await startBroker({ t, args: ['--retain', '1000000'] });
        const first = await connect(broker.url, { t });
        const epoch = first.welcome.epoch;
        await first.close();

        const ledger = new Ledger();
        const summaries = [];
        for (let round = 0; round < ROUNDS; round++) {
            try {
                summaries.push(await crashRound({ t, broker, rand, round, epoch, ledger }));
            } catch (err) {
                err.message = `[seed ${seed}, round ${round}] ${err.message}`;
                throw err;
            }
        }
        for (const s of summaries) {
            t.diagnostic(`round ${s.round}: ${s.publishers} publishers, kill at ${s.killAtAcks} acks, ` +
                `${s.ackedAtKill} acked at the kill, ${s.acked} acked in all, ${s.stored} stored ` +
                `(${s.committedUnacked} committed without ack), ${s.duplicates} retries duplicate, ` +
                `${s.newOnes} retries new`);
        }
        // The crash must have hit mid-stream in most rounds, or the test proves little.
        const midStream = summaries.filter((s) => s.acked < s.publishers * PER_PUBLISHER).length;
        assert.ok(midStream >= ROUNDS / 2, `only ${midStream} of ${ROUNDS} rounds were killed mid-stream`);

        // Everything ever acked, once each, to one subscriber resuming from 0.
        const all = await connect(broker.url, { t });
        const ack = await all.ok({ op: 'subscribe', topic: 'cr.>', since: 0, epoch }, { timeoutMs: 30000 });
        const replay = await all.collect((f) => f.op === 'message', ack.replayed, { timeoutMs: 60000, what: 'full replay' });
        const seen = new Set();
        let prev = 0;
        for (const m of replay) {
            assert.ok(m.seq > prev, `full replay not ascending at ${m.seq}`);
            prev = m.seq;
            seen.add(m.seq);
            ledger.note(m.seq, m.topic, m.data, 'full replay');
        }
        for (const [seq, { data }] of ledger.acked) {
            assert.ok(seen.has(seq), `acked seq ${seq} (${idOf(data)}) missing from the full replay`);
        }
        t.diagnostic(`${ledger.acked.size} acked messages over ${ROUNDS} crashes, all replayed once`);
        await all.close();
    });
});
