// SPDX-License-Identifier: MIT
// accept.test.mjs: the listening socket (broker/net/listener.c). The broker takes
// at most 512 waiting connections per turn of its loop, so a burst larger
// than that must still be served in full; "--bind ::" serves IPv4 and IPv6;
// running out of file descriptors pauses accepting without disturbing the
// connections already open, and accepting resumes once descriptors free up.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { httpGet, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';

// Opens `n` WebSockets at once. Each record fills in as its socket gets
// its first frame (`first`), fails (`error`) or closes (`closed`); every
// socket is closed when the test ends.
function openMany(t, url, n) {
    const records = Array.from({ length: n }, () => {
        const rec = { ws: new WebSocket(url), first: null, error: null, closed: false };
        rec.ws.once('message', (data) => { rec.first = JSON.parse(String(data)); });
        rec.ws.once('error', (err) => { rec.error = err; });
        rec.ws.once('close', () => { rec.closed = true; });
        return rec;
    });
    t.after(() => records.forEach((r) => r.ws.terminate()));
    return records;
}

const isWelcomed = (r) => r.first?.op === 'welcome';
const isSettled = (r) => r.first || r.error || r.closed;

function ipv6Loopback() {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once('error', () => resolve(false));
        srv.listen(0, '::1', () => srv.close(() => resolve(true)));
    });
}

describe('accepting connections', () => {
    it('a burst of 1200 connections (over two accept batches) is welcomed in full', async (t) => {
        const broker = await startBroker({ t });
        const records = openMany(t, broker.url, 1200);
        await waitFor(() => records.every(isSettled), { what: '1200 first frames', timeoutMs: 30000 });
        const welcomed = records.filter(isWelcomed).length;
        assert.equal(welcomed, 1200, `welcomed ${welcomed} of 1200`);
        assert.equal(new Set(records.map((r) => r.first.client)).size, 1200,
            'each connection has its own client id');
    });

    it('--bind :: serves IPv4 and IPv6 clients', async (t) => {
        if (!(await ipv6Loopback())) {
            t.skip('no IPv6 loopback on this machine');
            return;
        }
        // Later flags win: this replaces the harness's --bind 127.0.0.1, and the
        // harness's own health check goes to 127.0.0.1.
        const broker = await startBroker({ t, args: ['--bind', '::'] });
        const v4 = await connect(broker.url, { t });
        const v6 = await connect(`ws://[::1]:${broker.port}/ws`, { t });
        assert.equal((await v4.request({ op: 'ping' })).op, 'pong');
        assert.equal((await v6.request({ op: 'ping' })).op, 'pong');
    });

    it('--bind 127.0.0.1 does not take IPv6 connections', async (t) => {
        if (!(await ipv6Loopback())) {
            t.skip('no IPv6 loopback on this machine');
            return;
        }
        const broker = await startBroker({ t }); // the harness binds 127.0.0.1
        const refused = await new Promise((resolve) => {
            const s = net.connect(broker.port, '::1');
            s.once('connect', () => { s.destroy(); resolve(false); });
            s.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
        });
        assert.ok(refused, 'a connection to [::1] was not refused');
    });

    // Plain TCP connections that never send a request (not WebSockets,
    // which stop short of the limit: below) are what can still exhaust the
    // descriptors.
    it('out of file descriptors: accepting pauses, open connections keep working, then resumes', async (t) => {
        const broker = await startBroker({ t, wrapper: ['prlimit', '--nofile=128:128'] });
        const first = await connect(broker.url, { t });
        const sockets = Array.from({ length: 160 }, () => {
            const s = net.connect(broker.port, '127.0.0.1');
            s.on('error', () => {});
            return s;
        });
        t.after(() => sockets.forEach((s) => s.destroy()));
        await waitFor(() => /accept: Too many open files: not accepting/.test(broker.stderrText()),
            { what: 'the broker noticing EMFILE', timeoutMs: 10000 });
        assert.equal((await first.request({ op: 'ping' })).op, 'pong', 'an open connection is still served');
        sockets.forEach((s) => s.destroy());
        // Descriptors free again: accepting resumes by itself.
        const later = await connect(broker.url, { t, timeoutMs: 20000 });
        assert.equal((await later.request({ op: 'ping' })).op, 'pong');
        // Counted for operators.
        const metrics = await httpGet(`${broker.http}/metrics`);
        const pauses = Number(/^wsbroker_accept_pauses_total (\d+)$/m.exec(metrics.text)?.[1]);
        assert.ok(pauses >= 1, `wsbroker_accept_pauses_total: ${pauses}`);
        const stats = await httpGet(`${broker.http}/api/stats`);
        assert.ok(stats.json.counters.accept_pauses >= 1, stats.text);
    });

    it('WebSockets and SSE streams stop 32 descriptors short of the limit: /healthz still answers', async (t) => {
        const broker = await startBroker({ t, wrapper: ['prlimit', '--nofile=128:128'] });
        const records = openMany(t, broker.url, 120);
        await waitFor(() => records.every(isSettled), { what: '120 first frames or refusals', timeoutMs: 20000 });
        const welcomed = records.filter(isWelcomed).length;
        assert.equal(welcomed, 128 - 32, `welcomed ${welcomed}: up to the reserve`);
        const refused = records.filter((r) => !isWelcomed(r));
        assert.ok(refused.every((r) => /503/.test(r.error?.message ?? '')),
            `the others are refused with 503 (${refused.map((r) => r.error?.message).slice(0, 3)})`);
        const health = await httpGet(`${broker.http}/healthz`);
        assert.equal(health.status, 200, 'a health check still gets a descriptor');
        const sse = await httpGet(`${broker.http}/sse?topic=x`);
        assert.equal(sse.status, 503, 'an SSE stream is refused too');
        assert.match(broker.stderrText(), /refusing new connections/);
        // One leaves: one more may come.
        records.find(isWelcomed).ws.close();
        const again = await connect(broker.url, { t, timeoutMs: 10000 });
        assert.equal((await again.request({ op: 'ping' })).op, 'pong');
    });
});
