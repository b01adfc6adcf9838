// SPDX-License-Identifier: MIT
/**
 * wsb-wire.js: what wsb.js (the browser client) needs of the wire format,
 * apart from the connection: the error type, topic matching, the binary
 * frame layout, base64 messages, the reconnect backoff (over one broker URL
 * or a list of them) and URL rules.
 *
 * Pure functions, no state: each can be tested alone (tests/browser/
 * wsb.test.mjs) and wsb.js re-exports the public ones, so applications
 * import only '/wsb.js'. The contract is docs/protocol.md (sections 2, 5
 * and 10).
 */

/** Largest JSON envelope of a binary frame: its length is a u16. */
const MAX_BINARY_HEADER = 0xffff;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/**
 * An `error` reply of the broker, or a client-side failure (`code` "closed").
 * A `conflict` (a publish whose `expectLast` did not hold) carries `last`,
 * the topic's newest seq.
 */
export class WsbError extends Error {
    /**
     * @param {string} code    a docs/protocol.md section 7 code, or "closed"
     * @param {string} message
     * @param {number} [last]  conflict: the topic's newest seq
     */
    constructor(code, message, last) {
        super(message || code);
        this.name = 'WsbError';
        this.code = code;
        if (last !== undefined) this.last = last;
    }
}

/**
 * True when topic name `name` matches subscription `pattern` (docs/protocol.md
 * section 5): `*` is one whole segment, a final `>` one or more segments, and
 * a wildcard in the first segment never matches a `$` name.
 * @param {string} pattern
 * @param {string} name
 * @returns {boolean}
 */
export function topicMatches(pattern, name) {
    const p = pattern.split('.');
    const n = name.split('.');
    if (name.startsWith('$') && (p[0] === '*' || p[0] === '>')) return false;
    for (let i = 0; i < p.length; i++) {
        if (p[i] === '>') return i === p.length - 1 && n.length > i;
        if (i >= n.length) return false;
        if (p[i] !== '*' && p[i] !== n[i]) return false;
    }
    return p.length === n.length;
}

/**
 * Reconnect delay before attempt number `attempt` (0 for the first retry):
 * the exponential step min * 2^attempt, capped at max, with "equal jitter"
 * (a uniform random point in the upper half of the step), so that many
 * clients cut at once do not come back at once.
 * @param {number} attempt
 * @param {number} min
 * @param {number} max
 * @param {() => number} [random=Math.random]
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, min, max, random = Math.random) {
    const step = Math.min(max, min * 2 ** Math.min(attempt, 30));
    return step / 2 + random() * (step / 2);
}

/**
 * Reconnect delay before attempt number `attempt` over a list of `count`
 * broker URLs tried round robin: moving on to the next URL within a round
 * waits only a jitter of up to `min`, so a client whose broker died is on
 * another one at once and a crowd of them arrives spread out; the backoff
 * steps once per full round of failed attempts. With one URL every attempt
 * is a round: backoffDelay(attempt).
 * @param {number} attempt
 * @param {number} count
 * @param {number} min
 * @param {number} max
 * @param {() => number} [random=Math.random]
 * @returns {number} milliseconds
 */
export function failoverDelay(attempt, count, min, max, random = Math.random) {
    if (count > 1 && (attempt + 1) % count !== 0) return random() * min;
    return backoffDelay(Math.floor(attempt / count), min, max, random);
}

/**
 * Builds a binary frame: [u16 BE length][JSON envelope][payload].
 * @param {object} envelope
 * @param {Uint8Array} payload
 * @returns {ArrayBuffer}
 */
export function encodeBinaryFrame(envelope, payload) {
    const head = textEncoder.encode(JSON.stringify(envelope));
    if (head.length > MAX_BINARY_HEADER) throw new WsbError('too_large', 'binary envelope over 64 KiB');
    const frame = new Uint8Array(2 + head.length + payload.length);
    new DataView(frame.buffer).setUint16(0, head.length);
    frame.set(head, 2);
    frame.set(payload, 2 + head.length);
    return frame.buffer;
}

/**
 * Parses a binary frame into its envelope, with `data` the payload (an
 * ArrayBuffer) and `binary: true`.
 * @param {ArrayBuffer} buffer
 * @returns {object}
 */
export function decodeBinaryFrame(buffer) {
    const headLength = new DataView(buffer).getUint16(0);
    const envelope = JSON.parse(textDecoder.decode(new Uint8Array(buffer, 2, headLength)));
    envelope.data = buffer.slice(2 + headLength);
    envelope.binary = true;
    return envelope;
}

/** History and SSE carry binary messages as base64: give them back as ArrayBuffer. */
export function decodeBase64Message(message) {
    if (message.encoding !== 'base64' || typeof message.data !== 'string') return message;
    const raw = atob(message.data);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const decoded = { ...message, data: bytes.buffer, binary: true };
    delete decoded.encoding;
    return decoded;
}

export function isBinaryData(data) {
    return data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

/** A private copy of binary data, so a retry sends the bytes of the original call. */
export function copyBytes(data) {
    if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

export function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    crypto.getRandomValues(buf); // works on plain http pages too, unlike randomUUID
    return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The broker URLs of a client: `url` may be one URL or an array of them
 * (brokers that serve as one); each resolved as resolveUrl does.
 * @param {string|string[]} [url]
 * @returns {string[]}
 */
export function resolveUrls(url) {
    const list = Array.isArray(url) ? url : [url];
    if (list.length === 0) throw new WsbError('bad_request', 'the list of broker URLs is empty');
    return list.map(resolveUrl);
}

/** ws(s)://host/ws for this page, or `url` made absolute with a ws scheme. */
export function resolveUrl(url) {
    const base = typeof location !== 'undefined' ? location.href : 'http://127.0.0.1:8080/';
    const u = new URL(url || '/ws', base);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    return u.toString();
}
