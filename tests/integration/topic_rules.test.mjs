// SPDX-License-Identifier: MIT
// topic_rules.test.mjs: per-pattern settings, `--topic-rule` and the config
// key `topic_rules` (docs/protocol.md section 11): the first matching rule
// sets a name's retention, other names keep the global one, `recovered` is
// false exactly when a rule's retention dropped a match, the rules hold
// after a restart and /api/stats lists them; a bad rule is one line on
// stderr and exit 2.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { httpGet, onCleanup, runBroker, startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { uniqueTopic } from './lib/util.mjs';

const RULES = ['--topic-rule', 'tick.> retain=1', '--topic-rule', 'chat.* retain=3 conflate=false',
    '--topic-rule', 'tick.keep.> retain=50', '--retain', '5'];

async function publishN(c, topic, n) {
    const seqs = [];
    for (let i = 0; i < n; i++) seqs.push((await c.ok({ op: 'publish', topic, data: i })).seq);
    return seqs;
}

async function storedSeqs(c, topic) {
    return (await c.ok({ op: 'history', topic, limit: 1000 })).messages.map((m) => m.seq);
}

describe('topic rules', () => {
    it('two rules and the global default on one broker, also after a restart', async (t) => {
        const broker = await startBroker({ t, args: RULES });
        let c = await connect(broker.url, { t });
        const tick = uniqueTopic('tick.x');
        const tickKeep = uniqueTopic('tick.keep');
        const chat = uniqueTopic('chat');
        const other = uniqueTopic('news');
        const ticks = await publishN(c, tick, 8);
        const keeps = await publishN(c, tickKeep, 8);
        const chats = await publishN(c, chat, 8);
        const others = await publishN(c, other, 8);
        assert.deepEqual(await storedSeqs(c, tick), ticks.slice(-1), 'tick.>: retain=1');
        assert.deepEqual(await storedSeqs(c, tickKeep), keeps.slice(-1), 'the first match wins');
        assert.deepEqual(await storedSeqs(c, chat), chats.slice(-3), 'chat.*: retain=3');
        assert.deepEqual(await storedSeqs(c, other), others.slice(-5), 'no rule: --retain 5');

        // recovered:false exactly when a rule's retention dropped a match.
        // A fresh connection each: a repeated subscribe changes nothing.
        const resume = async (topic, since) => {
            const r = await connect(broker.url, { t });
            const { recovered } = await r.ok({ op: 'subscribe', topic, since });
            await r.close();
            return recovered;
        };
        assert.equal(await resume(tick, ticks[5]), false, 'tick seq 7 was dropped');
        assert.equal(await resume(chat, chats[4]), true, 'chat kept everything after since');
        assert.equal(await resume(chat, chats[3]), false, 'chat dropped seq 5');
        assert.equal(await resume(other, others[2]), true);
        assert.equal(await resume(`${tick.split('.').slice(0, 2).join('.')}.>`, ticks[6]), true);
        assert.equal(await resume('chat.>', chats[1]), false);

        await c.close();
        assert.equal(await broker.stop(), 0);
        await broker.restart();
        c = await connect(broker.url, { t });
        const more = await publishN(c, chat, 2);
        assert.deepEqual(await storedSeqs(c, chat), [chats[7], ...more], 'retain=3 after a restart');
        const tickMore = await publishN(c, tick, 2);
        assert.deepEqual(await storedSeqs(c, tick), tickMore.slice(-1));
        assert.equal((await c.ok({ op: 'subscribe', topic: tick, since: ticks[7] })).recovered, false);
    });

    it('retain=0 keeps nothing and the seq is never reused; retain_age per rule', async (t) => {
        const broker = await startBroker({ t, args: ['--topic-rule', 'live.> retain=0', '--topic-rule', 'short.> retain_age=1'] });
        const c = await connect(broker.url, { t });
        const live = uniqueTopic('live');
        const short = uniqueTopic('short');
        const keep = uniqueTopic('keep');
        const sub = await connect(broker.url, { t });
        await sub.ok({ op: 'subscribe', topic: live });
        const [seq] = await publishN(c, live, 1);
        const got = await sub.next((f) => f.op === 'message' && f.topic === live);
        assert.equal(got.seq, seq, 'delivered live');
        assert.deepEqual(await storedSeqs(c, live), [], 'not stored');
        const k = await publishN(c, keep, 1);
        assert.ok(k[0] > seq);
        assert.equal((await c.ok({ op: 'subscribe', topic: keep, since: 0 })).recovered, true,
            'a retain=0 topic does not make other topics unrecovered');
        assert.equal((await c.ok({ op: 'subscribe', topic: live, since: seq - 1 })).recovered, false);

        await publishN(c, short, 2);
        const deadline = Date.now() + 15000;
        while ((await storedSeqs(c, short)).length > 0) {
            assert.ok(Date.now() < deadline, 'retain_age=1 removes the messages');
            await new Promise((r) => setTimeout(r, 200));
        }
        assert.deepEqual(await storedSeqs(c, keep), k, 'the global age keeps the rest');
    });

    it('/api/stats lists the rules', async (t) => {
        const broker = await startBroker({ t, args: RULES });
        const res = await httpGet(`${broker.http}/api/stats`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.json.topic_rules, [
            { pattern: 'tick.>', retain: 1 },
            { pattern: 'chat.*', retain: 3, conflate: false },
            { pattern: 'tick.keep.>', retain: 50 },
        ]);
    });

    it('the config file takes topic_rules as objects', async (t) => {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-rules-'));
        onCleanup(t, () => fs.rm(dir, { recursive: true, force: true }));
        const file = path.join(dir, 'c.json');
        await fs.writeFile(file, JSON.stringify({ topic_rules: [{ pattern: 'chat.>', retain: 2, retain_age: 604800 }] }));
        const broker = await startBroker({ t, args: ['--config', file] });
        const res = await httpGet(`${broker.http}/api/stats`);
        assert.deepEqual(res.json.topic_rules, [{ pattern: 'chat.>', retain: 2, retain_age: 604800 }]);
    });

    for (const bad of ['a..b retain=1', 'x.> retain=-1', 'x.> retain_age=0', 'x.> conflate=maybe', 'x.> colour=red']) {
        it(`--topic-rule '${bad}' is one line and exit 2`, async () => {
            const res = await runBroker(['--db', ':memory:', '--port', '1', '--topic-rule', bad]);
            assert.equal(res.code, 2, res.stderr);
            const lines = res.stderr.trim().split('\n');
            assert.equal(lines.length, 1, res.stderr);
            assert.match(lines[0], /topic-rule/);
        });
    }
});
