// SPDX-License-Identifier: MIT
// http_cors.test.mjs: the answers every HTTP client meets before the API
// proper (docs/protocol.md section 8): /healthz, 404 for unknown /api/
// paths, kept-alive connections, CORS (access-control-allow-origin: * by
// default, OPTIONS preflight) and --allow-origin, which also refuses
// WebSocket upgrades from other origins.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { scaled } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { history } from './lib/http_api.mjs';
import { assertHttpError, httpPublish, httpRequest, range, sharedBroker, uniqueTopic } from './lib/util.mjs';

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
