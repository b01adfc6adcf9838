// SPDX-License-Identifier: MIT
// idle_sockets.test.mjs: TCP connections that never send a request (port
// scanners, health checks, a browser's spare sockets) must not disturb the
// broker, whether they close at once or are still open at SIGTERM.
// Regression: lws reports their close with no user data, which crashed the
// HTTP close handler.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { httpGet, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';

function openRaw(port) {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
    });
}

describe('sockets that send nothing', () => {
    it('a connection closed without a request leaves the broker serving', async (t) => {
        const broker = await startBroker({ t });
        const ws = await connect(broker.url, { t });
        for (let i = 0; i < 20; i++) {
            const s = await openRaw(broker.port);
            s.destroy();
        }
        const reset = await openRaw(broker.port);
        reset.resetAndDestroy();
        await waitFor(async () => (await httpGet(`${broker.http}/healthz`)).status === 200,
            { what: 'healthz after idle sockets' });
        const pong = await ws.request({ op: 'ping' });
        assert.equal(pong.op, 'pong');
    });

    it('an idle connection still open at SIGTERM does not stop a clean exit', async (t) => {
        const broker = await startBroker({ t });
        const idle = await openRaw(broker.port);
        t.after(() => idle.destroy());
        assert.equal(await broker.stop(), 0);
    });
});
