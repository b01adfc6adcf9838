// SPDX-License-Identifier: MIT
// http_publish.test.mjs: POST /api/publish, docs/protocol.md section 8 and
// its section 10 clarifications: a single message and a batch ({"seq":N},
// {"seqs":[...]}), the seq sequence and keys shared with WebSocket
// publishes, a batch validated as a whole and committed in one
// transaction, 1000/1001 messages, max_message and 16 x max_message body
// limits, bad bodies, topic names and $ names, base64 in and out.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import {
    assertMessageObject, assertNothingDelivered, explainFailure, history, publishOk, subscriber,
} from './lib/http_api.mjs';
import {
    assertAscending, assertHttpError, httpPublish, httpRequest, isMessage, range, sharedBroker, uniqueTopic,
} from './lib/util.mjs';

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
