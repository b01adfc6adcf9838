// SPDX-License-Identifier: MIT
// util.mjs: small helpers shared by the integration tests.
//
// Owns: a broker shared by the tests of one file (started in before(),
// stopped and checked in after()), unique topic names, error assertions,
// publishing many messages with a bounded number in flight, and for the HTTP
// side: JSON requests, HTTP error assertions, an SSE stream reader and a
// Prometheus text parser.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { httpRequest, onCleanup, scaled, startBroker } from './broker.mjs';
import { Waiters } from './waiters.mjs';

// One broker for every test of a describe() block. Returns an object whose
// `broker` property is set once before() ran.
export function sharedBroker(opts = {}) {
    const ctx = { broker: null };
    before(async () => {
        ctx.broker = await startBroker(opts);
    });
    after(async () => {
        if (ctx.broker) await ctx.broker.cleanup();
    });
    return ctx;
}

let counter = 0;

// A topic name no other test uses: prefix.<n><random>.
export function uniqueTopic(prefix) {
    counter += 1;
    return `${prefix}.u${counter}${Math.random().toString(36).slice(2, 8)}`;
}

// Asserts `reply` is an error with this code and (when given) this id, and a
// non-empty message.
export function assertError(reply, code, { id, what = '' } = {}) {
    const shown = JSON.stringify(reply);
    assert.equal(reply.op, 'error', `${what} expected error ${code}, got ${shown}`);
    assert.equal(reply.code, code, `${what} expected error ${code}, got ${shown}`);
    assert.equal(typeof reply.message, 'string', `${what} error without message: ${shown}`);
    assert.ok(reply.message.length > 0, `${what} error with empty message: ${shown}`);
    if (id !== undefined) assert.equal(reply.id, id, `${what} error id: ${shown}`);
}

export function assertAck(reply, what = '') {
    assert.equal(reply.op, 'ack', `${what} expected ack, got ${JSON.stringify(reply)}`);
}

export const isMessage = (topic) => (f) => f.op === 'message' && (topic === undefined || f.topic === topic);

// Publishes every item of `datas` on `topic` with at most `window` requests
// in flight. Resolves with the replies in order (ack frames).
export async function publishMany(client, topic, datas, { window = 100, extra = {}, timeoutMs = 20000 } = {}) {
    const replies = new Array(datas.length);
    let nextIndex = 0;
    async function lane() {
        while (nextIndex < datas.length) {
            const i = nextIndex++;
            replies[i] = await client.request({ op: 'publish', topic, data: datas[i], ...extra }, { timeoutMs });
            if (replies[i].op !== 'ack') {
                throw new Error(`publish #${i} on ${topic} failed: ${JSON.stringify(replies[i])}`);
            }
        }
    }
    const lanes = [];
    for (let i = 0; i < Math.min(window, datas.length); i++) lanes.push(lane());
    await Promise.all(lanes);
    return replies;
}

// Fires every publish at once (no waiting in between); resolves the replies.
export function publishBurst(client, topic, datas, { timeoutMs = 20000 } = {}) {
    return Promise.all(datas.map((data) => client.request({ op: 'publish', topic, data }, { timeoutMs })));
}

export function range(n, from = 0) {
    return Array.from({ length: n }, (_, i) => from + i);
}

export function seqsOf(frames) {
    return frames.map((f) => f.seq);
}

export function assertAscending(seqs, what = 'seqs') {
    for (let i = 1; i < seqs.length; i++) {
        assert.ok(seqs[i] > seqs[i - 1], `${what} not strictly ascending at ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
    }
}

// --- HTTP API and SSE helpers (http_*.test.mjs, sse.test.mjs) -------------

// httpRequest lives in broker.mjs (httpGet is its GET); re-exported here.
export { httpRequest };

// POST /api/publish on `broker` with `body` (see httpRequest).
export function httpPublish(broker, body, opts = {}) {
    return httpRequest(`${broker.http}/api/publish`, { ...opts, method: 'POST', body });
}

// A URL on the broker's HTTP side with a query string; `params` is an
// object (array values repeat the parameter) and is percent-encoded.
export function apiUrl(broker, pathname, params = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
        for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
    }
    const qs = q.toString();
    return `${broker.http}${pathname}${qs ? `?${qs}` : ''}`;
}

// Asserts an HTTP error answer: this status, a JSON body
// {"error":{"code":code,"message":non-empty string}}.
export function assertHttpError(res, status, code, what = '') {
    const shown = `${res.status} ${res.text.slice(0, 300)}`;
    assert.equal(res.status, status, `${what} expected HTTP ${status} ${code}, got ${shown}`);
    assert.ok(res.json && typeof res.json.error === 'object', `${what} no JSON error body: ${shown}`);
    assert.equal(res.json.error.code, code, `${what} expected code ${code}, got ${shown}`);
    assert.equal(typeof res.json.error.message, 'string', `${what} error without message: ${shown}`);
    assert.ok(res.json.error.message.length > 0, `${what} error with empty message: ${shown}`);
}

// A text/event-stream reader on fetch (no EventSource in Node 20). Parses
// events as the HTML spec does (fields id, event, data, retry; ':' lines are
// comments; a blank line ends an event). Every event is kept in `events`
// with {id, event, data, json}; `comments` holds comment texts, `raw` the
// stream text so far. next() waits for an event like Client.next().
export class SseStream {
    constructor(res, controller) {
        this.status = res.status;
        this.headers = res.headers;
        this.controller = controller;
        this.raw = '';
        this.events = [];     // every dispatched event, in order
        this.queue = [];      // events nobody has taken yet
        this.comments = [];   // {text, at} in order
        this.retry = null;
        this.waiters = new Waiters();        // for events
        this.commentWaiters = new Waiters(); // for comments
        this.ended = null;    // {error} once the stream ended
        this.pendingLine = '';
        this.current = { id: null, event: null, data: [] };
        this.done = this.pump(res.body.getReader());
    }

    async pump(reader) {
        const decoder = new TextDecoder();
        let error = null;
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                this.feed(decoder.decode(value, { stream: true }));
            }
        } catch (err) {
            error = err;
        }
        this.ended = { error };
        const why = error ? `stream failed (${error.name}: ${error.message})` : 'stream ended';
        const errorFor = (what) => new Error(`${why} while waiting for ${what}; ${this.recent()}`);
        this.waiters.failAll(errorFor);
        this.commentWaiters.failAll(errorFor);
    }

    feed(text) {
        this.raw += text;
        const lines = (this.pendingLine + text).split('\n');
        this.pendingLine = lines.pop();
        for (const line of lines) this.line(line.endsWith('\r') ? line.slice(0, -1) : line);
    }

    line(line) {
        if (line === '') {
            this.dispatch();
            return;
        }
        if (line.startsWith(':')) {
            const comment = { text: line.slice(1).trimStart(), at: Date.now() };
            this.comments.push(comment);
            this.commentWaiters.offer(comment);
            return;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') this.current.data.push(value);
        else if (field === 'id') this.current.id = value;
        else if (field === 'event') this.current.event = value;
        else if (field === 'retry') this.retry = Number(value);
    }

    dispatch() {
        const cur = this.current;
        this.current = { id: null, event: null, data: [] };
        if (cur.data.length === 0) return;
        const data = cur.data.join('\n');
        let json;
        try {
            json = JSON.parse(data);
        } catch {
            json = undefined;
        }
        const ev = { id: cur.id, event: cur.event ?? 'message', data, json, lines: cur.data.length };
        this.events.push(ev);
        if (!this.waiters.offer(ev)) this.queue.push(ev);
    }

    recent(n = 5) {
        const evs = this.events.slice(-n).map((e) => `${e.id}:${e.data.slice(0, 120)}`);
        return `recent events: ${evs.join(' | ') || '(none)'}; raw tail: ${JSON.stringify(this.raw.slice(-200))}`;
    }

    // The next event matching pred (earlier untaken events first).
    next(pred = () => true, { timeoutMs = 5000, what = 'an SSE event' } = {}) {
        return this.nextWithin(pred, scaled(timeoutMs), what);
    }

    // next() with a timeout that is already scaled.
    nextWithin(pred, ms, what) {
        const at = this.queue.findIndex(pred);
        if (at >= 0) return Promise.resolve(this.queue.splice(at, 1)[0]);
        return this.waitOn(this.waiters, pred, ms, what);
    }

    // `count` events matching pred, in order, within one overall timeout.
    async collect(pred, count, { timeoutMs = 5000, what = 'SSE event' } = {}) {
        const deadline = Date.now() + scaled(timeoutMs);
        const out = [];
        while (out.length < count) {
            const left = Math.max(1, deadline - Date.now());
            out.push(await this.nextWithin(pred, left, `${what} #${out.length + 1} of ${count}`));
        }
        return out;
    }

    // Resolves the next comment (after the ones already seen) matching pred.
    nextComment(pred = () => true, { timeoutMs = 5000, what = 'an SSE comment' } = {}) {
        return this.waitOn(this.commentWaiters, pred, scaled(timeoutMs), what);
    }

    // A wait on `waiters` (events or comments) that fails at once when the
    // stream has ended.
    waitOn(waiters, pred, ms, what) {
        if (this.ended) return Promise.reject(new Error(`stream ended before ${what}; ${this.recent()}`));
        return waiters.wait(pred, ms, what,
            () => `timed out after ${ms} ms waiting for ${what}; ${this.recent()}`);
    }

    // Resolves {error} once the server ended the stream; throws after timeoutMs.
    async waitEnded({ timeoutMs = 5000 } = {}) {
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(
                `SSE stream still open after ${scaled(timeoutMs)} ms; ${this.recent()}`)), scaled(timeoutMs));
        });
        try {
            await Promise.race([this.done, timeout]);
        } finally {
            clearTimeout(timer);
        }
        return this.ended;
    }

    close() {
        this.controller.abort();
        return this.done;
    }
}

// Opens GET `url` as an event stream. Resolves an SseStream once the
// response headers arrived (whatever the status; a non-200 answer's body is
// then in `raw` once `done` settled). Options: headers, t (the stream is
// closed in t.after()), timeoutMs for the response headers.
export async function openSse(url, { headers = {}, t, timeoutMs = 5000 } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('no response headers')), scaled(timeoutMs));
    let res;
    try {
        res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    } finally {
        clearTimeout(timer);
    }
    const stream = new SseStream(res, controller);
    if (t) onCleanup(t, () => stream.close());
    return stream;
}

// Parses Prometheus text exposition (format 0.0.4) strictly: every sample
// line is `name{labels} value`, every metric family has `# HELP` and
// `# TYPE` lines before its samples, values parse as numbers. Returns
// {families: Map name -> {help, type}, samples: [{name, labels, value}]}
// and get(name, labels?) -> value or undefined. Throws on a format error.
export function parsePrometheus(text) {
    const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
    const families = new Map();
    const samples = [];
    const familyOf = (name) => {
        for (const suffix of ['_bucket', '_sum', '_count', '']) {
            if (suffix && !name.endsWith(suffix)) continue;
            const base = suffix ? name.slice(0, -suffix.length) : name;
            const fam = families.get(base);
            if (fam && (suffix === '' || fam.type === 'histogram' || fam.type === 'summary')) return base;
        }
        return null;
    };
    if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline');
    const lines = text.split('\n').slice(0, -1);
    lines.forEach((line, i) => {
        const where = `line ${i + 1} ${JSON.stringify(line)}`;
        if (line === '') return;
        let m;
        if ((m = line.match(new RegExp(`^# HELP (${NAME}) (.*)$`)))) {
            const fam = families.get(m[1]) ?? {};
            if (fam.help !== undefined) throw new Error(`second HELP at ${where}`);
            fam.help = m[2];
            families.set(m[1], fam);
            return;
        }
        if ((m = line.match(new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)))) {
            const fam = families.get(m[1]) ?? {};
            if (fam.type !== undefined) throw new Error(`second TYPE at ${where}`);
            if (samples.some((s) => familyOf(s.name) === m[1])) throw new Error(`TYPE after samples at ${where}`);
            fam.type = m[2];
            families.set(m[1], fam);
            return;
        }
        if (line.startsWith('#')) throw new Error(`unexpected comment at ${where}`);
        m = line.match(new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`));
        if (!m) throw new Error(`bad sample at ${where}`);
        const labels = {};
        if (m[2] !== undefined && m[2] !== '') {
            const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
            let lm;
            let used = 0;
            while (used < m[2].length && (lm = re.exec(m[2]))) {
                labels[lm[1]] = lm[2];
                used = re.lastIndex;
            }
            if (used !== m[2].length) throw new Error(`bad labels at ${where}`);
        }
        const valueText = m[3];
        const value = /^[+-]?Inf$/.test(valueText) ? (valueText.startsWith('-') ? -Infinity : Infinity)
            : valueText === 'NaN' ? NaN : Number(valueText);
        if (Number.isNaN(value) && valueText !== 'NaN') throw new Error(`bad value at ${where}`);
        const fam = familyOf(m[1]);
        if (!fam) throw new Error(`sample without HELP/TYPE at ${where}`);
        const f = families.get(fam);
        if (f.help === undefined || f.type === undefined) throw new Error(`sample before HELP and TYPE at ${where}`);
        samples.push({ name: m[1], labels, value });
    });
    const get = (name, labels = {}) => {
        const hit = samples.find((s) => s.name === name &&
            Object.keys(labels).every((k) => s.labels[k] === labels[k]) &&
            Object.keys(s.labels).length === Object.keys(labels).length);
        return hit ? hit.value : undefined;
    };
    return { families, samples, get };
}

// Every stored message of `topic` (a name or pattern) with seq > since, by
// paging the `history` op with limit 1000.
export async function fullHistory(client, topic, since = 0) {
    const out = [];
    for (;;) {
        const h = await client.ok({ op: 'history', topic, since, limit: 1000 }, { timeoutMs: 20000 });
        out.push(...h.messages);
        if (!h.more) return out;
        if (h.messages.length === 0) throw new Error(`history of ${topic} says more with no messages`);
        since = h.messages.at(-1).seq;
    }
}

