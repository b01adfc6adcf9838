// SPDX-License-Identifier: MIT
// errors.test.mjs: the error codes of docs/protocol.md section 7 that apply
// without auth (bad_request, unknown_op, invalid_topic, forbidden,
// not_subscribed, too_many_subscriptions), the no-id rule, invalid UTF-8
// (close 1007) and the `auth` op on a broker without auth.
//
// After every error the connection still answers a ping, and a bystander
// connection is never closed.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import { assertAck, assertError, httpPublish, isMessage, sharedBroker, uniqueTopic } from './lib/util.mjs';

const isError = (f) => f.op === 'error';

// Sends a raw text frame and resolves the next error frame.
async function rawError(c, text) {
    c.send(text);
    return c.next(isError, { what: `error for ${text.slice(0, 80)}` });
}

describe('errors', () => {
    const ctx = sharedBroker({ args: ['--max-subscriptions', '3'] });
    let bystander = null;

    before(async () => {
        bystander = await connect(ctx.broker.url);
    });
    after(() => bystander?.terminate());

    it('bad_request without id for a frame that is not a JSON object', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        for (const text of ['not json', '{"op":"ping","id":3', '[1,2]', '"str"', '42', 'null', 'true', '',
            '{"op":"ping","id":4}{"op":"ping","id":5}']) {
            const err = await rawError(c, text);
            assertError(err, 'bad_request', { what: JSON.stringify(text) });
            assert.equal(err.id, undefined, `no id for ${JSON.stringify(text)}: ${JSON.stringify(err)}`);
            await c.sync();
        }
        assert.deepEqual(c.log.filter((f) => f.op === 'pong').map((f) => f.id),
            c.log.filter((f) => f.op === 'pong').map((_, i) => i + 1), 'only the sync pings were answered');
    });

    it('bad_request with the id for a missing or mistyped field', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('er.field');
        const cases = [
            { id: 3 },                                               // no op
            { op: 5 },                                               // op not a string
            { op: null },
            { op: 'subscribe' },                                     // no topic
            { op: 'subscribe', topic: 5 },
            { op: 'subscribe', topic: null },
            { op: 'subscribe', topic, since: '5' },
            { op: 'subscribe', topic, since: -1 },
            { op: 'subscribe', topic, since: 1.5 },
            { op: 'subscribe', topic, last: '3' },
            { op: 'subscribe', topic, last: -2 },
            { op: 'subscribe', topic, presence: 'yes' },
            { op: 'subscribe', topic, epoch: 5 },
            { op: 'unsubscribe' },
            { op: 'unsubscribe', topic: ['x'] },
            { op: 'publish', topic },                                // no data
            { op: 'publish', data: 1 },                              // no topic
            { op: 'publish', topic: ['x'], data: 1 },
            { op: 'publish', topic, data: 1, echo: 'no' },
            { op: 'publish', topic, data: 1, key: 7 },
            { op: 'history' },
            { op: 'history', topic: 1 },
            { op: 'presence' },
        ];
        for (const body of cases) {
            const reply = await c.request(body);
            assertError(reply, 'bad_request', { what: JSON.stringify(body) });
        }
        await c.sync();
        assert.deepEqual(c.peek(), [], 'exactly one reply per request');
        const h = await c.ok({ op: 'history', topic });
        assert.deepEqual(h.messages, [], 'nothing was published by a bad request');
        await assert.rejects(c.ok({ op: 'unsubscribe', topic }), /not_subscribed/, 'nothing was subscribed');
    });

    it('a failing request without id gets an error without id', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        for (const [body, code] of [
            [{ op: 'subscribe' }, 'bad_request'],
            [{ op: 'frobnicate' }, 'unknown_op'],
            [{ op: 'publish', topic: 'a..b', data: 1 }, 'invalid_topic'],
            [{ op: 'unsubscribe', topic: uniqueTopic('er.noid') }, 'not_subscribed'],
        ]) {
            c.send(body);
            const err = await c.next(isError);
            assertError(err, code, { what: JSON.stringify(body) });
            assert.equal(err.id, undefined, JSON.stringify(err));
        }
        await c.sync();
    });

    it('an id that is 0, negative, not an integer or above 2^53-1 is bad_request', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        for (const id of ['0', '-1', '1.5', '9007199254740992', '18446744073709551616', '"7"', 'null', '[1]',
            '1e400']) {
            const text = `{"op":"ping","id":${id}}`;
            const err = await rawError(c, text);
            assertError(err, 'bad_request', { what: text });
            const echoed = err.id === undefined || JSON.stringify(err.id) === id ||
                (id === '9007199254740992' && err.id === 9007199254740992);
            assert.ok(echoed, `error id ${JSON.stringify(err.id)} for ${text}`);
            await c.sync();
            assert.deepEqual(c.peek(), [], `no pong for ${text}`);
        }
        const pongs = c.log.filter((f) => f.op === 'pong');
        assert.ok(pongs.every((f) => Number.isSafeInteger(f.id) && f.id >= 1), 'only valid ids were answered');
    });

    it('JSON nested deeper than the parser allows is bad_request without id', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const depth = 20000;
        const text = `{"op":"ping","id":5,"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        const err = await rawError(c, text);
        assertError(err, 'bad_request');
        assert.equal(err.id, undefined);
        const deepObj = `{"op":"ping","id":6,"x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
        assertError(await rawError(c, deepObj), 'bad_request');
        await c.sync();
        assert.equal(c.log.filter((f) => f.op === 'pong' && (f.id === 5 || f.id === 6)).length, 0);
        assert.equal(c.closeInfo, null);
    });

    it('a number too large for a double is bad_request on WebSocket and HTTP alike; big integers are kept', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('er.num');
        for (const data of ['1e999', '-1E+400', '{"a":[1,2e308]}', '9'.repeat(400)]) {
            const reply = await rawError(c, `{"op":"publish","id":9,"topic":"${topic}","data":${data}}`);
            assert.equal(reply.code, 'bad_request', `data ${data.slice(0, 40)}`);
            const res = await httpPublish(ctx.broker, `{"topic":"${topic}","data":${data}}`);
            assert.equal(res.status, 400, `HTTP data ${data.slice(0, 40)}`);
        }
        // Finite however written: 1e308 in full, an integer beyond 64 bits,
        // an underflow to zero, the largest double. Each is stored.
        const kept = ['1' + '0'.repeat(308), '18446744073709551616', '1e-999', '1.7976931348623157e308'];
        for (const data of kept) {
            c.send(`{"op":"publish","id":10,"topic":"${topic}","data":${data}}`);
            assertAck(await c.next((f) => f.id === 10), `data ${data.slice(0, 40)}`);
        }
        const h = await c.ok({ op: 'history', topic });
        assert.equal(h.messages.length, kept.length, 'only the finite numbers were stored');
        assert.ok(h.messages.every((m) => Number.isFinite(m.data)), 'each reads back as a finite number');
    });

    it('unknown_op with the id', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        assertError(await c.request({ op: 'frobnicate' }), 'unknown_op', { id: 1 });
        assertError(await c.request({ op: 'PING' }), 'unknown_op', { id: 2 });
        assertError(await c.request({ op: '' }), 'unknown_op', { id: 3 });
        await c.sync();
    });

    it('invalid_topic for bad names on publish, subscribe and history', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const seg = (n, ch = 'a') => ch.repeat(n);
        const name256 = `${seg(64)}.${seg(64)}.${seg(64)}.${seg(61)}`; // 256 bytes
        assert.equal(name256.length, 256);
        const seventeen = Array.from({ length: 17 }, (_, i) => `s${i}`).join('.');
        const bad = ['', '.', 'a.', '.a', 'a..b', 'a b', 'a/b', 'a#b', 'a+b', 'a,b', 'a\tb', 'é', 'a.\u00e9',
            seg(65), `x.${seg(65)}`, name256, seventeen, 'a.b*', 'a*'];
        for (const topic of bad) {
            assertError(await c.request({ op: 'publish', topic, data: 1 }), 'invalid_topic',
                { what: `publish ${JSON.stringify(topic)}` });
            assertError(await c.request({ op: 'subscribe', topic }), 'invalid_topic',
                { what: `subscribe ${JSON.stringify(topic)}` });
            assertError(await c.request({ op: 'history', topic }), 'invalid_topic',
                { what: `history ${JSON.stringify(topic)}` });
        }
        await c.sync();
    });

    it('names at the limits are valid', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const prefix = uniqueTopic('er.lim').replace(/\./g, '_');
        const name255 = `${prefix}.${'b'.repeat(64)}.${'c'.repeat(64)}.${'d'.repeat(64)}`;
        const long = name255 + '.'.padEnd(255 - name255.length, 'e');
        assert.equal(long.length, 255);
        const sixteen = [prefix, ...Array.from({ length: 15 }, (_, i) => `s${i}`)].join('.');
        const chars = `${prefix}.AZaz09_-:@~`;
        for (const topic of [long, sixteen, chars]) {
            await s.ok({ op: 'subscribe', topic });
            const ack = await c.request({ op: 'publish', topic, data: topic });
            assertAck(ack, `publish ${topic}`);
            const m = await s.next(isMessage(topic));
            assert.equal(m.seq, ack.seq);
            await s.ok({ op: 'unsubscribe', topic });
        }
    });

    it('invalid_topic for bad patterns on subscribe, and for any pattern on publish', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        for (const topic of ['a.>.b', '>.a', 'a.>>', 'a.**', '**', 'a.*b', 'a.b>', '>>', 'a.>.>']) {
            assertError(await c.request({ op: 'subscribe', topic }), 'invalid_topic',
                { what: `subscribe ${topic}` });
        }
        for (const topic of ['a.*', 'a.>', '*', '>', '*.b']) {
            assertError(await c.request({ op: 'publish', topic, data: 1 }), 'invalid_topic',
                { what: `publish ${topic}` });
        }
        for (const topic of ['*', '>', '*.>', 'a.*.*', 'a.*.c.>']) {
            assertAck(await c.request({ op: 'subscribe', topic }), `subscribe ${topic}`);
            assertAck(await c.request({ op: 'unsubscribe', topic }), `unsubscribe ${topic}`);
        }
    });

    it('publish to a name starting with $ is forbidden', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        for (const topic of ['$sys.stats', '$x', '$sys']) {
            assertError(await c.request({ op: 'publish', topic, data: 1 }), 'forbidden', { what: topic });
        }
        await c.sync();
    });

    it('not_subscribed for a pattern the connection does not hold', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const other = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('er.ns');
        await other.ok({ op: 'subscribe', topic });
        assertError(await c.request({ op: 'unsubscribe', topic }), 'not_subscribed', { id: 1 });
        await c.sync();
    });

    it('too_many_subscriptions past --max-subscriptions', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('er.many');
        for (const n of [1, 2, 3]) await c.ok({ op: 'subscribe', topic: `${base}.${n}` });
        assertError(await c.request({ op: 'subscribe', topic: `${base}.4` }), 'too_many_subscriptions');
        assertError(await c.request({ op: 'subscribe', topic: `${base}.>`, since: 0 }), 'too_many_subscriptions');
        assertAck(await c.request({ op: 'subscribe', topic: `${base}.2` }), 'subscribing again to a held pattern');
        const other = await connect(ctx.broker.url, { t });
        for (const n of [1, 2, 3]) await other.ok({ op: 'subscribe', topic: `${base}.${n}` });
        await c.ok({ op: 'unsubscribe', topic: `${base}.1` });
        await c.ok({ op: 'subscribe', topic: `${base}.4` });
        // The refused subscription does not deliver.
        const p = await connect(ctx.broker.url, { t });
        await p.ok({ op: 'publish', topic: `${base}.5`, data: 'x' });
        await p.ok({ op: 'publish', topic: `${base}.4`, data: 'end' });
        const m = await c.next(isMessage());
        assert.equal(m.topic, `${base}.4`);
    });

    it('the auth op on a broker without auth is a clear error', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const reply = await c.request({ op: 'auth', token: 'x.y.z' });
        assert.equal(reply.op, 'error', JSON.stringify(reply));
        assert.equal(typeof reply.code, 'string');
        assert.equal(typeof reply.message, 'string');
        assert.match(reply.message, /auth|token/i, `the message says what is wrong: ${reply.message}`);
        await c.sync();
        await c.ok({ op: 'subscribe', topic: uniqueTopic('er.auth') });
    });

    it('invalid UTF-8 in a text frame closes with 1007; others stay', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const other = await connect(ctx.broker.url, { t });
        c.send(Buffer.from([0x7b, 0x22, 0x6f, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
        const closed = await c.waitClosed();
        assert.equal(closed.code, 1007);
        await other.sync();
        const c2 = await connect(ctx.broker.url, { t });
        c2.send(Buffer.from('{"op":"ping","id":1,"x":"\xed\xa0\x80"}', 'latin1'), { binary: false });
        assert.equal((await c2.waitClosed()).code, 1007, 'an encoded surrogate is invalid UTF-8');
        const c3 = await connect(ctx.broker.url, { t });
        c3.send(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), { binary: false });
        for (let i = 0; i < 300; i++) c3.send({ op: 'ping', id: i + 1 });
        assert.equal((await c3.waitClosed()).code, 1007, 'a client that keeps sending still sees 1007');
        await other.sync();
    });

    it('valid multi-byte UTF-8 is accepted', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('er.utf8');
        await c.ok({ op: 'subscribe', topic });
        const data = 'Grüße, 世界, 😀';
        await c.ok({ op: 'publish', topic, data });
        assert.equal((await c.next(isMessage(topic))).data, data);
    });

    it('bad requests lose no other data: deliveries continue around them', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('er.keep');
        await s.ok({ op: 'subscribe', topic });
        const pending = [];
        for (let i = 0; i < 100; i++) {
            pending.push(p.request({ op: 'publish', topic, data: i }));
            if (i % 10 === 0) {
                s.send('garbage');
                s.send({ op: 'publish', topic: 'a..b', data: 1 });
                s.send('{"op":"ping","id":0}');
                p.send('{"op":');
            }
        }
        const acks = await Promise.all(pending);
        acks.forEach((a) => assertAck(a));
        const got = await s.collect(isMessage(topic), 100);
        assert.deepEqual(got.map((m) => m.seq), acks.map((a) => a.seq));
        assert.equal(s.peek(isError).length, 30);
        assert.equal(p.peek(isError).length, 10);
        await s.sync();
        await p.sync();
    });

    it('no error above closed the bystander connection', async () => {
        assert.equal(bystander.closeInfo, null, 'the bystander connection was never closed');
        await bystander.sync();
    });
});
