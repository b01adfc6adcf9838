// SPDX-License-Identifier: MIT
// http_history.test.mjs: GET /api/history, docs/protocol.md section 8 and
// its section 10 clarifications: {messages, recovered, more}, the default
// limit, since and limit paging, patterns in the query, 400s, message
// objects equal to what WebSocket subscribers got, and recovered:false
// after retention dropped a match.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { assertMessageObject, history, publishOk, subscriber } from './lib/http_api.mjs';
import { apiUrl, assertHttpError, httpRequest, isMessage, range, sharedBroker, uniqueTopic } from './lib/util.mjs';

describe('http history', () => {
    const ctx = sharedBroker();

    it('returns {messages, recovered, more}; default limit 100; since and limit page through', async () => {
        const topic = uniqueTopic('hh.page');
        const { seqs } = await publishOk(ctx.broker, { messages: range(150).map((i) => ({ topic, data: { i } })) });
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(Object.keys(h).sort(), ['messages', 'more', 'recovered']);
        assert.equal(h.messages.length, 100, 'default limit 100');
        assert.equal(h.more, true);
        assert.equal(h.recovered, true);
        h.messages.forEach((m) => assertMessageObject(m, topic));
        assert.deepEqual(h.messages.map((m) => m.seq), seqs.slice(0, 100));
        assert.deepEqual(h.messages.map((m) => m.data), range(100).map((i) => ({ i })));
        const rest = await history(ctx.broker, { topic, since: seqs[99] });
        assert.deepEqual(rest.messages.map((m) => m.seq), seqs.slice(100));
        assert.equal(rest.more, false);
        const five = await history(ctx.broker, { topic, since: seqs[9], limit: 5 });
        assert.deepEqual(five.messages.map((m) => m.seq), seqs.slice(10, 15));
        assert.equal(five.more, true);
        const exact = await history(ctx.broker, { topic, since: seqs[144], limit: 5 });
        assert.deepEqual(exact.messages.map((m) => m.seq), seqs.slice(145));
        assert.equal(exact.more, false, 'more is false when nothing follows');
        const all = await history(ctx.broker, { topic, limit: 1000 });
        assert.equal(all.messages.length, 150);
        assert.equal(all.more, false);
        const none = await history(ctx.broker, { topic, since: seqs[149] });
        assert.deepEqual(none.messages, []);
        assert.equal(none.more, false);
        const one = await history(ctx.broker, { topic, limit: 1 });
        assert.deepEqual(one.messages.map((m) => m.seq), [seqs[0]]);
    });

    it('an unknown topic has no messages', async () => {
        const h = await history(ctx.broker, { topic: uniqueTopic('hh.empty') });
        assert.deepEqual(h.messages, []);
        assert.equal(h.more, false);
        assert.equal(typeof h.recovered, 'boolean');
    });

    it('patterns are allowed (percent-encoded in the query) and merge topics in seq order', async () => {
        const base = uniqueTopic('hh.pat');
        const plan = [`${base}.a`, `${base}.b`, `${base}.a.deep`, `${base}.c`];
        const { seqs } = await publishOk(ctx.broker, { messages: plan.map((topic) => ({ topic, data: topic })) });
        const star = await history(ctx.broker, { topic: `${base}.*` });
        assert.deepEqual(star.messages.map((m) => m.seq), [seqs[0], seqs[1], seqs[3]]);
        const gt = await history(ctx.broker, { topic: `${base}.>` });
        assert.deepEqual(gt.messages.map((m) => m.seq), seqs);
        const raw = await httpRequest(`${ctx.broker.http}/api/history?topic=${base}.%3E&limit=2`);
        assert.equal(raw.status, 200, raw.text);
        assert.deepEqual(raw.json.messages.map((m) => m.seq), seqs.slice(0, 2));
        assert.equal(raw.json.more, true);
    });

    it('topic characters that need percent-encoding are decoded', async () => {
        const topic = `${uniqueTopic('hh.chars')}.user:42@host~x`;
        const { seq } = await publishOk(ctx.broker, { topic, data: 1 });
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages.map((m) => [m.topic, m.seq]), [[topic, seq]]);
    });

    it('limit outside 1..1000, a bad since or a bad topic is 400', async () => {
        const topic = uniqueTopic('hh.bad');
        await publishOk(ctx.broker, { topic, data: 1 });
        const url = (params) => apiUrl(ctx.broker, '/api/history', params);
        for (const limit of ['0', '1001', '-1', 'abc', '', '1.5', '10x']) {
            assertHttpError(await httpRequest(url({ topic, limit })), 400, 'bad_request', `limit ${limit}:`);
        }
        for (const since of ['abc', '-1', '', '1.5']) {
            assertHttpError(await httpRequest(url({ topic, since })), 400, 'bad_request', `since ${since}:`);
        }
        assertHttpError(await httpRequest(url({ topic: `${topic}..x` })), 400, 'invalid_topic', 'empty segment:');
        assertHttpError(await httpRequest(url({ topic: `${topic}.>.x` })), 400, 'invalid_topic', '> not last:');
        const missing = await httpRequest(url({}));
        assert.equal(missing.status, 400, `no topic: ${missing.text}`);
        assert.ok(['bad_request', 'invalid_topic'].includes(missing.json?.error?.code), missing.text);
        const ok = await history(ctx.broker, { topic, limit: 1000 });
        assert.equal(ok.messages.length, 1);
    });

    it('message objects equal the ones WebSocket subscribers got', async (t) => {
        const topic = uniqueTopic('hh.same');
        const sub = await subscriber(ctx.broker, topic, t);
        const ws = await connect(ctx.broker.url, { t });
        await ws.ok({ op: 'publish', topic, data: { f: 1.25, s: 'x\ny', a: [true, null] } });
        await publishOk(ctx.broker, { topic, data: 'via http' });
        const got = await sub.collect(isMessage(topic), 2);
        const h = await history(ctx.broker, { topic });
        assert.deepEqual(h.messages, got);
    });
});

describe('http history recovered (--retain 3)', () => {
    const ctx = sharedBroker({ args: ['--retain', '3'] });

    it('recovered is false when retention dropped a match after since', async () => {
        const topic = uniqueTopic('hr.ret');
        const { seqs } = await publishOk(ctx.broker, { messages: range(6).map((i) => ({ topic, data: i })) });
        await waitFor(async () => {
            const h = await history(ctx.broker, { topic });
            return h.messages.length === 3 && h.messages[0].seq === seqs[3];
        }, { what: 'retention to keep the newest 3' });
        const lost = await history(ctx.broker, { topic, since: seqs[0] });
        assert.equal(lost.recovered, false);
        assert.deepEqual(lost.messages.map((m) => m.seq), seqs.slice(3), 'what is still there is returned');
        const kept = await history(ctx.broker, { topic, since: seqs[2] });
        assert.equal(kept.recovered, true);
        assert.deepEqual(kept.messages.map((m) => m.seq), seqs.slice(3));
    });
});

describe('http history bounded in bytes (--max-message 100000)', () => {
    const ctx = sharedBroker({ args: ['--max-message', '100000'] });

    it('a reply stops near max_message with more:true, and paging gets everything', async () => {
        const topic = uniqueTopic('hr.big');
        const pad = 'x'.repeat(30000);
        const { seqs } = await publishOk(ctx.broker, { messages: range(10).map((i) => ({ topic, data: { i, pad } })) });
        const first = await httpRequest(apiUrl(ctx.broker, '/api/history', { topic, limit: 10 }));
        assert.equal(first.status, 200, first.text);
        assert.ok(first.json.messages.length >= 1 && first.json.messages.length < 10,
            `${first.json.messages.length} messages in one reply`);
        assert.equal(first.json.more, true);
        assert.ok(first.text.length < 2 * 100000, `a reply of ${first.text.length} bytes`);
        const got = [...first.json.messages];
        while (got.length < seqs.length) {
            const page = await history(ctx.broker, { topic, since: got.at(-1).seq, limit: 10 });
            assert.ok(page.messages.length >= 1, 'each page holds at least one message');
            got.push(...page.messages);
        }
        assert.deepEqual(got.map((m) => m.seq), seqs);
    });
});
