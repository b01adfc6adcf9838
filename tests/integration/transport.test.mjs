// SPDX-License-Identifier: MIT
// transport.test.mjs: docs/protocol.md sections 1, 3 (welcome), 8 (healthz, 404,
// GET /ws without upgrade) and the ping/pong rules of section 10.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpGet, scaled, startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { isMessage, sharedBroker, uniqueTopic } from './lib/util.mjs';

describe('transport', () => {
    const ctx = sharedBroker();

    it('sends welcome first, with every field of section 3', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const w = c.welcome;
        assert.equal(c.log[0], w, 'welcome is the first frame');
        assert.equal(w.op, 'welcome');
        assert.equal(w.v, 1);
        assert.equal(typeof w.client, 'string');
        assert.ok(w.client.length > 0, 'client id is not empty');
        assert.match(w.server, /^wsbroker \d+\.\d+\.\d+/);
        assert.match(w.epoch, /^[0-9a-f]{8}$/);
        assert.ok(Number.isSafeInteger(w.seq) && w.seq >= 0, `seq ${w.seq}`);
        assert.ok(Number.isSafeInteger(w.heartbeat) && w.heartbeat > 0, `heartbeat ${w.heartbeat}`);
        assert.equal(w.heartbeat, 25, 'default heartbeat');
        assert.equal(w.max_message, 1048576, 'default max_message');
    });

    it('gives every connection its own client id and the same epoch', async (t) => {
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        assert.notEqual(a.welcome.client, b.welcome.client);
        assert.equal(a.welcome.epoch, b.welcome.epoch);
    });

    it('welcome.seq is the newest seq assigned so far', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('tr.seq');
        let last = 0;
        for (let i = 0; i < 3; i++) last = (await p.ok({ op: 'publish', topic, data: i })).seq;
        const c = await connect(ctx.broker.url, { t });
        assert.equal(c.welcome.seq, last);
    });

    it('accepts the wsb.v1 sub-protocol and echoes it', async (t) => {
        const c = await connect(ctx.broker.url, { t, protocols: ['wsb.v1'] });
        assert.equal(c.ws.protocol, 'wsb.v1');
        await c.sync();
    });

    it('accepts a connection that names no sub-protocol', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        assert.equal(c.ws.protocol, '');
        await c.sync();
    });

    it('negotiates permessage-deflate when offered and still delivers', async (t) => {
        const sub = await connect(ctx.broker.url, { t, deflate: true });
        assert.match(sub.ws.extensions, /permessage-deflate/);
        const pub = await connect(ctx.broker.url, { t, deflate: true });
        const topic = uniqueTopic('tr.deflate');
        await sub.ok({ op: 'subscribe', topic });
        const data = { text: 'abcdefgh'.repeat(4000) };
        const ack = await pub.ok({ op: 'publish', topic, data });
        const m = await sub.next(isMessage(topic));
        assert.equal(m.seq, ack.seq);
        assert.deepEqual(m.data, data);
    });

    it('GET /healthz answers 200 {"status":"ok"}', async () => {
        const res = await httpGet(`${ctx.broker.http}/healthz`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.json, { status: 'ok' });
    });

    it('GET /ws without an upgrade is 400 with a JSON error body', async () => {
        const res = await httpGet(`${ctx.broker.http}/ws`);
        assert.equal(res.status, 400, `body: ${res.text}`);
        assert.ok(res.json && res.json.error, `JSON error body expected, got: ${res.text}`);
        assert.equal(typeof res.json.error.code, 'string');
        assert.equal(typeof res.json.error.message, 'string');
        assert.ok(res.json.error.message.length > 0);
    });

    it('an unknown path is 404 with code not_found', async () => {
        const res = await httpGet(`${ctx.broker.http}/no/such/path-${Date.now()}.txt`);
        assert.equal(res.status, 404, `body: ${res.text}`);
        assert.ok(res.json && res.json.error, `JSON error body expected, got: ${res.text.slice(0, 200)}`);
        assert.equal(res.json.error.code, 'not_found');
        assert.equal(typeof res.json.error.message, 'string');
    });

    it('ping with an id gets a pong with that id', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const pong = await c.request({ op: 'ping' });
        assert.equal(pong.op, 'pong');
        assert.equal(pong.id, 1);
        c.send({ op: 'ping', id: 987654321 });
        const pong2 = await c.next((f) => f.op === 'pong');
        assert.equal(pong2.id, 987654321);
        const big = Number.MAX_SAFE_INTEGER;
        c.send(`{"op":"ping","id":${big}}`);
        const pong3 = await c.next((f) => f.op === 'pong');
        assert.equal(pong3.id, big, 'id 2^53-1 is valid and echoed exactly');
    });

    it('ping without an id gets no pong', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        c.send({ op: 'ping' });
        await c.sync();
        await c.sync();
        assert.deepEqual(c.peek(), [], 'nothing but the pongs of the pings with ids');
        assert.deepEqual(c.log.filter((f) => f.op === 'pong').map((f) => f.id), [1, 2]);
    });

    it('ignores unknown top-level fields', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const pong = await c.request({ op: 'ping', future_field: { x: 1 }, another: [1, 2] });
        assert.equal(pong.op, 'pong');
        const topic = uniqueTopic('tr.fwd');
        const ack = await c.request({ op: 'subscribe', topic, hint: 'x' });
        assert.equal(ack.op, 'ack');
    });

    it('reassembles a fragmented text message', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('tr.frag');
        await c.ok({ op: 'subscribe', topic });
        const text = JSON.stringify({ op: 'publish', topic, id: 77, data: { s: 'z'.repeat(3000) } });
        c.ws.send(text.slice(0, 10), { fin: false });
        c.ws.send(text.slice(10, 2000), { fin: false });
        c.ws.send(text.slice(2000), { fin: true });
        const ack = await c.next((f) => f.op === 'ack' && f.id === 77);
        const m = await c.next(isMessage(topic));
        assert.equal(m.seq, ack.seq);
        assert.equal(m.data.s.length, 3000);
    });

    it('carries a message close to the default max_message intact', async (t) => {
        const p = await connect(ctx.broker.url, { t });
        const s = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('tr.big');
        await s.ok({ op: 'subscribe', topic });
        const data = { blob: Array.from({ length: 9000 }, (_, i) => `${i}:${'q'.repeat(90)}`).join(',') };
        assert.ok(JSON.stringify(data).length > 800000 && JSON.stringify(data).length < 1000000);
        const ack = await p.ok({ op: 'publish', topic, data }, { timeoutMs: 10000 });
        const m = await s.next(isMessage(topic), { timeoutMs: 10000 });
        assert.equal(m.seq, ack.seq);
        assert.deepEqual(m.data, data);
    });
});

describe('transport heartbeat', () => {
    // --heartbeat is a key beyond section 9 (broker/config/config.h); 1 s keeps this short.
    const hb = sharedBroker({ args: ['--heartbeat', '1'] });

    it('sends WebSocket pings after `heartbeat` seconds without traffic', async (t) => {
        const c = await connect(hb.broker.url, { t });
        assert.equal(c.welcome.heartbeat, 1);
        const pinged = new Promise((resolve) => c.ws.once('ping', resolve));
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('no WebSocket ping within 5 s')), scaled(5000));
        });
        await Promise.race([pinged, timeout]).finally(() => clearTimeout(timer));
        await c.sync();
        assert.equal(c.closeInfo, null, 'an answering client stays connected');
    });

    it('closes a connection silent for 3 x heartbeat; one that answers pings stays', async (t) => {
        const silent = await connect(hb.broker.url, { t, autoPong: false });
        const alive = await connect(hb.broker.url, { t });
        const started = Date.now();
        await silent.waitClosed({ timeoutMs: 10000 });
        const took = Date.now() - started;
        assert.ok(took >= 2000, `closed after ${took} ms, not before about 3 x 1 s`);
        await alive.sync();
        assert.equal(alive.closeInfo, null);
    });
});
