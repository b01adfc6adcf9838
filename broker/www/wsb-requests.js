// SPDX-License-Identifier: MIT
/**
 * wsb-requests.js: the requests of wsb.js's client that wait for a reply.
 *
 * Owns what the client numbers its requests with (request ids, and the
 * generated publish keys that make a resend safe), the requests sent on the
 * current socket and not yet answered, and those waiting for the next
 * connection. Kept apart from
 * the client (wsb.js), which owns the socket and decides when a request
 * goes out, so that the rules of a lost connection sit in one place: a
 * request that got no reply goes out again after the reconnect (the same
 * publish key makes that safe, docs/protocol.md section 3), ahead of those
 * issued while disconnected, unless it was not to be retried.
 */

import { WsbError, encodeBinaryFrame } from './wsb-wire.js';

export class Requests {
    /**
     * @param {(frame: string|ArrayBuffer) => void} sendFrame writes a frame on the current socket
     */
    constructor(sendFrame) {
        /** @private */
        this.sendFrame = sendFrame;
        /** @private */
        this.inflight = new Map(); // request id -> request, sent on this socket
        /** @private */
        this.waiting = [];         // requests waiting for the next welcome
        /** @private */
        this.nextId = 1;
        /** @private */
        this.nextKey = 1;
    }

    /**
     * A key for a publish the application gave none: unique to this client,
     * and kept by the request through every resend.
     * @private
     */
    publishKey(prefix) {
        return `${prefix}-${this.nextKey++}`;
    }

    /**
     * A request: sent now when `open`, else kept for the next connection when
     * `retry`, else rejected with `closed`. Resolves with its ack.
     * @private
     */
    issue(msg, payload, retry, open) {
        return new Promise((resolve, reject) => {
            const req = { msg, payload, retry, resolve, reject };
            if (open) this.send(req);
            else if (retry) this.waiting.push(req);
            else reject(new WsbError('closed', 'not connected'));
        });
    }

    /** @private */
    send(req) {
        const id = this.nextId++;
        const envelope = { ...req.msg, id };
        this.inflight.set(id, req);
        this.sendFrame(req.payload ? encodeBinaryFrame(envelope, req.payload) : JSON.stringify(envelope));
    }

    /**
     * Sends what waited for the connection, in the order it was issued.
     * @private
     */
    sendWaiting() {
        const waiting = this.waiting;
        this.waiting = [];
        for (const req of waiting) this.send(req);
    }

    /**
     * Settles the request a reply (`ack`, `pong` or `error`) answers; false
     * when it answers none sent on this socket.
     * @private
     */
    settle(msg) {
        const req = msg.id !== undefined ? this.inflight.get(msg.id) : undefined;
        if (!req) return false;
        this.inflight.delete(msg.id);
        if (msg.op === 'error') req.reject(new WsbError(msg.code, msg.message, msg.last));
        else req.resolve(msg);
        return true;
    }

    /**
     * The socket is gone: requests that got no reply wait for the next
     * connection, in their original order and before those issued while
     * disconnected; those not to be retried are rejected.
     * @private
     */
    connectionLost() {
        const unanswered = [...this.inflight.values()];
        this.inflight.clear();
        this.waiting = [...unanswered.filter((req) => req.retry), ...this.waiting];
        for (const req of unanswered) if (!req.retry) req.reject(new WsbError('closed', 'connection lost'));
    }

    /**
     * No more connections: every request is rejected with makeError().
     * @private
     */
    rejectAll(makeError) {
        const pending = [...this.inflight.values(), ...this.waiting];
        this.inflight.clear();
        this.waiting = [];
        for (const req of pending) req.reject(makeError());
    }
}
