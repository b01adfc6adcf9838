// SPDX-License-Identifier: MIT
// redis_failover.test.mjs: brokers on one Redis (--redis) when a node or
// Redis fails (docs/protocol.md section 11 "Several nodes", docs/design.md
// section 7): a dead node's presence members leave everywhere, a client
// resumes on another node with no gap and no duplicate, a Redis killed with
// SIGKILL loses no acknowledged publish and the nodes carry on by
// themselves, a Redis back without its data, or with its seq below what
// the nodes saw, starts a new epoch (sessions closed with 4000, resumes not
// recovered), a Redis without appendfsync always is warned about, and a
// broker started before its Redis becomes healthy once Redis is up. Each
// test has a Redis and brokers of its own, so the tests run side by side.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort, onCleanup, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { healthStatus, startRedis, startRedisBrokers, startRedisNodes, stats } from './lib/redis.mjs';
import {
    apiUrl, assertAscending, assertError, assertHttpError, fullHistory, httpPublish, isMessage, openSse, range,
    uniqueTopic,
} from './lib/util.mjs';

const isJoin = (topic, client) => (f) => f.op === 'join' && f.topic === topic && f.client === client;
const isLeave = (topic, client) => (f) => f.op === 'leave' && f.topic === topic && f.client === client;
// A node silent for 5 s is dead (docs/design.md section 7); the rest is margin.
const NODE_EXPIRY_WAIT_MS = 15000;
const RECOVERY_WAIT_MS = 15000;

function waitHealth(brokers, status) {
    return waitFor(async () => {
        const all = await Promise.all(brokers.map(healthStatus));
        return all.every((s) => s === status);
    }, { timeoutMs: RECOVERY_WAIT_MS, what: `GET /healthz ${status} on every node` });
}

// Publishes on `client` one message at a time until stop() is called;
// `acks` holds every ack in order. Every publish must be acknowledged.
function publishUntilStopped(client, topic) {
    const acks = [];
    let stopped = false;
    const done = (async () => {
        for (let i = 0; !stopped; i++) {
            const reply = await client.request({ op: 'publish', topic, data: { i } }, { timeoutMs: 10000 });
            if (reply.op !== 'ack') throw new Error(`publish #${i} refused: ${JSON.stringify(reply)}`);
            acks.push(reply);
        }
    })();
    done.catch(() => {});
    return {
        acks,
        async stop() {
            stopped = true;
            await done;
        },
        waitCount(n, what) {
            return waitFor(() => acks.length >= n, { timeoutMs: 10000, what });
        },
    };
}

describe('several brokers on one redis: failures', { concurrency: true }, () => {
    it('a node killed with SIGKILL: its presence members leave on the surviving nodes', async (t) => {
        const { nodes: [a, b, c] } = await startRedisNodes({ t, count: 3 });
        const topic = uniqueTopic('rf.pres');
        const [ma, mb, mc] = await Promise.all([a, b, c].map((n) => connect(n.url, { t })));
        await ma.ok({ op: 'subscribe', topic, presence: true });
        await mb.ok({ op: 'subscribe', topic, presence: true });
        await mc.ok({ op: 'subscribe', topic, presence: true });
        await ma.next(isJoin(topic, mb.welcome.client));
        await ma.next(isJoin(topic, mc.welcome.client));
        await mb.next(isJoin(topic, mc.welcome.client));
        await b.kill9();
        const wait = { timeoutMs: NODE_EXPIRY_WAIT_MS };
        await ma.next(isLeave(topic, mb.welcome.client), { ...wait, what: 'leave of the dead node\'s member, on A' });
        await mc.next(isLeave(topic, mb.welcome.client), { ...wait, what: 'leave of the dead node\'s member, on C' });
        const list = await ma.ok({ op: 'presence', topic });
        assert.deepEqual(list.members.map((m) => m.client).sort(), [ma.welcome.client, mc.welcome.client].sort());
        assert.ok(ma.isOpen && mc.isOpen, 'the surviving nodes keep their connections');
    });

    it('a subscriber whose node is killed resumes on another node with no gap and no duplicate', async (t) => {
        const { nodes: [a, b] } = await startRedisNodes({ t, count: 2 });
        const topic = uniqueTopic('rf.move');
        const s = await connect(a.url, { t });
        const epoch = s.welcome.epoch;
        await s.ok({ op: 'subscribe', topic });
        for (const i of range(3)) await s.ok({ op: 'publish', topic, data: { own: i } });
        const stream = publishUntilStopped(await connect(b.url, { t }), topic);
        await waitFor(() => s.log.filter(isMessage(topic)).length >= 30, { what: '30 messages on A' });
        await a.kill9();
        await s.waitClosed();
        const before = s.log.filter(isMessage(topic)).map((m) => m.seq);
        const afterKill = stream.acks.length;
        await stream.waitCount(afterKill + 20, '20 publishes on B after A died');

        const s2 = await connect(b.url, { t });
        const ack = await s2.ok({ op: 'subscribe', topic, since: before.at(-1), epoch });
        assert.equal(ack.recovered, true, JSON.stringify(ack));
        await stream.waitCount(stream.acks.length + 20, '20 publishes on B after the resume');
        await stream.stop();
        const newest = stream.acks.at(-1).seq;
        const resumed = await s2.collectUntil(isMessage(topic), (m) => m.seq >= newest, { timeoutMs: 10000 });
        const seen = [...before, ...resumed.map((m) => m.seq)];
        assertAscending(seen, 'seqs seen on A then on B');
        const stored = (await fullHistory(s2, topic)).map((m) => m.seq);
        assert.deepEqual(seen, stored, 'the subscriber saw exactly what B\'s history holds');
    });

    it('Redis killed and restarted: acked publishes kept, unavailable meanwhile, ' +
        'the nodes recover by themselves', async (t) => {
        const { redis, nodes } = await startRedisNodes({ t, count: 2 });
        const [a, b] = nodes;
        const topic = uniqueTopic('rf.redis');
        const sub = await connect(b.url, { t });
        await sub.ok({ op: 'subscribe', topic });
        const p = await connect(a.url, { t });
        const epoch = p.welcome.epoch;

        // 20 lanes publish one after another until a publish is refused;
        // Redis dies once 100 are acknowledged, so it dies mid-stream. Every
        // lane must then end with `unavailable` (none waits for Redis).
        const acked = new Map(); // seq -> data
        let next = 0;
        const lanes = range(20).map(async () => {
            for (;;) {
                const data = { i: next++ };
                const reply = await p.request({ op: 'publish', topic, data }, { timeoutMs: 10000 });
                if (reply.op !== 'ack') {
                    assertError(reply, 'unavailable', { what: `publish ${data.i} during the outage` });
                    return;
                }
                acked.set(reply.seq, data);
            }
        });
        await waitFor(() => acked.size >= 100, { timeoutMs: 10000, what: '100 acks' });
        await redis.kill9();
        await Promise.all(lanes);

        await waitHealth(nodes, 503);
        assertError(await p.request({ op: 'publish', topic, data: 'down' }), 'unavailable');
        assertHttpError(await httpPublish(b, { topic, data: 'down' }), 503, 'unavailable');
        assert.equal((await stats(a)).redis.connected, false);
        assert.ok(sub.isOpen && p.isOpen, 'local connections stay open during the outage');

        await redis.restart();
        await waitHealth(nodes, 200);
        await waitFor(async () => (await stats(b)).redis.connected, { what: 'redis.connected again on B' });
        const live = await p.ok({ op: 'publish', topic, data: 'after' }, { timeoutMs: 10000 });
        await sub.nextMessage((m) => m.seq === live.seq, 10000);
        assert.ok(sub.isOpen, 'the subscriber was never closed');

        const reader = await connect(b.url, { t });
        assert.equal(reader.welcome.epoch, epoch, 'nothing was lost, so the epoch stays');
        const stored = await fullHistory(reader, topic);
        const storedBySeq = new Map(stored.map((m) => [m.seq, m.data]));
        for (const [seq, data] of acked) {
            assert.deepEqual(storedBySeq.get(seq), data, `acked seq ${seq} in history after the Redis restart`);
        }
        assert.deepEqual(sub.log.filter(isMessage(topic)).map((m) => m.seq), stored.map((m) => m.seq),
            'the old subscriber got every stored message once, in order');
    });

    // Two ways a live data set goes back under the nodes: its counter below
    // what they delivered with the epoch kept (lost writes), and emptied.
    const goBack = {
        'the seq goes back, the epoch kept': (redis, seen) => redis.command('SET', 'wsb:{wsb}:seq', String(seen[1].seq)),
        'the data set is emptied': (redis) => redis.command('FLUSHALL'),
    };
    for (const [how, act] of Object.entries(goBack)) it(`${how} under live links: one new epoch on every node, 4000`,
        async (t) => {
            const { redis, nodes: [a, b] } = await startRedisNodes({ t, count: 2 });
            const topic = uniqueTopic('rf.back');
            const sub = await connect(b.url, { t });
            await sub.ok({ op: 'subscribe', topic });
            const subA = await connect(a.url, { t }); // on the publishing node
            await subA.ok({ op: 'subscribe', topic });
            const p = await connect(a.url, { t });
            const oldEpoch = p.welcome.epoch;
            for (const i of range(5)) await p.ok({ op: 'publish', topic, data: { i } });
            const seen = await sub.collect(isMessage(topic), 5);
            await subA.collect(isMessage(topic), 5);
            await act(redis, seen);
            // Publishes now get seqs the nodes already delivered: none of
            // them may reach a connection of the old epoch.
            for (const i of range(3)) p.send({ op: 'publish', topic, data: { after: i }, key: `back-${i}` });
            for (const c of [sub, subA, p]) {
                const closed = await c.waitClosed({ timeoutMs: RECOVERY_WAIT_MS });
                assert.equal(closed.code, 4000, JSON.stringify(closed));
            }
            for (const c of [sub, subA]) {
                assert.deepEqual(c.log.filter(isMessage(topic)).map((m) => m.seq), seen.map((m) => m.seq),
                    'nothing after the seq went back, before the close');
            }
            const again = [await connect(a.url, { t }), await connect(b.url, { t })];
            assert.notEqual(again[0].welcome.epoch, oldEpoch, 'a new epoch');
            assert.equal(again[1].welcome.epoch, again[0].welcome.epoch, 'one epoch for both nodes');
            assert.equal(await redis.command('GET', 'wsb:{wsb}:epoch'), again[0].welcome.epoch);
            const ack = await again[1].ok({ op: 'subscribe', topic, since: seen.at(-1).seq, epoch: oldEpoch });
            assert.equal(ack.recovered, false, 'a resume from the old epoch is not recovered');
            // A retry of those keyed publishes is stored, or answered with a
            // seq that history holds: never a duplicate of nothing.
            for (const i of range(3)) {
                const retry = await again[0].ok({ op: 'publish', topic, data: { after: i }, key: `back-${i}` });
                const held = await again[0].ok({ op: 'history', topic, since: retry.seq - 1, limit: 1 });
                assert.deepEqual(held.messages.map((m) => [m.seq, m.data]), [[retry.seq, { after: i }]],
                    `retry ${i}: ${JSON.stringify(retry)}`);
            }
        });

    it('Redis back without its data: a new epoch, 4000, SSE ended, a resume says recovered:false',
        async (t) => {
            const { redis, nodes: [a, b] } = await startRedisNodes({ t, count: 2 });
            const topic = uniqueTopic('rf.lost');
            const sub = await connect(b.url, { t });
            await sub.ok({ op: 'subscribe', topic });
            const p = await connect(a.url, { t });
            const oldEpoch = p.welcome.epoch;
            for (const i of range(5)) await p.ok({ op: 'publish', topic, data: { i } });
            const seen = await sub.collect(isMessage(topic), 5);
            const sse = await openSse(apiUrl(b, '/sse', { topic }), { t });
            assert.equal(sse.status, 200);
            await redis.kill9();
            await fs.rm(path.join(redis.dir, 'appendonlydir'), { recursive: true, force: true });
            await redis.restart();

            for (const c of [sub, p]) {
                const closed = await c.waitClosed({ timeoutMs: RECOVERY_WAIT_MS });
                assert.equal(closed.code, 4000, `closed with 4000 ("resume with since"): ${JSON.stringify(closed)}`);
            }
            await sse.waitEnded({ timeoutMs: RECOVERY_WAIT_MS });
            await waitHealth([a, b], 200);
            const again = await connect(b.url, { t });
            assert.notEqual(again.welcome.epoch, oldEpoch, 'a new epoch');
            const ack = await again.ok({ op: 'subscribe', topic, since: seen.at(-1).seq, epoch: oldEpoch });
            assert.equal(ack.recovered, false, JSON.stringify(ack));
            const p2 = await connect(a.url, { t });
            assert.equal(p2.welcome.epoch, again.welcome.epoch, 'both nodes took the new epoch');
            const live = await p2.ok({ op: 'publish', topic, data: 'new epoch' });
            const m = await again.nextMessage((x) => x.seq === live.seq, 5000);
            assert.equal(m.data, 'new epoch');
        });

    it('a node whose pub/sub fell further behind than the feed keeps closes its sessions with 4000', async (t) => {
        const { redis, nodes: [a, b] } = await startRedisNodes({ t, count: 2 });
        const topic = uniqueTopic('rf.behind');
        const sub = await connect(b.url, { t });
        await sub.ok({ op: 'subscribe', topic });
        const node = (await stats(b)).redis.node;
        // B stops reading; Redis drops its pub/sub connection once more than
        // 32 MB wait for it (client-output-buffer-limit pubsub), and the
        // feed keeps about 10,000 seqs: 12,000 messages of 3 KB pass both.
        b.proc.kill('SIGSTOP');
        let resumed = false;
        const resume = () => { if (!resumed) { resumed = true; b.proc.kill('SIGCONT'); } };
        onCleanup(t, resume);
        const pad = 'x'.repeat(3000);
        let last = 0;
        for (const k of range(12)) {
            const res = await httpPublish(a, { messages: range(1000).map((i) => ({ topic, data: { k, i, pad } })) },
                { timeoutMs: 60000 });
            assert.equal(res.status, 200, res.text.slice(0, 200));
            last = res.json.seqs.at(-1);
        }
        await waitFor(async () => !(await redis.clients()).some((c) => c.name === `wsb-${node}-sub`),
            { timeoutMs: 30000, what: 'Redis dropping the stopped node\'s pub/sub connection' });
        resume();
        const closed = await sub.waitClosed({ timeoutMs: RECOVERY_WAIT_MS });
        assert.equal(closed.code, 4000, JSON.stringify(closed));
        assert.match(String(closed.reason), /seqs started over/, 'closed for the gap, not as a slow consumer');
        const got = sub.log.filter(isMessage(topic)).map((m) => m.seq);
        assertAscending(got, 'what B delivered before the close');
        // B goes on: once caught up, a new message reaches a new subscriber.
        await waitFor(async () => (await stats(b)).redis.delivered_seq >= last,
            { timeoutMs: RECOVERY_WAIT_MS, what: 'B caught up' });
        const again = await connect(b.url, { t });
        await again.ok({ op: 'subscribe', topic });
        const ack = await (await connect(a.url, { t })).ok({ op: 'publish', topic, data: 'after' });
        assert.equal((await again.nextMessage((m) => m.seq === ack.seq, 10000)).data, 'after');
    });

    it('a Redis without appendfsync always: the broker warns at start', async (t) => {
        const redis = await startRedis({ t });
        await redis.command('CONFIG', 'SET', 'appendfsync', 'everysec');
        const [broker] = await startRedisBrokers(redis, { t, count: 1, args: ['--log-format', 'json'] });
        const warnings = () => broker.stderrText().split('\n').filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l)).filter((e) => e.level === 'warn' || e.level === 'error');
        await waitFor(() => warnings().some((e) => /appendfsync/.test(e.msg)),
            { what: 'a warning that names appendfsync' });
        assert.equal(await healthStatus(broker), 200, 'a warning, not a refusal');
    });

    it('a broker started while Redis is down becomes healthy once Redis comes up', async (t) => {
        const port = await freePort();
        const broker = await startBroker({
            t, db: false, args: ['--redis', `redis://127.0.0.1:${port}`], readyWhenAnswering: true,
        });
        const topic = uniqueTopic('rf.late');
        assert.equal(await healthStatus(broker), 503);
        assertHttpError(await httpPublish(broker, { topic, data: 'early' }), 503, 'unavailable');
        const early = await stats(broker);
        assert.equal(early.engine, 'redis');
        assert.equal(early.redis.connected, false);

        await startRedis({ t, port });
        await waitHealth([broker], 200);
        const c = await connect(broker.url, { t });
        await c.ok({ op: 'subscribe', topic });
        const res = await httpPublish(broker, { topic, data: 'late' });
        assert.equal(res.status, 200, res.text);
        assert.equal((await c.nextMessage()).seq, res.json.seq);
        // Stopped here, while its Redis still runs (cleanups stop Redis first).
        assert.equal(await broker.stop(), 0);
    });
});
