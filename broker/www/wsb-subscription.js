// SPDX-License-Identifier: MIT
/**
 * wsb-subscription.js: one subscription of wsb.js's client, as it is kept
 * across connections.
 *
 * Owns the resume state of a subscription: the newest seq it delivered
 * (`position`) and the store epoch that seq belongs to, the replay still to
 * come after an ack, and the ack seq to adopt once that replay is in. The
 * client (wsb.js) owns the connection and calls in here to build each
 * subscribe request, to take an ack and to filter a message, so that a
 * subscription sees every message once, in seq order, with no gap
 * (docs/protocol.md section 4).
 */

import { topicMatches } from './wsb-wire.js';

/**
 * One subscription as the client keeps it across connections.
 * `position` is the newest seq this subscription has delivered (or may skip
 * to), `epoch` the store that seq belongs to.
 */
export class Subscription {
    /** @private */
    constructor(client, topic, onMessage, options) {
        /** @private */
        this.client = client;
        /** @type {string} the name or pattern subscribed to */
        this.topic = topic;
        /** @private */
        this.onMessage = onMessage;
        /** @private */
        this.options = options;
        /** @private */
        this.position = options.since ?? null;
        /** @private */
        this.epoch = options.epoch ?? null;
        /** @private */
        this.ahead = new Set();    // seqs of conflated messages above `position`
        /** @private */
        this.replayLeft = 0;       // replay messages still to come after the current ack
        /** @private */
        this.pendingAckSeq = null; // ack seq to adopt once the replay has arrived
        /** @private */
        this.acks = 0;             // subscribe acks so far (more than one: resumed)
        /** @private */
        this.active = true;
        /**
         * Resolves with the first subscribe ack (rejects when the broker refuses it).
         * @type {Promise<object>}
         */
        this.ready = new Promise((resolve, reject) => {
            /** @private */
            this._resolveReady = resolve;
            /** @private */
            this._rejectReady = reject;
        });
        this.ready.catch(() => {}); // a refusal is also reported to the caller that awaits it
    }

    /**
     * Newest seq delivered to this subscription, or null.
     * @returns {number|null}
     */
    get seq() {
        return this.position;
    }

    /**
     * The subscribe request for a new connection to the store `epoch`: the
     * first time with the caller's options, after that from the seq it
     * delivered last.
     * @private
     */
    subscribeRequest(epoch) {
        const msg = { op: 'subscribe', topic: this.topic };
        if (this.options.presence) msg.presence = true;
        if (this.options.conflate !== undefined) msg.conflate = Boolean(this.options.conflate);
        if (this.position !== null) {
            msg.since = this.position;
            if (this.epoch) msg.epoch = this.epoch;
            // A seq of another store means nothing: take whatever the broker replays.
            if (this.epoch && this.epoch !== epoch) this.position = null;
        } else if (this.options.last !== undefined) {
            msg.last = this.options.last;
        } else if (this.options.epoch !== undefined) {
            msg.epoch = this.options.epoch;
        }
        this.replayLeft = 0;
        this.pendingAckSeq = null;
        return msg;
    }

    /**
     * Takes a subscribe ack on the store `epoch`; true when it is a resume
     * (not the first ack).
     * @private
     */
    acknowledge(ack, epoch) {
        const resumed = this.acks++ > 0;
        this.epoch = epoch;
        this.replayLeft = ack.replayed || 0;
        this.pendingAckSeq = ack.seq ?? null;
        if (this.replayLeft === 0) this.adoptAckSeq();
        this._resolveReady(ack);
        return resumed;
    }

    /**
     * True when `msg` is for this subscription and new to it; it then counts
     * as delivered. Each subscription delivers a strictly increasing seq
     * stream: an older message (another subscription's replay) was seen
     * already or predates this subscription.
     * @private
     */
    accept(msg, epoch) {
        if (!topicMatches(this.topic, msg.topic)) return false;
        if (this.position !== null && msg.seq <= this.position) return false;
        if (this.ahead.has(msg.seq)) return false;
        // A message that replaced others (`conflated`) took the place of an
        // older one: messages of other topics with lower seqs may still
        // follow, so it does not move the position.
        if (msg.conflated) {
            this.ahead.add(msg.seq);
        } else {
            this.position = msg.seq;
            for (const seq of this.ahead) if (seq <= msg.seq) this.ahead.delete(seq);
        }
        this.epoch = epoch;
        if (this.replayLeft > 0 && --this.replayLeft === 0) this.adoptAckSeq();
        return true;
    }

    /**
     * Once the replay is in, the subscription is live from the ack's seq: a
     * resume after this point starts there even when nothing matched since.
     * @private
     */
    adoptAckSeq() {
        if (this.pendingAckSeq !== null && (this.position === null || this.pendingAckSeq > this.position))
            this.position = this.pendingAckSeq;
        this.pendingAckSeq = null;
    }

    /**
     * Stops the subscription. Resolves when the broker acknowledged it (at
     * once when disconnected: the next connection simply does not resubscribe).
     * @returns {Promise<void>}
     */
    unsubscribe() {
        return this.client._unsubscribe(this);
    }
}
