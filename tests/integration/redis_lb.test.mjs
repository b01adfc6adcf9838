// SPDX-License-Identifier: MIT
// redis_lb.test.mjs: the example of deploy/multinode/ run for real. A
// redis-server with deploy/multinode/redis.conf, three wsbroker nodes
// started with --redis, and HAProxy with deploy/multinode/haproxy.cfg (ports
// changed) in front of them; then nginx with nginx-site.conf in front of
// the same nodes. Through the proxy: WebSocket upgrades and SSE streams
// pass, a publish on one node reaches subscribers on every node, streams
// outlive the proxy's inactivity timeouts on the broker's heartbeat, a
// Redis outage takes the nodes out of the pool (/healthz 503) and back,
// and a client of a node that died resumes elsewhere with `since`.
//
// Needs redis-server, haproxy and nginx (scripts/deps.sh test).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpGet, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { history, publishOk, subscriber } from './lib/http_api.mjs';
import { redisCommand, startHaproxy, startNginx, startRedis } from './lib/lb.mjs';
import { apiUrl, httpPublish, isMessage, openSse, uniqueTopic } from './lib/util.mjs';

const NODES = 3;
// The nodes' heartbeat (SSE comments, WebSocket pings) and the proxy's
// inactivity timeouts in these tests: a stream that lives four heartbeats
// has outlived the timeout, which only the heartbeat's traffic explains.
const HEARTBEAT_S = 1;
const SHORT_TIMEOUTS = { 'timeout client 60s': 'timeout client 3s', 'timeout server 60s': 'timeout server 3s' };

async function stats(node) {
    const res = await httpGet(`${node.http}/api/stats`);
    assert.equal(res.status, 200, `stats of node ${node.port}: ${res.status} ${res.text}`);
    return res.json;
}

// An SSE stream through `proxy` whose opening block arrived (its
// subscriptions are in place).
async function sseReady(proxy, topic, t) {
    const stream = await openSse(apiUrl(proxy, '/sse', { topic }), { t });
    assert.equal(stream.status, 200, `SSE through the proxy: ${stream.status} ${stream.raw.slice(0, 300)}`);
    await waitFor(() => stream.raw.includes('\n\n') || stream.ended, { what: 'the SSE opening block' });
    assert.ok(!stream.ended, `SSE stream ended at once: ${JSON.stringify(stream.raw)}`);
    return stream;
}

// The node (of `nodes`) holding `count` WebSocket or SSE connections, the
// others holding none.
async function nodeHolding(nodes, count) {
    return waitFor(async () => {
        const held = await Promise.all(nodes.map(async (n) => (n.exit ? 0 : (await stats(n)).connections)));
        const busy = held.map((c, i) => [c, i]).filter(([c]) => c > 0);
        return busy.length === 1 && busy[0][0] === count ? nodes[busy[0][1]] : null;
    }, { what: `one node holding ${count} connection(s)` });
}

// Messages through `proxy`: a WebSocket subscriber, an SSE stream and a
// subscriber on every node directly each get a message published over
// WebSocket through the proxy and one published over HTTP through it.
async function checkTraffic(t, proxy, nodes) {
    const topic = uniqueTopic('lb.traffic');
    const wsSub = await subscriber(proxy, topic, t);
    const sse = await sseReady(proxy, topic, t);
    const direct = await Promise.all(nodes.map((n) => subscriber(n, topic, t)));
    const publisher = await connect(proxy.url, { t });
    const viaWs = await publisher.ok({ op: 'publish', topic, data: { via: 'ws' } });
    const viaHttp = await publishOk(proxy, { topic, data: { via: 'http' } });
    assert.ok(viaHttp.seq > viaWs.seq, `seqs ascend across nodes: ${viaWs.seq}, ${viaHttp.seq}`);
    for (const [who, c] of [['ws through the proxy', wsSub], ...direct.map((c, i) => [`node ${i + 1}`, c])]) {
        const got = await c.collect(isMessage(topic), 2, { what: `messages at ${who}` });
        assert.deepEqual(got.map((m) => [m.seq, m.data.via]), [[viaWs.seq, 'ws'], [viaHttp.seq, 'http']], who);
    }
    const events = await sse.collect((e) => e.json?.topic === topic, 2, { what: 'SSE events through the proxy' });
    assert.deepEqual(events.map((e) => [Number(e.id), e.json.data.via]), [[viaWs.seq, 'ws'], [viaHttp.seq, 'http']]);
}

test('three --redis nodes behind the deploy/multinode load balancers', async (t) => {
    const redis = await startRedis(t);
    assert.equal(await redisCommand(redis.port, 'CONFIG', 'GET', 'appendfsync'), 'appendfsync\nalways');
    const nodes = [];
    for (let i = 0; i < NODES; i++) {
        const args = ['--redis', redis.url, '--heartbeat', String(HEARTBEAT_S)];
        nodes.push(await startBroker({ args, db: false, t }));
    }
    const ports = nodes.map((n) => n.port);

    await t.test('every node runs the redis engine, each with its own node id', async () => {
        const all = await Promise.all(nodes.map(stats));
        for (const s of all) {
            assert.equal(s.engine, 'redis', JSON.stringify(s));
            assert.equal(s.redis?.connected, true, JSON.stringify(s));
            assert.match(s.redis.node, /^[0-9a-f]{16}$/, JSON.stringify(s));
        }
        assert.equal(new Set(all.map((s) => s.redis.node)).size, NODES, 'node ids differ');
    });

    const haproxy = await startHaproxy(t, ports, SHORT_TIMEOUTS);

    await t.test('HAProxy passes WebSocket upgrades and SSE to nodes sharing one seq', async (st) => {
        const c = await connect(haproxy.url, { t: st });
        assert.ok(c.welcome.features.includes('redis'), JSON.stringify(c.welcome));
        await checkTraffic(st, haproxy, nodes);
    });

    await t.test('streams through HAProxy outlive its 3 s inactivity timeouts on heartbeats', async (st) => {
        const topic = uniqueTopic('lb.idle');
        const sse = await sseReady(haproxy, topic, st);
        const ws = await subscriber(haproxy, topic, st);
        let pings = 0;
        ws.ws.on('ping', () => { pings += 1; });
        // Five heartbeats at HEARTBEAT_S apart span more than the 3 s timeouts.
        for (let i = 0; i < 5; i++) await sse.nextComment(() => true, { timeoutMs: 5000, what: `heartbeat ${i + 1}` });
        await waitFor(() => pings >= 5, { timeoutMs: 8000, what: 'five WebSocket pings through HAProxy' });
        assert.ok(!sse.ended, 'the SSE stream is open');
        assert.ok(ws.isOpen, `the WebSocket is open: ${JSON.stringify(ws.closeInfo)}`);
        const { seq } = await publishOk(haproxy, { topic, data: 'after the idle time' });
        assert.equal((await ws.nextMessage((m) => m.topic === topic)).seq, seq);
        assert.equal(Number((await sse.next((e) => e.json?.topic === topic)).id), seq);
    });

    await t.test('Redis down: /healthz 503 takes the nodes out, connections stay, all comes back', async (st) => {
        const topic = uniqueTopic('lb.outage');
        const sub = await subscriber(haproxy, topic, st);
        const before = await publishOk(haproxy, { topic, data: 'before' });
        await sub.nextMessage((m) => m.seq === before.seq);
        await redis.stop();
        for (const n of nodes) {
            await waitFor(async () => (await httpGet(`${n.http}/healthz`)).status === 503,
                { timeoutMs: 10000, what: `node ${n.port} /healthz 503 without Redis` });
        }
        // Every node failed its checks: HAProxy answers by itself, having no
        // server left (a node's own 503 is JSON).
        await waitFor(async () => {
            const res = await httpGet(`${haproxy.http}/healthz`);
            return res.status === 503 && /No server is available/.test(res.text);
        }, { timeoutMs: 15000, intervalMs: 100, what: 'HAProxy without a server in the pool' });
        assert.ok(sub.isOpen, `a subscriber stays connected: ${JSON.stringify(sub.closeInfo)}`);
        const refused = await sub.request({ op: 'publish', topic, data: 'during' });
        assert.equal(refused.op, 'error', JSON.stringify(refused));
        assert.equal(refused.code, 'unavailable', JSON.stringify(refused));

        await redis.start();
        await haproxy.waitHealth(200, { timeoutMs: 30000 });
        const after = await publishOk(haproxy, { topic, data: 'after' });
        assert.ok(after.seq > before.seq, `the seq goes on from the append-only file: ${before.seq}, ${after.seq}`);
        const m = await sub.nextMessage((f) => f.topic === topic, 15000);
        assert.deepEqual([m.seq, m.data], [after.seq, 'after'], 'the kept subscriber gets the next message');
        const h = await history(haproxy, { topic, since: 0 });
        assert.deepEqual(h.messages.map((x) => x.data), ['before', 'after'], 'nothing acknowledged was lost');
    });

    await t.test('a node dies: its client reconnects through HAProxy and resumes with since', async (st) => {
        const topic = uniqueTopic('lb.failover');
        const sub = await subscriber(haproxy, topic, st);
        const victim = await nodeHolding(nodes, 1);
        const first = await publishOk(haproxy, { topic, data: 1 });
        assert.equal((await sub.nextMessage((m) => m.topic === topic)).seq, first.seq);
        await victim.kill9();
        await sub.waitClosed({ timeoutMs: 5000 });
        // Published while the client is away; the node it lands on next serves it.
        const missed = await waitFor(async () => {
            const res = await httpPublish(haproxy, { topic, data: 2 });
            return res.status === 200 ? res.json : null;
        }, { timeoutMs: 15000, intervalMs: 200, what: 'a publish through HAProxy after the node died' });
        const again = await connect(haproxy.url, { t: st });
        const ack = await again.ok({ op: 'subscribe', topic, since: first.seq, epoch: sub.welcome.epoch });
        assert.equal(ack.recovered, true, JSON.stringify(ack));
        const m = await again.nextMessage((f) => f.topic === topic);
        assert.deepEqual([m.seq, m.data], [missed.seq, 2]);
    });

    await t.test('nginx-site.conf passes WebSocket upgrades and unbuffered SSE', async (st) => {
        // The dead node stays listed: nginx passes over it (connection refused).
        const nginx = await startNginx(st, ports);
        await checkTraffic(st, nginx, nodes.filter((n) => !n.exit));
    });
});
