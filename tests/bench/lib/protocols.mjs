// SPDX-License-Identifier: MIT
// protocols.mjs: one client class per broker, each speaking that broker's own
// protocol over WebSocket with the same `ws` package and the same options.
//
// Owns: the wire formats the benchmark needs and nothing more:
//   - wsbroker: JSON text frames (welcome, subscribe/ack, publish/ack, message);
//   - Mosquitto: MQTT 3.1.1 packets written by hand (CONNECT/CONNACK,
//     SUBSCRIBE QoS 0/SUBACK, PUBLISH QoS 0), subprotocol "mqtt", binary frames,
//     parsed as a byte stream (a WebSocket frame may hold several packets or
//     part of one);
//   - nats-server: the NATS text protocol (INFO, CONNECT, SUB, PUB, MSG,
//     PING/PONG), also a byte stream; JetStream publish is a PUB with a reply
//     inbox, answered by a PubAck message on that inbox.
// The common payload (100 bytes of JSON with the publisher's message number
// `n` and send time `t` in µs of CLOCK_MONOTONIC, shared by all processes of
// this machine) and its cheap reader.
//
// Every client has the same surface: open(), subscribe(topic),
// publish(topic, payload), publishAcked(topic, payload, key), close(), and
// the callbacks onDelivery(buf, start, end), onPubAck(ok, why), onClose().

import WebSocket from 'ws';

export const KINDS = ['wsbroker', 'mosquitto', 'nats'];

// The same client options for the three: no compression (wsbroker would
// otherwise lose its batched raw writes and the others do not offer it by
// default), no UTF-8 check of text frames (only wsbroker sends text), all
// messages of one read emitted in the same turn.
const WS_OPTIONS = {
    perMessageDeflate: false,
    skipUTF8Validation: true,
    allowSynchronousEvents: true,
    handshakeTimeout: 30000,
};

// ---------------------------------------------------------------- payload

const PAD = 'x'.repeat(1024);

// A JSON object of exactly `size` bytes (for size >= ~40):
// {"n":<n>,"t":<t>,"p":"xxx..."}
export function payloadMake(n, tUs, size) {
    const head = `{"n":${n},"t":${tUs},"p":"`;
    const padLen = Math.max(0, size - head.length - 2);
    return head + PAD.slice(0, padLen) + '"}';
}

export function nowUs() {
    const [s, ns] = process.hrtime();
    return s * 1e6 + Math.floor(ns / 1000);
}

const N_KEY = Buffer.from('"n":');
const T_KEY = Buffer.from('"t":');

function digitsRead(buf, i, end) {
    while (i < end && buf[i] === 0x20) i++;
    let value = 0;
    for (; i < end; i++) {
        const d = buf[i] - 48;
        if (d < 0 || d > 9) break;
        value = value * 10 + d;
    }
    return value;
}

// Reads n and t of a payload lying in buf[start, end); -1 when absent.
export function payloadRead(buf, start, end, out) {
    const ni = buf.indexOf(N_KEY, start);
    out.n = ni >= 0 && ni < end ? digitsRead(buf, ni + 4, end) : -1;
    const ti = ni >= 0 ? buf.indexOf(T_KEY, ni) : -1;
    out.t = ti >= 0 && ti < end ? digitsRead(buf, ti + 4, end) : -1;
    return out;
}

// ---------------------------------------------------------------- common

let clientCounter = 0;

function uniqueName(prefix) {
    clientCounter += 1;
    return `${prefix}${process.pid}x${clientCounter}`;
}

function startsWith(buf, prefix) {
    if (buf.length < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (buf[i] !== prefix[i]) return false;
    return true;
}

class Client {
    constructor(url, subprotocol) {
        this.url = url;
        this.subprotocol = subprotocol;
        this.ws = null;
        this.closed = false;
        this.corked = false;
        this.onDelivery = () => {};
        this.onPubAck = () => {};
        this.onClose = () => {};
        this.closeInfo = null;
    }

    // Resolves once the WebSocket is open; the subclass then does its own
    // handshake.
    wsOpen() {
        return new Promise((resolve, reject) => {
            const ws = this.subprotocol
                ? new WebSocket(this.url, this.subprotocol, WS_OPTIONS)
                : new WebSocket(this.url, WS_OPTIONS);
            this.ws = ws;
            let opened = false;
            ws.on('open', () => {
                opened = true;
                resolve();
            });
            ws.on('message', (data, isBinary) => this.received(data, isBinary));
            ws.on('error', (err) => {
                if (!opened) reject(err);
            });
            ws.on('close', (code, reason) => {
                this.closed = true;
                this.closeInfo = `${code} ${reason}`;
                if (!opened) reject(new Error(`closed before open: ${code}`));
                this.failPending(new Error(`connection closed: ${code} ${reason}`));
                this.onClose(code, String(reason));
            });
        });
    }

    // Sends one frame; frames sent in the same turn of the event loop leave
    // in one write (the socket is corked until the next tick), for every
    // protocol alike.
    send(data) {
        if (this.closed) return;
        const sock = this.ws._socket;
        if (!this.corked && sock) {
            this.corked = true;
            sock.cork();
            process.nextTick(() => {
                this.corked = false;
                sock.uncork();
            });
        }
        this.ws.send(data);
    }

    close() {
        if (this.ws && !this.closed) this.ws.terminate();
        this.closed = true;
    }

    failPending() {}
}

// ---------------------------------------------------------------- wsbroker

const WSB_MESSAGE = Buffer.from('{"op":"message"');
const WSB_ACK = Buffer.from('{"op":"ack"');
const ID_KEY = Buffer.from('"id":');

export class WsbrokerClient extends Client {
    constructor(port) {
        super(`ws://127.0.0.1:${port}/ws`, null);
        this.nextId = 1;
        this.pending = new Map();
        this.welcome = null;
    }

    async open() {
        const welcomed = new Promise((resolve, reject) => {
            this.welcome = { resolve, reject };
        });
        welcomed.catch(() => {}); // a close before open rejects it unawaited
        await this.wsOpen();
        await welcomed;
    }

    request(obj) {
        const id = this.nextId++;
        obj.id = id;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            this.send(JSON.stringify(obj));
        });
    }

    subscribe(topic) {
        return this.request({ op: 'subscribe', topic });
    }

    // Fire and forget, as MQTT QoS 0 and a NATS core PUB (no id: no ack).
    publish(topic, payload) {
        this.send(`{"op":"publish","topic":"${topic}","data":${payload}}`);
    }

    // Acked after the commit; `key` makes it idempotent.
    publishAcked(topic, payload, key) {
        const id = this.nextId++;
        const keyPart = key ? `,"key":"${key}"` : '';
        this.send(`{"op":"publish","id":${id},"topic":"${topic}"${keyPart},"data":${payload}}`);
    }

    received(buf) {
        if (startsWith(buf, WSB_MESSAGE)) {
            this.onDelivery(buf, 0, buf.length);
            return;
        }
        if (this.welcome) {
            const w = this.welcome;
            this.welcome = null;
            const frame = JSON.parse(buf.toString());
            if (frame.op === 'welcome') w.resolve(frame);
            else w.reject(new Error(`expected welcome, got ${buf}`));
            return;
        }
        const idAt = buf.indexOf(ID_KEY);
        const id = idAt >= 0 ? digitsRead(buf, idAt + 5, buf.length) : 0;
        const waiter = this.pending.get(id);
        const isAck = startsWith(buf, WSB_ACK);
        if (waiter) {
            this.pending.delete(id);
            const frame = JSON.parse(buf.toString());
            if (isAck) waiter.resolve(frame);
            else waiter.reject(new Error(`${frame.code}: ${frame.message}`));
            return;
        }
        if (isAck) this.onPubAck(true, null);
        else this.onPubAck(false, buf.toString());
    }

    failPending(err) {
        for (const w of this.pending.values()) w.reject(err);
        this.pending.clear();
        if (this.welcome) this.welcome.reject(err);
        this.welcome = null;
    }
}

// ---------------------------------------------------------------- MQTT 3.1.1

function mqttRemainingLength(n) {
    const bytes = [];
    do {
        let b = n % 128;
        n = Math.floor(n / 128);
        if (n > 0) b |= 0x80;
        bytes.push(b);
    } while (n > 0);
    return bytes;
}

function mqttString(s) {
    const body = Buffer.from(s);
    const out = Buffer.alloc(2 + body.length);
    out.writeUInt16BE(body.length, 0);
    body.copy(out, 2);
    return out;
}

function mqttPacket(firstByte, parts) {
    const body = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([firstByte, ...mqttRemainingLength(body.length)]), body]);
}

export class MqttClient extends Client {
    constructor(port) {
        super(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
        this.rest = null;
        this.connack = null;
        this.nextPacketId = 1;
        this.pending = new Map();
        this.topicCache = new Map();
    }

    async open() {
        const acked = new Promise((resolve, reject) => {
            this.connack = { resolve, reject };
        });
        acked.catch(() => {}); // a close before open rejects it unawaited
        await this.wsOpen();
        // CONNECT: "MQTT", level 4, clean session, keep alive 0 (off).
        const variable = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0x02, 0, 0])]);
        this.send(mqttPacket(0x10, [variable, mqttString(uniqueName('b'))]));
        await acked;
    }

    subscribe(topic) {
        const id = this.nextPacketId++;
        const pid = Buffer.alloc(2);
        pid.writeUInt16BE(id, 0);
        const packet = mqttPacket(0x82, [pid, mqttString(topic.replaceAll('.', '/')), Buffer.from([0])]);
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            this.send(packet);
        });
    }

    // PUBLISH QoS 0: fixed header, topic, payload (no packet id).
    publish(topic, payload) {
        let head = this.topicCache.get(topic);
        if (!head) {
            head = mqttString(topic.replaceAll('.', '/'));
            this.topicCache.set(topic, head);
        }
        const body = Buffer.from(payload);
        const rl = mqttRemainingLength(head.length + body.length);
        const out = Buffer.allocUnsafe(1 + rl.length + head.length + body.length);
        out[0] = 0x30;
        for (let i = 0; i < rl.length; i++) out[1 + i] = rl[i];
        head.copy(out, 1 + rl.length);
        body.copy(out, 1 + rl.length + head.length);
        this.send(out);
    }

    publishAcked() {
        throw new Error('Mosquitto has no durable publish acknowledgement');
    }

    received(chunk) {
        const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
        let pos = 0;
        while (pos + 2 <= buf.length) {
            let len = 0;
            let mul = 1;
            let i = pos + 1;
            let complete = false;
            while (i < buf.length && i < pos + 5) {
                const b = buf[i++];
                len += (b & 0x7f) * mul;
                mul *= 128;
                if ((b & 0x80) === 0) {
                    complete = true;
                    break;
                }
            }
            if (!complete || i + len > buf.length) break;
            this.packet(buf, pos, i, i + len);
            pos = i + len;
        }
        this.rest = pos < buf.length ? buf.subarray(pos) : null;
    }

    // One whole packet: first byte at `at`, body in buf[body, end).
    packet(buf, at, body, end) {
        const type = buf[at] >> 4;
        if (type === 3) {
            const qos = (buf[at] >> 1) & 3;
            const topicLen = buf.readUInt16BE(body);
            const start = body + 2 + topicLen + (qos > 0 ? 2 : 0);
            this.onDelivery(buf, start, end);
        } else if (type === 2) {
            const w = this.connack;
            this.connack = null;
            if (!w) return;
            if (buf[body + 1] === 0) w.resolve();
            else w.reject(new Error(`CONNACK return code ${buf[body + 1]}`));
        } else if (type === 9) {
            const id = buf.readUInt16BE(body);
            const w = this.pending.get(id);
            if (!w) return;
            this.pending.delete(id);
            if (buf[body + 2] === 0x80) w.reject(new Error('SUBACK failure'));
            else w.resolve();
        }
    }

    failPending(err) {
        for (const w of this.pending.values()) w.reject(err);
        this.pending.clear();
        if (this.connack) this.connack.reject(err);
        this.connack = null;
    }
}

// ---------------------------------------------------------------- NATS

const CRLF = Buffer.from('\r\n');
const OP_MSG = Buffer.from('MSG ');
const OP_PING = Buffer.from('PING');
const OP_PONG = Buffer.from('PONG');
const OP_INFO = Buffer.from('INFO');
const OP_ERR = Buffer.from('-ERR');
const JS_ERROR = Buffer.from('"error"');

export class NatsClient extends Client {
    constructor(port) {
        super(`ws://127.0.0.1:${port}/`, null);
        this.rest = null;
        this.need = -1; // payload bytes awaited after a MSG line, -1: none
        this.msgSid = 0;
        this.pongs = [];
        this.info = null;
        this.nextSid = 2;
        this.inbox = null; // JetStream reply subject, sid 1
        this.errors = [];
    }

    async open() {
        const informed = new Promise((resolve, reject) => {
            this.info = { resolve, reject };
        });
        informed.catch(() => {}); // a close before open rejects it unawaited
        await this.wsOpen();
        await informed;
        this.send('CONNECT {"verbose":false,"pedantic":false}\r\n');
        await this.ping();
    }

    // Resolves when the server answered PONG: everything sent before was
    // processed (the NATS way to confirm a SUB).
    ping() {
        return new Promise((resolve, reject) => {
            this.pongs.push({ resolve, reject });
            this.send('PING\r\n');
        });
    }

    subscribe(topic) {
        this.send(`SUB ${topic} ${this.nextSid++}\r\n`);
        return this.ping();
    }

    publish(topic, payload) {
        this.send(`PUB ${topic} ${payload.length}\r\n${payload}\r\n`);
    }

    // JetStream: the stream captures the subject and answers the reply
    // inbox with a PubAck ({"stream":..,"seq":..}) or {"error":..}.
    async inboxOpen() {
        this.inbox = uniqueName('_INBOX.b');
        this.send(`SUB ${this.inbox} 1\r\n`);
        await this.ping();
    }

    publishAcked(topic, payload) {
        this.send(`PUB ${topic} ${this.inbox} ${payload.length}\r\n${payload}\r\n`);
    }

    // A request on the JetStream API; resolves with the parsed reply.
    async jsRequest(subject, obj) {
        if (!this.inbox) await this.inboxOpen();
        const body = JSON.stringify(obj);
        return new Promise((resolve) => {
            const previous = this.onPubAck;
            this.onPubAck = (ok, why, text) => {
                this.onPubAck = previous;
                resolve(JSON.parse(text));
            };
            this.send(`PUB ${subject} ${this.inbox} ${Buffer.byteLength(body)}\r\n${body}\r\n`);
        });
    }

    received(chunk) {
        const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
        let pos = 0;
        while (pos < buf.length) {
            if (this.need >= 0) {
                if (buf.length - pos < this.need + 2) break;
                this.message(buf, pos, pos + this.need);
                pos += this.need + 2;
                this.need = -1;
                continue;
            }
            const eol = buf.indexOf(CRLF, pos);
            if (eol < 0) break;
            this.line(buf, pos, eol);
            pos = eol + 2;
        }
        this.rest = pos < buf.length ? buf.subarray(pos) : null;
    }

    // MSG <subject> <sid> [reply] <#bytes>; the fields may be separated by
    // more than one space (JetStream acks come as "MSG s 1  27").
    line(buf, start, end) {
        if (buf.compare(OP_MSG, 0, 4, start, start + 4) === 0) {
            let i = end - 1;
            while (i > start && buf[i] !== 0x20) i--;
            this.need = digitsRead(buf, i + 1, end);
            let s = start + 4;
            while (buf[s] !== 0x20) s++;
            this.msgSid = digitsRead(buf, s + 1, end);
        } else if (buf.compare(OP_PING, 0, 4, start, start + 4) === 0) {
            this.send('PONG\r\n');
        } else if (buf.compare(OP_PONG, 0, 4, start, start + 4) === 0) {
            const w = this.pongs.shift();
            if (w) w.resolve();
        } else if (buf.compare(OP_INFO, 0, 4, start, start + 4) === 0) {
            const w = this.info;
            this.info = null;
            if (w) w.resolve();
        } else if (buf.compare(OP_ERR, 0, 4, start, start + 4) === 0) {
            this.errors.push(buf.toString('utf8', start, end));
        }
    }

    message(buf, start, end) {
        if (this.msgSid === 1) {
            const bad = buf.indexOf(JS_ERROR, start);
            const ok = bad < 0 || bad >= end;
            this.onPubAck(ok, ok ? null : 'JetStream error', buf.toString('utf8', start, end));
        } else {
            this.onDelivery(buf, start, end);
        }
    }

    failPending(err) {
        for (const w of this.pongs) w.reject(err);
        this.pongs = [];
        if (this.info) this.info.reject(err);
        this.info = null;
    }
}

export function clientMake(kind, port) {
    if (kind === 'wsbroker') return new WsbrokerClient(port);
    if (kind === 'mosquitto') return new MqttClient(port);
    if (kind === 'nats') return new NatsClient(port);
    throw new Error(`unknown broker kind ${kind}`);
}
