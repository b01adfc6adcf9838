// SPDX-License-Identifier: MIT
// verbatim.test.mjs: `data` is delivered as it was published
// (docs/protocol.md section 2): the bytes of a WebSocket publish's data value, and of
// /api/publish's, reach subscribers and history unchanged (spacing, number
// spelling, escapes), while invalid JSON is still refused.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { onCleanup, waitFor } from './lib/broker.mjs';
import { apiUrl, httpPublish, httpRequest, openSse, sharedBroker, uniqueTopic } from './lib/util.mjs';

// A raw WebSocket that keeps every text frame as a string.
async function rawClient(url, t) {
    const ws = new WebSocket(url, 'wsb.v1');
    const frames = [];
    ws.on('message', (data, isBinary) => { if (!isBinary) frames.push(data.toString('utf8')); });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    onCleanup(t, () => ws.terminate());
    const until = (pred, what) => waitFor(() => frames.find(pred), { what });
    await until((f) => f.startsWith('{"op":"welcome"'), 'welcome');
    return { ws, frames, until };
}

// A raw client subscribed to `topic`.
async function rawSubscriber(url, topic, t) {
    const sub = await rawClient(url, t);
    sub.ws.send(JSON.stringify({ op: 'subscribe', id: 1, topic }));
    await sub.until((f) => f.includes('"op":"ack","id":1'), 'subscribe ack');
    return sub;
}

const postJson = (broker, body) =>
    httpPublish(broker, body, { headers: { 'content-type': 'application/json' } });

// The message frames received, once there are at least n.
async function messages(sub, n) {
    const all = () => sub.frames.filter((f) => f.startsWith('{"op":"message"'));
    await waitFor(() => all().length >= n, { what: `${n} messages` });
    return all();
}

describe('data verbatim', () => {
    const ctx = sharedBroker();

    it('a WebSocket publish delivers its data bytes unchanged, big integers included', async (t) => {
        const topic = uniqueTopic('vb.ws');
        const sub = await rawSubscriber(ctx.broker.url, topic, t);
        const pub = await rawClient(ctx.broker.url, t);
        const data = '{ "x" : 1.50e0, "big": 123456789012345678901234567890, "s": "\\u00e9\\/" }';
        pub.ws.send(`{"op":"publish", "id":7, "topic":"${topic}",\n "data": ${data} }`);
        await pub.until((f) => f.includes('"op":"ack","id":7'), 'publish ack');
        const m = await sub.until((f) => f.startsWith('{"op":"message"'), 'message');
        assert.ok(m.includes(`"data":${data}`), m);
        const h = await httpRequest(apiUrl(ctx.broker, '/api/history', { topic }));
        assert.equal(h.status, 200, h.text);
        assert.ok(h.text.includes(`"data":${data}`), h.text);
    });

    it('a malformed data value is still refused, with nothing delivered', async (t) => {
        const topic = uniqueTopic('vb.bad');
        const pub = await rawClient(ctx.broker.url, t);
        // Not valid JSON: the error cannot carry the id (section 7).
        const errors = () => pub.frames.filter((f) => f.startsWith('{"op":"error"'));
        for (const [i, data] of ['[1,]', '"\\ud800"', '01', '{"a" 1}', 'tru'].entries()) {
            pub.ws.send(`{"op":"publish","id":${i + 1},"topic":"${topic}","data":${data}}`);
            await waitFor(() => errors().length === i + 1, { what: `error ${i + 1}` });
            assert.ok(errors()[i].includes('"bad_request"'), `${data}: ${errors()[i]}`);
        }
        assert.equal(pub.frames.filter((f) => f.includes('"op":"ack"')).length, 0, pub.frames.join('\n'));
        const h = await httpRequest(apiUrl(ctx.broker, '/api/history', { topic }));
        assert.equal(h.json.messages.length, 0, h.text);
    });

    it('/api/publish keeps the data bytes of a single message and of each message of a batch', async (t) => {
        const topic = uniqueTopic('vb.http');
        const sub = await rawSubscriber(ctx.broker.url, topic, t);
        const one = '[ 1 , 2.0, "\\u0041" ]';
        let res = await postJson(ctx.broker, `{"topic": "${topic}", "data": ${one}}`);
        assert.equal(res.status, 200, res.text);
        const batch = ['{"a" : 1}', '"x\\ty"', '-0.0'];
        const body = `{"messages": [${batch.map((d) => `{"data": ${d}, "topic": "${topic}"}`).join(' , ')}]}`;
        res = await postJson(ctx.broker, body);
        assert.equal(res.status, 200, res.text);
        const got = await messages(sub, 4);
        for (const [i, data] of [one, ...batch].entries())
            assert.ok(got[i].includes(`"data":${data}`), `${data}: ${got[i]}`);
    });

    it('/api/publish takes integers beyond 64 bits as WebSocket does, digits kept', async (t) => {
        const topic = uniqueTopic('vb.big');
        const sub = await rawSubscriber(ctx.broker.url, topic, t);
        const data = '{"big": 123456789012345678901234567890, "neg": -98765432109876543210987}';
        let res = await postJson(ctx.broker, `{"topic": "${topic}", "data": ${data}}`);
        assert.equal(res.status, 200, res.text);
        res = await postJson(ctx.broker, `{"messages": [{"topic": "${topic}", "data": ${data}}]}`);
        assert.equal(res.status, 200, res.text);
        for (const m of await messages(sub, 2))
            assert.ok(m.includes(`"data":${data}`), m);
        // Still refused: a number no double holds, and a big integer where a string belongs.
        res = await postJson(ctx.broker, `{"topic": "${topic}", "data": 1e999}`);
        assert.equal(res.status, 400, res.text);
        res = await postJson(ctx.broker, `{"topic": 123456789012345678901234567890, "data": 1}`);
        assert.equal(res.status, 400, res.text);
    });

    it('data with line breaks between tokens stays one SSE data line', async (t) => {
        const topic = uniqueTopic('vb.sse');
        const url = new URL(`${ctx.broker.http}/sse`);
        url.searchParams.append('topic', topic);
        const stream = await openSse(url.toString(), { t });
        assert.equal(stream.status, 200);
        await waitFor(() => stream.raw.includes('\n\n'), { what: 'the SSE opening block' });
        const pub = await rawClient(ctx.broker.url, t);
        pub.ws.send(`{"op":"publish","id":1,"topic":"${topic}","data":{\r\n "a" :\n [1,\n 2] }}`);
        await pub.until((f) => f.includes('"op":"ack","id":1'), 'publish ack');
        const ev = await stream.next((e) => e.event === 'message');
        assert.equal(ev.lines, 1, JSON.stringify(ev));
        assert.deepEqual(ev.json.data, { a: [1, 2] });
    });
});
