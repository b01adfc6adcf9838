// SPDX-License-Identifier: MIT
/**
 * wsb.js: the browser client for wsbroker (wire protocol v1).
 *
 * A dependency-free ES module, with four of its own beside it: wsb-wire.js
 * (the wire format's pure helpers, re-exported here), wsb-subscription.js
 * (a subscription's resume state), wsb-token.js (where the token comes
 * from) and wsb-requests.js (the requests waiting for a reply). It owns
 * one WebSocket to the broker and makes it look permanent to the
 * application:
 *
 * - reconnects with capped exponential backoff and jitter; given several
 *   broker URLs (brokers that serve as one), moves on to the next one on a
 *   lost connection or a failed attempt;
 * - resumes every subscription after a reconnect from the last seq it
 *   delivered (subscribe with `since` + the `epoch` of `welcome`), so a
 *   subscription sees every message once, in seq order, with no gap;
 * - publishes exactly once: every publish carries a `key` (generated when
 *   the application gives none) and a publish whose ack was lost with the
 *   socket is sent again, with the same key, after the reconnect;
 * - sends Uint8Array/ArrayBuffer data as binary frames and delivers binary
 *   messages as ArrayBuffer;
 * - history, presence (join/leave callbacks and the presence request), ping;
 * - tokens (docs/auth.md): `?token=` on every connection, a token function
 *   asked again before each one and when the broker says `token_expired`
 *   (the fresh token then goes out with `auth`), and auth() to refresh by
 *   hand.
 *
 *     import { WsbClient } from '/wsb.js';
 *     const client = new WsbClient();              // ws(s)://<this host>/ws
 *     client.subscribe('prices.>', (m) => console.log(m.topic, m.seq, m.data));
 *     const ack = await client.publish('prices.AAPL', { px: 189.2 });
 *
 * The wire contract is docs/protocol.md (sections 2 to 4 and 10).
 */

import { Requests } from './wsb-requests.js';
import { Subscription } from './wsb-subscription.js';
import { TokenSource, urlWithToken } from './wsb-token.js';
import {
    WsbError, backoffDelay, copyBytes, decodeBase64Message, decodeBinaryFrame, encodeBinaryFrame,
    failoverDelay, isBinaryData, randomHex, resolveUrls, topicMatches,
} from './wsb-wire.js';

export { WsbError, backoffDelay, decodeBinaryFrame, encodeBinaryFrame, failoverDelay, topicMatches };

/** A connection shorter than this does not reset the backoff. */
const STABLE_CONNECTION_MS = 5000;

/**
 * @typedef {object} ClientOptions
 * @property {number} [backoffMin=250]     first reconnect delay cap, ms
 * @property {number} [backoffMax=10000]   largest reconnect delay, ms
 * @property {number} [connectTimeout=10000] ms to wait for `welcome` before retrying
 * @property {string|(() => string|Promise<string>)} [token] JWT or API key sent as
 *           `?token=`; a function (async allowed) is called before every connection
 *           attempt and when the token expires, so that each gets a fresh token
 * @property {string[]} [protocols=['wsb.v1']] WebSocket sub-protocols to offer
 * @property {string} [keyPrefix] prefix of generated publish keys (default: random)
 */

/**
 * @typedef {object} Message
 * @property {string} topic
 * @property {number} seq   broker-wide, strictly increasing
 * @property {number} ts    broker receipt time, ms since the Unix epoch
 * @property {*} data       JSON value, or an ArrayBuffer when `binary` is true
 * @property {boolean} [binary]
 * @property {string} [from] publisher's user, when authenticated
 * @property {number} [conflated] a conflated subscription's message: how many older
 *           messages of its topic it replaced while the client fell behind
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {number} [since]     replay stored messages with seq > since
 * @property {string} [epoch]     epoch that `since` belongs to
 * @property {number} [last]      replay the newest `last` stored matches
 * @property {boolean} [presence] become a member of the topic (a name) and get join/leave
 * @property {boolean} [conflate] while the client falls behind, the broker keeps only the
 *           newest unsent message per topic (`m.conflated` counts the dropped ones); false
 *           overrides a broker topic rule; unset: as the rules say. Live messages only.
 * @property {(ev: {topic: string, client: string, user: ?string}) => void} [onJoin]
 * @property {(ev: {topic: string, client: string, user: ?string}) => void} [onLeave]
 * @property {(ack: object, info: {resumed: boolean}) => void} [onSubscribe]
 *           called with every subscribe ack, also after each reconnect; `ack.recovered`
 *           false means messages may be missing (retention, or a new store epoch)
 */

/**
 * A connection to wsbroker that survives reconnects. Create it, optionally
 * subscribe, then call connect(); everything called while disconnected is
 * queued and sent after the next `welcome`.
 */
export class WsbClient {
    /**
     * @param {string|string[]} [url] ws:// or wss:// URL; default: /ws on the page's
     *        host. An array names brokers that serve as one (one store, e.g. on one
     *        Redis): tried round robin, a lost connection or failed attempt moves on
     *        to the next, and subscriptions resume there as after any reconnect.
     * @param {ClientOptions} [options]
     */
    constructor(url, options = {}) {
        /** @type {string[]} the broker URLs */
        this.urls = resolveUrls(url);
        /** @private */
        this._urlIndex = 0;
        this.opts = {
            backoffMin: 250,
            backoffMax: 10000,
            connectTimeout: 10000,
            protocols: ['wsb.v1'],
            keyPrefix: randomHex(8),
            ...options,
        };
        /** "idle" | "connecting" | "open" | "reconnecting" | "closed" */
        this.state = 'idle';
        /** The `welcome` of the current (or last) connection. */
        this.welcome = null;
        /** @private */
        this._ws = null;
        /** @private */
        this._subs = new Map();      // topic -> Subscription
        /** @private */
        this._requests = new Requests((frame) => this._ws.send(frame));
        /** @private */
        this._attempt = 0;
        /** @private */
        this._listeners = new Map(); // event name -> Set of callbacks
        /** @private */
        this._timers = { reconnect: null, heartbeat: null, welcome: null };
        /** @private */
        this._welcomedAt = 0;
        /** @private */
        this._lastFrameAt = 0;
        /** @private */
        this._openAttempt = 0;
        /** @private */
        this._openWaiters = [];
        /** @private */
        this._token = new TokenSource(this.opts.token);
        /** @private */
        this._welcomeToken = null; // a token too long for the URL, sent with `auth` after the welcome
        /** @private */
        this._onOnline = () => this._reconnectNow();
        if (typeof window !== 'undefined') window.addEventListener('online', this._onOnline);
    }

    /**
     * The broker URL of the current connection or, while there is none, of the next attempt.
     * @returns {string}
     */
    get url() {
        return this.urls[this._urlIndex];
    }

    /**
     * Client id given by the broker on this connection (changes on reconnect).
     * @returns {string|null}
     */
    get id() {
        return this.welcome ? this.welcome.client : null;
    }

    /**
     * Store epoch from the last `welcome`.
     * @returns {string|null}
     */
    get epoch() {
        return this.welcome ? this.welcome.epoch : null;
    }

    /**
     * Listens to a client event; returns a function that removes the listener.
     * Events: "state" ({state, delay, url}: delay and the next url while
     * reconnecting), "welcome" (the welcome object),
     * "disconnect" ({code, reason}), "error" (a WsbError without request id),
     * "tokenExpired" (a WsbError `token_expired`: the connection closes with
     * 4003 after the broker's grace period unless auth() is called; with a
     * token function the client has already asked it and sent the result).
     * A close 4001 (refused credentials), or 4003 without a token function,
     * ends the client as close() does, the pending requests rejected with
     * `unauthorized` or `token_expired`: the same token would be refused again.
     * @param {string} event
     * @param {Function} fn
     * @returns {() => void}
     */
    on(event, fn) {
        if (!this._listeners.has(event)) this._listeners.set(event, new Set());
        this._listeners.get(event).add(fn);
        return () => this._listeners.get(event).delete(fn);
    }

    /**
     * Opens the connection (and keeps it open). Resolves with the next `welcome`.
     * @returns {Promise<object>}
     */
    connect() {
        if (this.state === 'open') return Promise.resolve(this.welcome);
        const waiter = new Promise((resolve, reject) => this._openWaiters.push({ resolve, reject }));
        if (this.state === 'idle' || this.state === 'closed') {
            this._attempt = 0;
            this._open();
        }
        return waiter;
    }

    /**
     * Closes the connection for good: no reconnect; requests still waiting are
     * rejected with code "closed". connect() may be called again later.
     */
    close() {
        const ws = this._ws;
        if (ws) {
            this._detach(ws);
            ws.close(1000);
        }
        this._stop(() => new WsbError('closed', 'the client was closed'));
    }

    /**
     * Presents a fresh token (the `auth` request): its grants replace the
     * connection's, and it is the token of every later reconnect unless a
     * token function is configured. Resolves with the ack ({user, exp}).
     * @param {string} token
     * @returns {Promise<{user?: string, exp?: number}>}
     */
    auth(token) {
        this._token.replace(token);
        return this._request({ op: 'auth', token });
    }

    /**
     * Subscribes to a topic name or pattern. `onMessage` gets every matching
     * message once, in seq order, including after reconnects.
     * @param {string} topic
     * @param {(message: Message) => void} onMessage
     * @param {SubscribeOptions} [options]
     * @returns {Subscription} with `ready` (first ack), `seq` and `unsubscribe()`
     */
    subscribe(topic, onMessage, options = {}) {
        if (this._subs.has(topic)) throw new WsbError('bad_request', `already subscribed to ${topic}`);
        const sub = new Subscription(this, topic, onMessage, options);
        this._subs.set(topic, sub);
        if (this.state === 'open') this._sendSubscribe(sub);
        return sub;
    }

    /**
     * Publishes `data` (any JSON value; a Uint8Array or ArrayBuffer goes as a
     * binary frame). Resolves with the ack ({seq, duplicate?}) once the
     * message is durable; a retry after a reconnect reuses the same key, so
     * the message is stored once. With `expectLast: S` it is stored only if
     * the topic's newest stored seq is S (0: none); otherwise it rejects with
     * a WsbError `conflict` whose `last` is that newest seq.
     * @param {string} topic
     * @param {*} data
     * @param {{key?: string, echo?: boolean, expectLast?: number}} [options]
     * @returns {Promise<{seq: number, duplicate?: boolean}>}
     */
    publish(topic, data, options = {}) {
        const msg = { op: 'publish', topic, key: options.key ?? this._requests.publishKey(this.opts.keyPrefix) };
        if (options.echo === false) msg.echo = false;
        if (options.expectLast !== undefined) msg.expect_last = options.expectLast;
        if (isBinaryData(data)) return this._request(msg, copyBytes(data));
        msg.data = data === undefined ? null : data;
        return this._request(msg);
    }

    /**
     * Stored messages of a topic or pattern, oldest first.
     * @param {string} topic
     * @param {{since?: number, limit?: number}} [options]
     * @returns {Promise<{messages: Message[], more: boolean, recovered: boolean}>}
     */
    async history(topic, options = {}) {
        const ack = await this._request({ op: 'history', topic, ...options });
        return { messages: (ack.messages || []).map(decodeBase64Message), more: !!ack.more,
                 recovered: ack.recovered !== false };
    }

    /**
     * Current members of a topic name.
     * @param {string} topic
     * @returns {Promise<Array<{client: string, user: ?string}>>}
     */
    async presence(topic) {
        return (await this._request({ op: 'presence', topic })).members || [];
    }

    /**
     * Round trip to the broker.
     * @returns {Promise<number>} milliseconds
     */
    async ping() {
        const start = performance.now();
        await this._request({ op: 'ping' });
        return performance.now() - start;
    }

    // ------------------------------------------------------------ connection

    /** @private */
    _setState(state, extra = {}) {
        this.state = state;
        this._emit('state', { state, ...extra });
    }

    /** @private */
    _emit(event, value) {
        for (const fn of this._listeners.get(event) || []) {
            try {
                fn(value);
            } catch (err) {
                setTimeout(() => { throw err; }); // report it, do not break the client
            }
        }
    }

    /** @private */
    async _open() {
        const attempt = ++this._openAttempt;
        this._setState(this.welcome ? 'reconnecting' : 'connecting');
        let ws;
        try {
            const { url, authToken } = urlWithToken(this.url, await this._token.next());
            if (attempt !== this._openAttempt || this.state === 'closed') return; // close() meanwhile
            this._welcomeToken = authToken;
            ws = new WebSocket(url, this.opts.protocols);
        } catch (err) {
            this._emit('error', new WsbError('unavailable', `cannot connect: ${err.message}`));
            this._scheduleReconnect();
            return;
        }
        ws.binaryType = 'arraybuffer';
        ws.onmessage = (ev) => this._onFrame(ws, ev.data);
        ws.onclose = (ev) => this._onClose(ws, ev.code, ev.reason);
        ws.onerror = () => {}; // a close event follows
        this._ws = ws;
        this._timers.welcome = setTimeout(() => this._drop(ws, 'no welcome'), this.opts.connectTimeout);
    }

    /**
     * No more connections: pending requests and connect() waiters are
     * rejected with makeError().
     * @private
     */
    _stop(makeError) {
        this._openAttempt++; // an attempt still waiting for its token is abandoned
        this._setState('closed');
        clearTimeout(this._timers.reconnect);
        this._stopTimers();
        this._requests.rejectAll(makeError);
        for (const w of this._openWaiters.splice(0)) w.reject(makeError());
    }

    /** @private */
    _detach(ws) {
        ws.onmessage = ws.onclose = ws.onerror = null;
    }

    /**
     * Gives up on a socket that looks dead without waiting for its close handshake.
     * @private
     */
    _drop(ws, reason) {
        if (ws !== this._ws) return;
        this._detach(ws);
        try {
            ws.close(1000);
        } catch {
            // already closing
        }
        this._onClose(ws, 1006, reason);
    }

    /** @private */
    _onClose(ws, code, reason) {
        if (ws !== this._ws) return;
        this._ws = null;
        this._stopTimers();
        this._requests.connectionLost();
        if (this._welcomedAt && Date.now() - this._welcomedAt >= STABLE_CONNECTION_MS) this._attempt = 0;
        this._welcomedAt = 0;
        this._emit('disconnect', { code, reason });
        if (this.state === 'closed') return;
        const refused = code === 4001 || (code === 4003 && !this._token.renews);
        if (refused) {
            const errorCode = code === 4001 ? 'unauthorized' : 'token_expired';
            this._stop(() => new WsbError(errorCode, reason || `closed with ${code}`));
            return;
        }
        this._scheduleReconnect();
    }

    /** @private */
    _scheduleReconnect() {
        this._urlIndex = (this._urlIndex + 1) % this.urls.length;
        const delay = failoverDelay(this._attempt++, this.urls.length, this.opts.backoffMin, this.opts.backoffMax);
        this._setState('reconnecting', { delay, url: this.url });
        clearTimeout(this._timers.reconnect);
        this._timers.reconnect = setTimeout(() => {
            this._timers.reconnect = null;
            this._open();
        }, delay);
    }

    /**
     * The network came back (browser "online" event): do not wait out the backoff.
     * @private
     */
    _reconnectNow() {
        if (this._timers.reconnect === null || this.state !== 'reconnecting') return;
        clearTimeout(this._timers.reconnect);
        this._timers.reconnect = null;
        this._open();
    }

    /** @private */
    _stopTimers() {
        clearTimeout(this._timers.welcome);
        clearInterval(this._timers.heartbeat);
        this._timers.welcome = this._timers.heartbeat = null;
    }

    /**
     * Browsers do not show the broker's WebSocket pings, so liveness is
     * checked with protocol pings: after `heartbeat` idle seconds the client
     * sends one, and a socket silent for twice that long is dropped.
     * @private
     */
    _startHeartbeat(seconds) {
        const period = Math.max(1, seconds) * 1000;
        this._timers.heartbeat = setInterval(() => {
            const idle = Date.now() - this._lastFrameAt;
            if (idle >= 2 * period) this._drop(this._ws, 'heartbeat timeout');
            else if (idle >= period) this._request({ op: 'ping' }, null, false).catch(() => {});
        }, period / 2);
    }

    /** @private */
    _onFrame(ws, raw) {
        if (ws !== this._ws || ws.readyState !== WebSocket.OPEN) return;
        this._lastFrameAt = Date.now();
        let msg;
        try {
            msg = typeof raw === 'string' ? JSON.parse(raw) : decodeBinaryFrame(raw);
        } catch {
            this._emit('error', new WsbError('bad_request', 'unparsable frame from the broker'));
            return;
        }
        switch (msg.op) {
        case 'welcome': return this._onWelcome(msg);
        case 'message': return this._onMessage(msg);
        case 'ack':
        case 'pong':
        case 'error': return this._onReply(msg);
        case 'join':
        case 'leave': return this._onPresenceEvent(msg);
        default: return undefined; // unknown ops are ignored (forward compatibility)
        }
    }

    /** @private */
    _onWelcome(welcome) {
        clearTimeout(this._timers.welcome);
        this.welcome = welcome;
        this._welcomedAt = Date.now();
        this._setState('open');
        this._startHeartbeat(welcome.heartbeat || 25);
        if (this._welcomeToken) this._sendAuth(this._welcomeToken);
        for (const sub of this._subs.values()) this._sendSubscribe(sub);
        this._requests.sendWaiting();
        this._emit('welcome', welcome);
        for (const w of this._openWaiters.splice(0)) w.resolve(welcome);
    }

    // -------------------------------------------------------------- requests

    /**
     * Sends a request now when connected, else queues it; resolves with its ack.
     * @private
     */
    _request(msg, payload = null, retry = true) {
        return this._requests.issue(msg, payload, retry, this.state === 'open');
    }

    /** @private */
    _onReply(msg) {
        if (this._requests.settle(msg)) return;
        if (msg.op === 'error' && msg.code === 'token_expired') this._onTokenExpired(msg);
        else if (msg.op === 'error') this._emit('error', new WsbError(msg.code, msg.message, msg.last));
    }

    /**
     * The token expired: tell the application, and with a token function
     * send the fresh token it gives before the broker's grace runs out.
     * @private
     */
    async _onTokenExpired(msg) {
        this._emit('tokenExpired', new WsbError(msg.code, msg.message));
        if (!this._token.renews) return;
        try {
            const token = await this._token.next();
            if (this.state === 'open') this._sendAuth(token);
        } catch (err) {
            this._emit('error', new WsbError('unauthorized', `the token function failed: ${err.message}`));
        }
    }

    /**
     * Sends `auth` on the client's own account: no caller waits, so a
     * refusal is an "error" event.
     * @private
     */
    _sendAuth(token) {
        this._request({ op: 'auth', token }, null, false)
            .catch((err) => err.code !== 'closed' && this._emit('error', err));
    }

    // --------------------------------------------------------- subscriptions

    /**
     * Subscribes `sub` on the current connection: the first time with the
     * caller's options, after that from the seq it delivered last.
     * @private
     */
    _sendSubscribe(sub) {
        const msg = sub.subscribeRequest(this.epoch);
        const ws = this._ws;
        this._request(msg, null, false).then(
            (ack) => this._onSubscribeAck(sub, ack),
            (err) => {
                if (err.code === 'closed' || ws !== this._ws) return; // resubscribed on reconnect
                this._subs.delete(sub.topic);
                sub.active = false;
                sub._rejectReady(err);
                this._emit('error', err);
            });
    }

    /** @private */
    _onSubscribeAck(sub, ack) {
        if (!sub.active) return;
        const resumed = sub.acknowledge(ack, this.epoch);
        if (sub.options.onSubscribe) this._call(sub.options.onSubscribe, ack, { resumed });
    }

    /** @private */
    _unsubscribe(sub) {
        if (!sub.active) return Promise.resolve();
        sub.active = false;
        this._subs.delete(sub.topic);
        if (this.state !== 'open') return Promise.resolve();
        return this._request({ op: 'unsubscribe', topic: sub.topic }, null, false)
            .then(() => undefined, (err) => {
                if (err.code !== 'closed' && err.code !== 'not_subscribed') throw err;
            });
    }

    /** @private */
    _onMessage(msg) {
        for (const sub of this._subs.values())
            if (sub.accept(msg, this.epoch)) this._call(sub.onMessage, msg);
    }

    /** @private */
    _onPresenceEvent(ev) {
        const sub = this._subs.get(ev.topic);
        if (!sub) return;
        const fn = ev.op === 'join' ? sub.options.onJoin : sub.options.onLeave;
        if (fn) this._call(fn, ev);
    }

    /**
     * Runs an application callback; its exception is reported, not propagated.
     * @private
     */
    _call(fn, ...args) {
        try {
            fn(...args);
        } catch (err) {
            setTimeout(() => { throw err; });
        }
    }
}

/**
 * Creates a client and connects it; resolves once `welcome` arrived.
 * @param {string|string[]} [url] one broker URL, or several (see WsbClient)
 * @param {ClientOptions} [options]
 * @returns {Promise<WsbClient>}
 */
export async function connect(url, options) {
    const client = new WsbClient(url, options);
    await client.connect();
    return client;
}
