// SPDX-License-Identifier: MIT
// client.mjs: a small promise-based WebSocket client for the wsbroker protocol.
//
// Owns: connecting (resolves after the `welcome` frame), request/reply by
// id, waiting for frames that match a predicate (frames that arrived before
// anyone waited are buffered), binary frame encoding and decoding
// ([u16 BE length][JSON envelope][payload]) and the close code and reason.
//
// Every wait has a timeout; nothing here sleeps for a fixed time. To show
// that a frame did NOT arrive, call sync(): a ping with an id is answered in
// order, so anything the broker sent before the pong has arrived by then.

import WebSocket from 'ws';
import { onCleanup, scaled } from './broker.mjs';
import { schemaErrors, validateServerFrame } from './schema.mjs';
import { Waiters } from './waiters.mjs';

const DEFAULT_TIMEOUT_MS = 5000;

export function encodeBinary(envelope, payload) {
    const env = Buffer.from(JSON.stringify(envelope), 'utf8');
    if (env.length > 0xffff) throw new Error('envelope too long for a binary frame');
    const head = Buffer.alloc(2);
    head.writeUInt16BE(env.length, 0);
    return Buffer.concat([head, env, Buffer.from(payload)]);
}

// A binary frame becomes its envelope object plus `payload` (a Buffer) and
// `binary: true`.
export function decodeBinary(buf) {
    if (buf.length < 2) throw new Error(`binary frame of ${buf.length} bytes`);
    const len = buf.readUInt16BE(0);
    if (2 + len > buf.length) throw new Error(`binary envelope length ${len} > frame`);
    const env = JSON.parse(buf.subarray(2, 2 + len).toString('utf8'));
    return { ...env, payload: Buffer.from(buf.subarray(2 + len)), binary: true };
}

function describe(frame) {
    const shown = frame.payload ? { ...frame, payload: `<${frame.payload.length} bytes>` } : frame;
    const text = JSON.stringify(shown);
    return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

export class Client {
    constructor(ws) {
        this.ws = ws;
        this.log = [];       // every decoded frame, in arrival order
        this.queue = [];     // frames nobody has taken yet
        this.waiters = new Waiters();
        this.pending = new Map(); // id -> {resolve, reject, timer}
        this.nextId = 1;
        this.errors = [];
        this.closeInfo = null;
        this.welcome = null;
        this.closed = new Promise((resolve) => {
            this.resolveClosed = resolve;
        });
        ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
        ws.on('error', (err) => this.errors.push(err));
        ws.on('close', (code, reason) => this.onClose(code, reason.toString('utf8')));
    }

    get isOpen() {
        return this.ws.readyState === WebSocket.OPEN;
    }

    onFrame(data, isBinary) {
        let frame;
        try {
            frame = isBinary ? decodeBinary(data) : JSON.parse(data.toString('utf8'));
        } catch (err) {
            frame = { op: '__undecodable__', binary: isBinary, raw: data.toString('hex'), error: err.message };
        }
        if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
            frame = { op: '__not_an_object__', value: frame };
        }
        this.log.push(frame);
        if (!isBinary && frame.op !== '__undecodable__' && !validateServerFrame(frame)) {
            // A frame outside schema/envelope.schema.json fails the test that got it.
            const err = new Error(`frame does not match schema/envelope.schema.json `
                + `(${schemaErrors(validateServerFrame)}): ${data.toString('utf8').slice(0, 300)}`);
            this.errors.push(err);
            queueMicrotask(() => { throw err; });
        }
        const isReply = frame.op === 'ack' || frame.op === 'error' || frame.op === 'pong';
        if (isReply && typeof frame.id === 'number' && this.pending.has(frame.id)) {
            const p = this.pending.get(frame.id);
            this.pending.delete(frame.id);
            clearTimeout(p.timer);
            p.resolve(frame);
            return;
        }
        if (!this.waiters.offer(frame)) this.queue.push(frame);
    }

    onClose(code, reason) {
        this.closeInfo = { code, reason };
        const err = new Error(`connection closed (${code} ${reason})`);
        err.closeInfo = this.closeInfo;
        for (const [, p] of this.pending) {
            clearTimeout(p.timer);
            p.reject(err);
        }
        this.pending.clear();
        this.waiters.failAll((what) => new Error(`${err.message} while waiting for ${what}; recent frames: ` +
            this.recent()));
        this.resolveClosed(this.closeInfo);
    }

    recent(n = 5) {
        return this.log.slice(-n).map(describe).join(' | ') || '(none)';
    }

    // Sends a JSON object (stringified), a string (as a text frame) or a
    // Buffer (binary unless {binary:false}).
    send(data, { binary } = {}) {
        if (Buffer.isBuffer(data)) {
            this.ws.send(data, { binary: binary ?? true });
        } else if (typeof data === 'string') {
            this.ws.send(data, { binary: false });
        } else {
            this.ws.send(JSON.stringify(data), { binary: false });
        }
    }

    waitReply(id, what, timeoutMs) {
        return new Promise((resolve, reject) => {
            if (!this.isOpen) {
                reject(new Error(`connection not open (${JSON.stringify(this.closeInfo)}) for ${what}`));
                return;
            }
            const timer = setTimeout(() => {
                this.pending.delete(id);
                reject(new Error(`no reply within ${scaled(timeoutMs)} ms to ${what}; recent frames: ` +
                    this.recent()));
            }, scaled(timeoutMs));
            this.pending.set(id, { resolve, reject, timer });
        });
    }

    // Sends obj with a fresh id; resolves with the `ack`, `error` or `pong`
    // carrying that id.
    request(obj, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
        const id = this.nextId++;
        const msg = { ...obj, id };
        const reply = this.waitReply(id, JSON.stringify(msg).slice(0, 200), timeoutMs);
        if (this.isOpen) this.send(msg);
        return reply;
    }

    // Like request(), but throws unless the reply is an `ack`.
    async ok(obj, opts) {
        const reply = await this.request(obj, opts);
        if (reply.op !== 'ack') {
            throw new Error(`expected ack for ${JSON.stringify(obj).slice(0, 200)}, got ${describe(reply)}`);
        }
        return reply;
    }

    // Sends a binary frame with `envelope` (an id is added) and `payload`.
    requestBinary(envelope, payload, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
        const id = this.nextId++;
        const env = { ...envelope, id };
        const reply = this.waitReply(id, `binary ${JSON.stringify(env)}`, timeoutMs);
        if (this.isOpen) this.send(encodeBinary(env, payload));
        return reply;
    }

    // Resolves with the next frame matching pred (earlier unclaimed frames
    // first), and removes it from the buffer.
    next(pred = () => true, { timeoutMs = DEFAULT_TIMEOUT_MS, what } = {}) {
        return this.nextWithin(pred, scaled(timeoutMs), what ?? pred.toString().slice(0, 120));
    }

    // next() with a timeout that is already scaled.
    nextWithin(pred, ms, label) {
        const at = this.queue.findIndex(pred);
        if (at >= 0) return Promise.resolve(this.queue.splice(at, 1)[0]);
        if (this.closeInfo) {
            return Promise.reject(new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) ` +
                `before ${label}; recent frames: ${this.recent()}`));
        }
        return this.waiters.wait(pred, ms, label,
            () => `timed out after ${ms} ms waiting for ${label}; recent frames: ${this.recent()}`);
    }

    nextMessage(pred = () => true, timeoutMs = DEFAULT_TIMEOUT_MS) {
        return this.next((f) => f.op === 'message' && pred(f), { timeoutMs });
    }

    // Collects `count` frames matching pred, in arrival order.
    async collect(pred, count, { timeoutMs = DEFAULT_TIMEOUT_MS, what } = {}) {
        const deadline = Date.now() + scaled(timeoutMs);
        const out = [];
        while (out.length < count) {
            const left = Math.max(1, deadline - Date.now());
            out.push(await this.nextWithin(pred, left, `${what ?? 'frame'} #${out.length + 1} of ${count}`));
        }
        return out;
    }

    // Collects matching frames until one satisfies `until` (included).
    async collectUntil(pred, until, { timeoutMs = DEFAULT_TIMEOUT_MS, what = 'the last frame' } = {}) {
        const out = [];
        const deadline = Date.now() + scaled(timeoutMs);
        for (;;) {
            const left = Math.max(1, deadline - Date.now());
            const frame = await this.nextWithin(pred, left, what);
            out.push(frame);
            if (until(frame)) return out;
        }
    }

    // Removes and returns every buffered frame matching pred.
    take(pred = () => true) {
        const hit = this.queue.filter(pred);
        this.queue = this.queue.filter((f) => !pred(f));
        return hit;
    }

    // Buffered frames matching pred (not removed).
    peek(pred = () => true) {
        return this.queue.filter(pred);
    }

    // Round trip: a ping with an id and its pong.
    async sync({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
        const pong = await this.request({ op: 'ping' }, { timeoutMs });
        if (pong.op !== 'pong') throw new Error(`expected pong, got ${describe(pong)}`);
        return pong;
    }

    // Resolves {code, reason} once closed; throws after timeoutMs.
    waitClosed({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(
                `connection not closed within ${scaled(timeoutMs)} ms; recent frames: ${this.recent()}`)),
            scaled(timeoutMs));
        });
        return Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
    }

    async close() {
        if (this.closeInfo) return this.closeInfo;
        this.ws.close(1000);
        try {
            return await this.waitClosed({ timeoutMs: 2000 });
        } catch {
            this.ws.terminate();
            return this.closed;
        }
    }

    terminate() {
        if (!this.closeInfo) this.ws.terminate();
    }
}

// Opens a connection; resolves with a Client once the `welcome` frame (which
// must be the first frame) arrived. Options:
//   protocols: sub-protocols to request (e.g. 'wsb.v1')
//   deflate:   offer permessage-deflate (default false)
//   autoPong:  answer WebSocket pings (default true)
//   t:         a node:test context: the connection is terminated in t.after()
export async function connect(url, {
    protocols, deflate = false, autoPong = true, t, timeoutMs = DEFAULT_TIMEOUT_MS,
} = {}) {
    const ws = new WebSocket(url, protocols ?? [], {
        perMessageDeflate: deflate,
        autoPong,
        handshakeTimeout: scaled(timeoutMs),
        maxPayload: 256 * 1024 * 1024,
    });
    const client = new Client(ws);
    if (t) onCleanup(t, () => client.terminate());
    const failed = new Promise((_, reject) => {
        ws.once('unexpected-response', (req, res) => {
            reject(new Error(`handshake answered HTTP ${res.statusCode}`));
            req.destroy();
        });
        ws.once('error', (err) => reject(err));
        client.closed.then((info) => reject(new Error(`closed before welcome: ${JSON.stringify(info)}`)));
    });
    failed.catch(() => {});
    let first;
    try {
        first = await Promise.race([client.next(() => true, { timeoutMs, what: 'welcome' }), failed]);
    } catch (err) {
        client.terminate();
        throw err;
    }
    if (first.op !== 'welcome') {
        client.terminate();
        throw new Error(`first frame is not welcome: ${describe(first)}`);
    }
    client.welcome = first;
    return client;
}
