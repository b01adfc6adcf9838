// SPDX-License-Identifier: MIT
// durability.test.mjs: ack after commit (kill -9 keeps every acked message,
// seqs are never reused, the epoch stays), SIGTERM (close 1001 after
// flushing, exit 0) and --db :memory: (docs/protocol.md sections 3, 4, 7, 9).

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { describe, it } from 'node:test';
import { startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { assertAscending, fullHistory, isMessage, publishMany, range, uniqueTopic } from './lib/util.mjs';

describe('durability', () => {
    it('kill -9 loses no acked message, keeps the epoch and never reuses a seq', async (t) => {
        const broker = await startBroker({ t, args: ['--retain', '100000'] });
        const topic = uniqueTopic('du.kill');
        const p1 = await connect(broker.url, { t });
        const p2 = await connect(broker.url, { t });
        const sub = await connect(broker.url, { t });
        await sub.ok({ op: 'subscribe', topic });
        const epoch = p1.welcome.epoch;

        // Phase 1: acked, many in flight.
        const firm = [
            ...await publishMany(p1, topic, range(200).map((i) => ({ p: 1, i })), { window: 100 }),
        ];
        const firmData = range(200).map((i) => ({ p: 1, i }));

        // Phase 2: fire a lot from two connections and kill -9 while acks flow.
        const acked = new Map(); // seq -> data
        firm.forEach((a, i) => acked.set(a.seq, firmData[i]));
        let ackCount = 0;
        let killed = false;
        let resolveEnough;
        const enough = new Promise((resolve) => { resolveEnough = resolve; });
        const fire = (client, tag) => range(1500).map((i) => {
            const data = { tag, i };
            return client.request({ op: 'publish', topic, data }, { timeoutMs: 30000 }).then((r) => {
                if (r.op === 'ack' && !killed) {
                    acked.set(r.seq, data);
                    ackCount += 1;
                    if (ackCount === 300) resolveEnough();
                }
            }, () => {});
        });
        const inflight = [...fire(p1, 'a'), ...fire(p2, 'b')];
        await enough;
        await broker.kill9();
        killed = true;
        await Promise.all(inflight);
        const seenBySub = sub.log.filter(isMessage(topic)).map((m) => m.seq);
        const maxSeen = Math.max(...acked.keys(), ...seenBySub);

        await broker.restart();
        const c = await connect(broker.url, { t });
        assert.equal(c.welcome.epoch, epoch, 'the epoch survives a restart');
        assert.ok(c.welcome.seq >= maxSeen, `welcome.seq ${c.welcome.seq} >= newest seen ${maxSeen}`);
        const stored = await fullHistory(c, topic);
        assertAscending(stored.map((m) => m.seq), 'history');
        const storedBySeq = new Map(stored.map((m) => [m.seq, m.data]));
        for (const [seq, data] of acked) {
            assert.ok(storedBySeq.has(seq), `acked seq ${seq} is lost after kill -9`);
            assert.deepEqual(storedBySeq.get(seq), data, `data of seq ${seq}`);
        }
        for (const seq of seenBySub) assert.ok(storedBySeq.has(seq), `delivered seq ${seq} is lost after kill -9`);
        // Resuming across the restart: same epoch, nothing lost.
        const resumeFrom = [...acked.keys()].sort((a, b) => a - b)[100];
        const r = await connect(broker.url, { t });
        const rack = await r.ok({ op: 'subscribe', topic, since: resumeFrom, epoch }, { timeoutMs: 20000 });
        assert.equal(rack.recovered, true);
        const wantResume = stored.filter((m) => m.seq > resumeFrom).map((m) => m.seq);
        assert.equal(rack.replayed, wantResume.length);
        const resumed = await r.collect(isMessage(topic), wantResume.length, { timeoutMs: 20000 });
        assert.deepEqual(resumed.map((m) => m.seq), wantResume);

        const next = await c.ok({ op: 'publish', topic, data: 'after restart' });
        assert.ok(next.seq > maxSeen, `new seq ${next.seq} > every seq seen before (${maxSeen})`);
        assert.ok(next.seq > Math.max(...stored.map((m) => m.seq)));
    });

    it('SIGTERM: clients get 1001 after what they are owed, and the exit status is 0', async (t) => {
        const broker = await startBroker({ t });
        const topic = uniqueTopic('du.term');
        const sub = await connect(broker.url, { t });
        const pub = await connect(broker.url, { t });
        await sub.ok({ op: 'subscribe', topic });
        const acks = await publishMany(pub, topic, range(200).map((i) => ({ i, pad: 'y'.repeat(200) })),
            { window: 200 });
        const code = await broker.stop();
        assert.equal(code, 0, `exit status after SIGTERM; stderr tail: ${broker.stderrText().slice(-500)}`);
        const [closedSub, closedPub] = await Promise.all([sub.waitClosed(), pub.waitClosed()]);
        assert.equal(closedSub.code, 1001);
        assert.equal(closedPub.code, 1001);
        const got = sub.log.filter(isMessage(topic)).map((m) => m.seq);
        assert.deepEqual(got, acks.map((a) => a.seq), 'every committed message was flushed before 1001');

        await broker.restart();
        const c = await connect(broker.url, { t });
        const stored = await fullHistory(c, topic);
        assert.deepEqual(stored.map((m) => m.seq), acks.map((a) => a.seq));
    });

    it('--db :memory: works and writes no database file', async (t) => {
        const broker = await startBroker({ t, db: ':memory:' });
        const topic = uniqueTopic('du.mem');
        const c = await connect(broker.url, { t });
        assert.match(c.welcome.epoch, /^[0-9a-f]{8}$/);
        assert.equal(c.welcome.seq, 0, 'a new store has assigned no seq yet');
        await c.ok({ op: 'subscribe', topic });
        const acks = await publishMany(c, topic, range(20));
        const got = await c.collect(isMessage(topic), 20);
        assert.deepEqual(got.map((m) => m.seq), acks.map((a) => a.seq));
        const h = await c.ok({ op: 'history', topic });
        assert.deepEqual(h.messages.map((m) => m.data), range(20));
        const files = await fs.readdir(broker.dir);
        assert.deepEqual(files, [], `no file in the working directory: ${files}`);
    });

    it('a new store gets a new epoch; the same store keeps it', async (t) => {
        const a = await startBroker({ t });
        const b = await startBroker({ t });
        const ca = await connect(a.url, { t });
        const cb = await connect(b.url, { t });
        assert.equal(ca.welcome.seq, 0);
        assert.notEqual(ca.welcome.epoch, cb.welcome.epoch, 'two new stores, two epochs');
        await ca.ok({ op: 'publish', topic: 'du.epoch', data: 1 });
        assert.equal(await a.stop(), 0);
        await a.restart();
        const again = await connect(a.url, { t });
        assert.equal(again.welcome.epoch, ca.welcome.epoch);
        assert.equal(again.welcome.seq, 1);
    });
});
