// SPDX-License-Identifier: MIT
// hardening_store.test.mjs: the store's bounds on disk against the real
// binary (issue 14 item 6; docs/design.md section 4, docs/protocol.md
// section 7): --max-topics and --max-db-size refuse publishes with
// `unavailable` and lose nothing already stored, and after age retention
// removed every message of many unique topics the database file shrinks and
// a resume from before them is not `recovered`. Asserts on the database
// file's size and on replies; conditions are waited for with a timeout.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { describe, it } from 'node:test';
import { httpGet, scaled, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { assertAck, assertError, fullHistory, httpPublish, range, uniqueTopic } from './lib/util.mjs';

async function fileSize(file) {
    try {
        return (await fs.stat(file)).size;
    } catch {
        return 0;
    }
}

describe('store bounds', () => {
    it('--max-topics refuses a new topic past the bound, not existing ones', async (t) => {
        const broker = await startBroker({ t, args: ['--max-topics', '3'] });
        const c = await connect(broker.url, { t });
        const base = uniqueTopic('mt');
        const acked = [];
        for (const name of ['a', 'b', 'c']) {
            acked.push(await c.ok({ op: 'publish', topic: `${base}.${name}`, data: name }));
        }
        const refused = await c.request({ op: 'publish', topic: `${base}.d`, data: 'd' });
        assertError(refused, 'unavailable', { what: 'a fourth topic' });
        assert.match(refused.message, /max_topics/, 'the answer names the limit');
        const again = await c.ok({ op: 'publish', topic: `${base}.a`, data: 'a2' });
        assert.ok(again.seq > acked[2].seq);

        const res = await httpPublish(broker, { topic: `${base}.e`, data: 'e' });
        assert.equal(res.status, 503, `HTTP publish to a new topic: ${res.status} ${res.text ?? ''}`);
        assert.match(res.text, /max_topics/, 'the HTTP answer names the limit');
        const batch = await httpPublish(broker, { messages: [
            { topic: `${base}.b`, data: 'b2' }, { topic: `${base}.f`, data: 'f' }] });
        assert.equal(batch.status, 503, 'a batch naming a new topic is refused whole');

        const stored = await fullHistory(c, `${base}.>`);
        assert.deepEqual(stored.map((m) => m.data), ['a', 'b', 'c', 'a2']);
        const metrics = await httpGet(`${broker.http}/metrics`);
        assert.match(metrics.text, /^wsbroker_store_live_topics 3$/m);
        assert.match(metrics.text, /^wsbroker_store_refused_full_total [3-9]$/m);
    });

    it('--max-db-size refuses every publish while full, keeps what it stored', async (t) => {
        const maxBytes = 2 * 1024 * 1024;
        const broker = await startBroker({ t, args: ['--max-db-size', String(maxBytes), '--retain', '100000'] });
        const c = await connect(broker.url, { t });
        const topic = uniqueTopic('ms');
        const body = 'x'.repeat(16 * 1024);
        const acked = [];
        let refused = null;
        for (const i of range(1000)) {
            const reply = await c.request({ op: 'publish', topic, data: { i, body } });
            if (reply.op !== 'ack') {
                refused = reply;
                break;
            }
            acked.push(reply.seq);
        }
        assert.ok(refused, 'publishes were never refused');
        assertError(refused, 'unavailable', { what: 'a publish over --max-db-size' });
        assert.match(refused.message, /max_db_size/, 'the answer names the limit');
        assert.ok(acked.length * body.length >= maxBytes / 2, `only ${acked.length} accepted`);
        assertError(await c.request({ op: 'publish', topic: uniqueTopic('ms.other'), data: 1 }),
            'unavailable', { what: 'another topic while full' });

        // A clean stop copies the WAL back: the file itself is about the bound.
        assert.equal(await broker.stop(), 0);
        const size = await fileSize(broker.dbPath);
        assert.ok(size <= maxBytes * 1.5, `database file of ${size} bytes with --max-db-size ${maxBytes}`);
        await broker.restart();
        const r = await connect(broker.url, { t });
        assertError(await r.request({ op: 'publish', topic, data: 1 }), 'unavailable',
            { what: 'still full after a restart' });
        const stored = await fullHistory(r, topic);
        assert.deepEqual(stored.map((m) => m.seq), acked, 'every acked message is still there');
    });

    it('after age retention the file shrinks and old resumes are not recovered', async (t) => {
        const broker = await startBroker({ t, args: ['--retain-age', '5'] });
        const c = await connect(broker.url, { t });
        const base = uniqueTopic('ut');
        const body = 'y'.repeat(16 * 1024);
        const seqs = [];
        const lanes = range(50).map(async (lane) => {
            for (let i = lane; i < 1500; i += 50) {
                const ack = await c.ok({ op: 'publish', topic: `${base}.t${i}`, data: body },
                    { timeoutMs: scaled(20000) });
                seqs.push(ack.seq);
            }
        });
        await Promise.all(lanes);
        // The checkpointer copied most of the WAL into the file meanwhile.
        let peak = 0;
        await waitFor(async () => (peak = Math.max(peak, await fileSize(broker.dbPath))) >= 8 * 1024 * 1024,
            { timeoutMs: 10000, what: 'the database file to reach 8 MB' });
        const newest = Math.max(...seqs);

        await waitFor(async () => (await c.ok({ op: 'history', topic: `${base}.>`, limit: 1 })).messages.length === 0,
            { timeoutMs: 30000, what: 'age retention to remove every message' });
        await waitFor(async () => (await fileSize(broker.dbPath)) <= peak / 8,
            { timeoutMs: 30000, what: `the database file (peak ${peak}) to shrink` });

        const below = await c.request({ op: 'subscribe', topic: `${base}.t7`, since: newest - 1 });
        assertAck(below);
        assert.equal(below.recovered, false, 'a resume from before the removed messages');
        const above = await c.request({ op: 'subscribe', topic: `${base}.>`, since: newest });
        assertAck(above);
        assert.equal(above.recovered, true, 'a resume from after them');
    });
});
