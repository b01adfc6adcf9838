// SPDX-License-Identifier: MIT
// auth_http.test.mjs: auth on the HTTP side (docs/protocol.md section 10
// "Auth"; docs/auth.md): Authorization: Bearer with an API key or a JWT,
// 401 and 403 as JSON errors, /sse with ?token=, the admin endpoints, and
// --max-conns-per-ip at the upgrade and /sse.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import { scaled } from './lib/broker.mjs';
import { claims, hs256, SECRET } from './lib/jwt.mjs';
import {
    apiUrl, assertHttpError, httpPublish, httpRequest, openSse, sharedBroker, uniqueTopic,
} from './lib/util.mjs';

const API_KEY = 'http-api-key-0123456789abcdef';
const bearer = (credential) => ({ authorization: `Bearer ${credential}` });
const alice = hs256(claims({ sub: 'alice', subscribe: ['news.>'], publish: ['news.alice.>'] }));

describe('auth over HTTP', () => {
    const ctx = sharedBroker({
        args: ['--auth-secret', SECRET, '--api-key', API_KEY, '--anonymous', 'public.>',
            '--auth-grace', '1'],
    });

    it('publish: no credential 401, outside the claims 403, inside 200 with from', async () => {
        const topic = uniqueTopic('news.alice');
        assertHttpError(await httpPublish(ctx.broker, { topic, data: 1 }), 401, 'unauthorized');
        assertHttpError(await httpPublish(ctx.broker, { topic: 'news.bob', data: 1 }, { headers: bearer(alice) }),
            403, 'forbidden');
        const ok = await httpPublish(ctx.broker, { topic, data: 1 }, { headers: bearer(alice) });
        assert.equal(ok.status, 200, ok.text);
        const hist = await httpRequest(apiUrl(ctx.broker, '/api/history', { topic }), { headers: bearer(alice) });
        assert.equal(hist.status, 200, hist.text);
        assert.equal(hist.json.messages[0].from, 'alice');
    });

    it('a batch with one topic outside the claims publishes nothing', async () => {
        const topic = uniqueTopic('news.alice');
        const res = await httpPublish(ctx.broker, { messages: [{ topic, data: 1 }, { topic: 'other', data: 2 }] },
            { headers: bearer(alice) });
        assertHttpError(res, 403, 'forbidden');
    });

    it('an API key may publish anywhere; an invalid credential is 401', async () => {
        const ok = await httpPublish(ctx.broker, { topic: uniqueTopic('any'), data: 1 }, { headers: bearer(API_KEY) });
        assert.equal(ok.status, 200, ok.text);
        assertHttpError(await httpPublish(ctx.broker, { topic: 'x', data: 1 }, { headers: bearer('nope') }),
            401, 'unauthorized');
    });

    it('history and presence follow subscribe; anonymous patterns apply', async () => {
        assertHttpError(await httpRequest(apiUrl(ctx.broker, '/api/history', { topic: 'news.x' })), 401, 'unauthorized');
        assert.equal((await httpRequest(apiUrl(ctx.broker, '/api/history', { topic: 'public.x' }))).status, 200);
        assertHttpError(await httpRequest(apiUrl(ctx.broker, '/api/presence', { topic: 'secret.x' }),
            { headers: bearer(alice) }), 403, 'forbidden');
        assert.equal((await httpRequest(apiUrl(ctx.broker, '/api/presence', { topic: 'news.x' }),
            { headers: bearer(alice) })).status, 200);
    });

    it('/sse takes ?token= and refuses topics outside the claims', async (t) => {
        const denied = await openSse(apiUrl(ctx.broker, '/sse', { topic: 'secret.>', token: alice }), { t });
        assert.equal(denied.status, 403);
        const anon = await openSse(apiUrl(ctx.broker, '/sse', { topic: 'news.>' }), { t });
        assert.equal(anon.status, 401);
        const ok = await openSse(apiUrl(ctx.broker, '/sse', { topic: 'news.>', token: alice }), { t });
        assert.equal(ok.status, 200);
    });

    it('/sse ends once its token expired and the grace passed', async (t) => {
        const short = hs256(claims({ sub: 'alice', subscribe: ['news.>'] }, 2));
        const stream = await openSse(apiUrl(ctx.broker, '/sse', { topic: 'news.>', token: short }), { t });
        assert.equal(stream.status, 200);
        const started = Date.now();
        await Promise.race([stream.done,
            new Promise((_, reject) => setTimeout(() => reject(new Error('stream still open')), scaled(8000)))]);
        assert.ok(Date.now() - started >= 1500, 'not before exp');
    });

    it('/metrics and /api/stats need an API key; /healthz is open', async () => {
        for (const p of ['/metrics', '/api/stats']) {
            assertHttpError(await httpRequest(`${ctx.broker.http}${p}`), 401, 'unauthorized');
            assertHttpError(await httpRequest(`${ctx.broker.http}${p}`, { headers: bearer(alice) }), 403, 'forbidden');
            assert.equal((await httpRequest(`${ctx.broker.http}${p}`, { headers: bearer(API_KEY) })).status, 200);
        }
        assert.equal((await httpRequest(`${ctx.broker.http}/healthz`)).status, 200);
    });
});

describe('--public-metrics', () => {
    const ctx = sharedBroker({ args: ['--api-key', API_KEY, '--public-metrics'] });

    it('/metrics without a key', async () => {
        assert.equal((await httpRequest(`${ctx.broker.http}/metrics`)).status, 200);
    });
});

describe('--max-conns-per-ip', () => {
    const ctx = sharedBroker({ args: ['--max-conns-per-ip', '2'] });

    it('the third stream from one address gets 503, and a slot frees on close', async (t) => {
        const a = await connect(ctx.broker.url, { t });
        const sse = await openSse(apiUrl(ctx.broker, '/sse', { topic: 'x' }), { t });
        assert.equal(sse.status, 200);
        await assert.rejects(connect(ctx.broker.url, { t }), /HTTP 503/);
        const refused = await openSse(apiUrl(ctx.broker, '/sse', { topic: 'x' }), { t });
        assert.equal(refused.status, 503);
        await a.close();
        await new Promise((r) => setTimeout(r, 200));
        await connect(ctx.broker.url, { t });
        assert.match(ctx.broker.stderrText(), /max-conns-per-ip/);
    });
});
