// SPDX-License-Identifier: MIT
// hardening_ws.test.mjs: WebSocket clients that do not read what they
// asked for. A client that keeps sending requests (pings) and never reads
// the answers has its input paused once its unread replies pass a small
// bound (docs/limits.md, "Replies"): TCP holds it back, the broker's memory
// stays bounded, it is not cut off, and when it reads again it gets every
// answer, in order.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { SANITIZED, onCleanup, procStatusBytes, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';

const MiB = 1024 * 1024;

// A raw client that counts the pongs it reads and checks their order,
// without keeping them (a million frames).
async function hoarder(url, t) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    onCleanup(t, () => ws.terminate());
    const state = { ws, pongs: 0, outOfOrder: 0, closed: null };
    ws.on('message', (data) => {
        const f = JSON.parse(String(data));
        if (f.op !== 'pong') return;
        state.pongs++;
        if (f.id !== state.pongs) state.outOfOrder++;
    });
    ws.on('close', (code) => { state.closed = code; });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return state;
}

describe('ping hoarders', () => {
    it('unread replies pause the client, not the broker: memory bounded, every pong delivered later', async (t) => {
        const HOARDERS = 2;
        const PINGS = 1000000; // ~30 MB of requests, far beyond the sockets' buffers
        const broker = await startBroker({ t });
        const bystander = await connect(broker.url, { t });
        const before = procStatusBytes(broker, 'VmHWM');
        const hoarders = [];
        for (let h = 0; h < HOARDERS; h++) {
            const s = await hoarder(broker.url, t);
            s.ws.pause(); // reads nothing: the pongs pile up
            for (let i = 1; i <= PINGS; i++) s.ws.send(`{"op":"ping","id":${i}}`);
            hoarders.push(s);
        }
        // Paused by the broker, each hoarder's socket stops draining: its
        // requests wait on its own side.
        await waitFor(() => hoarders.every((s) => s.ws.bufferedAmount > 0),
            { what: 'every hoarder held back by TCP', timeoutMs: 20000 });
        assert.equal((await bystander.request({ op: 'ping' })).op, 'pong', 'others are served meanwhile');
        const grown = procStatusBytes(broker, 'VmHWM') - before;
        t.diagnostic(`the broker's peak grew by ${(grown / MiB).toFixed(1)} MiB`);
        if (!SANITIZED) assert.ok(grown < 32 * MiB, `the broker grew by ${grown} bytes`);
        for (const s of hoarders) {
            s.ws.resume();
            await waitFor(() => s.pongs === PINGS || s.closed !== null,
                { what: `${PINGS} pongs`, timeoutMs: 120000 });
            assert.equal(s.closed, null, 'never cut off');
            assert.equal(s.pongs, PINGS);
            assert.equal(s.outOfOrder, 0, 'in order, none lost');
        }
    });
});
