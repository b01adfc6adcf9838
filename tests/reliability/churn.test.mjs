// SPDX-License-Identifier: MIT
// churn.test.mjs: WebSocket edge cases and connection churn that the
// integration suite does not cover (RFC 6455; docs/protocol.md sections 1, 7).
//
//   - control frames (ping, unsolicited pong, close) between the fragments
//     of a fragmented message, on a raw TCP socket with hand-made frames;
//   - TCP resets mid-frame, mid-handshake and under a pending backlog
//     while other clients keep publishing and receiving;
//   - close handshakes with each client code: valid codes are echoed,
//     invalid ones answered with 1002, and the TCP stream then ends;
//   - 1000 connects and disconnects (clean close, FIN, RST, no handshake)
//     in a loop bounded in time while a subscriber receives every message;
//     afterwards /api/stats shows the baseline connection count and the
//     broker's open fds (/proc/PID/fd) are back to where they started.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startBroker, waitFor } from '../integration/lib/broker.mjs';
import { connect } from '../integration/lib/client.mjs';
import { fdCount, stats } from './lib/common.mjs';
import { OP, closePayload, rawConnect } from './lib/rawws.mjs';

// Publishes `n` messages on `topic` one after another; resolves their acks.
async function publishSome(pub, topic, n, tag) {
    const acks = [];
    for (let i = 0; i < n; i++) acks.push(await pub.ok({ op: 'publish', topic, data: { tag, i } }));
    return acks;
}

async function expectSeqs(sub, topic, acks, what) {
    const got = await sub.collect((f) => f.op === 'message' && f.topic === topic, acks.length, { timeoutMs: 10000, what });
    assert.deepEqual(got.map((m) => m.seq), acks.map((a) => a.seq), what);
}

describe('websocket edge cases', () => {
    it('control frames between fragments: ping answered mid-message, pong ignored, message intact', async (t) => {
        const broker = await startBroker({ t });
        const topic = 'ch.frag.a';
        const sub = await connect(broker.url, { t });
        await sub.ok({ op: 'subscribe', topic });
        const raw = await rawConnect(broker.port);
        t.after(() => raw.destroy());
        const welcome = await raw.nextJson((j) => j.op === 'welcome');
        assert.equal(welcome.op, 'welcome');

        const data = { text: 'é€'.repeat(200), n: 42 };
        const bytes = Buffer.from(JSON.stringify({ op: 'publish', id: 7, topic, data }), 'utf8');
        // Cut inside a multi-byte UTF-8 character on purpose (a fragment
        // boundary need not be a character boundary).
        const cuts = [0, 45, 301, 302, 700, bytes.length];
        raw.send({ fin: false, opcode: OP.TEXT, payload: bytes.subarray(cuts[0], cuts[1]) });
        raw.send({ opcode: OP.PING, payload: 'mid-1' });
        const pong1 = await raw.next((f) => f.opcode === OP.PONG, { what: 'pong to a ping between fragments' });
        assert.equal(pong1.payload.toString(), 'mid-1', 'the pong echoes the ping payload');
        raw.send({ fin: false, opcode: OP.CONT, payload: bytes.subarray(cuts[1], cuts[2]) });
        raw.send({ opcode: OP.PONG, payload: 'unsolicited' });
        raw.send({ fin: false, opcode: OP.CONT, payload: bytes.subarray(cuts[2], cuts[3]) });
        raw.send({ opcode: OP.PING, payload: Buffer.alloc(125, 0x41) }); // the largest control payload
        const pong2 = await raw.next((f) => f.opcode === OP.PONG, { what: 'pong to a 125-byte ping' });
        assert.equal(pong2.payload.length, 125);
        raw.send({ fin: false, opcode: OP.CONT, payload: bytes.subarray(cuts[3], cuts[4]) });
        raw.send({ fin: true, opcode: OP.CONT, payload: bytes.subarray(cuts[4], cuts[5]) });
        const ack = await raw.nextJson((j) => j.id === 7, { what: 'ack of the fragmented publish' });
        assert.equal(ack.op, 'ack', JSON.stringify(ack));
        const m = await sub.nextMessage((f) => f.seq === ack.seq);
        assert.deepEqual(m.data, data, 'the reassembled message');

        // The connection still works, and a close between fragments ends it cleanly.
        raw.sendJson({ op: 'ping', id: 8 });
        assert.equal((await raw.nextJson((j) => j.id === 8)).op, 'pong');
        raw.send({ fin: false, opcode: OP.TEXT, payload: '{"op":"publish","id":9,' });
        raw.send({ opcode: OP.CLOSE, payload: closePayload(1000, 'mid-message') });
        const close = await raw.next((f) => f.opcode === OP.CLOSE, { what: 'close answer' });
        assert.equal(close.code, 1000);
        await raw.waitEnded();
        assert.ok(!raw.frames.some((f) => f.json?.id === 9), 'the unfinished message was executed');
        await sub.sync();
    });

    it('TCP resets mid-frame, mid-handshake and with a pending backlog leave other clients unaffected', async (t) => {
        const broker = await startBroker({ t });
        const topic = 'ch.rst.a';
        const sub = await connect(broker.url, { t });
        await sub.ok({ op: 'subscribe', topic });
        const pub = await connect(broker.url, { t });
        const base = (await stats(broker.http)).connections;
        await expectSeqs(sub, topic, await publishSome(pub, topic, 20, 'before'), 'before the resets');

        // Mid-frame: a 2000-byte frame announced, 500 bytes sent, then RST.
        const a = await rawConnect(broker.port);
        await a.next(() => true, { what: 'welcome' });
        const frame = Buffer.concat([Buffer.from([0x81, 0xfe, 0x07, 0xd0]), Buffer.alloc(4), Buffer.alloc(500, 0x20)]);
        a.write(frame);
        // Mid-handshake: half an HTTP upgrade request, then RST.
        const b = net.connect(broker.port, '127.0.0.1');
        b.on('error', () => {});
        await new Promise((resolve, reject) => b.once('connect', resolve).once('error', reject));
        b.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Up');
        // A subscriber that stops reading while messages pile up, then RST.
        const c = await rawConnect(broker.port);
        await c.next(() => true, { what: 'welcome' });
        c.sendJson({ op: 'subscribe', id: 1, topic });
        await c.nextJson((j) => j.id === 1);
        c.sock.pause();
        const during = publishSome(pub, topic, 200, 'during');
        await waitFor(async () => (await stats(broker.http)).counters.messages_delivered >= 60,
            { what: 'deliveries under way' });
        a.reset();
        b.resetAndDestroy();
        c.reset();
        await expectSeqs(sub, topic, await during, 'while the others were reset');
        await expectSeqs(sub, topic, await publishSome(pub, topic, 20, 'after'), 'after the resets');
        await waitFor(async () => (await stats(broker.http)).connections === base,
            { what: `connections back to ${base}` });
        assert.equal(broker.exit, null, 'the broker died');
    });

    it('close handshakes: valid codes echoed, invalid ones answered 1002, then the TCP stream ends', async (t) => {
        const broker = await startBroker({ t });
        const cases = [
            [1000, 1000], [1001, 1001], [1002, 1002], [1003, 1003], [1007, 1007], [1008, 1008],
            [1011, 1011], [3000, 3000], [4000, 4000], [4001, 4001], [4029, 4029], [4999, 4999],
            [999, 1002], [1004, 1002], [1005, 1002], [1006, 1002], [1015, 1002], [1016, 1002], [2999, 1002],
            [null, null], // a close frame without a code
        ];
        for (const [sent, expected] of cases) {
            const raw = await rawConnect(broker.port);
            await raw.next(() => true, { what: 'welcome' });
            raw.send({ opcode: OP.CLOSE, payload: sent === null ? Buffer.alloc(0) : closePayload(sent, 'bye') });
            const close = await raw.next((f) => f.opcode === OP.CLOSE, { what: `close answer to ${sent}` });
            assert.equal(close.code, expected, `close ${sent} answered with ${close.code}`);
            await raw.waitEnded({ timeoutMs: 5000 });
            raw.destroy();
        }
        // The library client sees a clean close for each application code.
        for (const code of [1000, 4000, 4321]) {
            const c = await connect(broker.url, { t });
            c.ws.close(code, 'done');
            const info = await c.waitClosed();
            assert.equal(info.code, code, `ws close ${code}: ${JSON.stringify(info)}`);
        }
        await waitFor(async () => (await stats(broker.http)).connections === 0, { what: 'no connection left' });
    });

    it('1000 connects and disconnects while a subscriber receives every message; no connection or fd leak',
        { timeout: 120000 }, async (t) => {
            const broker = await startBroker({ t });
            const topic = 'ch.churn.a';
            const sub = await connect(broker.url, { t });
            await sub.ok({ op: 'subscribe', topic });
            const pub = await connect(broker.url, { t });
            // Warm up once (lazily created fds), then take the baseline.
            const warm = await connect(broker.url);
            await warm.close();
            await waitFor(async () => (await stats(broker.http)).connections === 2, { what: 'warm-up closed' });
            const pid = broker.proc.pid;
            const fdBase = fdCount(pid);
            const connBase = (await stats(broker.http)).connections;

            let churning = true;
            const acks = [];
            let i = 0;
            const publishLane = async () => {
                while (churning) acks.push(await pub.ok({ op: 'publish', topic, data: { i: i++ } }, { timeoutMs: 20000 }));
            };
            const publishing = Promise.all(Array.from({ length: 4 }, publishLane));

            const TOTAL = 1000;
            const LANES = 8;
            const deadline = Date.now() + 90000;
            const kinds = { close: 0, fin: 0, rst: 0, nohandshake: 0 };
            let next = 0;
            const lane = async () => {
                while (next < TOTAL) {
                    assert.ok(Date.now() < deadline, `churn not done in 90 s (${next} of ${TOTAL})`);
                    const i = next++;
                    switch (i % 4) {
                    case 0: { // clean close handshake
                        const c = await connect(broker.url);
                        const info = await c.close();
                        assert.equal(info.code, 1000, `clean close ${i}: ${JSON.stringify(info)}`);
                        kinds.close++;
                        break;
                    }
                    case 1: { // subscribe, then drop the TCP connection (FIN)
                        const c = await connect(broker.url);
                        await c.ok({ op: 'subscribe', topic });
                        c.ws.terminate();
                        kinds.fin++;
                        break;
                    }
                    case 2: { // raw client, reset after the welcome
                        const r = await rawConnect(broker.port);
                        await r.next(() => true, { what: 'welcome' });
                        r.reset();
                        kinds.rst++;
                        break;
                    }
                    default: { // TCP connection that never upgrades
                        const s = net.connect(broker.port, '127.0.0.1');
                        s.on('error', () => {});
                        await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject));
                        s.destroy();
                        kinds.nohandshake++;
                    }
                    }
                }
            };
            const started = Date.now();
            await Promise.all(Array.from({ length: LANES }, lane));
            const churnMs = Date.now() - started;
            churning = false;
            await publishing;
            acks.sort((x, y) => x.seq - y.seq);

            const got = await sub.collect((f) => f.op === 'message', acks.length, { timeoutMs: 20000, what: 'churn message' });
            assert.deepEqual(got.map((m) => m.seq), acks.map((a) => a.seq), 'the subscriber missed or reordered messages');
            await sub.sync();
            assert.equal(sub.peek((f) => f.op === 'message').length, 0, 'extra messages');

            await waitFor(async () => (await stats(broker.http)).connections === connBase,
                { timeoutMs: 15000, what: `connections back to ${connBase}` });
            let fdNow = null;
            await waitFor(() => {
                fdNow = fdCount(pid);
                return fdNow <= fdBase + 2;
            }, { timeoutMs: 15000, what: `broker fds back near ${fdBase}` }).catch((err) => {
                throw new Error(`${err.message}: ${fdNow} open now`);
            });
            t.diagnostic(`${TOTAL} connects in ${churnMs} ms (${JSON.stringify(kinds)}), ${acks.length} messages ` +
                `delivered meanwhile; connections ${connBase} -> ${connBase}; fds ${fdBase} -> ${fdNow}`);
            assert.equal(broker.exit, null, 'the broker died');
        });
});
