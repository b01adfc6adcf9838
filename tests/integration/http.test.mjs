// http.test.mjs: the HTTP surface of docs/protocol.md section 8 and its section
// 10 clarifications, except SSE (sse.test.mjs): POST /api/publish (single,
// batch, dedupe, validation as a whole, limits, base64), GET /api/history,
// /api/presence, /api/stats, /metrics, /healthz, 404, CORS and
// --allow-origin (HTTP and WebSocket upgrades).

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { onCleanup, scaled, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import {
    apiUrl, assertAscending, assertHttpError, httpPublish, httpRequest, isMessage, parsePrometheus,
    range, sharedBroker, uniqueTopic,
} from './lib/util.mjs';

// GET /api/history; asserts 200 and returns the JSON body.
async function history(broker, params) {
    const res = await httpRequest(apiUrl(broker, '/api/history', params));
    assert.equal(res.status, 200, `history ${JSON.stringify(params)}: ${res.status} ${res.text.slice(0, 300)}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return res.json;
}

// POST /api/publish; asserts 200 and returns the JSON body.
async function publishOk(broker, body) {
    const res = await httpPublish(broker, body);
    assert.equal(res.status, 200, `publish ${JSON.stringify(body).slice(0, 200)}: ${res.status} ${res.text}`);
    return res.json;
}

// Subscribes a WebSocket client to `pattern` and returns it.
async function subscriber(broker, pattern, t, extra = {}) {
    const c = await connect(broker.url, { t });
    await c.ok({ op: 'subscribe', topic: pattern, ...extra });
    return c;
}

// Shows that `sub` (subscribed to base.>) got no message from a refused
// request: publishes a sentinel after it and checks the sentinel is the
// next message (frames reach a connection in seq order).
async function assertNothingDelivered(broker, sub, base, what) {
    const sentinel = await publishOk(broker, { topic: `${base}.sentinel`, data: 'sentinel' });
    const first = await sub.nextMessage();
    assert.equal(first.seq, sentinel.seq, `${what}: got ${JSON.stringify(first)} before the sentinel`);
}

// Runs fn; when it throws, adds what the broker process said (a crash shows
// up as 'fetch failed' on the client side otherwise).
async function explainFailure(broker, fn) {
    try {
        return await fn();
    } catch (err) {
        await waitFor(() => broker.exit, { timeoutMs: 2000, what: 'exit' }).catch(() => null);
        const stderr = broker.stderrText().split('\n').filter((l) => !/ debug /.test(l)).slice(-12).join('\n');
        err.message += `\nbroker exit: ${JSON.stringify(broker.exit)}; stderr tail (no debug lines):\n${stderr}`;
        throw err;
    }
}

function assertMessageObject(m, topic) {
    assert.equal(m.op, 'message', JSON.stringify(m));
    if (topic !== undefined) assert.equal(m.topic, topic, JSON.stringify(m));
    assert.ok(Number.isSafeInteger(m.seq) && m.seq > 0, JSON.stringify(m));
    assert.ok(Number.isSafeInteger(m.ts) && m.ts > 1.6e12, JSON.stringify(m));
    assert.ok('data' in m, JSON.stringify(m));
}

describe('http publish', () => {
    const ctx = sharedBroker();

    it('a single publish answers {"seq":N} and reaches WebSocket subscribers and history', async (t) => {
        const topic = uniqueTopic('hp.one');
        const sub = await subscriber(ctx.broker, topic, t);
        const before = Date.now();
        const res = await httpPublish(ctx.broker, { topic, data: { px: 189.2, tags: ['a', 'b'], n: null } });
        assert.equal(res.status, 200, res.text);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        assert.deepEqual(Object.keys(res.json), ['seq'], `body ${res.text}`);
        assert.ok(Number.isSafeInteger(res.json.seq) && res.json.seq > sub.welcome.seq, res.text);
        const m = await sub.nextMessage();
        assertMessageObject(m, topic);
        assert.equal(m.seq, res.json.seq);
        assert.deepEqual(m.data, { px: 189.2, tags: ['a', 'b'], n: null });
        assert.ok(m.ts >= before - 1000 && m.ts <= Date.now() + 1000, `ts ${m.ts}`);
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages, [m], 'history holds the same message object as delivered');
    });

    it('data may be any JSON value, null included', async (t) => {
        const topic = uniqueTopic('hp.values');
        const sub = await subscriber(ctx.broker, topic, t);
        const values = [null, 0, -1.5, true, false, 'text "quoted" \u00e9 \u{1f600}', [], {}, [1, [2, { x: 3 }]]];
        const seqs = [];
        for (const data of values) seqs.push((await publishOk(ctx.broker, { topic, data })).seq);
        assertAscending(seqs);
        const got = await sub.collect(isMessage(topic), values.length);
        assert.deepEqual(got.map((m) => m.data), values);
        assert.deepEqual(got.map((m) => m.seq), seqs);
    });

    it('HTTP and WebSocket publishes share one seq sequence', async (t) => {
        const topic = uniqueTopic('hp.mixed');
        const ws = await connect(ctx.broker.url, { t });
        const a = (await publishOk(ctx.broker, { topic, data: 1 })).seq;
        const b = (await ws.ok({ op: 'publish', topic, data: 2 })).seq;
        const c = (await publishOk(ctx.broker, { topic, data: 3 })).seq;
        assert.ok(a < b && b < c, `seqs ${a} ${b} ${c}`);
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages.map((m) => [m.seq, m.data]), [[a, 1], [b, 2], [c, 3]]);
    });

    it('key makes a publish idempotent (duplicate:true, original seq, stored once)', async (t) => {
        const base = uniqueTopic('hp.key');
        const topic = `${base}.x`;
        const sub = await subscriber(ctx.broker, `${base}.>`, t);
        const first = await publishOk(ctx.broker, { topic, data: { v: 1 }, key: 'order-1' });
        assert.equal(first.duplicate, undefined, 'a first publish carries no duplicate field');
        const again = await publishOk(ctx.broker, { topic, data: { v: 2 }, key: 'order-1' });
        assert.deepEqual(again, { seq: first.seq, duplicate: true });
        const other = await publishOk(ctx.broker, { topic: `${base}.y`, data: { v: 3 }, key: 'order-1' });
        assert.notEqual(other.seq, first.seq, 'keys are per topic');
        assert.equal(other.duplicate, undefined);
        const got = await sub.collect(isMessage(), 2);
        assert.deepEqual(got.map((m) => [m.seq, m.data]), [[first.seq, { v: 1 }], [other.seq, { v: 3 }]]);
        await assertNothingDelivered(ctx.broker, sub, base, 'a duplicate is not delivered again');
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages.map((m) => m.data), [{ v: 1 }]);
    });

    it('keys are shared between WebSocket and HTTP publishes', async (t) => {
        const topic = uniqueTopic('hp.keyws');
        const ws = await connect(ctx.broker.url, { t });
        const viaWs = await ws.ok({ op: 'publish', topic, data: 'ws', key: 'k-ws' });
        assert.deepEqual(await publishOk(ctx.broker, { topic, data: 'http', key: 'k-ws' }),
            { seq: viaWs.seq, duplicate: true });
        const viaHttp = await publishOk(ctx.broker, { topic, data: 'http', key: 'k-http' });
        const dup = await ws.ok({ op: 'publish', topic, data: 'ws', key: 'k-http' });
        assert.equal(dup.seq, viaHttp.seq);
        assert.equal(dup.duplicate, true);
        const batch = await publishOk(ctx.broker, { messages: [
            { topic, data: 'b1', key: 'k-ws' }, { topic, data: 'b2', key: 'k-new' },
        ] });
        assert.equal(batch.seqs[0], viaWs.seq, 'a batch message with a seen key answers the original seq');
        assert.ok(batch.seqs[1] > viaHttp.seq);
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages.map((m) => m.data), ['ws', 'http', 'b2']);
    });

    it('a batch answers {"seqs":[...]} in message order, across topics', async (t) => {
        const base = uniqueTopic('hp.batch');
        const sub = await subscriber(ctx.broker, `${base}.>`, t);
        const messages = range(10).map((i) => ({ topic: `${base}.t${i % 3}`, data: { i } }));
        const res = await httpPublish(ctx.broker, { messages });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(Object.keys(res.json), ['seqs'], res.text);
        assert.equal(res.json.seqs.length, 10);
        assertAscending(res.json.seqs, 'batch seqs');
        const got = await sub.collect(isMessage(), 10);
        assert.deepEqual(got.map((m) => [m.seq, m.topic, m.data]),
            messages.map((m, i) => [res.json.seqs[i], m.topic, m.data]));
        const h = await history(ctx.broker, { topic: `${base}.t1` });
        assert.deepEqual(h.messages.map((m) => m.data), [{ i: 1 }, { i: 4 }, { i: 7 }]);
    });

    it('a batch with the same key twice stores the message once', async () => {
        const topic = uniqueTopic('hp.batchkey');
        const res = await publishOk(ctx.broker, { messages: [
            { topic, data: 'first', key: 'same' }, { topic, data: 'second', key: 'same' },
        ] });
        assert.equal(res.seqs.length, 2);
        assert.equal(res.seqs[1], res.seqs[0], 'the second is a duplicate of the first');
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages.map((m) => [m.seq, m.data]), [[res.seqs[0], 'first']]);
    });

    it('a batch is validated as a whole: one bad message publishes nothing', async (t) => {
        const base = uniqueTopic('hp.whole');
        const sub = await subscriber(ctx.broker, `${base}.>`, t);
        const good = (i) => ({ topic: `${base}.good`, data: { i } });
        const cases = [
            [400, 'invalid_topic', [good(1), good(2), { topic: `${base}.*`, data: 3 }]],
            [400, 'invalid_topic', [good(1), { topic: `${base}..x`, data: 3 }, good(2)]],
            [400, 'bad_request', [good(1), { topic: `${base}.good` }]],
            [400, 'bad_request', [good(1), { data: 1 }]],
            [400, 'bad_request', [good(1), 'not an object']],
            [400, 'bad_request', [good(1), null]],
            [400, 'bad_request', [good(1), { topic: `${base}.good`, data: 1, key: 7 }]],
            [400, 'bad_request', [good(1), { topic: `${base}.good`, data: 1, encoding: 'hex' }]],
            [403, 'forbidden', [good(1), { topic: '$sys.x', data: 1 }]],
            [413, 'too_large', [good(1), { topic: `${base}.good`, data: 'x'.repeat(1048576) }]],
        ];
        for (const [status, code, messages] of cases) {
            const res = await httpPublish(ctx.broker, { messages }, { timeoutMs: 10000 });
            assertHttpError(res, status, code, `batch ${JSON.stringify(messages).slice(0, 160)}:`);
        }
        const h = await history(ctx.broker, { topic: `${base}.>` });
        assert.deepEqual(h.messages, [], 'nothing of a refused batch is stored');
        await assertNothingDelivered(ctx.broker, sub, base, 'nothing of a refused batch is delivered');
    });

    it('a batch holds at most 1000 messages: 1000 pass, 1001 is 413 too_large', async () => {
        const topic = uniqueTopic('hp.thousand');
        const over = await httpPublish(ctx.broker,
            { messages: range(1001).map((i) => ({ topic, data: i })) }, { timeoutMs: 20000 });
        assertHttpError(over, 413, 'too_large', '1001 messages:');
        assert.deepEqual((await history(ctx.broker, { topic })).messages, [], '1001: nothing stored');
        const ok = await httpPublish(ctx.broker,
            { messages: range(1000).map((i) => ({ topic, data: i })) }, { timeoutMs: 20000 });
        assert.equal(ok.status, 200, ok.text.slice(0, 300));
        assert.equal(ok.json.seqs.length, 1000);
        assertAscending(ok.json.seqs);
        const h = await history(ctx.broker, { topic, limit: 1000 });
        assert.deepEqual(h.messages.map((m) => m.seq), ok.json.seqs);
        assert.deepEqual(h.messages.map((m) => m.data), range(1000));
        const empty = await httpPublish(ctx.broker, { messages: [] });
        assertHttpError(empty, 400, 'bad_request', 'an empty batch:');
    });

    it('bodies that are not a message are 400 bad_request', async () => {
        const topic = uniqueTopic('hp.bad');
        const bodies = [
            ['not JSON', 'nope'],
            ['truncated JSON', `{"topic":"${topic}","data":`],
            ['an array', '[1,2]'],
            ['a string', '"text"'],
            ['a number', '42'],
            ['null', 'null'],
            ['no topic', { data: 1 }],
            ['no data', { topic }],
            ['topic not a string', { topic: 5, data: 1 }],
            ['key not a string', { topic, data: 1, key: 5 }],
            ['empty key', { topic, data: 1, key: '' }],
            ['key over 255 bytes', { topic, data: 1, key: 'k'.repeat(256) }],
            ['encoding not base64', { topic, data: 'x', encoding: 'hex' }],
            ['base64 data not a string', { topic, data: 5, encoding: 'base64' }],
            ['messages not an array', { messages: 5 }],
            ['messages an object', { messages: { topic, data: 1 } }],
        ];
        for (const [what, body] of bodies) {
            assertHttpError(await httpPublish(ctx.broker, body), 400, 'bad_request', `${what}:`);
        }
        assert.deepEqual((await history(ctx.broker, { topic })).messages, []);
    });

    it('an empty body is 400 bad_request', async (t) => {
        // Its own broker: a crash here must not take the other tests along.
        const broker = await startBroker({ t });
        await explainFailure(broker, async () => {
            assertHttpError(await httpPublish(broker, ''), 400, 'bad_request', 'empty body:');
            assertHttpError(await httpPublish(broker, '', { headers: { connection: 'close' } }), 400, 'bad_request',
                'empty body, connection: close:');
            assert.equal((await httpRequest(`${broker.http}/healthz`)).status, 200);
        });
    });

    it('invalid base64 data is 400 bad_request, not stored bytes', async () => {
        const topic = uniqueTopic('hp.b64bad');
        const answers = [];
        for (const data of ['!!!!', 'aGk=aGk=', 'a', '@@==', 'aGk*']) {
            const res = await httpPublish(ctx.broker, { topic, data, encoding: 'base64' });
            answers.push(`${JSON.stringify(data)} -> ${res.status} ${res.json?.error?.code ?? res.text}`);
        }
        const h = await history(ctx.broker, { topic });
        const stored = h.messages.map((m) => m.data);
        assert.ok(answers.every((a) => / 400 bad_request$/.test(a)) && stored.length === 0,
            `every invalid base64 is 400 bad_request and nothing is stored; answers: ${answers.join('; ')}; ` +
            `stored as base64: ${JSON.stringify(stored)}`);
    });

    it('unpadded base64 is either refused or decoded to the right bytes', async () => {
        const topic = uniqueTopic('hp.b64nopad');
        const res = await httpPublish(ctx.broker, { topic, data: 'aGk', encoding: 'base64' });
        if (res.status === 400) {
            assertHttpError(res, 400, 'bad_request');
            return;
        }
        assert.equal(res.status, 200, res.text);
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(Buffer.from(h.messages[0].data, 'base64'), Buffer.from('hi'),
            `"aGk" stored as ${JSON.stringify(h.messages[0])}`);
    });

    it('topic names are validated: patterns and bad names 400 invalid_topic, $ names 403 forbidden', async () => {
        const base = uniqueTopic('hp.names');
        const invalid = [`${base}.*`, `${base}.>`, '>', '*', `${base}..x`, `.${base}`, `${base}.`, '',
            `${base}.a b`, `${base}.\u00e9`, ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(64)].join('.'),
            range(17).map((i) => `s${i}`).join('.'),
            `${base}.${'x'.repeat(65)}`];
        for (const topic of invalid) {
            assertHttpError(await httpPublish(ctx.broker, { topic, data: 1 }), 400, 'invalid_topic',
                `topic ${JSON.stringify(topic).slice(0, 60)}:`);
        }
        for (const topic of ['$sys.x', '$broker.stats']) {
            assertHttpError(await httpPublish(ctx.broker, { topic, data: 1 }), 403, 'forbidden', `topic ${topic}:`);
        }
        const edge = [
            'a'.repeat(64),
            ['a', 'b', 'c', 'd'].map((x) => x.repeat(63)).join('.'),
            range(16).map((i) => `s${i}`).join('.'),
            `${base}.A-z_0:9@x~y`,
        ];
        for (const topic of edge) await publishOk(ctx.broker, { topic, data: 'edge' });
    });

    it('GET /api/publish is 400', async () => {
        const res = await httpRequest(`${ctx.broker.http}/api/publish?topic=a.b&data=1`);
        assertHttpError(res, 400, 'bad_request');
    });

    it('base64 binary reaches WebSocket subscribers as a binary frame with the exact bytes', async (t) => {
        const topic = uniqueTopic('hp.bin');
        const sub = await subscriber(ctx.broker, topic, t);
        const payloads = [
            Buffer.from(range(256)),
            Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1]), // invalid UTF-8
            Buffer.alloc(0),
            Buffer.from('{"looks":"like json"}'),
        ];
        const seqs = [];
        for (const p of payloads) {
            seqs.push((await publishOk(ctx.broker, { topic, data: p.toString('base64'), encoding: 'base64' })).seq);
        }
        const got = await sub.collect(isMessage(topic), payloads.length);
        got.forEach((m, i) => {
            assert.equal(m.binary, true, `message ${i} arrived as a text frame: ${JSON.stringify(m)}`);
            assert.equal(m.seq, seqs[i]);
            assert.equal(m.data, undefined, 'a binary envelope has no data');
            assert.ok(Number.isSafeInteger(m.ts));
            assert.deepEqual(m.payload, payloads[i], `payload ${i}`);
        });
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages.map((m) => [m.seq, m.encoding, Buffer.from(m.data, 'base64')]),
            payloads.map((p, i) => [seqs[i], 'base64', p]));
    });

    it('a batch may mix JSON and binary messages', async (t) => {
        const topic = uniqueTopic('hp.binbatch');
        const sub = await subscriber(ctx.broker, topic, t);
        const bytes = Buffer.from([0, 1, 2, 250]);
        const res = await publishOk(ctx.broker, { messages: [
            { topic, data: { j: 1 } }, { topic, data: bytes.toString('base64'), encoding: 'base64' },
        ] });
        const [m0, m1] = await sub.collect(isMessage(topic), 2);
        assert.deepEqual([m0.seq, m0.data, m0.binary], [res.seqs[0], { j: 1 }, undefined]);
        assert.deepEqual([m1.seq, m1.binary, m1.payload], [res.seqs[1], true, bytes]);
    });

    it('binary published over WebSocket appears as base64 in HTTP history', async (t) => {
        const topic = uniqueTopic('hp.wsbin');
        const ws = await connect(ctx.broker.url, { t });
        const payload = Buffer.from([0x00, 0x80, 0xff, 0x0a]);
        const ack = await ws.requestBinary({ op: 'publish', topic }, payload);
        assert.equal(ack.op, 'ack', JSON.stringify(ack));
        const h = await history(ctx.broker, { topic });
        assert.equal(h.messages.length, 1);
        assertMessageObject(h.messages[0], topic);
        assert.equal(h.messages[0].encoding, 'base64');
        assert.deepEqual(Buffer.from(h.messages[0].data, 'base64'), payload);
    });
});

describe('http publish limits (--max-message 4096)', () => {
    const ctx = sharedBroker({ args: ['--max-message', '4096'] });

    it('a message whose encoded size passes max_message is 413 too_large; a smaller one passes', async (t) => {
        const base = uniqueTopic('hl.size');
        const sub = await subscriber(ctx.broker, `${base}.>`, t);
        const topic = `${base}.m`;
        assertHttpError(await httpPublish(ctx.broker, { topic, data: 'x'.repeat(5000) }), 413, 'too_large', 'text:');
        assertHttpError(await httpPublish(ctx.broker, { topic, data: 'x'.repeat(4096) }), 413, 'too_large',
            'text 4096:');
        assertHttpError(await httpPublish(ctx.broker,
            { topic, data: Buffer.alloc(4096, 7).toString('base64'), encoding: 'base64' }),
        413, 'too_large', 'binary:');
        assertHttpError(await httpPublish(ctx.broker,
            { messages: [{ topic, data: 1 }, { topic, data: 'y'.repeat(5000) }] }), 413, 'too_large', 'batch:');
        await assertNothingDelivered(ctx.broker, sub, base, 'too_large');
        const ok = await publishOk(ctx.broker, { topic, data: 'z'.repeat(3000) });
        const m = await sub.nextMessage();
        assert.equal(m.seq, ok.seq);
        assert.equal(m.data.length, 3000);
        const okBin = await publishOk(ctx.broker,
            { topic, data: Buffer.alloc(3000, 9).toString('base64'), encoding: 'base64' });
        const mb = await sub.nextMessage();
        assert.equal(mb.seq, okBin.seq);
        assert.deepEqual(mb.payload, Buffer.alloc(3000, 9));
    });

    it('a body over 16 x max_message is 413, even when each message fits', async (t) => {
        const base = uniqueTopic('hl.body');
        const sub = await subscriber(ctx.broker, `${base}.>`, t);
        const topic = `${base}.m`;
        const big = { messages: range(20).map(() => ({ topic, data: 'b'.repeat(3500) })) };
        assert.ok(JSON.stringify(big).length > 16 * 4096);
        assertHttpError(await httpPublish(ctx.broker, big, { timeoutMs: 10000 }), 413, 'too_large', 'batch body:');
        const padded = `{"topic":"${topic}","data":1${' '.repeat(16 * 4096)}}`;
        assertHttpError(await httpPublish(ctx.broker, padded, { timeoutMs: 10000 }), 413, 'too_large', 'padded body:');
        await assertNothingDelivered(ctx.broker, sub, base, 'body too large');
        const fits = { messages: range(15).map(() => ({ topic, data: 'f'.repeat(3500) })) };
        assert.ok(JSON.stringify(fits).length < 16 * 4096);
        const res = await publishOk(ctx.broker, fits);
        assert.equal(res.seqs.length, 15);
        assert.equal((await sub.collect(isMessage(topic), 15)).length, 15);
        // The connection pool is still usable after a refused large body.
        assert.equal((await httpRequest(`${ctx.broker.http}/healthz`)).status, 200);
    });
});

describe('http batch commit', () => {
    it('a batch is committed in one transaction', async (t) => {
        const broker = await startBroker({ t });
        const stats = async () => (await httpRequest(`${broker.http}/api/stats`)).json;
        const before = await stats();
        assert.equal(typeof before.counters.store_commits, 'number',
            `stats counters carry store_commits: ${JSON.stringify(before.counters)}`);
        const topic = uniqueTopic('hc.tx');
        const res = await publishOk(broker, { messages: range(200).map((i) => ({ topic, data: i })) });
        assert.equal(res.seqs.length, 200);
        const after = await stats();
        assert.equal(after.counters.store_commits - before.counters.store_commits, 1,
            'an idle broker commits a batch of 200 in one transaction');
        assert.deepEqual(res.seqs, range(200, res.seqs[0]), 'one transaction gives consecutive seqs');
    });
});

describe('http history', () => {
    const ctx = sharedBroker();

    it('returns {messages, recovered, more}; default limit 100; since and limit page through', async () => {
        const topic = uniqueTopic('hh.page');
        const { seqs } = await publishOk(ctx.broker, { messages: range(150).map((i) => ({ topic, data: { i } })) });
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(Object.keys(h).sort(), ['messages', 'more', 'recovered']);
        assert.equal(h.messages.length, 100, 'default limit 100');
        assert.equal(h.more, true);
        assert.equal(h.recovered, true);
        h.messages.forEach((m) => assertMessageObject(m, topic));
        assert.deepEqual(h.messages.map((m) => m.seq), seqs.slice(0, 100));
        assert.deepEqual(h.messages.map((m) => m.data), range(100).map((i) => ({ i })));
        const rest = await history(ctx.broker, { topic, since: seqs[99] });
        assert.deepEqual(rest.messages.map((m) => m.seq), seqs.slice(100));
        assert.equal(rest.more, false);
        const five = await history(ctx.broker, { topic, since: seqs[9], limit: 5 });
        assert.deepEqual(five.messages.map((m) => m.seq), seqs.slice(10, 15));
        assert.equal(five.more, true);
        const exact = await history(ctx.broker, { topic, since: seqs[144], limit: 5 });
        assert.deepEqual(exact.messages.map((m) => m.seq), seqs.slice(145));
        assert.equal(exact.more, false, 'more is false when nothing follows');
        const all = await history(ctx.broker, { topic, limit: 1000 });
        assert.equal(all.messages.length, 150);
        assert.equal(all.more, false);
        const none = await history(ctx.broker, { topic, since: seqs[149] });
        assert.deepEqual(none.messages, []);
        assert.equal(none.more, false);
        const one = await history(ctx.broker, { topic, limit: 1 });
        assert.deepEqual(one.messages.map((m) => m.seq), [seqs[0]]);
    });

    it('an unknown topic has no messages', async () => {
        const h = await history(ctx.broker, { topic: uniqueTopic('hh.empty') });
        assert.deepEqual(h.messages, []);
        assert.equal(h.more, false);
        assert.equal(typeof h.recovered, 'boolean');
    });

    it('patterns are allowed (percent-encoded in the query) and merge topics in seq order', async () => {
        const base = uniqueTopic('hh.pat');
        const plan = [`${base}.a`, `${base}.b`, `${base}.a.deep`, `${base}.c`];
        const { seqs } = await publishOk(ctx.broker, { messages: plan.map((topic) => ({ topic, data: topic })) });
        const star = await history(ctx.broker, { topic: `${base}.*` });
        assert.deepEqual(star.messages.map((m) => m.seq), [seqs[0], seqs[1], seqs[3]]);
        const gt = await history(ctx.broker, { topic: `${base}.>` });
        assert.deepEqual(gt.messages.map((m) => m.seq), seqs);
        const raw = await httpRequest(`${ctx.broker.http}/api/history?topic=${base}.%3E&limit=2`);
        assert.equal(raw.status, 200, raw.text);
        assert.deepEqual(raw.json.messages.map((m) => m.seq), seqs.slice(0, 2));
        assert.equal(raw.json.more, true);
    });

    it('topic characters that need percent-encoding are decoded', async () => {
        const topic = `${uniqueTopic('hh.chars')}.user:42@host~x`;
        const { seq } = await publishOk(ctx.broker, { topic, data: 1 });
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages.map((m) => [m.topic, m.seq]), [[topic, seq]]);
    });

    it('limit outside 1..1000, a bad since or a bad topic is 400', async () => {
        const topic = uniqueTopic('hh.bad');
        await publishOk(ctx.broker, { topic, data: 1 });
        const url = (params) => apiUrl(ctx.broker, '/api/history', params);
        for (const limit of ['0', '1001', '-1', 'abc', '', '1.5', '10x']) {
            assertHttpError(await httpRequest(url({ topic, limit })), 400, 'bad_request', `limit ${limit}:`);
        }
        for (const since of ['abc', '-1', '', '1.5']) {
            assertHttpError(await httpRequest(url({ topic, since })), 400, 'bad_request', `since ${since}:`);
        }
        assertHttpError(await httpRequest(url({ topic: `${topic}..x` })), 400, 'invalid_topic', 'empty segment:');
        assertHttpError(await httpRequest(url({ topic: `${topic}.>.x` })), 400, 'invalid_topic', '> not last:');
        const missing = await httpRequest(url({}));
        assert.equal(missing.status, 400, `no topic: ${missing.text}`);
        assert.ok(['bad_request', 'invalid_topic'].includes(missing.json?.error?.code), missing.text);
        const ok = await history(ctx.broker, { topic, limit: 1000 });
        assert.equal(ok.messages.length, 1);
    });

    it('message objects equal the ones WebSocket subscribers got', async (t) => {
        const topic = uniqueTopic('hh.same');
        const sub = await subscriber(ctx.broker, topic, t);
        const ws = await connect(ctx.broker.url, { t });
        await ws.ok({ op: 'publish', topic, data: { f: 1.25, s: 'x\ny', a: [true, null] } });
        await publishOk(ctx.broker, { topic, data: 'via http' });
        const got = await sub.collect(isMessage(topic), 2);
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages, got);
    });
});

describe('http history recovered (--retain 3)', () => {
    const ctx = sharedBroker({ args: ['--retain', '3'] });

    it('recovered is false when retention dropped a match after since', async () => {
        const topic = uniqueTopic('hr.ret');
        const { seqs } = await publishOk(ctx.broker, { messages: range(6).map((i) => ({ topic, data: i })) });
        await waitFor(async () => {
            const h = await history(ctx.broker, { topic });
            return h.messages.length === 3 && h.messages[0].seq === seqs[3];
        }, { what: 'retention to keep the newest 3' });
        const lost = await history(ctx.broker, { topic, since: seqs[0] });
        assert.equal(lost.recovered, false);
        assert.deepEqual(lost.messages.map((m) => m.seq), seqs.slice(3), 'what is still there is returned');
        const kept = await history(ctx.broker, { topic, since: seqs[2] });
        assert.equal(kept.recovered, true);
        assert.deepEqual(kept.messages.map((m) => m.seq), seqs.slice(3));
    });
});

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

describe('http misc', () => {
    const ctx = sharedBroker();

    it('GET /healthz is 200 {"status":"ok"}', async () => {
        const res = await httpRequest(`${ctx.broker.http}/healthz`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.json, { status: 'ok' });
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    });

    it('an unknown /api/ path is 404 not_found', async () => {
        for (const p of ['/api/x', '/api/', '/api/publish/extra', '/api/history2']) {
            assertHttpError(await httpRequest(`${ctx.broker.http}${p}`), 404, 'not_found', `GET ${p}:`);
        }
    });

    it('responses carry access-control-allow-origin: * by default', async () => {
        const topic = uniqueTopic('hx.cors');
        const urls = [
            ['GET', '/healthz'], ['GET', `/api/history?topic=${topic}`], ['GET', `/api/presence?topic=${topic}`],
            ['GET', '/api/stats'], ['GET', '/metrics'], ['GET', '/api/nope'], ['GET', '/api/history?topic=a..b'],
        ];
        for (const [method, p] of urls) {
            const res = await httpRequest(`${ctx.broker.http}${p}`,
                { method, headers: { origin: 'https://any.example' } });
            assert.equal(res.headers.get('access-control-allow-origin'), '*', `${method} ${p} (${res.status})`);
        }
        const pub = await httpPublish(ctx.broker, { topic, data: 1 }, { headers: { origin: 'https://any.example' } });
        assert.equal(pub.headers.get('access-control-allow-origin'), '*', 'POST /api/publish');
        const bad = await httpPublish(ctx.broker, 'nope', { headers: { origin: 'https://any.example' } });
        assert.equal(bad.headers.get('access-control-allow-origin'), '*', 'POST /api/publish error');
    });

    it('an OPTIONS preflight is 204 with access-control-allow-origin', async () => {
        const res = await httpRequest(`${ctx.broker.http}/api/publish`, {
            method: 'OPTIONS',
            headers: {
                origin: 'https://any.example',
                'access-control-request-method': 'POST',
                'access-control-request-headers': 'content-type',
            },
        });
        assert.equal(res.status, 204, res.text);
        assert.equal(res.text, '');
        assert.equal(res.headers.get('access-control-allow-origin'), '*');
        assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
        assert.match(res.headers.get('access-control-allow-headers') ?? '', /content-type/i);
        const sse = await httpRequest(`${ctx.broker.http}/sse?topic=a`, {
            method: 'OPTIONS',
            headers: { origin: 'https://any.example', 'access-control-request-method': 'GET',
                'access-control-request-headers': 'last-event-id' },
        });
        assert.equal(sse.status, 204);
        assert.equal(sse.headers.get('access-control-allow-origin'), '*');
        assert.match(sse.headers.get('access-control-allow-headers') ?? '', /last-event-id/i);
    });

    it('several requests in a row on kept-alive connections all get answers', async () => {
        const topic = uniqueTopic('hx.keep');
        const answers = [];
        for (let i = 0; i < 30; i++) {
            const kind = i % 3;
            if (kind === 0) answers.push((await httpPublish(ctx.broker, { topic, data: i })).status);
            else if (kind === 1) answers.push((await history(ctx.broker, { topic })) && 200);
            else answers.push((await httpRequest(`${ctx.broker.http}/api/nope`)).status);
        }
        assert.deepEqual(answers, range(30).map((i) => [200, 200, 404][i % 3]));
        const parallel = await Promise.all(range(40).map((i) => httpPublish(ctx.broker, { topic, data: `p${i}` })));
        assert.deepEqual(parallel.map((r) => r.status), range(40).map(() => 200));
        assert.equal(new Set(parallel.map((r) => r.json.seq)).size, 40, 'distinct seqs');
    });
});

// A raw TCP connection to the broker (resolves once connected).
function rawConnect(broker) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(broker.port, '127.0.0.1', () => resolve(sock));
        sock.once('error', reject);
    });
}

// Resolves when `sock` is closed (by either side); throws after timeoutMs.
function waitSocketClosed(sock, timeoutMs = 5000) {
    if (sock.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('socket not closed')), scaled(timeoutMs));
        sock.once('close', () => {
            clearTimeout(timer);
            resolve();
        });
    });
}

// Splits raw HTTP/1.1 responses (each with content-length) out of `buf`.
function parseHttpResponses(buf) {
    const out = [];
    let at = 0;
    for (;;) {
        const end = buf.indexOf('\r\n\r\n', at);
        if (end < 0) return out;
        const head = buf.subarray(at, end).toString('latin1');
        const status = Number(head.match(/^HTTP\/1\.1 (\d+)/)?.[1]);
        const length = Number(head.match(/\r\ncontent-length: *(\d+)/i)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return out;
        out.push({ status, body: buf.subarray(end + 4, end + 4 + length).toString('utf8') });
        at = end + 4 + length;
    }
}

describe('http connection hygiene', () => {
    it('a TCP connection closed before sending a request does not crash the broker', async (t) => {
        const broker = await startBroker({ t });
        for (const how of ['end', 'destroy', 'resetAndDestroy']) {
            const sock = await rawConnect(broker);
            sock.on('error', () => {});
            sock[how]();
            await waitSocketClosed(sock);
            // Any later request shows whether the broker is still there.
            const res = await httpRequest(`${broker.http}/healthz`, { headers: { connection: 'close' } })
                .catch((err) => ({ status: `failed (${err.cause?.code ?? err.message})` }));
            await explainFailure(broker, async () => {
                assert.equal(res.status, 200, `after a client ${how}() without a request, /healthz: ${res.status}`);
                assert.equal(broker.exit, null, `broker exited: ${JSON.stringify(broker.exit)}`);
            });
        }
    });

    it('SIGTERM while a connection has sent nothing yet exits 0', async (t) => {
        const broker = await startBroker({ t });
        const sock = await rawConnect(broker);
        sock.on('error', () => {});
        onCleanup(t, () => sock.destroy());
        const code = await explainFailure(broker, () => broker.stop());
        await explainFailure(broker, async () => assert.equal(code, 0, `exit ${JSON.stringify(broker.exit)}`));
    });

    // lws 4.1 cannot serve a request pipelined behind a POST whose answer
    // waits for the store (it re-runs the POST's completion for every byte
    // of the next request): the broker closes such a connection. What must
    // hold: answers given are right and in order, nothing is stored twice,
    // and the broker keeps serving everyone (README, known limits).
    it('requests pipelined behind a POST: right answers or a closed connection, never a hang or a double store', async (t) => {
        const post = (topic, data) => {
            const body = JSON.stringify({ topic, data });
            return `POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
        };
        const get = (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
        const cases = [
            ['GET /healthz then POST', (topic) => [get('/healthz'), post(topic, 'one')], ['ok', 'seq'], ['one']],
            ['POST then POST', (topic) => [post(topic, 'one'), post(topic, 'two')], ['seq', 'seq'], ['one', 'two']],
            ['POST then GET /healthz', (topic) => [post(topic, 'one'), get('/healthz')], ['seq', 'ok'], ['one']],
        ];
        const problems = [];
        for (const [what, build, kinds, sent] of cases) {
            const broker = await startBroker({ t });
            const topic = uniqueTopic('hy.pipe');
            const sock = await rawConnect(broker);
            sock.on('error', () => {});
            onCleanup(t, () => sock.destroy());
            let got = Buffer.alloc(0);
            let closed = false;
            sock.on('data', (d) => { got = Buffer.concat([got, d]); });
            sock.on('close', () => { closed = true; });
            sock.write(build(topic).join(''));
            const answers = await waitFor(() => {
                const list = parseHttpResponses(got);
                return list.length >= kinds.length || closed ? list : null;
            }, { timeoutMs: 5000, what: `${kinds.length} answers or a close` });
            const h = await httpRequest(apiUrl(broker, '/api/history', { topic, limit: 1000 }), { timeoutMs: 5000,
                headers: { connection: 'close' } }).catch((err) => ({ status: `no answer (${err.name})` }));
            const stored = (h.json?.messages ?? []).map((m) => m.data);
            const shown = `${what}: answers ${JSON.stringify(answers.map((a) => `${a.status} ${a.body}`))}, ` +
                `closed ${closed}, history ${h.status}: ${JSON.stringify(stored)}`;
            const kindOf = (a) => (a.body.includes('"seq"') ? 'seq' : a.body.includes('"ok"') ? 'ok' : a.body);
            const answersRight = answers.every((a, i) => a.status === 200 && kindOf(a) === kinds[i]);
            const storedOnce = new Set(stored).size === stored.length && stored.every((d) => sent.includes(d));
            if (!answersRight || h.status !== 200 || !storedOnce) problems.push(shown);
            if (h.status !== 200) {
                const killed = await broker.kill9();
                problems.push(`${what}: broker unresponsive, killed (${JSON.stringify(killed)})`);
            }
        }
        assert.deepEqual(problems, [], problems.join('\n'));
    });

    it('SIGTERM while a keep-alive connection is idle after a response exits 0', async (t) => {
        const broker = await startBroker({ t });
        const sock = await rawConnect(broker);
        sock.on('error', () => {});
        onCleanup(t, () => sock.destroy());
        let got = '';
        sock.on('data', (d) => { got += d; });
        sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        await waitFor(() => got.includes('"ok"'), { what: 'the /healthz answer' });
        const code = await explainFailure(broker, () => broker.stop());
        await explainFailure(broker, async () => assert.equal(code, 0, `exit ${JSON.stringify(broker.exit)}`));
    });
});

// Opens a WebSocket with an Origin header; resolves {opened, status}.
function tryUpgrade(url, origin) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, [], { ...(origin ? { origin } : {}), handshakeTimeout: scaled(5000) });
        const timer = setTimeout(() => {
            ws.terminate();
            reject(new Error(`upgrade from ${origin} neither opened nor failed`));
        }, scaled(6000));
        const done = (result) => {
            clearTimeout(timer);
            ws.terminate();
            resolve(result);
        };
        ws.once('open', () => done({ opened: true }));
        ws.once('unexpected-response', (req, res) => {
            req.destroy();
            done({ opened: false, status: res.statusCode });
        });
        ws.once('error', (err) => done({ opened: false, error: err.message }));
    });
}

describe('--allow-origin https://a.example', () => {
    const ctx = sharedBroker({ args: ['--allow-origin', 'https://a.example'] });

    it('echoes only the allowed origin', async () => {
        const url = `${ctx.broker.http}/api/stats`;
        const a = await httpRequest(url, { headers: { origin: 'https://a.example' } });
        assert.equal(a.status, 200);
        assert.equal(a.headers.get('access-control-allow-origin'), 'https://a.example');
        const b = await httpRequest(url, { headers: { origin: 'https://b.example' } });
        assert.equal(b.headers.get('access-control-allow-origin'), null, 'no allow-origin for another origin');
        const pre = await httpRequest(`${ctx.broker.http}/api/publish`, {
            method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' },
        });
        assert.equal(pre.status, 204);
        assert.equal(pre.headers.get('access-control-allow-origin'), 'https://a.example');
        const preB = await httpRequest(`${ctx.broker.http}/api/publish`, {
            method: 'OPTIONS', headers: { origin: 'https://b.example', 'access-control-request-method': 'POST' },
        });
        assert.equal(preB.headers.get('access-control-allow-origin'), null);
        const pub = await httpPublish(ctx.broker, { topic: uniqueTopic('ao.p'), data: 1 },
            { headers: { origin: 'https://a.example' } });
        assert.equal(pub.status, 200);
        assert.equal(pub.headers.get('access-control-allow-origin'), 'https://a.example');
    });

    it('refuses a WebSocket upgrade from another origin and accepts the allowed one', async (t) => {
        const refused = await tryUpgrade(ctx.broker.url, 'https://b.example');
        assert.equal(refused.opened, false, 'upgrade from https://b.example was accepted');
        const allowed = await tryUpgrade(ctx.broker.url, 'https://a.example');
        assert.equal(allowed.opened, true, `upgrade from https://a.example: ${JSON.stringify(allowed)}`);
        // A client without an Origin header (not a browser) still connects.
        const c = await connect(ctx.broker.url, { t });
        await c.sync();
    });
});
