// SPDX-License-Identifier: MIT
// hardening_http.test.mjs: the HTTP side of what a hostile client may try
// (docs/limits.md): request bodies (framing, the whole-body deadline, the
// memory they may take across connections and per address), Origin and
// Host checks on state-changing requests, the HTTP publish rate limit, and
// oversized request heads.
//
// Malformed requests go over raw sockets (node:net); a client address other
// than 127.0.0.1 is another loopback address (127.0.0.N) as the source.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { onCleanup, procStatusBytes, scaled, startBroker, waitFor } from './lib/broker.mjs';
import { apiUrl, assertHttpError, httpPublish, httpRequest, sharedBroker, uniqueTopic } from './lib/util.mjs';

const MiB = 1024 * 1024;

// A raw HTTP/1.1 connection. `response` resolves the first answer
// {status, headers, json} (or null when the connection closed without one);
// `closed` resolves when the broker closed the connection.
function rawHttp(broker, { localAddress, t } = {}) {
    const sock = net.connect({ host: '127.0.0.1', port: broker.port, localAddress });
    if (t) onCleanup(t, () => sock.destroy());
    let buf = Buffer.alloc(0);
    let settleResponse;
    const conn = { sock, closedFlag: false };
    conn.response = new Promise((resolve) => { settleResponse = resolve; });
    conn.closed = new Promise((resolve) => {
        sock.on('close', () => {
            conn.closedFlag = true;
            settleResponse(null);
            resolve();
        });
    });
    sock.on('error', () => {});
    sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(head[0].split(' ')[1]);
        const headers = {};
        for (const line of head.slice(1)) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length < end + 4 + length) return;
        const text = buf.subarray(end + 4, end + 4 + length).toString('utf8');
        let json;
        try {
            json = JSON.parse(text);
        } catch {
            json = undefined;
        }
        settleResponse({ status, headers, json, text });
    });
    conn.write = (data) => new Promise((resolve) => {
        if (conn.closedFlag) resolve(false);
        else sock.write(data, () => resolve(true));
    });
    return conn;
}

// Resolves the answer of `conn` within a timeout; fails when none came.
async function answerOf(conn, what) {
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), scaled(5000)); });
    const res = await Promise.race([conn.response, timeout]);
    clearTimeout(timer);
    assert.notEqual(res, 'timeout', `${what}: no answer within ${scaled(5000)} ms`);
    assert.ok(res, `${what}: the connection closed without an answer`);
    return res;
}

function assertRawError(res, status, code, what) {
    assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status} ${res.text}`);
    assert.equal(res.json?.error?.code, code, `${what}: expected code ${code}, got ${res.text}`);
}

function postHead(broker, headers) {
    return `POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1:${broker.port}\r\n${headers.join('\r\n')}\r\n\r\n`;
}

// The topic's messages (an empty list when none).
async function historyOf(broker, topic) {
    const res = await httpRequest(apiUrl(broker, '/api/history', { topic }));
    assert.equal(res.status, 200, `history: ${res.text}`);
    return res.json.messages;
}

describe('request body framing', () => {
    const ctx = sharedBroker();

    it('two Content-Length headers are refused with 400 and nothing is published', async (t) => {
        const topic = uniqueTopic('hh.cl2');
        const body = JSON.stringify({ topic, data: 1 });
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(postHead(ctx.broker, ['Content-Type: application/json',
            `Content-Length: ${body.length}`, `Content-Length: ${body.length + 40}`]) + body);
        assertRawError(await answerOf(conn, 'two Content-Length'), 400, 'bad_request', 'two Content-Length');
        assert.deepEqual(await historyOf(ctx.broker, topic), []);
    });

    it('a request smuggled behind two Content-Length headers is never served', async (t) => {
        const topic = uniqueTopic('hh.smuggle');
        const smuggled = JSON.stringify({ topic, data: 'smuggled' });
        const inner = `POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(postHead(ctx.broker, ['Content-Length: 2', `Content-Length: ${2 + inner.length}`]) +
            `{}${inner}`);
        assertRawError(await answerOf(conn, 'smuggling'), 400, 'bad_request', 'smuggling');
        await waitFor(() => conn.closedFlag, { what: 'the connection to close after a framing error' });
        assert.deepEqual(await historyOf(ctx.broker, topic), []);
    });

    it('a Content-Length that is not a plain number is refused with 400', async (t) => {
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(postHead(ctx.broker, ['Content-Length: 12, 12']) + '{"topic":"a"');
        assertRawError(await answerOf(conn, 'a list as Content-Length'), 400, 'bad_request', 'Content-Length list');
    });

    it('a POST without Content-Length is answered 411 at once', async (t) => {
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(postHead(ctx.broker, ['Content-Type: application/json']) + '{"topic":"a","data":1}');
        assertRawError(await answerOf(conn, 'no Content-Length'), 411, 'bad_request', 'no Content-Length');
    });

    it('a chunked POST is answered 411 at once and nothing is published', async (t) => {
        const topic = uniqueTopic('hh.chunked');
        const body = JSON.stringify({ topic, data: 1 });
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(postHead(ctx.broker, ['Transfer-Encoding: chunked']) +
            `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
        assertRawError(await answerOf(conn, 'chunked'), 411, 'bad_request', 'chunked');
        assert.deepEqual(await historyOf(ctx.broker, topic), []);
    });

    it('a body declared over the limit is answered 413 before it is sent', async (t) => {
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(postHead(ctx.broker, [`Content-Length: ${1024 * MiB}`]));
        assertRawError(await answerOf(conn, 'a 1 GiB body'), 413, 'too_large', '1 GiB body');
    });

    it('a well-formed POST on a kept-alive connection still works after the checks', async () => {
        const topic = uniqueTopic('hh.ok');
        const res = await httpPublish(ctx.broker, { topic, data: 7 });
        assert.equal(res.status, 200, res.text);
        assert.equal((await historyOf(ctx.broker, topic)).length, 1);
    });
});

describe('the whole body has one deadline', () => {
    const ctx = sharedBroker({ args: ['--http-body-timeout', '2'] });

    it('a body sent a byte at a time is cut at the deadline, not kept alive by each byte', async (t) => {
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(postHead(ctx.broker, ['Content-Length: 1000']));
        // One byte every 200 ms: each arrives well within lws's 30 s idle
        // timeout, so only a deadline on the whole body ends this.
        const trickle = setInterval(() => { conn.write('x'); }, 200);
        onCleanup(t, () => clearInterval(trickle));
        await waitFor(() => conn.closedFlag, { timeoutMs: 15000, what: 'the broker to close the slow body' });
        clearInterval(trickle);
        const res = await conn.response;
        if (res) assertRawError(res, 408, 'bad_request', 'slow body');
    });
});

// Opens `count` connections from `addresses` (round robin), each declaring a
// body of `declared` bytes and sending `sent` bytes of it. Resolves the
// connections once every write was handed to the kernel.
async function partialBodies(broker, t, { count, declared, sent, addresses }) {
    const conns = [];
    for (let i = 0; i < count; i++) {
        const conn = rawHttp(broker, { t, localAddress: addresses[i % addresses.length] });
        conns.push(conn);
        await conn.write(postHead(broker, [`Content-Length: ${declared}`]));
    }
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    await Promise.all(conns.map(async (conn) => {
        for (let done = 0; done < sent; done += chunk.length) {
            if (!(await conn.write(chunk.subarray(0, Math.min(chunk.length, sent - done))))) return;
        }
    }));
    return conns;
}

describe('body memory is bounded across connections', () => {
    it('beyond the total budget, bodies are refused with 503 and memory stays near the budget', async (t) => {
        const broker = await startBroker({
            t, args: ['--max-message', '262144', '--http-body-budget', String(4 * MiB),
                '--http-body-budget-per-ip', String(4 * MiB)],
        });
        const hwmBefore = procStatusBytes(broker, 'VmHWM');
        const addresses = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);
        const conns = await partialBodies(broker, t, {
            count: 16, declared: 2 * MiB, sent: 2 * MiB - 1, addresses,
        });
        // At most two 2 MiB bodies fit 4 MiB: the others are told so at once.
        const refused = await waitFor(async () => {
            const answered = await Promise.all(conns.map((c) => Promise.race([c.response, null])));
            const n = answered.filter((r) => r && r.status === 503).length;
            return n >= 14 ? answered : null;
        }, { timeoutMs: 10000, what: '14 connections refused with 503' });
        for (const res of refused.filter(Boolean)) assertRawError(res, 503, 'unavailable', 'over budget');
        const grown = procStatusBytes(broker, 'VmHWM') - hwmBefore;
        assert.ok(grown < 24 * MiB, `peak RSS grew by ${(grown / MiB).toFixed(1)} MiB (budget 4 MiB)`);
        // The ones that fit complete normally (a body of spaces: 400, not JSON).
        for (const conn of conns.filter((c, i) => !refused[i])) {
            await conn.write(' ');
            assertRawError(await answerOf(conn, 'body within budget'), 400, 'bad_request', 'within budget');
        }
        const ok = await httpPublish(broker, { topic: uniqueTopic('hh.after'), data: 1 });
        assert.equal(ok.status, 200, 'a publish after the bodies were answered');
    });

    it('one address may hold only its share: the rest of its bodies get 429', async (t) => {
        const broker = await startBroker({
            t, args: ['--max-message', '262144', '--http-body-budget', String(64 * MiB),
                '--http-body-budget-per-ip', String(2 * MiB)],
        });
        const hwmBefore = procStatusBytes(broker, 'VmHWM');
        const conns = await partialBodies(broker, t, {
            count: 16, declared: 2 * MiB, sent: 2 * MiB - 1, addresses: ['127.0.0.1'],
        });
        const refused = await waitFor(async () => {
            const answered = await Promise.all(conns.map((c) => Promise.race([c.response, null])));
            return answered.filter((r) => r && r.status === 429).length >= 15 ? answered : null;
        }, { timeoutMs: 10000, what: '15 connections refused with 429' });
        for (const res of refused.filter(Boolean)) assertRawError(res, 429, 'rate_limited', 'over the share');
        const grown = procStatusBytes(broker, 'VmHWM') - hwmBefore;
        assert.ok(grown < 24 * MiB, `peak RSS grew by ${(grown / MiB).toFixed(1)} MiB (share 2 MiB)`);
        // Another address is not held back by this one.
        const other = rawHttp(broker, { t, localAddress: '127.0.0.99' });
        const body = JSON.stringify({ topic: uniqueTopic('hh.other'), data: 1 });
        await other.write(postHead(broker, [`Content-Length: ${body.length}`]) + body);
        assert.equal((await answerOf(other, 'another address')).status, 200);
    });
});

describe('--allow-origin on state-changing requests', () => {
    const ctx = sharedBroker({ args: ['--allow-origin', 'https://a.example'] });

    it('a POST from another origin is 403 and publishes nothing', async () => {
        const topic = uniqueTopic('hh.xsite');
        const res = await httpPublish(ctx.broker, JSON.stringify({ topic, data: 1 }),
            { headers: { origin: 'https://evil.example', 'content-type': 'text/plain' } });
        assertHttpError(res, 403, 'forbidden', 'cross-site POST');
        assert.deepEqual(await historyOf(ctx.broker, topic), []);
    });

    it('an Origin too long for the broker is refused, not taken as absent', async () => {
        const topic = uniqueTopic('hh.longorigin');
        const origin = `https://${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}.example`;
        assert.ok(origin.length >= 256);
        const res = await httpPublish(ctx.broker, { topic, data: 1 }, { headers: { origin } });
        assertHttpError(res, 403, 'forbidden', 'long Origin');
        assert.deepEqual(await historyOf(ctx.broker, topic), []);
        const get = await httpRequest(apiUrl(ctx.broker, '/api/history', { topic }), { headers: { origin } });
        assert.equal(get.headers.get('access-control-allow-origin'), null);
    });

    it('a POST from the allowed origin or without Origin is served', async () => {
        const topic = uniqueTopic('hh.sameorigin');
        const a = await httpPublish(ctx.broker, { topic, data: 1 }, { headers: { origin: 'https://a.example' } });
        assert.equal(a.status, 200, a.text);
        const b = await httpPublish(ctx.broker, { topic, data: 2 });
        assert.equal(b.status, 200, b.text);
        assert.equal((await historyOf(ctx.broker, topic)).length, 2);
    });

    it('a WebSocket upgrade with an Origin too long for the broker is refused', async () => {
        const origin = `https://${'a'.repeat(300)}.example`;
        const opened = await new Promise((resolve) => {
            const ws = new WebSocket(ctx.broker.url, 'wsb.v1', { origin });
            ws.once('open', () => { ws.close(); resolve(true); });
            ws.once('error', () => resolve(false));
        });
        assert.equal(opened, false);
    });
});

describe('--allow-host', () => {
    const ctx = sharedBroker({ args: ['--allow-host', '127.0.0.1', '--allow-host', 'broker.example'] });

    it('a request naming a host not served is 421', async (t) => {
        const topic = uniqueTopic('hh.rebind');
        const body = JSON.stringify({ topic, data: 1 });
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(`POST /api/publish HTTP/1.1\r\nHost: attacker.example:${ctx.broker.port}\r\n` +
            `Content-Length: ${body.length}\r\n\r\n${body}`);
        assertRawError(await answerOf(conn, 'rebound Host'), 421, 'forbidden', 'rebound Host');
        const get = rawHttp(ctx.broker, { t });
        await get.write('GET /api/stats HTTP/1.1\r\nHost: attacker.example\r\n\r\n');
        assertRawError(await answerOf(get, 'rebound GET'), 421, 'forbidden', 'rebound GET');
        assert.deepEqual(await historyOf(ctx.broker, topic), []);
    });

    it('a listed host is served with or without a port, in any case', async (t) => {
        for (const host of [`127.0.0.1:${ctx.broker.port}`, 'Broker.Example', `broker.example:${ctx.broker.port}`]) {
            const conn = rawHttp(ctx.broker, { t });
            await conn.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
            assert.equal((await answerOf(conn, host)).status, 200, host);
        }
    });

    it('a WebSocket upgrade naming a host not served is refused with 421', async () => {
        const status = await new Promise((resolve) => {
            const ws = new WebSocket(ctx.broker.url, 'wsb.v1', { headers: { host: 'attacker.example' } });
            ws.once('open', () => { ws.close(); resolve('open'); });
            ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
            ws.once('error', () => resolve('error'));
        });
        assert.equal(status, 421);
    });
});

describe('HTTP publishes and --max-rate', () => {
    const ctx = sharedBroker({ args: ['--max-rate', '10'] });

    it('publishes beyond the rate from one address get 429 rate_limited', async () => {
        const topic = uniqueTopic('hh.rate');
        const answers = [];
        for (let i = 0; i < 60; i++) answers.push(await httpPublish(ctx.broker, { topic, data: i }));
        const limited = answers.filter((r) => r.status === 429);
        assert.ok(limited.length > 0, 'no publish was rate limited');
        for (const res of limited) assertHttpError(res, 429, 'rate_limited', 'over the rate');
        const accepted = answers.filter((r) => r.status === 200).length;
        assert.equal(accepted + limited.length, answers.length);
        assert.equal((await historyOf(ctx.broker, topic)).length, accepted);
    });

    it('another address has its own bucket, and many addresses keep the table bounded', async (t) => {
        const before = procStatusBytes(ctx.broker, 'VmRSS');
        for (let i = 0; i < 300; i++) {
            const conn = rawHttp(ctx.broker, { t, localAddress: `127.0.${1 + Math.floor(i / 250)}.${(i % 250) + 1}` });
            const body = JSON.stringify({ topic: uniqueTopic('hh.addr'), data: i });
            await conn.write(postHead(ctx.broker, [`Content-Length: ${body.length}`, 'Connection: close']) + body);
            assert.equal((await answerOf(conn, `address ${i}`)).status, 200);
            conn.sock.destroy();
        }
        const grown = procStatusBytes(ctx.broker, 'VmRSS') - before;
        assert.ok(grown < 16 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
    });
});

describe('oversized request heads', () => {
    const ctx = sharedBroker();

    it('a 4 KB URL is answered 414', async (t) => {
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(`GET /api/history?topic=${'a'.repeat(4096)} HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.equal((await answerOf(conn, '4 KB URL')).status, 414);
    });

    // lws 4.1 drops a request whose head overflows its buffer before any
    // callback reaches the broker, so no 431 can be sent (docs/limits.md):
    // what holds is that only that connection ends, at once.
    it('a 100 KB header closes that connection only', async (t) => {
        const bystander = rawHttp(ctx.broker, { t });
        const conn = rawHttp(ctx.broker, { t });
        await conn.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`);
        await waitFor(() => conn.closedFlag, { what: 'the oversized request closed' });
        await bystander.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal((await answerOf(bystander, 'bystander')).status, 200);
    });

    it('the broker stays healthy after them', async () => {
        const res = await httpRequest(`${ctx.broker.http}/healthz`);
        assert.equal(res.status, 200);
    });
});
