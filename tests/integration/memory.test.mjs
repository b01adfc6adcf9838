// SPDX-License-Identifier: MIT
// memory.test.mjs: memory the broker freed goes back to the system. A crowd
// of subscribers that stop reading makes the broker hold their queued
// messages; once they leave, its resident size must come back near where it
// was, not stay at the peak (docs/limits.md, "Memory after load").

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { SANITIZED, procStatusBytes, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { publishMany, range, uniqueTopic } from './lib/util.mjs';

const MiB = 1024 * 1024;

describe('memory after load', () => {
    const skip = SANITIZED && 'AddressSanitizer keeps freed memory in its quarantine';
    it('queues of subscribers that left are given back to the system', { skip }, async (t) => {
        const SUBSCRIBERS = 8;
        const PER_TOPIC = 16 * MiB;
        const broker = await startBroker({ t, args: ['--max-backlog', String(64 * MiB), '--retain', '100'] });
        const pub = await connect(broker.url, { t });
        const pad = crypto.randomBytes(24 * 1024).toString('base64'); // 32 KiB of text
        const perTopic = Math.ceil(PER_TOPIC / pad.length);

        // Warm-up: the store's page cache (32 MiB at most) and the allocator
        // reach their working size before the baseline is taken.
        await publishMany(pub, uniqueTopic('mem.warm'), range(3 * perTopic).map((i) => ({ i, pad })), { timeoutMs: 60000 });
        const base = procStatusBytes(broker, 'VmRSS');

        const topics = range(SUBSCRIBERS).map(() => uniqueTopic('mem.q'));
        const slow = [];
        for (const topic of topics) {
            const c = await connect(broker.url);
            await c.ok({ op: 'subscribe', topic });
            c.ws.pause(); // reads nothing more: the broker queues for it
            slow.push(c);
        }
        for (const topic of topics)
            await publishMany(pub, topic, range(perTopic).map((i) => ({ i, pad })), { timeoutMs: 60000 });
        const peak = procStatusBytes(broker, 'VmRSS');
        t.diagnostic(`rss: base ${(base / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB`);
        assert.ok(peak - base > (SUBSCRIBERS * PER_TOPIC) / 2,
            `the queues were held (base ${base}, peak ${peak}): the test measures something`);

        for (const c of slow) c.terminate();
        const bound = base + 64 * MiB;
        await waitFor(() => procStatusBytes(broker, 'VmRSS') < bound, {
            timeoutMs: 15000, what: `rss back under base + 64 MiB (${(bound / MiB).toFixed(0)} MiB)`,
        });
        t.diagnostic(`rss after: ${(procStatusBytes(broker, 'VmRSS') / MiB).toFixed(0)} MiB`);
    });
});
