// SPDX-License-Identifier: MIT
// slow.test.mjs: the slow consumer rule (docs/protocol.md section 7, close 4000,
// and section 10 "Limits"): a subscriber that stops reading is cut off once
// its backlog passes --max-backlog, nobody else is slowed down, and it
// resumes with `since` without losing anything.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import { assertAscending, isMessage, publishMany, range, sharedBroker, uniqueTopic } from './lib/util.mjs';

// Enough ~1 KB messages to fill the kernel's socket buffers on both ends of
// the paused connection (a few MB on Linux loopback) and then the 64 KiB
// backlog several times over.
const COUNT = 8000;

describe('slow consumer', () => {
    const ctx = sharedBroker({ args: ['--max-backlog', '65536', '--retain', '50000'] });

    it('is closed with 4000 while others keep up, then resumes with since', async (t) => {
        const topic = uniqueTopic('slow.t');
        const slow = await connect(ctx.broker.url, { t });
        const fast = await connect(ctx.broker.url, { t });
        const pub = await connect(ctx.broker.url, { t });
        const start = (await pub.ok({ op: 'publish', topic: `${topic}.start`, data: 0 })).seq;
        await slow.ok({ op: 'subscribe', topic });
        await fast.ok({ op: 'subscribe', topic });
        slow.ws.pause(); // stop reading: the kernel buffers fill, then the broker's backlog

        const pad = crypto.randomBytes(750).toString('base64'); // 1000 characters
        const datas = range(COUNT).map((i) => ({ i, pad }));
        // A small window: one commit batch (at most 16 x 1 KB) stays well under
        // the 64 KiB limit, so a subscriber that reads is never over it.
        const acks = await publishMany(pub, topic, datas, { window: 16, timeoutMs: 60000 });
        const seqs = acks.map((a) => a.seq);
        assertAscending(seqs, 'acked seqs');
        assert.ok(seqs[0] > start);

        const got = await fast.collect(isMessage(topic), COUNT, { timeoutMs: 60000, what: 'fast subscriber' });
        assert.deepEqual(got.map((m) => m.seq), seqs, 'the reading subscriber got every message');
        assert.equal(fast.closeInfo, null);

        slow.ws.resume();
        const closed = await slow.waitClosed({ timeoutMs: 30000 });
        assert.equal(closed.code, 4000, `slow consumer close code (reason: ${closed.reason})`);
        const seen = slow.log.filter(isMessage(topic)).map((m) => m.seq);
        assert.ok(seen.length < COUNT, `the slow one was cut off before receiving everything (${seen.length})`);
        assert.deepEqual(seen, seqs.slice(0, seen.length), 'what it got before the close is a gapless prefix');
        const last = seen.length ? seen.at(-1) : start;
        t.diagnostic(`slow consumer got ${seen.length} of ${COUNT} before 4000`);

        const again = await connect(ctx.broker.url, { t });
        assert.equal(again.welcome.epoch, slow.welcome.epoch);
        const ack = await again.ok({ op: 'subscribe', topic, since: last, epoch: slow.welcome.epoch },
            { timeoutMs: 30000 });
        assert.equal(ack.recovered, true);
        const missed = seqs.filter((s) => s > last);
        assert.equal(ack.replayed, missed.length);
        // The replay is larger than the backlog limit: it is paced, not cut off.
        const replay = await again.collect(isMessage(topic), missed.length, { timeoutMs: 60000, what: 'replay' });
        assert.deepEqual(replay.map((m) => m.seq), missed);
        assert.deepEqual(replay.at(-1).data, datas.at(-1));
        await again.sync();
        assert.equal(again.closeInfo, null);
    });
});
