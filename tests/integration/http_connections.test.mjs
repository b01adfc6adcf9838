// SPDX-License-Identifier: MIT
// http_connections.test.mjs: HTTP connections that fetch would not make,
// on raw TCP sockets: closed before a request, silent or idle after a
// response at SIGTERM, and requests pipelined behind a POST (what lws 4.1
// allows there is in docs/protocol.md section 8, keep-alive and pipelining). The broker must
// survive them all and exit 0.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { onCleanup, scaled, startBroker, waitFor } from './lib/broker.mjs';
import { explainFailure } from './lib/http_api.mjs';
import { apiUrl, httpRequest, uniqueTopic } from './lib/util.mjs';

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
    // and the broker keeps serving everyone (docs/protocol.md section 8).
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
