// SPDX-License-Identifier: MIT
// auth.test.mjs: WebSocket auth against the real binary (docs/protocol.md
// sections 6, 10 "Auth" and 11; docs/auth.md): ?token=, the auth op, grants
// at subscribe and publish, `from`, presence users, expiry and its grace.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect } from './lib/client.mjs';
import { scaled } from './lib/broker.mjs';
import { claims, hs256, SECRET } from './lib/jwt.mjs';
import { assertError, isMessage, sharedBroker, uniqueTopic } from './lib/util.mjs';

const API_KEY = 'integration-api-key-0123456789';

const withToken = (broker, token) => `${broker.url}?token=${encodeURIComponent(token)}`;

describe('auth over WebSocket', () => {
    const ctx = sharedBroker({
        args: ['--auth-secret', SECRET, '--api-key', API_KEY, '--anonymous', 'public.>',
            '--auth-grace', '1'],
    });

    it('welcome lists auth among the features', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        assert.ok(c.welcome.features.includes('auth'), JSON.stringify(c.welcome));
    });

    it('a ?token= grants its claims; messages carry from = sub', async (t) => {
        const topic = uniqueTopic('prices');
        const token = hs256(claims({ sub: 'alice', subscribe: ['prices.>'], publish: ['prices.>'] }));
        const c = await connect(withToken(ctx.broker, token), { t });
        await c.ok({ op: 'subscribe', topic });
        await c.ok({ op: 'publish', topic, data: 1 });
        const m = await c.next(isMessage(topic));
        assert.equal(m.from, 'alice');
    });

    it('an invalid or expired ?token= gets error and 4001, and no welcome', async () => {
        for (const token of ['not.a.token', hs256(claims({ sub: 'bob' }, -10))]) {
            const ws = new WebSocket(withToken(ctx.broker, token));
            const frames = [];
            ws.on('message', (data) => frames.push(JSON.parse(String(data))));
            const code = await new Promise((resolve, reject) => {
                ws.once('close', resolve);
                ws.once('error', reject);
            });
            assert.equal(code, 4001);
            assert.deepEqual(frames.map((f) => f.op), ['error'], 'the error only: no welcome');
            assertError(frames[0], 'unauthorized');
        }
    });

    it('subscribe and publish outside the grants get forbidden with the id', async (t) => {
        const token = hs256(claims({ sub: 'carol', subscribe: ['a.*'], publish: ['a.x'] }));
        const c = await connect(withToken(ctx.broker, token), { t });
        assertError(await c.request({ op: 'subscribe', topic: 'a.>' }), 'forbidden');
        assertError(await c.request({ op: 'subscribe', topic: 'b.x' }), 'forbidden');
        assertError(await c.request({ op: 'publish', topic: 'a.y', data: 1 }), 'forbidden');
        assertError(await c.request({ op: 'history', topic: 'b.x' }), 'forbidden');
        assertError(await c.request({ op: 'presence', topic: 'b.x' }), 'forbidden');
        await c.ok({ op: 'subscribe', topic: 'a.*' });
        await c.ok({ op: 'publish', topic: 'a.x', data: 1 });
    });

    it('the auth op answers user and exp; presence members carry the user', async (t) => {
        const topic = uniqueTopic('room');
        const c = await connect(ctx.broker.url, { t });
        const body = claims({ sub: 'dave', subscribe: ['room.>'] });
        const ack = await c.ok({ op: 'auth', token: hs256(body) });
        assert.equal(ack.user, 'dave');
        assert.equal(ack.exp, body.exp);
        await c.ok({ op: 'subscribe', topic, presence: true });
        const list = await c.ok({ op: 'presence', topic });
        assert.deepEqual(list.members, [{ client: c.welcome.client, user: 'dave' }]);
    });

    it('a fresh auth as another user: its presence leaves as the old user and joins as the new one', async (t) => {
        const topic = uniqueTopic('room');
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        await a.ok({ op: 'auth', token: hs256(claims({ sub: 'erin', subscribe: ['room.>'] })) });
        await b.ok({ op: 'auth', token: hs256(claims({ sub: 'fay', subscribe: ['room.>'] })) });
        await b.ok({ op: 'subscribe', topic, presence: true });
        await a.ok({ op: 'subscribe', topic, presence: true });
        const joined = await b.next((f) => f.op === 'join');
        assert.equal(joined.user, 'erin');
        await a.ok({ op: 'auth', token: hs256(claims({ sub: 'gus', subscribe: ['room.>'] })) });
        const left = await b.next((f) => f.op === 'leave');
        assert.deepEqual([left.client, left.user], [a.welcome.client, 'erin']);
        const rejoined = await b.next((f) => f.op === 'join' && f.user === 'gus');
        assert.equal(rejoined.client, a.welcome.client);
        const list = await b.ok({ op: 'presence', topic });
        assert.deepEqual(list.members.map((m) => m.user).sort(), ['fay', 'gus']);
        // The same user again: no leave, no join.
        await a.ok({ op: 'auth', token: hs256(claims({ sub: 'gus', subscribe: ['room.>'] })) });
        await b.sync();
        assert.deepEqual(b.peek((f) => f.op === 'leave' || f.op === 'join'), []);
    });

    it('a bad auth op gets unauthorized; anonymous patterns still apply', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        assertError(await c.request({ op: 'auth', token: hs256(claims(), 'wrong-secret-wrong-secret-wrong-secret') }),
            'unauthorized');
        await c.ok({ op: 'subscribe', topic: 'public.news' });
    });

    it('without credential, a request outside the anonymous patterns closes with 4001', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        await c.ok({ op: 'subscribe', topic: 'public.x' });
        c.send(JSON.stringify({ op: 'subscribe', id: 2, topic: 'private.x' }));
        const closed = await c.waitClosed();
        assert.equal(closed.code, 4001);
    });

    it('an API key allows everything and its messages carry no from', async (t) => {
        const topic = uniqueTopic('anything');
        const c = await connect(withToken(ctx.broker, API_KEY), { t });
        await c.ok({ op: 'subscribe', topic: '>' });
        await c.ok({ op: 'publish', topic, data: 'k' });
        const m = await c.next(isMessage(topic));
        assert.equal(m.from, undefined);
    });

    it('a fresh auth narrows the grants and ends what they no longer cover', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        await c.ok({ op: 'auth', token: hs256(claims({ sub: 'erin', subscribe: ['x.>', 'y.>'] })) });
        await c.ok({ op: 'subscribe', topic: 'x.1' });
        await c.ok({ op: 'subscribe', topic: 'y.1' });
        const ack = c.ok({ op: 'auth', token: hs256(claims({ sub: 'erin', subscribe: ['x.>'] })) });
        const ended = await c.next((f) => f.op === 'error' && f.code === 'forbidden');
        assert.match(ended.message, /y\.1/);
        await ack;
        assertError(await c.request({ op: 'unsubscribe', topic: 'y.1' }), 'not_subscribed');
    });

    it('expiry: token_expired, requests refused in the grace, then 4003', async (t) => {
        const topic = uniqueTopic('exp');
        const token = hs256(claims({ sub: 'fay', subscribe: ['exp.>'], publish: ['exp.>'] }, 2));
        const c = await connect(withToken(ctx.broker, token), { t });
        await c.ok({ op: 'subscribe', topic });
        const expired = await c.next((f) => f.op === 'error' && f.code === 'token_expired',
            { timeoutMs: scaled(5000) });
        assert.equal(expired.id, undefined);
        assertError(await c.request({ op: 'publish', topic, data: 1 }), 'token_expired');
        await c.ok({ op: 'ping' }).catch(() => {}); // ping is still answered
        const closed = await c.waitClosed({ timeoutMs: scaled(5000) });
        assert.equal(closed.code, 4003);
    });

    it('a fresh auth within the grace keeps the connection', async (t) => {
        const mk = (s) => hs256(claims({ sub: 'gus', subscribe: ['g.>'] }, s));
        const c = await connect(withToken(ctx.broker, mk(2)), { t });
        await c.next((f) => f.op === 'error' && f.code === 'token_expired', { timeoutMs: scaled(5000) });
        await c.ok({ op: 'auth', token: mk(600) });
        await new Promise((r) => setTimeout(r, 1500));
        await c.ok({ op: 'subscribe', topic: 'g.1' });
    });
});

describe('auth without anonymous patterns', () => {
    const ctx = sharedBroker({ args: ['--auth-secret', SECRET] });

    it('the first request other than auth closes with 4001', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        c.send(JSON.stringify({ op: 'subscribe', id: 1, topic: 'a' }));
        assert.equal((await c.waitClosed()).code, 4001);
    });

    it('10 s of silence closes with 4001', { timeout: 30000 }, async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const closed = await c.waitClosed({ timeoutMs: scaled(13000) });
        assert.equal(closed.code, 4001);
    });

    it('auth first, then requests', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        await c.ok({ op: 'auth', token: hs256(claims({ sub: 'h', subscribe: ['h.>'] })) });
        await c.ok({ op: 'subscribe', topic: 'h.x' });
    });
});

describe('no auth configured', () => {
    const ctx = sharedBroker();

    it('a ?token= is ignored and the auth op is bad_request', async (t) => {
        const c = await connect(`${ctx.broker.url}?token=whatever`, { t });
        assert.ok(c.welcome.features.includes('auth'));
        assertError(await c.request({ op: 'auth', token: 'x' }), 'bad_request');
        await c.ok({ op: 'subscribe', topic: 'any.thing' });
    });
});
