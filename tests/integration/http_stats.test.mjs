// SPDX-License-Identifier: MIT
// http_stats.test.mjs: what the broker reports over HTTP about its topics and
// itself (docs/protocol.md section 8): GET /api/presence (members, 400s),
// GET /api/stats (connections, subscriptions, topics, seq, epoch,
// counters) and GET /metrics (a strict Prometheus text parse, the commit
// histogram, counters that follow publishing and delivery).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { publishOk, subscriber } from './lib/http_api.mjs';
import {
    apiUrl, assertAscending, assertHttpError, httpRequest, isMessage, parsePrometheus, range, sharedBroker,
    uniqueTopic,
} from './lib/util.mjs';

describe('http presence', () => {
    const ctx = sharedBroker();
    const presenceOf = async (topic) => {
        const res = await httpRequest(apiUrl(ctx.broker, '/api/presence', { topic }));
        assert.equal(res.status, 200, res.text);
        return res.json;
    };

    it('lists presence members with user null; plain subscribers are not members', async (t) => {
        const topic = uniqueTopic('hpr.doc');
        assert.deepEqual(await presenceOf(topic), { topic, members: [] });
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        const plain = await connect(ctx.broker.url, { t });
        await a.ok({ op: 'subscribe', topic, presence: true });
        await b.ok({ op: 'subscribe', topic, presence: true });
        await plain.ok({ op: 'subscribe', topic });
        const p = await presenceOf(topic);
        assert.equal(p.topic, topic);
        const sorted = (list) => [...list].sort((x, y) => x.client.localeCompare(y.client));
        assert.deepEqual(sorted(p.members), sorted([
            { client: a.welcome.client, user: null }, { client: b.welcome.client, user: null },
        ]));
        await a.close();
        await waitFor(async () => {
            const q = await presenceOf(topic);
            return q.members.length === 1 && q.members[0].client === b.welcome.client;
        }, { what: 'the closed member to leave' });
        await b.ok({ op: 'unsubscribe', topic });
        await waitFor(async () => (await presenceOf(topic)).members.length === 0, { what: 'no members' });
    });

    it('a pattern or a bad topic is 400; a missing topic is 400', async () => {
        const base = uniqueTopic('hpr.bad');
        for (const topic of [`${base}.*`, `${base}.>`]) {
            const res = await httpRequest(apiUrl(ctx.broker, '/api/presence', { topic }));
            assert.equal(res.status, 400, `${topic}: ${res.text}`);
            assert.ok(['bad_request', 'invalid_topic'].includes(res.json?.error?.code), res.text);
        }
        assertHttpError(await httpRequest(apiUrl(ctx.broker, '/api/presence', { topic: `${base}..x` })),
            400, 'invalid_topic');
        const missing = await httpRequest(`${ctx.broker.http}/api/presence`);
        assert.equal(missing.status, 400, missing.text);
        assert.ok(['bad_request', 'invalid_topic'].includes(missing.json?.error?.code), missing.text);
    });
});

describe('http stats', () => {
    it('reports connections, subscriptions, topics, seq, epoch and counters', async (t) => {
        const broker = await startBroker({ t });
        const stats = async () => {
            const res = await httpRequest(`${broker.http}/api/stats`);
            assert.equal(res.status, 200, res.text);
            assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
            return res.json;
        };
        const s0 = await stats();
        for (const k of ['connections', 'subscriptions', 'topics', 'seq']) {
            assert.ok(Number.isSafeInteger(s0[k]) && s0[k] >= 0, `${k}: ${JSON.stringify(s0)}`);
        }
        assert.equal(typeof s0.epoch, 'string');
        assert.ok(s0.counters && typeof s0.counters === 'object', JSON.stringify(s0));
        for (const [k, v] of Object.entries(s0.counters)) assert.ok(Number.isFinite(v) && v >= 0, `counter ${k}=${v}`);
        assert.deepEqual([s0.connections, s0.subscriptions, s0.topics], [0, 0, 0], 'an idle broker');

        const a = await connect(broker.url, { t });
        const b = await connect(broker.url, { t });
        assert.equal(s0.epoch, a.welcome.epoch, 'epoch as in welcome');
        await a.ok({ op: 'subscribe', topic: 'st.x' });
        await a.ok({ op: 'subscribe', topic: 'st.>' });
        await b.ok({ op: 'subscribe', topic: 'st.x' });
        const s1 = await stats();
        assert.equal(s1.connections, 2);
        assert.equal(s1.subscriptions, 3);
        assert.equal(s1.topics, 2, 'distinct names and patterns');
        const ack = await b.ok({ op: 'publish', topic: 'st.x', data: 1 });
        const { seq } = await publishOk(broker, { topic: 'st.y', data: 2 });
        await a.collect(isMessage(), 2);
        const s2 = await stats();
        assert.equal(s2.seq, seq, 'seq is the newest seq');
        assert.ok(seq > ack.seq);
        if ('messages_published' in s2.counters) {
            assert.equal(s2.counters.messages_published - s1.counters.messages_published, 2);
        }
        await a.close();
        await b.close();
        await waitFor(async () => (await stats()).connections === 0, { what: 'connections back to 0' });
        const s3 = await stats();
        assert.deepEqual([s3.subscriptions, s3.topics], [0, 0]);
    });
});

describe('http metrics', () => {
    const ctx = sharedBroker();
    const scrape = async () => {
        const res = await httpRequest(`${ctx.broker.http}/metrics`);
        assert.equal(res.status, 200, res.text);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
        return parsePrometheus(res.text);
    };

    it('is valid Prometheus text with the documented metrics and types', async () => {
        const m = await scrape();
        const types = {
            wsbroker_connections: 'gauge',
            wsbroker_messages_published_total: 'counter',
            wsbroker_messages_delivered_total: 'counter',
            wsbroker_messages_dropped_total: 'counter',
            wsbroker_slow_consumer_disconnects_total: 'counter',
            wsbroker_store_commit_seconds: 'histogram',
        };
        for (const [name, type] of Object.entries(types)) {
            assert.ok(m.families.has(name), `metric family ${name} missing`);
            assert.equal(m.families.get(name).type, type, `TYPE of ${name}`);
            assert.ok(m.families.get(name).help.length > 0, `HELP of ${name}`);
        }
        for (const name of Object.keys(types).filter((n) => types[n] !== 'histogram')) {
            const v = m.get(name);
            assert.ok(Number.isFinite(v) && v >= 0, `${name} = ${v}`);
        }
        for (const [name, fam] of m.families) {
            if (fam.type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
        }
    });

    it('the commit histogram has cumulative buckets ending in +Inf = _count', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        await c.ok({ op: 'publish', topic: uniqueTopic('hm.h'), data: 1 });
        const m = await scrape();
        const buckets = m.samples.filter((s) => s.name === 'wsbroker_store_commit_seconds_bucket');
        assert.ok(buckets.length >= 2, 'at least one finite bucket and +Inf');
        const les = buckets.map((b) => b.labels.le);
        assert.equal(les.at(-1), '+Inf');
        const bounds = les.map((le) => (le === '+Inf' ? Infinity : Number(le)));
        bounds.forEach((b, i) => assert.ok(!Number.isNaN(b), `le ${les[i]}`));
        assertAscending(bounds, 'le bounds');
        for (let i = 1; i < buckets.length; i++) {
            assert.ok(buckets[i].value >= buckets[i - 1].value, `bucket counts are cumulative: ${les[i]}`);
        }
        const count = m.get('wsbroker_store_commit_seconds_count');
        const sum = m.get('wsbroker_store_commit_seconds_sum');
        assert.equal(buckets.at(-1).value, count, '+Inf bucket = _count');
        assert.ok(count >= 1, 'a commit happened');
        assert.ok(Number.isFinite(sum) && sum >= 0, `_sum ${sum}`);
    });

    it('counters and gauges follow publishing and delivery', async (t) => {
        const topic = uniqueTopic('hm.count');
        const sub = await subscriber(ctx.broker, topic, t);
        const m0 = await scrape();
        assert.ok(m0.get('wsbroker_connections') >= 1, 'the subscriber is counted');
        const ws = await connect(ctx.broker.url, { t });
        await publishOk(ctx.broker, { messages: range(5).map((i) => ({ topic, data: i })) });
        await ws.ok({ op: 'publish', topic, data: 5 });
        await ws.ok({ op: 'publish', topic, data: 6, echo: false });
        await sub.collect(isMessage(topic), 7);
        const m1 = await scrape();
        const delta = (name) => m1.get(name) - m0.get(name);
        assert.equal(delta('wsbroker_messages_published_total'), 7);
        assert.ok(delta('wsbroker_messages_delivered_total') >= 7,
            `delivered +${delta('wsbroker_messages_delivered_total')}`);
        assert.ok(delta('wsbroker_store_commit_seconds_count') >= 1, 'commits counted');
        assert.ok(delta('wsbroker_store_commit_seconds_sum') >= 0);
        assert.equal(delta('wsbroker_messages_dropped_total'), 0);
        assert.equal(delta('wsbroker_slow_consumer_disconnects_total'), 0);
        assert.ok(m1.get('wsbroker_connections') >= 2, 'both connections are counted');
    });
});
