// SPDX-License-Identifier: MIT
// rawws.mjs: a WebSocket client on a bare TCP socket, for the edge cases a
// library client will not produce (control frames between fragments, a
// frame cut off by a TCP reset, arbitrary close codes).
//
// Owns: the opening handshake written by hand, a frame encoder (client
// frames are masked, RFC 6455 section 5.3), a frame decoder for what the
// broker sends (unmasked), and waits with timeouts for frames and for the
// end of the TCP stream. Nothing here sleeps for a fixed time.

import crypto from 'node:crypto';
import net from 'node:net';
import { scaled } from '../../integration/lib/broker.mjs';

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// One client frame: FIN bit, opcode, payload (string or Buffer), masked
// with a random key unless mask is false.
export function encodeFrame({ fin = true, opcode, payload = Buffer.alloc(0), mask = true }) {
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    let head;
    if (body.length < 126) {
        head = Buffer.alloc(2);
        head[1] = body.length;
    } else if (body.length < 65536) {
        head = Buffer.alloc(4);
        head[1] = 126;
        head.writeUInt16BE(body.length, 2);
    } else {
        head = Buffer.alloc(10);
        head[1] = 127;
        head.writeBigUInt64BE(BigInt(body.length), 2);
    }
    head[0] = (fin ? 0x80 : 0) | opcode;
    if (!mask) return Buffer.concat([head, body]);
    head[1] |= 0x80;
    const key = crypto.randomBytes(4);
    const masked = Buffer.alloc(body.length);
    for (let i = 0; i < body.length; i++) masked[i] = body[i] ^ key[i & 3];
    return Buffer.concat([head, key, masked]);
}

// A close frame payload: u16 code and a UTF-8 reason.
export function closePayload(code, reason = '') {
    const r = Buffer.from(reason, 'utf8');
    const out = Buffer.alloc(2 + r.length);
    out.writeUInt16BE(code, 0);
    r.copy(out, 2);
    return out;
}

export class RawSocket {
    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.frames = [];      // every decoded frame, in order
        this.queue = [];       // frames nobody took yet
        this.waiters = [];
        this.ended = false;    // the broker ended or reset the TCP stream
        this.endWaiters = [];
        this.error = null;
        sock.on('data', (d) => this.onData(d));
        const finish = () => {
            if (this.ended) return;
            this.ended = true;
            for (const w of this.waiters) {
                clearTimeout(w.timer);
                w.reject(new Error(`TCP stream ended while waiting for ${w.what}; ${this.recent()}`));
            }
            this.waiters = [];
            for (const resolve of this.endWaiters) resolve();
        };
        sock.on('end', finish);
        sock.on('close', finish);
        sock.on('error', (err) => {
            this.error = err;
        });
    }

    onData(d) {
        this.buf = Buffer.concat([this.buf, d]);
        for (;;) {
            const frame = this.parseOne();
            if (!frame) return;
            this.frames.push(frame);
            const at = this.waiters.findIndex((w) => w.pred(frame));
            if (at >= 0) {
                const [w] = this.waiters.splice(at, 1);
                clearTimeout(w.timer);
                w.resolve(frame);
            } else {
                this.queue.push(frame);
            }
        }
    }

    parseOne() {
        const b = this.buf;
        if (b.length < 2) return null;
        let len = b[1] & 0x7f;
        let at = 2;
        if (len === 126) {
            if (b.length < 4) return null;
            len = b.readUInt16BE(2);
            at = 4;
        } else if (len === 127) {
            if (b.length < 10) return null;
            len = Number(b.readBigUInt64BE(2));
            at = 10;
        }
        const masked = (b[1] & 0x80) !== 0;
        if (masked) at += 4;
        if (b.length < at + len) return null;
        const payload = Buffer.from(b.subarray(at, at + len));
        this.buf = b.subarray(at + len);
        const frame = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload };
        if (frame.opcode === OP.TEXT) {
            try {
                frame.json = JSON.parse(payload.toString('utf8'));
            } catch {
                frame.json = undefined;
            }
        }
        if (frame.opcode === OP.CLOSE) {
            frame.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
            frame.reason = payload.subarray(2).toString('utf8');
        }
        return frame;
    }

    recent(n = 5) {
        const shown = this.frames.slice(-n).map((f) =>
            `op${f.opcode}:${f.payload.toString('utf8').slice(0, 120)}`);
        return `recent frames: ${shown.join(' | ') || '(none)'}`;
    }

    write(bytes) {
        this.sock.write(bytes);
    }

    send(frameSpec) {
        this.write(encodeFrame(frameSpec));
    }

    sendJson(obj) {
        this.send({ opcode: OP.TEXT, payload: JSON.stringify(obj) });
    }

    // The next frame matching pred (earlier untaken frames first).
    next(pred = () => true, { timeoutMs = 5000, what = 'a frame' } = {}) {
        const at = this.queue.findIndex(pred);
        if (at >= 0) return Promise.resolve(this.queue.splice(at, 1)[0]);
        return new Promise((resolve, reject) => {
            if (this.ended) {
                reject(new Error(`TCP stream already ended before ${what}; ${this.recent()}`));
                return;
            }
            const w = { pred, resolve, reject, what, timer: null };
            w.timer = setTimeout(() => {
                this.waiters = this.waiters.filter((x) => x !== w);
                reject(new Error(`timed out after ${scaled(timeoutMs)} ms waiting for ${what}; ${this.recent()}`));
            }, scaled(timeoutMs));
            this.waiters.push(w);
        });
    }

    nextJson(pred, opts) {
        return this.next((f) => f.opcode === OP.TEXT && f.json !== undefined && pred(f.json), opts)
            .then((f) => f.json);
    }

    // Resolves once the broker ended the TCP stream; throws after timeoutMs.
    waitEnded({ timeoutMs = 5000 } = {}) {
        if (this.ended) return Promise.resolve();
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(
                `TCP stream still open after ${scaled(timeoutMs)} ms; ${this.recent()}`)), scaled(timeoutMs));
            this.endWaiters.push(() => {
                clearTimeout(timer);
                resolve();
            });
        });
    }

    destroy() {
        this.sock.destroy();
    }

    // Sends a TCP RST (SO_LINGER 0) instead of a FIN.
    reset() {
        this.sock.resetAndDestroy();
    }
}

// Connects to ws://127.0.0.1:port/ws by hand and resolves a RawSocket once
// the 101 answer arrived (the welcome frame is then the first frame).
export function rawConnect(port, { timeoutMs = 5000, path = '/ws' } = {}) {
    return new Promise((resolve, reject) => {
        const key = crypto.randomBytes(16).toString('base64');
        const expectAccept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
        const sock = net.connect(port, '127.0.0.1');
        let head = Buffer.alloc(0);
        const timer = setTimeout(() => {
            sock.destroy();
            reject(new Error(`no WebSocket handshake answer within ${scaled(timeoutMs)} ms`));
        }, scaled(timeoutMs));
        const onData = (d) => {
            head = Buffer.concat([head, d]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            sock.off('data', onData);
            clearTimeout(timer);
            const text = head.subarray(0, end).toString('latin1');
            const rest = head.subarray(end + 4);
            if (!/^HTTP\/1\.1 101/.test(text) || !text.toLowerCase().includes(expectAccept.toLowerCase())) {
                sock.destroy();
                reject(new Error(`bad handshake answer: ${text.slice(0, 300)}`));
                return;
            }
            const raw = new RawSocket(sock);
            if (rest.length) raw.onData(rest);
            resolve(raw);
        };
        sock.on('data', onData);
        sock.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
        });
        sock.once('connect', () => {
            sock.setNoDelay(true);
            sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
                `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        });
    });
}
