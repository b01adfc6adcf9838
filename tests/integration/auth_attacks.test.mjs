// SPDX-License-Identifier: MIT
// auth_attacks.test.mjs: the attack list of issue 15 against the real
// binary (docs/auth.md): forged, tampered, alg:none, key confusion, expired,
// wrong secret, oversized tokens and headers, pattern escapes, origin
// spoofing, and a flood of bad tokens while others are served.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect } from './lib/client.mjs';
import { scaled } from './lib/broker.mjs';
import { claims, hs256, SECRET, signWithKey, unsigned } from './lib/jwt.mjs';
import { assertError, assertHttpError, httpPublish, sharedBroker } from './lib/util.mjs';

// What the broker answers an `auth` with this token on a fresh connection.
async function authReply(broker, token, t) {
    const c = await connect(broker.url, { t });
    const reply = await c.request({ op: 'auth', token });
    c.terminate();
    return reply;
}

const good = claims({ sub: 'mallory', subscribe: ['a.*'], publish: ['a.x'] });

describe('token attacks on an HS256 broker', () => {
    const ctx = sharedBroker({
        args: ['--auth-secret', SECRET, '--anonymous', 'public.>', '--allow-origin', 'https://good.example'],
    });

    const refused = {
        'forged signature': `${unsigned({ alg: 'HS256' }, good)}.${crypto.randomBytes(32).toString('base64url')}`,
        'tampered claims': (() => {
            const [h, , s] = hs256(good).split('.');
            return `${h}.${Buffer.from(JSON.stringify({ ...good, publish: ['>'] })).toString('base64url')}.${s}`;
        })(),
        'alg none': `${unsigned({ alg: 'none' }, good)}.`,
        'alg None with a signature': hs256(good, SECRET, { alg: 'None' }),
        'HS512': hs256(good, SECRET, { alg: 'HS512' }),
        'RS256 against HS256': (() => {
            const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
            return signWithKey(good, 'RS256', privateKey);
        })(),
        'expired': hs256(claims({ sub: 'm' }, -1)),
        'no exp': hs256({ sub: 'm' }),
        'nbf in the future': hs256(claims({ sub: 'm', nbf: Math.floor(Date.now() / 1000) + 600 })),
        'wrong secret': hs256(good, 'another-secret-of-at-least-32-bytes!!'),
        'oversized': hs256({ ...good, pad: 'x'.repeat(9000) }),
        'not a JWT': 'a'.repeat(100),
        'duplicate claims': (() => {
            const body = Buffer.from(`{"exp":${good.exp},"sub":"a","sub":"b"}`).toString('base64url');
            const input = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${body}`;
            return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
        })(),
    };

    for (const [what, token] of Object.entries(refused)) {
        it(`refuses: ${what}`, async (t) => {
            assertError(await authReply(ctx.broker, token, t), 'unauthorized', { what });
            const res = await httpPublish(ctx.broker, { topic: 'a.x', data: 1 },
                { headers: { authorization: `Bearer ${token}` } }).catch(() => null);
            // A header past lws's header buffer is dropped with the connection.
            if (res || what !== 'oversized') assertHttpError(res, 401, 'unauthorized', what);
        });
    }

    it('oversized headers are refused without harm', async () => {
        const res = await httpPublish(ctx.broker, { topic: 'a.x', data: 1 },
            { headers: { authorization: `Bearer ${'x'.repeat(20000)}` } }).catch((e) => ({ status: 0, e }));
        assert.notEqual(res.status, 200);
        const c = await connect(ctx.broker.url);
        assert.equal((await c.request({ op: 'ping' })).op, 'pong');
        c.terminate();
    });

    it('pattern escapes: > against a narrower grant, $ names, odd topics', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        await c.ok({ op: 'auth', token: hs256(good) });
        assertError(await c.request({ op: 'subscribe', topic: 'a.>' }), 'forbidden');
        assertError(await c.request({ op: 'subscribe', topic: '>' }), 'forbidden');
        assertError(await c.request({ op: 'subscribe', topic: '*.x' }), 'forbidden');
        assertError(await c.request({ op: 'subscribe', topic: '$sys.x' }), 'forbidden');
        assertError(await c.request({ op: 'publish', topic: 'a.x.y', data: 1 }), 'forbidden');
        assertError(await c.request({ op: 'subscribe', topic: "a.x'; DROP TABLE messages;--" }), 'invalid_topic');
        assertError(await c.request({ op: 'subscribe', topic: 'a.ünïcode' }), 'invalid_topic');

        const wide = await connect(ctx.broker.url, { t });
        await wide.ok({ op: 'auth', token: hs256(claims({ sub: 'w', subscribe: ['>'] })) });
        assertError(await wide.request({ op: 'subscribe', topic: '$sys.>' }), 'forbidden');

        const evil = await connect(ctx.broker.url, { t });
        await evil.ok({ op: 'auth', token: hs256(claims({ sub: '>', subscribe: ['notify.{sub}'] })) });
        assertError(await evil.request({ op: 'subscribe', topic: 'notify.>' }), 'forbidden');
        assertError(await evil.request({ op: 'subscribe', topic: 'notify.bob' }), 'forbidden');
    });

    it('a spoofed Origin is refused at the upgrade', async () => {
        const status = await new Promise((resolve) => {
            const ws = new WebSocket(ctx.broker.url, { origin: 'https://evil.example' });
            ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
            ws.once('open', () => { resolve(101); ws.terminate(); });
            ws.once('error', () => resolve(0));
        });
        assert.equal(status, 403);
    });

    it('a flood of bad tokens: the broker keeps serving everyone else', async (t) => {
        const bystander = await connect(ctx.broker.url, { t });
        await bystander.ok({ op: 'subscribe', topic: 'public.ok' });
        const flooders = await Promise.all(Array.from({ length: 8 }, () => connect(ctx.broker.url, { t })));
        const bad = hs256(good, 'wrong-secret-wrong-secret-wrong-secret');
        const flood = flooders.map(async (f) => {
            for (let i = 0; i < 50; i++) await f.request({ op: 'auth', token: bad });
        });
        const started = Date.now();
        for (let i = 0; i < 20; i++) assert.equal((await bystander.request({ op: 'ping' })).op, 'pong');
        await Promise.all(flood);
        assert.ok(Date.now() - started < scaled(5000), 'pings answered during the flood');
        assert.equal((await bystander.request({ op: 'ping' })).op, 'pong');
    });
});

describe('ES256 broker', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsbroker-es256-'));
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const keyFile = path.join(dir, 'pub.pem');
    fs.writeFileSync(keyFile, pem);
    const ctx = sharedBroker({ args: ['--auth-public-key', keyFile] });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('takes an ES256 token and refuses HS256 signed with the public key', async (t) => {
        const ok = await authReply(ctx.broker, signWithKey(claims({ sub: 'e' }), 'ES256', privateKey), t);
        assert.equal(ok.op, 'ack', JSON.stringify(ok));
        assert.equal(ok.user, 'e');
        assertError(await authReply(ctx.broker, hs256(claims({ sub: 'e' }), pem), t), 'unauthorized');
    });
});
