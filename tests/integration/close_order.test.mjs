// SPDX-License-Identifier: MIT
// close_order.test.mjs: nothing follows a close frame (RFC 6455 section
// 5.5.1), for the closes the broker starts (1009, 1007) and for the echo of
// the peer's. Messages are written in batches at the end of each loop turn,
// outside lws; a close frame, the broker's own or lws's echo of the peer's,
// must still be the last frame on the wire while messages keep flowing.
// A raw TCP client reads every server frame up to the end of the stream.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import { onCleanup, scaled, startBroker, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { uniqueTopic } from './lib/util.mjs';

// A masked client frame.
function clientFrame(opcode, payload) {
    const body = Buffer.from(payload);
    const len = body.length;
    const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
        : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
    const mask = crypto.randomBytes(4);
    const masked = Buffer.from(body.map((b, i) => b ^ mask[i % 4]));
    return Buffer.concat([head, mask, masked]);
}

// Server frames (unmasked) parsed from the bytes so far: [{opcode, payload}].
function parseFrames(buf) {
    const frames = [];
    let at = 0;
    while (buf.length - at >= 2) {
        let len = buf[at + 1] & 0x7f;
        let off = 2;
        if (len === 126) {
            if (buf.length - at < 4) break;
            len = buf.readUInt16BE(at + 2);
            off = 4;
        } else if (len === 127) {
            if (buf.length - at < 10) break;
            len = Number(buf.readBigUInt64BE(at + 2));
            off = 10;
        }
        if (buf.length - at < off + len) break;
        frames.push({ opcode: buf[at] & 0x0f, payload: buf.subarray(at + off, at + off + len) });
        at += off + len;
    }
    return { frames, rest: buf.length - at };
}

// Opens a raw WebSocket; resolves {sock, bytes()} once the 101 came, with
// every later byte collected.
function rawConnect(t, port) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        onCleanup(t, () => sock.destroy());
        const key = crypto.randomBytes(16).toString('base64');
        let buf = Buffer.alloc(0);
        let upgraded = false;
        const state = { ended: false, bytes: () => buf };
        sock.on('error', () => {});
        sock.on('end', () => { state.ended = true; });
        sock.on('close', () => { state.ended = true; });
        sock.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            if (upgraded) return;
            const end = buf.indexOf('\r\n\r\n');
            if (end < 0) return;
            const head = buf.subarray(0, end).toString();
            if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head));
            upgraded = true;
            buf = buf.subarray(end + 4);
            resolve({ sock, state });
        });
        sock.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
}

// A raw connection subscribed to `topic` (its ack received).
async function rawSubscriber(t, port, topic) {
    const raw = await rawConnect(t, port);
    raw.sock.write(clientFrame(1, JSON.stringify({ op: 'subscribe', id: 1, topic })));
    await waitFor(() => parseFrames(raw.state.bytes()).frames.some(
        (f) => f.opcode === 1 && String(f.payload).includes('"op":"ack"')), { what: 'subscribed' });
    return raw;
}

// Waits for the end of the stream, then: whole frames only, and the close
// frame (with `code`) is the last of them.
async function assertCloseIsLast(raw, code, what) {
    await waitFor(() => raw.state.ended, { what: 'the broker ending the stream', timeoutMs: scaled(10000) });
    const { frames, rest } = parseFrames(raw.state.bytes());
    assert.equal(rest, 0, `${what}: a partial frame at the end`);
    const closeAt = frames.findIndex((f) => f.opcode === 8);
    assert.ok(closeAt >= 0, `${what}: no close frame`);
    assert.equal(closeAt, frames.length - 1, `${what}: ${frames.length - 1 - closeAt} frame(s) after the close frame`);
    assert.equal(frames[closeAt].payload.readUInt16BE(0), code, `${what}: close code`);
}

describe('close frames come last', () => {
    it('a subscriber that closes while messages flow gets the close echo as the last frame', async (t) => {
        const broker = await startBroker({ t });
        const topic = uniqueTopic('co.flow');
        const pub = await connect(broker.url, { t });
        for (let round = 0; round < 20; round++) {
            const raw = await rawSubscriber(t, broker.port, topic);
            // Messages in flight while the close goes out.
            for (let i = 0; i < 200; i++) pub.send({ op: 'publish', topic, data: { i, round } });
            await waitFor(() => parseFrames(raw.state.bytes()).frames.some(
                (f) => String(f.payload).includes('"op":"message"')), { what: 'a first message' });
            raw.sock.write(clientFrame(8, Buffer.from([0x03, 0xe8]))); // close 1000
            await assertCloseIsLast(raw, 1000, `round ${round}`);
        }
        await pub.sync();
    });

    // The broker's own closes: each round a subscriber with messages flowing
    // sends `offending` frames and then 300 pings, answers the close frame,
    // and the close frame must be the last one it received.
    async function closesWhileFlowing(t, { args = [], prefix, code, offending }) {
        const broker = await startBroker({ t, args });
        const topic = uniqueTopic(prefix);
        const pub = await connect(broker.url, { t });
        for (let round = 0; round < 10; round++) {
            const raw = await rawSubscriber(t, broker.port, topic);
            for (let i = 0; i < 100; i++) pub.send({ op: 'publish', topic, data: { i, round } });
            const pings = Array.from({ length: 300 },
                (_, i) => clientFrame(1, JSON.stringify({ op: 'ping', id: i + 3 })));
            raw.sock.write(Buffer.concat([...offending(topic), ...pings]));
            await waitFor(() => parseFrames(raw.state.bytes()).frames.some((f) => f.opcode === 8),
                { what: 'the close frame', timeoutMs: scaled(10000) });
            raw.sock.write(clientFrame(8, Buffer.from([code >> 8, code & 0xff]))); // the answer
            await assertCloseIsLast(raw, code, `round ${round}`);
        }
        await pub.sync();
    }

    it('a message over max_message gets 1009 as the last frame, while messages flow and the peer keeps sending', async (t) => {
        await closesWhileFlowing(t, {
            args: ['--max-message', '1000'], prefix: 'co.big', code: 1009,
            offending: (topic) => [clientFrame(1, JSON.stringify({ op: 'publish', id: 2, topic, data: 'x'.repeat(1001) }))],
        });
    });

    it('invalid UTF-8 gets 1007 as the last frame, while messages flow and the peer keeps sending', async (t) => {
        // An encoded surrogate (ED A0 80) split over two fragments.
        const bad = Buffer.from('{"op":"ping","x":"\xed\xa0\x80"}', 'latin1');
        const first = clientFrame(1, bad.subarray(0, 20));
        first[0] &= 0x7f; // not final: a continuation follows
        await closesWhileFlowing(t, {
            prefix: 'co.utf8', code: 1007,
            offending: () => [first, clientFrame(0, bad.subarray(20))],
        });
    });

    // RFC 6455 section 7.4: a close code a peer may not send is a protocol
    // error, answered with 1002, not echoed; a valid one is echoed.
    it('a close with a code a peer may not send is answered 1002; a valid one is echoed', async (t) => {
        const broker = await startBroker({ t });
        const cases = [[5000, 1002], [65535, 1002], [999, 1002], [1005, 1002], [2999, 1002],
            [1000, 1000], [1011, 1011], [3000, 3000], [4999, 4999]];
        for (const [sent, answer] of cases) {
            const raw = await rawConnect(t, broker.port);
            raw.sock.write(clientFrame(8, Buffer.from([sent >> 8, sent & 0xff, 0x62, 0x79, 0x65])));
            await assertCloseIsLast(raw, answer, `close ${sent}`);
        }
    });
});
