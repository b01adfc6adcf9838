// SPDX-License-Identifier: MIT
// wsb.test.mjs: the logic of broker/www/wsb.js, run in headless Chromium
// against the real broker: pure helpers (topic matching, backoff), publish
// and subscribe, binary frames, history, presence, ping, exactly-once
// publish retry after a lost ack, resume after a cut socket (seq
// continuity), queued publishes while disconnected, reconnects across
// broker restarts (same store, and a new store with another epoch), and
// tokens: a token function asked per connection and on `token_expired`,
// auth(), closes 4001 and 4003 (against a scripted WebSocket in the page,
// since the real broker expires tokens only when the clock says so), grants
// on a broker with --auth-secret, and wss:// to a broker with --tls-cert.
//
// The page is the broker's /healthz (any page of its origin works); the
// tests import /wsb.js into it and drive WsbClient objects with
// page.evaluate. Test state lives in window.t.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
    assertNoPageErrors, launchBrowser, pageWait, startBroker, uniqueName, wsbPage,
} from './lib/harness.mjs';
import { SECRET, claims, hs256 } from '../integration/lib/jwt.mjs';

/**
 * Replaces the page's WebSocket with a scripted broker (window.t.sockets
 * holds every socket made): each connection gets a welcome; `ping`,
 * `auth` and the rest get acks. A test makes the broker speak with
 * socket.deliver(obj) and close with socket.close(code).
 */
async function scriptedPage(browser, broker) {
    const page = await wsbPage(browser, broker);
    await page.evaluate(() => {
        window.t.sockets = [];
        class ScriptedSocket {
            static OPEN = 1;
            constructor(url) {
                this.url = url;
                this.readyState = 0;
                this.sent = [];
                window.t.sockets.push(this);
                setTimeout(() => {
                    this.readyState = 1;
                    this.deliver({ op: 'welcome', v: 1, client: `c${window.t.sockets.length}`, epoch: 'e', seq: 0, heartbeat: 25 });
                });
            }
            deliver(obj) {
                setTimeout(() => this.onmessage?.({ data: JSON.stringify(obj) }));
            }
            send(text) {
                const m = JSON.parse(text);
                this.sent.push(m);
                if (m.op === 'auth') this.deliver({ op: 'ack', id: m.id, user: 'u', exp: 2000000000 });
                else if (m.op === 'ping') this.deliver({ op: 'pong', id: m.id });
                else this.deliver({ op: 'ack', id: m.id, seq: m.id });
            }
            close(code = 1000, reason = '') {
                if (this.readyState === 3) return;
                this.readyState = 3;
                setTimeout(() => this.onclose?.({ code, reason }));
            }
        }
        window.WebSocket = ScriptedSocket;
    });
    return page;
}

describe('wsb.js', () => {
    let broker;
    let browser;
    let page;

    before(async () => {
        broker = await startBroker();
        browser = await launchBrowser();
        page = await wsbPage(browser, broker);
    });

    after(async () => {
        if (page) assertNoPageErrors(page);
        await browser?.close();
        await broker?.cleanup();
    });

    it('topicMatches follows docs/protocol.md section 5', async () => {
        const cases = [
            ['prices.*', 'prices.AAPL', true],
            ['prices.*', 'prices.us.AAPL', false],
            ['prices.>', 'prices.us.AAPL', true],
            ['prices.>', 'prices.AAPL', true],
            ['prices.>', 'prices', false],
            ['prices.AAPL', 'prices.AAPL', true],
            ['prices.AAPL', 'prices.AAPLX', false],
            ['*.b.*', 'a.b.c', true],
            ['*.b.*', 'a.b', false],
            ['>', 'a', true],
            ['*', '$sys', false],
            ['>', '$sys.stats', false],
            ['$sys.>', '$sys.stats', true],
        ];
        const got = await page.evaluate((list) => list.map(([p, n]) => window.wsb.topicMatches(p, n)), cases);
        assert.deepEqual(got, cases.map((c) => c[2]));
    });

    it('backoffDelay grows exponentially, is capped, and is jittered in the upper half', async () => {
        const r = await page.evaluate(() => {
            const { backoffDelay } = window.wsb;
            const bounds = [];
            for (let attempt = 0; attempt < 12; attempt++)
                bounds.push([backoffDelay(attempt, 250, 10000, () => 0), backoffDelay(attempt, 250, 10000, () => 1)]);
            const samples = Array.from({ length: 200 }, () => backoffDelay(3, 250, 10000));
            return { bounds, huge: backoffDelay(1000, 250, 10000, () => 1), samples };
        });
        assert.deepEqual(r.bounds.slice(0, 4), [[125, 250], [250, 500], [500, 1000], [1000, 2000]]);
        assert.deepEqual(r.bounds[6], [5000, 10000], 'capped at backoffMax');
        assert.deepEqual(r.bounds[11], [5000, 10000]);
        assert.equal(r.huge, 10000);
        assert.ok(r.samples.every((d) => d >= 1000 && d <= 2000), 'samples within [step/2, step]');
        assert.ok(new Set(r.samples).size > 100, 'samples are jittered');
    });

    it('publish resolves with the ack; subscribers get the message; echo:false skips the publisher', async () => {
        const topic = uniqueName('u.pub.');
        const r = await page.evaluate(async (topic) => {
            const a = await window.wsb.connect();
            const b = await window.wsb.connect();
            const gotA = [];
            const gotB = [];
            await a.subscribe(`${topic}.>`, (m) => gotA.push(m)).ready;
            await b.subscribe(`${topic}.>`, (m) => gotB.push(m)).ready;
            const ack1 = await b.publish(`${topic}.x`, { n: 1 });
            const ack2 = await b.publish(`${topic}.y`, 'quiet', { echo: false });
            const ack3 = await b.publish(`${topic}.x`, [3]);
            await new Promise((resolve) => {
                const check = () => (gotA.length >= 3 && gotB.length >= 2 ? resolve() : setTimeout(check, 10));
                check();
            });
            a.close();
            b.close();
            return { acks: [ack1, ack2, ack3], gotA, gotB, id: a.id };
        }, topic);
        assert.ok(r.acks.every((a) => a.op === 'ack' && Number.isSafeInteger(a.seq)));
        assert.ok(r.acks[0].seq < r.acks[1].seq && r.acks[1].seq < r.acks[2].seq);
        assert.deepEqual(r.gotA.map((m) => [m.topic, m.seq, m.data]),
            [[`${topic}.x`, r.acks[0].seq, { n: 1 }], [`${topic}.y`, r.acks[1].seq, 'quiet'], [`${topic}.x`, r.acks[2].seq, [3]]]);
        assert.deepEqual(r.gotB.map((m) => m.seq), [r.acks[0].seq, r.acks[2].seq], 'echo:false is not echoed');
        assert.match(r.id, /^c-/);
    });

    it('a refused subscribe rejects ready and a refused publish rejects with the error code', async () => {
        const r = await page.evaluate(async () => {
            const c = await window.wsb.connect();
            const sub = c.subscribe('bad..topic', () => {});
            const subErr = await sub.ready.then(() => null, (e) => ({ name: e.name, code: e.code }));
            const pubErr = await c.publish('a.*', 1).then(() => null, (e) => ({ name: e.name, code: e.code }));
            const again = await c.subscribe('bad..topic', () => {}).ready.catch((e) => e.code); // not left registered
            c.close();
            return { subErr, pubErr, again };
        });
        assert.deepEqual(r.subErr, { name: 'WsbError', code: 'invalid_topic' });
        assert.deepEqual(r.pubErr, { name: 'WsbError', code: 'invalid_topic' });
        assert.equal(r.again, 'invalid_topic');
    });

    it('binary: Uint8Array and ArrayBuffer publish as binary frames; delivered and in history as ArrayBuffer', async () => {
        const topic = uniqueName('u.bin.');
        const r = await page.evaluate(async (topic) => {
            const c = await window.wsb.connect();
            const got = [];
            await c.subscribe(topic, (m) => got.push(m)).ready;
            const bytes = new Uint8Array(512);
            for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
            const view = new Uint8Array(bytes.buffer, 100, 50); // a view into a larger buffer
            const ack1 = await c.publish(topic, bytes);
            const ack2 = await c.publish(topic, view);
            const ack3 = await c.publish(topic, new Uint8Array([1, 2, 3]).buffer);
            const ack4 = await c.publish(topic, { text: true });
            while (got.length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
            const hist = await c.history(topic);
            c.close();
            const show = (m) => ({ seq: m.seq, binary: !!m.binary, isBuffer: m.data instanceof ArrayBuffer,
                                  bytes: m.data instanceof ArrayBuffer ? Array.from(new Uint8Array(m.data)) : m.data });
            return { acks: [ack1.seq, ack2.seq, ack3.seq, ack4.seq], live: got.map(show), hist: hist.messages.map(show),
                     expected: [Array.from(bytes), Array.from(view), [1, 2, 3]] };
        }, topic);
        for (const list of [r.live, r.hist]) {
            assert.deepEqual(list.map((m) => m.seq), r.acks);
            for (let i = 0; i < 3; i++) {
                assert.equal(list[i].binary, true);
                assert.equal(list[i].isBuffer, true);
                assert.deepEqual(list[i].bytes, r.expected[i]);
            }
            assert.equal(list[3].binary, false);
            assert.deepEqual(list[3].bytes, { text: true });
        }
    });

    it('history with since and limit; presence with join/leave callbacks; ping', async () => {
        const topic = uniqueName('u.hist.');
        const r = await page.evaluate(async (topic) => {
            const c = await window.wsb.connect();
            const seqs = [];
            for (let i = 0; i < 5; i++) seqs.push((await c.publish(topic, i)).seq);
            const all = await c.history(topic);
            const page2 = await c.history(topic, { since: seqs[1], limit: 2 });
            const events = [];
            const room = `${topic}.room`;
            const sub = c.subscribe(room, () => {}, {
                presence: true,
                onJoin: (ev) => events.push(['join', ev.client, ev.user]),
                onLeave: (ev) => events.push(['leave', ev.client, ev.user]),
            });
            await sub.ready;
            const other = await window.wsb.connect();
            await other.subscribe(room, () => {}, { presence: true }).ready;
            const members = (await c.presence(room)).map((m) => m.client).sort();
            const otherId = other.id;
            other.close();
            while (events.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
            const rtt = await c.ping();
            const ids = [c.id, otherId].sort();
            c.close();
            return { seqs, all: all.messages.map((m) => [m.seq, m.data]), allMore: all.more,
                     page2: page2.messages.map((m) => m.seq), page2More: page2.more, members, ids, events, otherId, rtt };
        }, topic);
        assert.deepEqual(r.all, r.seqs.map((s, i) => [s, i]));
        assert.equal(r.allMore, false);
        assert.deepEqual(r.page2, r.seqs.slice(2, 4));
        assert.equal(r.page2More, true);
        assert.deepEqual(r.members, r.ids);
        assert.deepEqual(r.events, [['join', r.otherId, null], ['leave', r.otherId, null]]);
        assert.ok(typeof r.rtt === 'number' && r.rtt >= 0);
    });

    it('exactly once: publishes whose socket is cut before the ack are retried with their key and stored once', async () => {
        const topic = uniqueName('u.once.');
        const r = await page.evaluate(async (topic) => {
            const c = new window.wsb.WsbClient(undefined, { backoffMin: 50, backoffMax: 200 });
            await c.connect();
            const firstClient = c.id;
            const pending = [];
            for (let i = 0; i < 5; i++) pending.push(c.publish(topic, { i }));
            c._ws.close(); // the acks of this socket are never read
            const acks = await Promise.all(pending);
            const hist = await c.history(topic);
            const reconnected = c.id !== firstClient;
            c.close();
            return { acks, hist: hist.messages.map((m) => [m.seq, m.data.i]), reconnected };
        }, topic);
        assert.ok(r.reconnected, 'the client reconnected');
        assert.ok(r.acks.every((a) => a.duplicate === true), `retries were recognised as duplicates: ${JSON.stringify(r.acks)}`);
        assert.deepEqual(r.hist, r.acks.map((a, i) => [a.seq, i]), 'each message is stored once, in order');
        const http = await broker.history(topic);
        assert.equal(http.messages.length, 5);
    });

    it('an application key is used as given: the same key twice is stored once', async () => {
        const topic = uniqueName('u.key.');
        const r = await page.evaluate(async (topic) => {
            const c = await window.wsb.connect();
            const a = await c.publish(topic, 'one', { key: 'order-42' });
            const b = await c.publish(topic, 'two', { key: 'order-42' });
            const hist = await c.history(topic);
            c.close();
            return { a, b, n: hist.messages.length };
        }, topic);
        assert.equal(r.a.duplicate, undefined);
        assert.equal(r.b.duplicate, true);
        assert.equal(r.b.seq, r.a.seq);
        assert.equal(r.n, 1);
    });

    it('resume: a cut socket reconnects and every subscription continues from its last seq', async () => {
        const topic = uniqueName('u.resume.');
        const quiet = uniqueName('u.quiet.');
        await page.evaluate(async ({ topic, quiet }) => {
            // A huge backoff: the test decides when the client comes back (the "online" event).
            const s = new window.wsb.WsbClient(undefined, { backoffMin: 600000, backoffMax: 600000 });
            const p = new window.wsb.WsbClient();
            window.t.resume = { s, p, got: [], quietGot: [], subAcks: [], welcomes: 0 };
            const st = window.t.resume;
            s.on('welcome', () => st.welcomes++);
            await s.connect();
            await p.connect();
            st.sub = s.subscribe(topic, (m) => st.got.push(m.seq), {
                onSubscribe: (ack, info) => st.subAcks.push({ ...ack, resumed: info.resumed }),
            });
            // No message before the cut: resumes from the seq of its ack.
            await s.subscribe(quiet, (m) => st.quietGot.push(m.seq)).ready;
            await st.sub.ready;
            st.acks = [(await p.publish(topic, 1)).seq, (await p.publish(topic, 2)).seq];
        }, { topic, quiet });
        await pageWait(page, () => window.t.resume.got.length === 2);

        await page.evaluate(() => window.t.resume.s._ws.close());
        await pageWait(page, () => window.t.resume.s.state === 'reconnecting');
        const down = await page.evaluate(async ({ topic, quiet }) => {
            const st = window.t.resume;
            for (let i = 3; i <= 5; i++) st.acks.push((await st.p.publish(topic, i)).seq);
            st.quietAck = (await st.p.publish(quiet, 'while down')).seq;
            return st.s.state;
        }, { topic, quiet });
        assert.equal(down, 'reconnecting', 'the messages were published while the subscriber was down');

        await page.evaluate(() => window.dispatchEvent(new Event('online')));
        await pageWait(page, () => window.t.resume.got.length >= 5 && window.t.resume.quietGot.length >= 1);
        await page.evaluate(async (topic) => {
            const st = window.t.resume;
            st.acks.push((await st.p.publish(topic, 6)).seq); // live again after the replay
        }, topic);
        await pageWait(page, () => window.t.resume.got.length >= 6);
        const r = await page.evaluate(() => {
            const st = window.t.resume;
            const out = { got: st.got, acks: st.acks, quietGot: st.quietGot, quietAck: st.quietAck,
                          subAcks: st.subAcks, welcomes: st.welcomes, seq: st.sub.seq };
            st.s.close();
            st.p.close();
            return out;
        });
        assert.equal(r.welcomes, 2);
        assert.deepEqual(r.got, r.acks, 'every message once, in seq order, across the cut');
        assert.deepEqual(r.quietGot, [r.quietAck], 'a subscription without messages resumed from its ack seq');
        assert.equal(r.seq, r.acks[5]);
        assert.equal(r.subAcks.length, 2);
        assert.equal(r.subAcks[0].resumed, false);
        assert.deepEqual([r.subAcks[1].resumed, r.subAcks[1].recovered, r.subAcks[1].replayed], [true, true, 3]);
    });

    it('requests made while disconnected are queued and sent after the next welcome', async () => {
        const topic = uniqueName('u.queue.');
        const r = await page.evaluate(async (topic) => {
            const c = new window.wsb.WsbClient();
            const got = [];
            c.subscribe(topic, (m) => got.push(m.data)); // before connect(): sent after welcome
            const early = c.publish(topic, 'before connect');
            await c.connect();
            const ack1 = await early;
            c.close();
            const states = [c.state];
            const late = c.publish(topic, 'while closed');
            const rtt = c.ping();
            await c.connect();
            const ack2 = await late;
            states.push(typeof (await rtt));
            while (got.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
            c.close();
            return { ack1, ack2, got, states };
        }, topic).catch((err) => ({ error: err.message }));
        assert.equal(r.error, undefined, r.error);
        assert.deepEqual(r.states, ['closed', 'number']);
        assert.ok(r.ack2.seq > r.ack1.seq);
        assert.deepEqual(r.got, ['before connect', 'while closed']);
    });

    it('a token function is asked before every connection and on token_expired; the fresh token goes out with auth', async () => {
        const page = await scriptedPage(browser, broker);
        const r = await page.evaluate(async () => {
            let n = 0;
            const c = new window.wsb.WsbClient('ws://broker.test/ws', {
                backoffMin: 10, backoffMax: 20,
                token: async () => `tok-${++n}`,
            });
            const expired = [];
            c.on('tokenExpired', (e) => expired.push(e.code));
            await c.connect();
            const first = window.t.sockets[0];
            first.deliver({ op: 'error', code: 'token_expired', message: 'token expired' });
            while (!first.sent.some((m) => m.op === 'auth')) await new Promise((resolve) => setTimeout(resolve, 5));
            const auth = first.sent.find((m) => m.op === 'auth');
            first.close(1006); // a dropped connection: the next one asks again
            while (window.t.sockets.length < 2 || c.state !== 'open') await new Promise((resolve) => setTimeout(resolve, 5));
            const urls = window.t.sockets.map((s) => new URL(s.url).searchParams.get('token'));
            c.close();
            return { urls, auth: auth.token, expired };
        });
        assert.deepEqual(r.expired, ['token_expired']);
        assert.equal(r.auth, 'tok-2');
        assert.deepEqual(r.urls, ['tok-1', 'tok-3']);
        assertNoPageErrors(page);
        await page.close();
    });

    it('auth() sends the token and keeps it for reconnects; 4001 and a 4003 without a token function end the client', async () => {
        const page = await scriptedPage(browser, broker);
        const r = await page.evaluate(async () => {
            const c = new window.wsb.WsbClient('ws://broker.test/ws', { token: 'old', backoffMin: 10, backoffMax: 20 });
            await c.connect();
            const ack = await c.auth('new');
            window.t.sockets[0].close(1006);
            while (window.t.sockets.length < 2 || c.state !== 'open') await new Promise((resolve) => setTimeout(resolve, 5));
            const second = new URL(window.t.sockets[1].url).searchParams.get('token');
            // Its ack comes after the socket began closing: the client ignores it.
            const pending = c.publish('t', 1).catch((err) => err.code);
            window.t.sockets[1].close(4003, 'token expired');
            const code4003 = await pending;
            const state4003 = c.state;

            const d = new window.wsb.WsbClient('ws://broker.test/ws', { token: 'bad', backoffMin: 10 });
            await d.connect();
            const count = window.t.sockets.length;
            const waiter = new Promise((resolve) => d.on('state', (s) => s.state === 'closed' && resolve()));
            window.t.sockets[count - 1].close(4001, 'bad token');
            await waiter;
            await new Promise((resolve) => setTimeout(resolve, 100));
            return { user: ack.user, second, code4003, state4003, state4001: d.state,
                     reconnected: window.t.sockets.length !== count };
        });
        assert.equal(r.user, 'u');
        assert.equal(r.second, 'new');
        assert.equal(r.code4003, 'token_expired');
        assert.equal(r.state4003, 'closed');
        assert.equal(r.state4001, 'closed');
        assert.equal(r.reconnected, false, 'a refused token is not presented again');
        assertNoPageErrors(page);
        await page.close();
    });

    it('a token too long for the URL goes in an auth request ahead of the subscriptions', async () => {
        const page = await scriptedPage(browser, broker);
        const r = await page.evaluate(async () => {
            const c = new window.wsb.WsbClient('ws://broker.test/ws', { token: 'x'.repeat(2500) });
            c.subscribe('a.b', () => {});
            await c.connect();
            const socket = window.t.sockets[0];
            while (socket.sent.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
            c.close();
            return { query: new URL(socket.url).search, ops: socket.sent.map((m) => m.op), length: socket.sent[0].token.length };
        });
        assert.deepEqual(r, { query: '', ops: ['auth', 'subscribe'], length: 2500 });
        assertNoPageErrors(page);
        await page.close();
    });

    it('a 4003 with a token function reconnects with a fresh token', async () => {
        const page = await scriptedPage(browser, broker);
        const r = await page.evaluate(async () => {
            let n = 0;
            const c = new window.wsb.WsbClient('ws://broker.test/ws', {
                backoffMin: 10, backoffMax: 20, token: () => `tok-${++n}`,
            });
            await c.connect();
            window.t.sockets[0].close(4003, 'token expired');
            while (window.t.sockets.length < 2 || c.state !== 'open') await new Promise((resolve) => setTimeout(resolve, 5));
            const rtt = await c.ping();
            c.close();
            return { token: new URL(window.t.sockets[1].url).searchParams.get('token'), rtt: typeof rtt };
        });
        assert.deepEqual(r, { token: 'tok-2', rtt: 'number' });
        assertNoPageErrors(page);
        await page.close();
    });

    it('wss://: the client connects over TLS, the certificate checked by the browser', async () => {
        const tlsBroker = await startBroker({ tls: true });
        const tlsBrowser = await launchBrowser({ ignoreHTTPSErrors: true }); // the test's own certificate
        try {
            const page = await wsbPage(tlsBrowser, broker);
            const topic = uniqueName('tls.');
            const got = await page.evaluate(async ({ url, topic }) => {
                const c = new window.wsb.WsbClient(url);
                const got = [];
                c.subscribe(topic, (m) => got.push(m.data));
                await c.connect();
                await c.publish(topic, 'over tls');
                while (got.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
                c.close();
                return got;
            }, { url: tlsBroker.wsUrl, topic });
            assert.deepEqual(got, ['over tls']);
            assertNoPageErrors(page);
        } finally {
            await tlsBrowser.close();
            await tlsBroker.cleanup();
        }
    });

    it('against a broker with --auth-secret: the grants of the token apply', async (t) => {
        const authBroker = await startBroker({ args: ['--auth-secret', SECRET] });
        t.after(() => authBroker.cleanup());
        const page = await wsbPage(browser, authBroker);
        const token = hs256(claims({ sub: 'alice', subscribe: ['chat.>'], publish: ['chat.>'] }));
        const r = await page.evaluate(async (token) => {
            const c = new window.wsb.WsbClient(undefined, { token: async () => token });
            const got = [];
            c.subscribe('chat.>', (m) => got.push(m.from));
            await c.connect();
            await c.publish('chat.room', 'hi');
            const refused = await c.publish('news.x', 1).then(() => 'stored', (err) => err.code);
            while (got.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
            c.close();
            return { got, refused };
        }, token);
        assert.deepEqual(r, { got: ['alice'], refused: 'forbidden' });
        assertNoPageErrors(page);
        await page.close();
    });
});

describe('wsb.js across broker restarts', () => {
    let broker;
    let browser;
    let page;

    before(async () => {
        broker = await startBroker();
        browser = await launchBrowser();
        page = await wsbPage(browser, broker);
    });

    after(async () => {
        if (page) assertNoPageErrors(page);
        await browser?.close();
        await broker?.cleanup();
    });

    it('reconnects with backoff after a restart and resumes; a new store (epoch) replays from its start', async () => {
        const topic = uniqueName('r.');
        const first = await broker.publish(topic, 'm1');
        await page.evaluate(async (topic) => {
            const c = new window.wsb.WsbClient(undefined, { backoffMin: 100, backoffMax: 800 });
            const st = { c, got: [], acks: [], welcomes: [], states: [] };
            window.t.restart = st;
            c.on('welcome', (w) => st.welcomes.push(w.epoch));
            c.on('state', (s) => st.states.push(s.state));
            c.subscribe(topic, (m) => st.got.push([m.seq, m.data]), { last: 10, onSubscribe: (ack) => st.acks.push(ack) });
            await c.connect();
        }, topic);
        await pageWait(page, () => window.t.restart.got.length === 1);

        await broker.restart(); // SIGTERM: the broker closes with 1001; same database
        const second = await broker.publish(topic, 'm2');
        await pageWait(page, () => window.t.restart.got.length === 2);
        let st = await page.evaluate(() => ({ ...window.t.restart, c: null }));
        assert.deepEqual(st.got, [[first.seq, 'm1'], [second.seq, 'm2']]);
        assert.equal(st.welcomes.length, 2);
        assert.equal(st.welcomes[0], st.welcomes[1], 'same store, same epoch');
        assert.equal(st.acks[1].recovered, true);
        assert.ok(st.states.includes('reconnecting'));

        // A new database: another epoch, seqs start again. The old position
        // means nothing there, so everything the new store has is delivered.
        await broker.restart({ dbName: 'other.db' });
        const third = await broker.publish(topic, 'm3');
        assert.ok(third.seq < second.seq, `a new store numbers from 1 (got ${third.seq})`);
        await pageWait(page, () => window.t.restart.got.length === 3);
        st = await page.evaluate(() => {
            const out = { ...window.t.restart, c: null, seq: window.t.restart.c._subs.values().next().value.seq };
            window.t.restart.c.close();
            return out;
        });
        assert.deepEqual(st.got[2], [third.seq, 'm3']);
        assert.notEqual(st.welcomes[2], st.welcomes[1], 'a new epoch');
        assert.equal(st.acks[2].recovered, false, 'the broker says the resume could not be exact');
        assert.equal(st.seq, third.seq);
    });
});
