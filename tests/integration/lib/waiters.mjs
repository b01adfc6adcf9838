// SPDX-License-Identifier: MIT
// waiters.mjs: hands the items a stream delivers (WebSocket frames, SSE
// events, SSE comments) to the callers waiting for one that their predicate
// accepts. Client (client.mjs) and SseStream (util.mjs) keep one per kind of
// item; an item nobody waits for is theirs to queue or to drop.

export class Waiters {
    constructor() {
        this.pending = []; // {pred, resolve, reject, timer, what}
    }

    // Resolves the first waiter whose predicate accepts `item`; false when
    // nobody wanted it.
    offer(item) {
        const at = this.pending.findIndex((w) => w.pred(item));
        if (at < 0) return false;
        const [w] = this.pending.splice(at, 1);
        clearTimeout(w.timer);
        w.resolve(item);
        return true;
    }

    // The next item `pred` accepts. After `ms` (already scaled) it rejects
    // with timeoutMessage(), called then so that it shows the state of that
    // moment.
    wait(pred, ms, what, timeoutMessage) {
        return new Promise((resolve, reject) => {
            const w = { pred, resolve, reject, what, timer: null };
            w.timer = setTimeout(() => {
                this.pending = this.pending.filter((x) => x !== w);
                reject(new Error(timeoutMessage()));
            }, ms);
            this.pending.push(w);
        });
    }

    // Rejects every waiter with errorFor(what): the stream ended.
    failAll(errorFor) {
        for (const w of this.pending) {
            clearTimeout(w.timer);
            w.reject(errorFor(w.what));
        }
        this.pending = [];
    }
}
