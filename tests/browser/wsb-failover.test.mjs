// SPDX-License-Identifier: MIT
// wsb-failover.test.mjs: broker/www/wsb.js given several broker URLs, run in
// headless Chromium against two real brokers: the delays of failoverDelay
// (quick moves within a round of the list, the backoff once per round), a
// refused first URL skipped at connect, and a first broker killed under an
// open connection: the client goes on via the second, where it subscribes
// again with `since` and the epoch it had.
//
// The two brokers here have a database each, so their epochs differ, as
// after a store was replaced: the resume is then `recovered: false` and the
// second broker's messages are delivered from its start, as wsb.js does on
// any reconnect to another epoch. (Brokers on one Redis share seqs and the
// epoch; there the same resume is exact.) The page is the second broker's,
// so it outlives the first.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
    assertNoPageErrors, freePort, launchBrowser, pageWait, startBroker, uniqueName, wsbPage,
} from './lib/harness.mjs';

describe('wsb.js over several broker URLs', () => {
    let first;
    let second;
    let browser;
    let page;

    before(async () => {
        first = await startBroker();
        second = await startBroker();
        browser = await launchBrowser();
        page = await wsbPage(browser, second);
        // Every frame the page sends, to see the subscribe requests.
        await page.evaluate(() => {
            window.t.sent = [];
            const send = WebSocket.prototype.send;
            WebSocket.prototype.send = function record(data) {
                if (typeof data === 'string') window.t.sent.push(JSON.parse(data));
                return send.call(this, data);
            };
        });
    });

    after(async () => {
        if (page) assertNoPageErrors(page);
        await browser?.close();
        await first?.cleanup();
        await second?.cleanup();
    });

    it('failoverDelay: a jitter up to min within a round of the list, the backoff once per round', async () => {
        const r = await page.evaluate(() => {
            const { failoverDelay, backoffDelay } = window.wsb;
            const bounds = (attempt, count) => [failoverDelay(attempt, count, 100, 10000, () => 0),
                failoverDelay(attempt, count, 100, 10000, () => 1)];
            return {
                two: [0, 1, 2, 3, 4, 5].map((a) => bounds(a, 2)),
                one: [0, 1, 2].map((a) => bounds(a, 1)),
                same: [0, 1, 2].map((a) => backoffDelay(a, 100, 10000, () => 1)),
            };
        });
        // Two URLs: attempts 0, 2, 4 move on within a round; 1, 3, 5 end rounds 0, 1, 2.
        assert.deepEqual(r.two, [[0, 100], [50, 100], [0, 100], [100, 200], [0, 100], [200, 400]]);
        assert.deepEqual(r.one.map((b) => b[1]), r.same, 'one URL: the plain backoff');
    });

    it('a refused first URL is skipped: connect() resolves on the second', async () => {
        const dead = `ws://127.0.0.1:${await freePort()}/ws`;
        const r = await page.evaluate(async ([dead, live]) => {
            const c = new window.wsb.WsbClient([dead, live], { backoffMin: 100, backoffMax: 800 });
            const states = [];
            c.on('state', (s) => states.push(s));
            const before = c.url;
            await c.connect();
            const out = { before, after: c.url, urls: c.urls, states };
            c.close();
            return out;
        }, [dead, second.wsUrl]);
        assert.equal(r.before, dead);
        assert.equal(r.after, second.wsUrl);
        assert.deepEqual(r.urls, [dead, second.wsUrl]);
        const retry = r.states.find((s) => s.state === 'reconnecting');
        assert.equal(retry.url, second.wsUrl);
        assert.ok(retry.delay <= 100, `the move to the second is quick (${retry.delay} ms)`);
    });

    it('the first broker dies: the client goes on via the second and resubscribes with since and epoch', async () => {
        const topic = uniqueName('fo.');
        await page.evaluate(async ([topic, urls]) => {
            const c = new window.wsb.WsbClient(urls, { backoffMin: 100, backoffMax: 800 });
            const st = { c, got: [], acks: [], welcomes: [] };
            window.t.failover = st;
            c.on('welcome', (w) => st.welcomes.push({ epoch: w.epoch, url: c.url }));
            c.subscribe(topic, (m) => st.got.push([m.seq, m.data]), { onSubscribe: (ack) => st.acks.push(ack) });
            await c.connect();
        }, [topic, [first.wsUrl, second.wsUrl]]);
        const m1 = await first.publish(topic, 'm1');
        await pageWait(page, () => window.t.failover.got.length === 1);

        await first.kill();
        const m2 = await second.publish(topic, 'm2');
        await pageWait(page, () => window.t.failover.got.length === 2);
        const st = await page.evaluate((topic) => {
            const out = { ...window.t.failover, c: null, url: window.t.failover.c.url,
                subscribes: window.t.sent.filter((m) => m.op === 'subscribe' && m.topic === topic) };
            window.t.failover.c.close();
            return out;
        }, topic);
        assert.deepEqual(st.got, [[m1.seq, 'm1'], [m2.seq, 'm2']]);
        assert.equal(st.url, second.wsUrl);
        assert.deepEqual(st.welcomes.map((w) => w.url), [first.wsUrl, second.wsUrl]);
        assert.equal(st.subscribes.length, 2);
        assert.equal(st.subscribes[0].since, undefined);
        assert.equal(st.subscribes[1].since, m1.seq, 'resumes from the last seq delivered');
        assert.equal(st.subscribes[1].epoch, st.welcomes[0].epoch, 'with the epoch it belongs to');
        assert.notEqual(st.welcomes[1].epoch, st.welcomes[0].epoch, 'two SQLite stores: two epochs');
        assert.equal(st.acks[1].recovered, false, 'another epoch: the resume is not exact');
    });
});
