// SPDX-License-Identifier: MIT
// redis_nodes.test.mjs: three brokers on one Redis (--redis) behave as one
// broker (docs/protocol.md section 11 "Several nodes", docs/design.md
// section 7): one global seq, delivery on every node in seq order exactly
// once, shared history, dedupe keys, expect_last and presence, a node's lost
// Redis pub/sub messages repaired, and what /api/stats and /metrics report.
// Node and Redis failures are in redis_failover.test.mjs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpGet, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { history, publishOk } from './lib/http_api.mjs';
import { sharedRedisNodes, stats, subConnection } from './lib/redis.mjs';
import {
    apiUrl, assertAscending, fullHistory, httpRequest, isMessage, parsePrometheus, publishMany, range, uniqueTopic,
} from './lib/util.mjs';

const byClient = (a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0);
const isJoin = (topic, client) => (f) => f.op === 'join' && f.topic === topic && f.client === client;
const isLeave = (topic, client) => (f) => f.op === 'leave' && f.topic === topic && f.client === client;

// One WebSocket client per broker, each subscribed to `topic` with `extra`.
function subscribeEach(nodes, topic, t, extra = {}) {
    return Promise.all(nodes.map(async (broker) => {
        const c = await connect(broker.url, { t });
        await c.ok({ op: 'subscribe', topic, ...extra });
        return c;
    }));
}

// Waits until every node reports in /api/stats that it delivered `seq`.
function waitDelivered(nodes, seq) {
    return waitFor(async () => {
        const all = await Promise.all(nodes.map(stats));
        return all.every((s) => s.redis && s.redis.delivered_seq >= seq);
    }, { timeoutMs: 5000, what: `redis.delivered_seq >= ${seq} on every node` });
}

// Shows that nothing but `sentinel` follows on each subscriber: publishes it
// and checks it is the next message (a node delivers in seq order).
async function assertSentinelNext(publisher, subs, topic) {
    const ack = await publisher.ok({ op: 'publish', topic, data: 'sentinel' });
    for (const [i, s] of subs.entries()) {
        const m = await s.nextMessage(() => true, 5000);
        assert.equal(m.seq, ack.seq, `subscriber ${i}: expected the sentinel, got ${JSON.stringify(m)}`);
    }
}

describe('several brokers on one redis', () => {
    const ctx = sharedRedisNodes({ count: 3 });

    it('every node says engine redis, connected, with its own node id and named Redis connections', async (t) => {
        const ids = [];
        for (const broker of ctx.nodes) {
            const s = await stats(broker);
            assert.equal(s.engine, 'redis', JSON.stringify(s));
            assert.equal(typeof s.redis, 'object', JSON.stringify(s));
            assert.equal(s.redis.connected, true, JSON.stringify(s.redis));
            assert.match(s.redis.node, /^[0-9a-f]{16}$/);
            for (const field of ['rtt_us', 'delivered_seq', 'gap_repairs']) {
                const value = s.redis[field];
                assert.ok(Number.isSafeInteger(value) && value >= 0, `${field}: ${JSON.stringify(s.redis)}`);
            }
            ids.push(s.redis.node);
            const res = await httpGet(`${broker.http}/metrics`);
            assert.equal(res.status, 200);
            const metrics = parsePrometheus(res.text);
            assert.equal(metrics.get('wsbroker_redis_connected'), 1);
            assert.equal(metrics.get('wsbroker_store_engine_info', { engine: 'redis' }), 1);
            assert.ok(metrics.families.has('wsbroker_redis_rtt_seconds'), 'wsbroker_redis_rtt_seconds');
            assert.ok(metrics.families.has('wsbroker_redis_gap_repairs_total'), 'wsbroker_redis_gap_repairs_total');
            const c = await connect(broker.url, { t });
            assert.ok(c.welcome.features.includes('redis'), JSON.stringify(c.welcome.features));
        }
        assert.equal(new Set(ids).size, ids.length, `node ids differ: ${ids}`);
        for (const broker of ctx.nodes) {
            const warned = broker.stderrText().split('\n')
                .filter((l) => /^(\S+ )?(warn|error) /.test(l) && /appendfsync/.test(l));
            assert.deepEqual(warned, [], 'no durability warning with appendonly yes and appendfsync always');
        }
        const names = (await ctx.redis.clients()).map((c) => c.name);
        for (const id of ids) {
            assert.ok(names.includes(`wsb-${id}-cmd`), `wsb-${id}-cmd in CLIENT LIST: ${names}`);
            assert.ok(names.includes(`wsb-${id}-sub`), `wsb-${id}-sub in CLIENT LIST: ${names}`);
        }
    });

    it('publishes on every node (WebSocket and HTTP) reach a wildcard subscriber on every node once, ' +
        'in one global seq order', async (t) => {
        const base = uniqueTopic('rn.fan');
        const subs = await subscribeEach(ctx.nodes, `${base}.>`, t);
        const pubs = await Promise.all(ctx.nodes.map((b) => connect(b.url, { t })));
        const sent = new Map(); // seq -> {topic, data}
        const record = (seq, topic, data) => {
            assert.ok(Number.isSafeInteger(seq) && seq > 0, `seq ${seq}`);
            const shown = `${JSON.stringify(sent.get(seq))} and ${JSON.stringify(data)}`;
            assert.ok(!sent.has(seq), `seq ${seq} given twice: ${shown}`);
            sent.set(seq, { topic, data });
        };
        const overWs = pubs.map(async (p, node) => {
            const topic = `${base}.ws${node}.x`;
            const datas = range(25).map((j) => ({ node, j }));
            const acks = await publishMany(p, topic, datas, { window: 5 });
            assertAscending(acks.map((a) => a.seq), `acks of node ${node}`);
            acks.forEach((a, j) => record(a.seq, topic, datas[j]));
        });
        const overHttp = ctx.nodes.map(async (broker, node) => {
            const topic = `${base}.http${node}`;
            for (const j of range(5)) {
                const data = { http: node, j };
                record((await publishOk(broker, { topic, data })).seq, topic, data);
            }
        });
        await Promise.all([...overWs, ...overHttp]);
        const expected = [...sent.keys()].sort((a, b) => a - b);
        for (const [i, s] of subs.entries()) {
            const got = await s.collect(isMessage(), expected.length,
                { timeoutMs: 10000, what: `message on node ${i}` });
            assert.deepEqual(got.map((m) => m.seq), expected, `node ${i} delivers every seq once, ascending`);
            for (const m of got) assert.deepEqual({ topic: m.topic, data: m.data }, sent.get(m.seq));
        }
        await assertSentinelNext(pubs[2], subs, `${base}.end`);
    });

    it('echo:false keeps a message from its author only, on every node', async (t) => {
        const topic = uniqueTopic('rn.echo');
        const [a, b] = ctx.nodes;
        const author = await connect(a.url, { t });
        await author.ok({ op: 'subscribe', topic });
        const [sameNode, otherNode] = await subscribeEach([a, b], topic, t);
        const ack = await author.ok({ op: 'publish', topic, data: 'edit', echo: false });
        assert.equal((await sameNode.nextMessage()).seq, ack.seq);
        assert.equal((await otherNode.nextMessage()).seq, ack.seq);
        await assertSentinelNext(otherNode, [author, sameNode, otherNode], topic);
    });

    it('history and replay are shared: published on A, read and replayed on C', async (t) => {
        const topic = uniqueTopic('rn.hist');
        const [a, b, c] = ctx.nodes;
        const p = await connect(a.url, { t });
        const seqs = [];
        for (const i of range(5)) seqs.push((await p.ok({ op: 'publish', topic, data: { i } })).seq);
        const reader = await connect(c.url, { t });
        const h = await reader.ok({ op: 'history', topic });
        assert.deepEqual(h.messages.map((m) => [m.seq, m.data.i]), seqs.map((s, i) => [s, i]));
        assert.equal(h.more, false);
        const overHttp = await history(b, { topic, since: seqs[2] });
        assert.deepEqual(overHttp.messages.map((m) => m.seq), seqs.slice(3));

        const ack = await reader.ok({ op: 'subscribe', topic, since: seqs[1], epoch: p.welcome.epoch });
        assert.equal(ack.recovered, true, 'the epoch of node A is the epoch of node C');
        assert.equal(ack.replayed, 3);
        assert.deepEqual((await reader.collect(isMessage(topic), 3)).map((m) => m.seq), seqs.slice(2));
        const live = await p.ok({ op: 'publish', topic, data: 'live' });
        assert.equal((await reader.nextMessage()).seq, live.seq);
    });

    it('welcome.seq and the subscribe ack seq are the node\'s newest delivered seq; one epoch', async (t) => {
        const topic = uniqueTopic('rn.seq');
        const p = await connect(ctx.nodes[1].url, { t });
        const last = (await p.ok({ op: 'publish', topic, data: 'newest' })).seq;
        await waitDelivered(ctx.nodes, last);
        const epochs = new Set();
        for (const [i, broker] of ctx.nodes.entries()) {
            const c = await connect(broker.url, { t });
            assert.equal(c.welcome.seq, last, `welcome.seq on node ${i}`);
            const ack = await c.ok({ op: 'subscribe', topic: `${topic}.x` });
            assert.equal(ack.seq, last, `subscribe ack seq on node ${i}`);
            epochs.add(c.welcome.epoch);
            epochs.add((await stats(broker)).epoch);
        }
        assert.equal(epochs.size, 1, `one epoch on every node: ${[...epochs]}`);
    });

    it('a dedupe key taken on one node is a duplicate on the others', async (t) => {
        const topic = uniqueTopic('rn.key');
        const [a, b, c] = ctx.nodes;
        const [sub] = await subscribeEach([c], topic, t);
        const first = await (await connect(a.url, { t })).ok({ op: 'publish', topic, data: 'first', key: 'k1' });
        assert.equal(first.duplicate, undefined);
        const again = await (await connect(b.url, { t })).ok({ op: 'publish', topic, data: 'second', key: 'k1' });
        assert.deepEqual({ seq: again.seq, duplicate: again.duplicate }, { seq: first.seq, duplicate: true });
        assert.deepEqual(await publishOk(c, { topic, data: 'third', key: 'k1' }), { seq: first.seq, duplicate: true });
        assert.equal((await sub.nextMessage()).seq, first.seq);
        const [m] = (await history(c, { topic })).messages;
        assert.equal(m.data, 'first');
        const other = await connect(b.url, { t });
        await assertSentinelNext(other, [sub], topic);
    });

    it('expect_last racing on three nodes: exactly one winner per round', async (t) => {
        const topic = uniqueTopic('rn.cond');
        const racers = await Promise.all([...ctx.nodes, ...ctx.nodes].map((b) => connect(b.url, { t })));
        let last = 0;
        const winners = [];
        for (const round of range(8)) {
            const replies = await Promise.all(racers.map((c, i) =>
                c.request({ op: 'publish', topic, data: { round, i }, expect_last: last })));
            const won = replies.filter((r) => r.op === 'ack');
            assert.equal(won.length, 1, `round ${round}: one winner, got ${JSON.stringify(replies)}`);
            for (const r of replies.filter((x) => x.op !== 'ack')) {
                assert.equal(r.code, 'conflict', JSON.stringify(r));
                assert.equal(r.last, won[0].seq, `a loser sees the winner as newest: ${JSON.stringify(r)}`);
            }
            last = won[0].seq;
            winners.push(last);
        }
        const stored = await fullHistory(racers[2], topic);
        assert.deepEqual(stored.map((m) => m.seq), winners);
    });

    it('presence is shared: members on A and B are listed on C; join and leave cross nodes', async (t) => {
        const topic = uniqueTopic('rn.pres');
        const [a, b, c] = ctx.nodes;
        const ma = await connect(a.url, { t });
        const mb = await connect(b.url, { t });
        const plain = await connect(c.url, { t });
        await ma.ok({ op: 'subscribe', topic, presence: true });
        await mb.ok({ op: 'subscribe', topic, presence: true });
        await ma.next(isJoin(topic, mb.welcome.client), { what: 'join of the member on B, on A' });
        const both = [ma, mb].map((m) => ({ client: m.welcome.client, user: null })).sort(byClient);
        const listed = async () => [...(await plain.ok({ op: 'presence', topic })).members].sort(byClient);
        await waitFor(async () => JSON.stringify(await listed()) === JSON.stringify(both),
            { timeoutMs: 3000, what: 'both members listed on C' });
        const overHttp = await httpRequest(apiUrl(c, '/api/presence', { topic }));
        assert.deepEqual([...overHttp.json.members].sort(byClient), both);

        const mc = await connect(c.url, { t });
        await mc.ok({ op: 'subscribe', topic, presence: true });
        await ma.next(isJoin(topic, mc.welcome.client), { what: 'join of the member on C, on A' });
        await mb.next(isJoin(topic, mc.welcome.client), { what: 'join of the member on C, on B' });

        await mb.ok({ op: 'unsubscribe', topic });
        await ma.next(isLeave(topic, mb.welcome.client), { what: 'leave of B\'s member, on A' });
        await mc.next(isLeave(topic, mb.welcome.client), { what: 'leave of B\'s member, on C' });
        ma.terminate();
        await mc.next(isLeave(topic, ma.welcome.client), { what: 'leave of A\'s member after its disconnect, on C' });
        const onlyC = JSON.stringify([{ client: mc.welcome.client, user: null }]);
        await waitFor(async () => JSON.stringify(await listed()) === onlyC,
            { timeoutMs: 3000, what: 'only C\'s member left' });
    });

    it('messages published while B\'s Redis subscription is cut reach B\'s subscriber, all, in order', async (t) => {
        const topic = uniqueTopic('rn.cut');
        const [a, b] = ctx.nodes;
        const [sub] = await subscribeEach([b], topic, t);
        const p = await connect(a.url, { t });
        const repairsBefore = (await stats(b)).redis.gap_repairs;
        const acks = [];
        for (const round of range(3)) {
            const conn = await waitFor(() => subConnection(ctx.redis, b),
                { what: 'B\'s sub connection in CLIENT LIST' });
            assert.equal(await ctx.redis.command('CLIENT', 'KILL', 'ID', conn.id), 1, 'killed one connection');
            acks.push(...await publishMany(p, topic, range(15).map((i) => ({ round, i })), { window: 1 }));
        }
        const got = await sub.collect(isMessage(topic), acks.length, { timeoutMs: 10000 });
        assert.deepEqual(got.map((m) => m.seq), acks.map((r) => r.seq));
        await assertSentinelNext(p, [sub], topic);
        await waitFor(() => subConnection(ctx.redis, b), { what: 'B subscribed to Redis again' });
        t.diagnostic(`gap repairs on B: ${repairsBefore} -> ${(await stats(b)).redis.gap_repairs}`);
    });

    it('the last message published while B\'s Redis subscription is cut still reaches B', async (t) => {
        const topic = uniqueTopic('rn.lastcut');
        const [a, b] = ctx.nodes;
        const [sub] = await subscribeEach([b], topic, t);
        const p = await connect(a.url, { t });
        const conn = await waitFor(() => subConnection(ctx.redis, b), { what: 'B\'s sub connection in CLIENT LIST' });
        assert.equal(await ctx.redis.command('CLIENT', 'KILL', 'ID', conn.id), 1);
        const ack = await p.ok({ op: 'publish', topic, data: 'only one' });
        const m = await sub.nextMessage(() => true, 5000);
        assert.equal(m.seq, ack.seq);
        assert.equal(m.data, 'only one');
    });

    it('thousands published while B\'s Redis subscription is cut reach B, in order, read back page after page', async (t) => {
        const topic = uniqueTopic('rn.bigcut');
        const [a, b] = ctx.nodes;
        const [sub] = await subscribeEach([b], topic, t);
        const conn = await waitFor(() => subConnection(ctx.redis, b), { what: 'B\'s sub connection in CLIENT LIST' });
        assert.equal(await ctx.redis.command('CLIENT', 'KILL', 'ID', conn.id), 1);
        // 3000 messages in three HTTP batches: more than one page (1000) of
        // the feed; whatever B missed while it reconnected is read back.
        const seqs = [];
        for (const k of range(3)) {
            const res = await httpRequest(`${a.http}/api/publish`, {
                method: 'POST', body: { messages: range(1000).map((i) => ({ topic, data: { k, i } })) },
            });
            assert.equal(res.status, 200, res.text.slice(0, 200));
            seqs.push(...res.json.seqs);
        }
        const got = await sub.collect(isMessage(topic), seqs.length, { timeoutMs: 20000 });
        assert.deepEqual(got.map((m) => m.seq), seqs);
    });
});
