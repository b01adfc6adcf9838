// SPDX-License-Identifier: MIT
// sse.test.mjs: GET /sse of docs/protocol.md section 8: the text/event-stream
// framing (retry, comments, id/event/data on one line), since and
// Last-Event-ID resume, several topic parameters and patterns, base64
// binary, errors, heartbeat comments, and order across transports (HTTP and
// WebSocket publishers, WebSocket and SSE subscribers, interleaved).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import {
    apiUrl, assertAscending, assertHttpError, httpPublish, httpRequest, isMessage, openSse,
    parsePrometheus, publishMany, range, sharedBroker, uniqueTopic,
} from './lib/util.mjs';

const sseUrl = (broker, topics, params = {}) => apiUrl(broker, '/sse', { topic: topics, ...params });

// Waits until the stream's opening block (retry and comment, ended by a
// blank line) arrived: the broker has set up the stream's subscriptions.
async function ready(stream) {
    assert.equal(stream.status, 200, `SSE answered ${stream.status}: ${stream.raw.slice(0, 300)}`);
    await waitFor(() => stream.raw.includes('\n\n') || stream.ended, { what: 'the SSE opening block' });
    assert.ok(!stream.ended, `stream ended at once: ${JSON.stringify(stream.raw)}`);
    return stream;
}

async function openReady(url, opts) {
    return ready(await openSse(url, opts));
}

// Asserts the SSE framing of one event and returns its message object.
function messageOf(ev) {
    assert.equal(ev.event, 'message', `event type: ${JSON.stringify(ev)}`);
    assert.equal(ev.lines, 1, `data on one line: ${JSON.stringify(ev)}`);
    assert.ok(ev.json && ev.json.op === 'message', `data is a message object: ${ev.data}`);
    assert.equal(ev.id, String(ev.json.seq), `id is the seq: ${JSON.stringify(ev)}`);
    return ev.json;
}

async function publishOk(broker, body) {
    const res = await httpPublish(broker, body, { timeoutMs: 10000 });
    assert.equal(res.status, 200, `publish: ${res.status} ${res.text}`);
    return res.json;
}

// The newest seq assigned so far (for `since` that skips nothing new).
async function currentSeq(broker) {
    const res = await httpRequest(`${broker.http}/api/stats`);
    assert.equal(res.status, 200, res.text);
    return res.json.seq;
}

describe('sse', () => {
    const ctx = sharedBroker();

    it('answers text/event-stream that opens with "retry: 2000" and a comment', async (t) => {
        const s = await openSse(sseUrl(ctx.broker, [uniqueTopic('se.open')]), { t });
        assert.equal(s.status, 200);
        assert.match(s.headers.get('content-type') ?? '', /^text\/event-stream/);
        assert.equal(s.headers.get('access-control-allow-origin'), '*');
        assert.match(s.headers.get('cache-control') ?? '', /no-cache/);
        await ready(s);
        assert.match(s.raw, /^retry: 2000\n:[^\n]*\n/, `stream start: ${JSON.stringify(s.raw.slice(0, 120))}`);
        assert.equal(s.retry, 2000);
        assert.equal(s.comments.length, 1);
        assert.equal(s.events.length, 0, 'no event before any message');
    });

    it('delivers live messages as id: SEQ / event: message / data: the message object on one line', async (t) => {
        const topic = uniqueTopic('se.live');
        const s = await openReady(sseUrl(ctx.broker, [topic]), { t });
        const ws = await connect(ctx.broker.url, { t });
        await ws.ok({ op: 'subscribe', topic });
        const data = { text: 'line1\nline2\r\n"quoted"', n: [1, 2.5, null], nested: { deep: true } };
        const { seq } = await publishOk(ctx.broker, { topic, data });
        const ev = await s.next();
        const m = messageOf(ev);
        assert.equal(m.seq, seq);
        assert.equal(m.topic, topic);
        assert.deepEqual(m.data, data);
        assert.ok(Number.isSafeInteger(m.ts));
        assert.match(s.raw, new RegExp(`\nid: ${seq}\nevent: message\ndata: \\{[^\n]*\\}\n\n`),
            'the exact event framing');
        const wsFrame = await ws.nextMessage();
        assert.deepEqual(m, wsFrame, 'the SSE message object equals the WebSocket one');
    });

    it('since replays seq > since, then goes live with no gap and no duplicate', async (t) => {
        const topic = uniqueTopic('se.since');
        const { seqs } = await publishOk(ctx.broker, { messages: range(5).map((i) => ({ topic, data: i })) });
        const s = await openReady(sseUrl(ctx.broker, [topic], { since: seqs[1] }), { t });
        const replay = (await s.collect(() => true, 3)).map(messageOf);
        assert.deepEqual(replay.map((m) => m.seq), seqs.slice(2));
        assert.deepEqual(replay.map((m) => m.data), [2, 3, 4]);
        const live = await publishOk(ctx.broker, { messages: [{ topic, data: 5 }, { topic, data: 6 }] });
        const more = (await s.collect(() => true, 2)).map(messageOf);
        assert.deepEqual(more.map((m) => m.seq), live.seqs);
        const all = await openReady(sseUrl(ctx.broker, [topic], { since: 0 }), { t });
        const every = (await all.collect(() => true, 7)).map(messageOf);
        assert.deepEqual(every.map((m) => m.data), range(7));
        const ahead = await openReady(sseUrl(ctx.broker, [topic], { since: live.seqs[1] + 1000000 }), { t });
        const next = await publishOk(ctx.broker, { topic, data: 'after' });
        const evs = [await ahead.next(), await s.next()].map(messageOf);
        assert.deepEqual(evs.map((m) => m.seq), [next.seq, next.seq], 'since beyond the newest seq: live only');
        assert.equal(s.queue.length + ahead.queue.length, 0, 'no duplicates');
    });

    it('Last-Event-ID resumes after N and wins over since', async (t) => {
        const topic = uniqueTopic('se.lei');
        const { seqs } = await publishOk(ctx.broker, { messages: range(5).map((i) => ({ topic, data: i })) });
        const s = await openReady(sseUrl(ctx.broker, [topic], { since: 0 }),
            { t, headers: { 'last-event-id': String(seqs[2]) } });
        const got = (await s.collect(() => true, 2)).map(messageOf);
        assert.deepEqual(got.map((m) => m.seq), seqs.slice(3), 'Last-Event-ID wins over since=0');
        const s2 = await openReady(sseUrl(ctx.broker, [topic], { since: seqs[3] }),
            { t, headers: { 'last-event-id': String(seqs[0]) } });
        const got2 = (await s2.collect(() => true, 4)).map(messageOf);
        assert.deepEqual(got2.map((m) => m.seq), seqs.slice(1), 'Last-Event-ID wins over a later since');
        const s3 = await openReady(sseUrl(ctx.broker, [topic]), { t, headers: { 'last-event-id': String(seqs[3]) } });
        assert.deepEqual(messageOf(await s3.next()).seq, seqs[4], 'Last-Event-ID without since');
    });

    it('a reconnect with the last event id loses nothing published meanwhile', async (t) => {
        const topic = uniqueTopic('se.reconnect');
        const since = await currentSeq(ctx.broker);
        const first = await openReady(sseUrl(ctx.broker, [topic], { since }), { t });
        const a = await publishOk(ctx.broker, { messages: range(3).map((i) => ({ topic, data: i })) });
        const seen = (await first.collect(() => true, 3)).map(messageOf);
        await first.close();
        const b = await publishOk(ctx.broker, { messages: range(4).map((i) => ({ topic, data: 3 + i })) });
        const again = await openReady(sseUrl(ctx.broker, [topic]),
            { t, headers: { 'last-event-id': first.events.at(-1).id } });
        const rest = (await again.collect(() => true, 4)).map(messageOf);
        assert.deepEqual([...seen, ...rest].map((m) => m.seq), [...a.seqs, ...b.seqs]);
        const c = await publishOk(ctx.broker, { topic, data: 'live' });
        assert.equal(messageOf(await again.next()).seq, c.seq);
    });

    it('several topic parameters and patterns; a message matching several is sent once', async (t) => {
        const base = uniqueTopic('se.multi');
        const s = await openReady(sseUrl(ctx.broker, [`${base}.a`, `${base}.b.*`]), { t });
        const o = await openReady(sseUrl(ctx.broker, [`${base}.>`, `${base}.a`, `${base}.*`]), { t });
        const plan = [`${base}.a`, `${base}.c`, `${base}.b.x`, `${base}.b`, `${base}.b.y.z`, `${base}.a`];
        const { seqs } = await publishOk(ctx.broker, { messages: plan.map((topic, i) => ({ topic, data: i })) });
        const got = (await s.collect(() => true, 3)).map(messageOf);
        assert.deepEqual(got.map((m) => [m.topic, m.seq]),
            [[plan[0], seqs[0]], [plan[2], seqs[2]], [plan[5], seqs[5]]]);
        const all = (await o.collect(() => true, 6)).map(messageOf);
        assert.deepEqual(all.map((m) => m.seq), seqs, 'overlapping patterns deliver each message once');
        const sentinel = await publishOk(ctx.broker, { topic: `${base}.a`, data: 'sentinel' });
        assert.equal(messageOf(await s.next()).seq, sentinel.seq, 'nothing else reached the first stream');
        assert.equal(messageOf(await o.next()).seq, sentinel.seq, 'no duplicate reached the second stream');
    });

    it('replay over several topics comes in seq order', async (t) => {
        const base = uniqueTopic('se.order');
        const plan = [`${base}.a`, `${base}.b`, `${base}.a`, `${base}.b`, `${base}.a`];
        const { seqs } = await publishOk(ctx.broker, { messages: plan.map((topic, i) => ({ topic, data: i })) });
        const s = await openReady(sseUrl(ctx.broker, [`${base}.a`, `${base}.b`], { since: 0 }), { t });
        const got = (await s.collect(() => true, 5)).map(messageOf);
        assert.deepEqual(got.map((m) => m.seq), seqs,
            'ids must ascend: a client resumes from the last id it saw (Last-Event-ID)');
    });

    it('resuming a several-topic stream from its last event id loses nothing', async (t) => {
        const base = uniqueTopic('se.multiresume');
        const plan = [`${base}.a`, `${base}.b`, `${base}.a`, `${base}.b`];
        const { seqs } = await publishOk(ctx.broker, { messages: plan.map((topic, i) => ({ topic, data: i })) });
        const topics = [`${base}.a`, `${base}.b`];
        const first = await openReady(sseUrl(ctx.broker, topics, { since: 0 }), { t });
        const seen = (await first.collect(() => true, 2)).map(messageOf);
        await first.close();
        const again = await openReady(sseUrl(ctx.broker, topics),
            { t, headers: { 'last-event-id': first.events[1].id } });
        const sentinel = await publishOk(ctx.broker, { topic: `${base}.a`, data: 'sentinel' });
        const rest = [];
        for (;;) {
            const m = messageOf(await again.next(() => true, { what: 'events up to the sentinel' }));
            if (m.seq === sentinel.seq) break;
            rest.push(m);
        }
        const union = new Set([...seen, ...rest].map((m) => m.seq));
        assert.deepEqual(seqs.filter((q) => !union.has(q)), [],
            `seqs lost across the resume (first stream saw ${seen.map((m) => m.seq)}, resumed after ` +
            `${first.events[1].id}, then got ${[...again.events].map((e) => e.id)})`);
    });

    it('replay over overlapping topics sends each message once, in seq order', async (t) => {
        const base = uniqueTopic('se.ovreplay');
        const plan = [`${base}.a`, `${base}.b`, `${base}.a`, `${base}.c.d`];
        const { seqs } = await publishOk(ctx.broker, { messages: plan.map((topic, i) => ({ topic, data: i })) });
        const s = await openReady(sseUrl(ctx.broker, [`${base}.a`, `${base}.>`, `${base}.*`], { since: 0 }), { t });
        const got = (await s.collect(() => true, 4)).map(messageOf);
        assert.deepEqual(got.map((m) => m.seq), seqs, `replay order ${got.map((m) => m.seq)}, published ${seqs}`);
        const sentinel = await publishOk(ctx.broker, { topic: `${base}.a`, data: 'sentinel' });
        assert.equal(messageOf(await s.next()).seq, sentinel.seq, 'no duplicate before the sentinel');
    });

    it('topic names with characters that need percent-encoding work', async (t) => {
        const topic = `${uniqueTopic('se.chars')}.user:7@h~x`;
        const s = await openReady(sseUrl(ctx.broker, [topic]), { t });
        const { seq } = await publishOk(ctx.broker, { topic, data: 1 });
        const m = messageOf(await s.next());
        assert.deepEqual([m.topic, m.seq], [topic, seq]);
    });

    it('binary messages arrive as base64 JSON with "encoding":"base64"', async (t) => {
        const topic = uniqueTopic('se.bin');
        const s = await openReady(sseUrl(ctx.broker, [topic]), { t });
        const ws = await connect(ctx.broker.url, { t });
        const p1 = Buffer.from(range(256));
        const ack = await ws.requestBinary({ op: 'publish', topic }, p1);
        assert.equal(ack.op, 'ack', JSON.stringify(ack));
        const p2 = Buffer.from([0xc3, 0x28, 0x00, 0x0a, 0x0d]);
        const viaHttp = await publishOk(ctx.broker, { topic, data: p2.toString('base64'), encoding: 'base64' });
        const [m1, m2] = (await s.collect(() => true, 2)).map(messageOf);
        assert.deepEqual([m1.seq, m1.encoding, Buffer.from(m1.data, 'base64')], [ack.seq, 'base64', p1]);
        assert.deepEqual([m2.seq, m2.encoding, Buffer.from(m2.data, 'base64')], [viaHttp.seq, 'base64', p2]);
        const replay = await openReady(sseUrl(ctx.broker, [topic], { since: 0 }), { t });
        const [r1, r2] = (await replay.collect(() => true, 2)).map(messageOf);
        assert.deepEqual([r1, r2], [m1, m2], 'replayed binary is the same');
    });

    it('no topic, a bad topic or a bad since is 400', async () => {
        const base = uniqueTopic('se.bad');
        const missing = await httpRequest(`${ctx.broker.http}/sse`);
        assert.equal(missing.status, 400, missing.text);
        assert.ok(['bad_request', 'invalid_topic'].includes(missing.json?.error?.code), missing.text);
        const onlySince = await httpRequest(apiUrl(ctx.broker, '/sse', { since: 0 }));
        assert.equal(onlySince.status, 400, onlySince.text);
        for (const topic of [`${base}..x`, '', `${base}.>.x`, `${base}.a*`, `${base}.a b`]) {
            assertHttpError(await httpRequest(sseUrl(ctx.broker, [topic])), 400, 'invalid_topic',
                `topic ${JSON.stringify(topic)}:`);
        }
        assertHttpError(await httpRequest(sseUrl(ctx.broker, [`${base}.ok`, `${base}..x`])), 400, 'invalid_topic',
            'one bad topic among good ones:');
        for (const since of ['abc', '-1', '1.5']) {
            assertHttpError(await httpRequest(sseUrl(ctx.broker, [`${base}.ok`], { since })), 400, 'bad_request',
                `since ${since}:`);
        }
        const res = await httpRequest(sseUrl(ctx.broker, [`${base}..x`]));
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    });

    it('many topic parameters are all honoured or refused, never silently dropped', async (t) => {
        const base = uniqueTopic('se.many');
        const topics = range(20).map((i) => `${base}.t${i}`);
        const s = await openSse(sseUrl(ctx.broker, topics), { t });
        if (s.status === 400) {
            await s.done;
            assert.equal(JSON.parse(s.raw).error.code, 'bad_request');
            return;
        }
        await ready(s);
        const { seqs } = await publishOk(ctx.broker, { messages: topics.map((topic, i) => ({ topic, data: i })) });
        const sentinel = await publishOk(ctx.broker, { topic: topics[0], data: 'sentinel' });
        const got = [];
        for (;;) {
            const m = messageOf(await s.next(() => true, { what: 'events up to the sentinel' }));
            if (m.seq === sentinel.seq) break;
            got.push(m);
        }
        const missing = topics.filter((topic) => !got.some((m) => m.topic === topic));
        assert.deepEqual(missing, [], `${topics.length} topic= parameters answered 200 but these get nothing`);
        assert.deepEqual(got.map((m) => m.seq), seqs);
    });

    it('replay joins live with no gap while a publisher is running', async (t) => {
        const topic = uniqueTopic('se.race');
        const pub = await connect(ctx.broker.url, { t });
        const since = (await pub.ok({ op: 'publish', topic, data: -1 })).seq;
        const total = 400;
        const publishing = publishMany(pub, topic, range(total), { window: 8 });
        const streams = [];
        for (let i = 0; i < 4; i++) {
            await waitFor(() => pub.log.filter((f) => f.op === 'ack').length >= (i + 1) * 60, { what: 'progress' });
            streams.push(await openReady(sseUrl(ctx.broker, [topic], { since }), { t }));
        }
        const acks = await publishing;
        const expected = acks.map((a) => a.seq).sort((x, y) => x - y);
        for (const [i, s] of streams.entries()) {
            const got = (await s.collect(() => true, total, { timeoutMs: 15000 })).map(messageOf);
            assert.deepEqual(got.map((m) => m.seq), expected, `stream ${i}: every seq > since once, in order`);
        }
        const sentinel = await pub.ok({ op: 'publish', topic, data: 'sentinel' });
        for (const s of streams) assert.equal(messageOf(await s.next()).seq, sentinel.seq, 'no extra event');
    });

    it('interleaved HTTP and WebSocket publishers reach WebSocket and SSE subscribers in one seq order', async (t) => {
        const base = uniqueTopic('se.mix');
        const ta = `${base}.a`;
        const tb = `${base}.b`;
        const since = await currentSeq(ctx.broker);
        const wsAll = await connect(ctx.broker.url, { t });
        await wsAll.ok({ op: 'subscribe', topic: `${base}.>` });
        const wsTwo = await connect(ctx.broker.url, { t });
        await wsTwo.ok({ op: 'subscribe', topic: ta });
        await wsTwo.ok({ op: 'subscribe', topic: tb });
        const sseAll = await openReady(sseUrl(ctx.broker, [`${base}.>`], { since }), { t });
        const sseTwo = await openReady(sseUrl(ctx.broker, [ta, tb], { since }), { t });
        const sseLive = await openReady(sseUrl(ctx.broker, [`${base}.*`]), { t });

        const wsPubA = await connect(ctx.broker.url, { t });
        const wsPubB = await connect(ctx.broker.url, { t });
        const httpSingles = async () => {
            const out = [];
            for (let i = 0; i < 40; i++) {
                out.push((await publishOk(ctx.broker, { topic: ta, data: { src: 'hs', i } })).seq);
            }
            return out;
        };
        const httpBatches = async () => {
            const out = [];
            for (let b = 0; b < 4; b++) {
                const messages = range(10).map((j) => ({ topic: j % 2 ? ta : tb, data: { src: 'hb', i: b * 10 + j } }));
                out.push(...(await publishOk(ctx.broker, { messages })).seqs);
            }
            return out;
        };
        const httpParallel = async () => {
            const res = await Promise.all(range(20).map((i) =>
                publishOk(ctx.broker, { topic: tb, data: { src: 'hp', i } })));
            return res.map((r) => r.seq);
        };
        const wsText = async () => (await publishMany(wsPubA, tb, range(40).map((i) => ({ src: 'wt', i })),
            { window: 8 })).map((a) => a.seq);
        const wsBinary = async () => {
            const out = [];
            for (let i = 0; i < 15; i++) {
                const ack = await wsPubB.requestBinary({ op: 'publish', topic: ta }, Buffer.from([0xb0, i]));
                assert.equal(ack.op, 'ack', JSON.stringify(ack));
                out.push(ack.seq);
            }
            return out;
        };
        const bySource = await Promise.all([httpSingles(), httpBatches(), httpParallel(), wsText(), wsBinary()]);
        const expected = bySource.flat().sort((x, y) => x - y);
        const total = expected.length;
        assert.equal(total, 40 + 40 + 20 + 40 + 15);
        assert.equal(new Set(expected).size, total, 'distinct seqs');
        for (const [name, seqs] of [['http singles', bySource[0]], ['http batches', bySource[1]],
            ['ws text (one connection)', bySource[3]], ['ws binary', bySource[4]]]) {
            assertAscending(seqs, `${name}: per-publisher order`);
        }

        // One comparable form for a WebSocket frame and an SSE message object.
        const norm = (m) => (m.binary
            ? { topic: m.topic, seq: m.seq, ts: m.ts, data: m.payload.toString('base64'), encoding: 'base64' }
            : { topic: m.topic, seq: m.seq, ts: m.ts, data: m.data, ...(m.encoding ? { encoding: m.encoding } : {}) });
        const opts = { timeoutMs: 15000 };
        const results = {
            'ws pattern': (await wsAll.collect(isMessage(), total, opts)).map(norm),
            'ws two topics': (await wsTwo.collect(isMessage(), total, opts)).map(norm),
            'sse pattern': (await sseAll.collect(() => true, total, opts)).map(messageOf).map(norm),
            'sse two topics': (await sseTwo.collect(() => true, total, opts)).map(messageOf).map(norm),
            'sse live': (await sseLive.collect(() => true, total, opts)).map(messageOf).map(norm),
        };
        const reference = results['ws pattern'];
        assert.deepEqual(reference.map((m) => m.seq), expected, 'ws pattern: every acked seq once, ascending');
        for (const [name, list] of Object.entries(results)) {
            assert.deepEqual(list, reference, `${name} got the same messages in the same order`);
        }
        const src = (m) => (m.encoding ? 'wb' : m.data.src);
        const counts = {};
        for (const m of reference) counts[src(m)] = (counts[src(m)] ?? 0) + 1;
        assert.deepEqual(counts, { hs: 40, hb: 40, hp: 20, wt: 40, wb: 15 });
    });

    it('a closed stream is released once the broker writes to it; the others carry on', async (t) => {
        const broker = await startBroker({ t });
        const gauge = async () => parsePrometheus((await httpRequest(`${broker.http}/metrics`)).text)
            .get('wsbroker_connections');
        const topic = uniqueTopic('se.release');
        const streams = [];
        for (let i = 0; i < 5; i++) streams.push(await openReady(sseUrl(broker, [topic]), { t }));
        await waitFor(async () => (await gauge()) === 5, { what: 'wsbroker_connections = 5 with 5 streams' });
        for (const s of streams.slice(0, 4)) await s.close();
        // The broker learns of a closed stream when it writes to it: publish
        // until the gauge shows only the open stream.
        const seqs = [];
        await waitFor(async () => {
            seqs.push((await publishOk(broker, { topic, data: seqs.length })).seq);
            return (await gauge()) === 1;
        }, { what: 'wsbroker_connections = 1 after closing 4 streams and publishing' });
        const got = (await streams[4].collect(() => true, seqs.length)).map(messageOf);
        assert.deepEqual(got.map((m) => m.seq), seqs, 'the open stream got every message');
    });

    it('SIGTERM after clients closed their streams exits 0', async (t) => {
        const broker = await startBroker({ t });
        const topic = uniqueTopic('se.closedstop');
        for (let i = 0; i < 3; i++) {
            const s = await openReady(sseUrl(broker, [topic]), { t });
            await s.close();
        }
        assert.equal(await broker.stop(), 0, `exit ${JSON.stringify(broker.exit)}`);
    });

    it('a broker shutdown ends open streams and exits 0', async (t) => {
        const broker = await startBroker({ t });
        const topic = uniqueTopic('se.stop');
        const s = await openReady(sseUrl(broker, [topic]), { t });
        const { seq } = await publishOk(broker, { topic, data: 1 });
        assert.equal(messageOf(await s.next()).seq, seq);
        const code = await broker.stop();
        assert.equal(code, 0, 'exit status on SIGTERM with an SSE stream open');
        await s.waitEnded();
    });
});

describe('sse heartbeat (--heartbeat 1)', () => {
    const ctx = sharedBroker({ args: ['--heartbeat', '1'] });

    it('sends ": ping" comments every second and keeps the stream open past 3 x heartbeat', async (t) => {
        const topic = uniqueTopic('sh.ping');
        const s = await openReady(sseUrl(ctx.broker, [topic]), { t });
        const opened = Date.now();
        const pings = [];
        while (Date.now() - opened < 4000) {
            const what = `ping #${pings.length + 1}`;
            pings.push(await s.nextComment((c) => c.text === 'ping', { timeoutMs: 2500, what }));
        }
        assert.ok(pings.length >= 3, `${pings.length} pings in ${Date.now() - opened} ms`);
        assert.ok(pings.length <= 8, `${pings.length} pings in ${Date.now() - opened} ms: more than one a second`);
        assert.ok(!s.ended, 'the stream is still open after 4 s');
        assert.match(s.raw, /\n: ?ping\n\n/, 'a ping is a comment line followed by a blank line');
        const { seq } = await publishOk(ctx.broker, { topic, data: 'after pings' });
        const m = messageOf(await s.next());
        assert.equal(m.seq, seq);
        assert.equal(s.events.length, 1, 'pings are not events');
    });

    it('a stream the client closed is released within a few heartbeats, without publishes', async (t) => {
        const broker = await startBroker({ t, args: ['--heartbeat', '1'] });
        const gauge = async () => parsePrometheus((await httpRequest(`${broker.http}/metrics`)).text)
            .get('wsbroker_connections');
        const s = await openReady(sseUrl(broker, [uniqueTopic('sh.gone')]), { t });
        await waitFor(async () => (await gauge()) === 1, { what: 'the stream counted' });
        await s.close();
        await waitFor(async () => (await gauge()) === 0, { timeoutMs: 6000, what: 'the closed stream released' });
    });

    it('pings and messages interleave without disturbing each other', async (t) => {
        const topic = uniqueTopic('sh.flow');
        const s = await openReady(sseUrl(ctx.broker, [topic]), { t });
        const pub = await connect(ctx.broker.url, { t });
        const seqs = [];
        for (let round = 0; round < 3; round++) {
            const batch = await publishMany(pub, topic, range(20).map((i) => round * 20 + i), { window: 4 });
            seqs.push(...batch.map((a) => a.seq));
            const got = (await s.collect(() => true, 20)).map(messageOf);
            assert.deepEqual(got.map((m) => m.seq), batch.map((a) => a.seq), `round ${round}`);
            await s.nextComment((c) => c.text === 'ping', { timeoutMs: 2500, what: `ping after round ${round}` });
        }
        assert.deepEqual(s.events.map((e) => Number(e.id)), seqs);
        assert.equal((await httpRequest(`${ctx.broker.http}/healthz`)).status, 200);
    });
});
