// SPDX-License-Identifier: MIT
// http_api.mjs: the steps and assertions the http_*.test.mjs files share
// on top of util.mjs: a history query and a publish that must succeed, a
// WebSocket subscriber, proof that a refused request delivered nothing, the
// shape of a message object, and a broker's stderr added to a failure.

import assert from 'node:assert/strict';
import { waitFor } from './broker.mjs';
import { connect } from './client.mjs';
import { apiUrl, httpPublish, httpRequest } from './util.mjs';

// GET /api/history; asserts 200 and returns the JSON body.
export async function history(broker, params) {
    const res = await httpRequest(apiUrl(broker, '/api/history', params));
    assert.equal(res.status, 200, `history ${JSON.stringify(params)}: ${res.status} ${res.text.slice(0, 300)}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return res.json;
}

// POST /api/publish; asserts 200 and returns the JSON body.
export async function publishOk(broker, body) {
    const res = await httpPublish(broker, body);
    assert.equal(res.status, 200, `publish ${JSON.stringify(body).slice(0, 200)}: ${res.status} ${res.text}`);
    return res.json;
}

// Subscribes a WebSocket client to `pattern` and returns it.
export async function subscriber(broker, pattern, t, extra = {}) {
    const c = await connect(broker.url, { t });
    await c.ok({ op: 'subscribe', topic: pattern, ...extra });
    return c;
}

// Shows that `sub` (subscribed to base.>) got no message from a refused
// request: publishes a sentinel after it and checks the sentinel is the
// next message (frames reach a connection in seq order).
export async function assertNothingDelivered(broker, sub, base, what) {
    const sentinel = await publishOk(broker, { topic: `${base}.sentinel`, data: 'sentinel' });
    const first = await sub.nextMessage();
    assert.equal(first.seq, sentinel.seq, `${what}: got ${JSON.stringify(first)} before the sentinel`);
}

// Runs fn; when it throws, adds what the broker process said (a crash shows
// up as 'fetch failed' on the client side otherwise).
export async function explainFailure(broker, fn) {
    try {
        return await fn();
    } catch (err) {
        await waitFor(() => broker.exit, { timeoutMs: 2000, what: 'exit' }).catch(() => null);
        const stderr = broker.stderrText().split('\n').filter((l) => !/ debug /.test(l)).slice(-12).join('\n');
        err.message += `\nbroker exit: ${JSON.stringify(broker.exit)}; stderr tail (no debug lines):\n${stderr}`;
        throw err;
    }
}

// Asserts `m` is a message object as docs/protocol.md section 3 describes it
// (op, topic when given, seq, ts, data).
export function assertMessageObject(m, topic) {
    assert.equal(m.op, 'message', JSON.stringify(m));
    if (topic !== undefined) assert.equal(m.topic, topic, JSON.stringify(m));
    assert.ok(Number.isSafeInteger(m.seq) && m.seq > 0, JSON.stringify(m));
    assert.ok(Number.isSafeInteger(m.ts) && m.ts > 1.6e12, JSON.stringify(m));
    assert.ok('data' in m, JSON.stringify(m));
}
