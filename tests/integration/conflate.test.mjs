// SPDX-License-Identifier: MIT
// conflate.test.mjs: conflated subscriptions (docs/protocol.md section 11,
// docs/features.md "Conflated subscriptions"). A subscriber that stops
// reading while 100 topics tick at a few thousand messages a second is never
// closed, the broker's memory stays bounded, and once it reads again it gets
// the newest message of every topic, seqs ascending per topic, with
// `conflated` counts that add up to what was dropped; a reading subscriber
// gets everything; a plain subscription of the same connection still gets
// 4000 when its own backlog passes the limit. `--topic-rule ... conflate=true`
// conflates subscriptions that do not say `"conflate": false`.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { REPO_ROOT, SANITIZED, httpGet, onCleanup, procStatusBytes, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { schemaErrors, validateRequest } from './lib/schema.mjs';
import { assertError, isMessage, publishMany, range, sharedBroker, uniqueTopic } from './lib/util.mjs';

const MiB = 1024 * 1024;
const WSB_BIN = process.env.WSB_BIN
    ? path.resolve(process.env.WSB_BIN) : path.join(REPO_ROOT, 'build', 'bin', 'wsb');
const TOPICS = 100;
// What this test's share of a busy 2-core machine sustains: 5k msg/s for 5 s,
// each message ~700 bytes, so that 17 MB go to the paused subscriber, far
// more than the kernel's socket buffers hold (a few MB on loopback).
const RATE = 5000;
const SECONDS = 5;
const TICK_MS = 50;
// The broker's resident size may grow this much while the subscriber is
// paused: its conflated backlog is one message per topic (~70 KB here),
// plus what lws keeps of a partial write (at most one coalesced write,
// 256 KiB) and the allocator's slack.
const RSS_BOUND = 16 * MiB;

// Publishes `count` messages spread over `topics` at `rate` per second (at
// most: a tick waits for its acks). Returns the acked seqs per topic, in
// order. `onTick` runs after every tick.
async function tick(pub, topics, count, { rate, pad, onTick = () => {} }) {
    const seqs = new Map(topics.map((t) => [t, []]));
    const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
    const started = Date.now();
    for (let sent = 0, n = 0; sent < count; n++) {
        const batch = [];
        for (let i = 0; i < perTick && sent < count; i++, sent++) {
            const topic = topics[crypto.randomInt(topics.length)];
            batch.push(pub.ok({ op: 'publish', topic, data: { sent, pad } }, { timeoutMs: 30000 })
                .then((ack) => ({ topic, seq: ack.seq })));
        }
        for (const { topic, seq } of await Promise.all(batch)) seqs.get(topic).push(seq);
        onTick();
        const ahead = started + (n + 1) * TICK_MS - Date.now();
        if (ahead > 0) await sleep(ahead);
    }
    for (const list of seqs.values()) list.sort((a, b) => a - b);
    return seqs;
}

// Checks a conflated subscriber's messages against the acked seqs per topic:
// every topic's newest arrived, seqs ascend per topic, and each message plus
// the ones it replaced (`conflated`) account for every publish.
function checkConflated(messages, seqs) {
    const byTopic = new Map();
    for (const m of messages) {
        if (!byTopic.has(m.topic)) byTopic.set(m.topic, []);
        byTopic.get(m.topic).push(m);
    }
    let dropped = 0;
    for (const [topic, acked] of seqs) {
        const got = byTopic.get(topic) ?? [];
        if (acked.length === 0) {
            assert.equal(got.length, 0, topic);
            continue;
        }
        for (let i = 1; i < got.length; i++)
            assert.ok(got[i].seq > got[i - 1].seq, `${topic}: seq ${got[i].seq} after ${got[i - 1].seq}`);
        assert.equal(got.at(-1).seq, acked.at(-1), `${topic}: the newest message arrived`);
        const accounted = got.reduce((n, m) => n + 1 + (m.conflated ?? 0), 0);
        assert.equal(accounted, acked.length, `${topic}: delivered + conflated = published`);
        for (const m of got) {
            assert.ok(acked.includes(m.seq), `${topic}: seq ${m.seq} was published there`);
            dropped += m.conflated ?? 0;
        }
    }
    return dropped;
}

describe('conflated subscriptions', () => {
    const ctx = sharedBroker({ args: ['--max-backlog', String(MiB), '--retain', '5'] });

    it('welcome lists conflate; subscribe takes a boolean', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        assert.ok(c.welcome.features.includes('conflate'), JSON.stringify(c.welcome));
        const topic = uniqueTopic('cf.req');
        const good = { op: 'subscribe', topic, conflate: true, id: 1 };
        assert.ok(validateRequest(good), schemaErrors(validateRequest));
        assert.equal((await c.request(good)).op, 'ack');
        const bad = { op: 'subscribe', topic: `${topic}.b`, conflate: 'yes', id: 2 };
        assert.ok(!validateRequest(bad));
        assertError(await c.request(bad), 'bad_request');
    });

    it('a paused subscriber of 100 ticking topics is never closed and gets the newest of each',
        { timeout: 120000 }, async (t) => {
            const base = uniqueTopic('cf.tick');
            const topics = range(TOPICS).map((i) => `${base}.t${i}`);
            const plainTopic = uniqueTopic('cf.plain');
            const slow = await connect(ctx.broker.url, { t });
            const all = await connect(ctx.broker.url, { t });
            const pub = await connect(ctx.broker.url, { t });
            await slow.ok({ op: 'subscribe', topic: `${base}.*`, conflate: true });
            await slow.ok({ op: 'subscribe', topic: plainTopic });
            await all.ok({ op: 'subscribe', topic: `${base}.*` });
            const pad = crypto.randomBytes(450).toString('base64'); // 600 characters

            // Warm-up while it reads: the store and the allocator reach their
            // working size before the baseline is taken.
            const warm = await tick(pub, topics, 2000, { rate: RATE, pad });
            await all.sync();
            const rssBase = procStatusBytes(ctx.broker, 'VmRSS');

            slow.ws.pause();
            let rssPeak = rssBase;
            const count = RATE * SECONDS;
            const paused = await tick(pub, topics, count, {
                rate: RATE, pad, onTick: () => { rssPeak = Math.max(rssPeak, procStatusBytes(ctx.broker, 'VmRSS')); },
            });
            const grown = rssPeak - rssBase;
            t.diagnostic(`rss: base ${(rssBase / MiB).toFixed(1)} MiB, grew ${(grown / MiB).toFixed(1)} MiB `
                + `while ${count} messages (${((count * 700) / MiB).toFixed(0)} MiB) were published`);
            if (!SANITIZED)
                assert.ok(grown < RSS_BOUND, `rss grew ${(grown / MiB).toFixed(1)} MiB (bound ${RSS_BOUND / MiB} MiB)`);

            const seqs = new Map(topics.map((topic) => [topic, [...warm.get(topic), ...paused.get(topic)]]));
            const total = [...seqs.values()].reduce((n, l) => n + l.length, 0);
            const got = await all.collect(isMessage(), total, { timeoutMs: 60000, what: 'reading subscriber' });
            assert.deepEqual(got.map((m) => m.seq), [...seqs.values()].flat().sort((a, b) => a - b));
            assert.ok(got.every((m) => m.conflated === undefined), 'a plain subscriber gets nothing conflated');

            slow.ws.resume();
            await slow.sync({ timeoutMs: 60000 }); // everything queued before the pong is in
            assert.equal(slow.closeInfo, null);
            const messages = slow.take(isMessage());
            const dropped = checkConflated(messages, seqs);
            t.diagnostic(`paused subscriber: ${messages.length} messages for ${total} published, `
                + `${dropped} conflated`);
            assert.ok(dropped > 0, 'the paused subscriber fell behind: something was conflated');
            const stats = await httpGet(`${ctx.broker.http}/api/stats`);
            assert.ok(stats.json.counters.messages_conflated >= dropped,
                `messages_conflated ${stats.json.counters.messages_conflated} counts the ${dropped} replaced`);

            // The plain subscription of the same connection still counts
            // toward --max-backlog: 12 MB of it while paused is a 4000.
            slow.ws.pause();
            const big = crypto.randomBytes(750).toString('base64');
            await publishMany(pub, plainTopic, range(12000).map((i) => ({ i, big })), { window: 16, timeoutMs: 60000 });
            slow.ws.resume();
            const closed = await slow.waitClosed({ timeoutMs: 30000 });
            assert.equal(closed.code, 4000, `close code (reason: ${closed.reason})`);
            assert.equal(all.closeInfo, null);
        });
});

describe('conflate=true topic rule', () => {
    const ctx = sharedBroker({
        args: ['--topic-rule', 'rule.> conflate=true', '--max-backlog', String(64 * MiB), '--retain', '5'],
    });

    it('conflates subscriptions that do not say "conflate": false', { timeout: 60000 }, async (t) => {
        const base = uniqueTopic('rule.t');
        const topics = [`${base}.a`, `${base}.b`];
        const ruled = await connect(ctx.broker.url, { t });
        const plain = await connect(ctx.broker.url, { t });
        const pub = await connect(ctx.broker.url, { t });
        await ruled.ok({ op: 'subscribe', topic: `${base}.*` });
        await plain.ok({ op: 'subscribe', topic: `${base}.*`, conflate: false });
        ruled.ws.pause();
        plain.ws.pause();
        const pad = crypto.randomBytes(750).toString('base64');
        const seqs = await tick(pub, topics, 8000, { rate: 20000, pad });
        ruled.ws.resume();
        plain.ws.resume();
        await ruled.sync({ timeoutMs: 60000 });
        await plain.sync({ timeoutMs: 60000 });
        const dropped = checkConflated(ruled.take(isMessage()), seqs);
        assert.ok(dropped > 0, 'the rule conflated');
        assert.equal(plain.take(isMessage()).length, 8000, '"conflate": false gets every message');
    });
});

describe('wsb sub --conflate', () => {
    const ctx = sharedBroker({ args: ['--max-backlog', String(MiB), '--retain', '5'] });

    it('a reader that falls behind prints the newest of each topic with its count', { timeout: 60000 },
        async (t) => {
            const base = uniqueTopic('cli.cf');
            const topics = range(10).map((i) => `${base}.t${i}`);
            const proc = spawn(WSB_BIN, ['sub', '--url', ctx.broker.url, '--conflate', `${base}.*`],
                { stdio: ['ignore', 'pipe', 'pipe'] });
            onCleanup(t, () => proc.kill('SIGKILL'));
            const lines = [];
            let partial = '';
            proc.stdout.setEncoding('utf8');
            proc.stdout.on('data', (d) => {
                const parts = (partial + d).split('\n');
                partial = parts.pop();
                lines.push(...parts.map((l) => JSON.parse(l)));
            });
            const pub = await connect(ctx.broker.url, { t });
            // Subscribed once a message published now is printed; the ones
            // before the subscription are not.
            const hellos = [];
            await waitFor(async () => {
                hellos.push((await pub.ok({ op: 'publish', topic: topics[0], data: 'hello' })).seq);
                return lines.length > 0;
            }, { timeoutMs: 10000, what: 'wsb sub printing' });
            await waitFor(() => lines.some((m) => m.seq === hellos.at(-1)), { what: 'the last hello' });
            const seqs = new Map(topics.map((topic) => [topic, []]));
            seqs.get(topics[0]).push(...hellos.filter((seq) => seq >= lines[0].seq));

            proc.stdout.pause(); // the pipe fills, wsb stops reading its socket
            const pad = crypto.randomBytes(750).toString('base64');
            const more = await tick(pub, topics, 12000, { rate: 50000, pad });
            for (const topic of topics) seqs.get(topic).push(...more.get(topic));
            proc.stdout.resume();
            const newest = [...seqs.values()].map((l) => l.at(-1));
            await waitFor(() => newest.every((seq) => lines.some((m) => m.seq === seq)),
                { timeoutMs: 30000, what: 'the newest message of every topic printed' });
            const dropped = checkConflated(lines, seqs);
            t.diagnostic(`wsb printed ${lines.length} lines, ${dropped} messages conflated`);
            assert.ok(dropped > 0, 'wsb fell behind: something was conflated');
        });
});
