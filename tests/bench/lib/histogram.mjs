// SPDX-License-Identifier: MIT
// histogram.mjs: a log-linear histogram of latencies in µs (exact below
// 2048 µs, then 1024 buckets per power of two: under 0.1 % error), small
// enough to send between processes as its non-empty buckets and merge.

const LINEAR = 2048;
const SUB_BITS = 10;
const SUB = 1 << SUB_BITS;
const TOP_POWER = 40; // up to 2^40 µs

export class Histogram {
    constructor() {
        this.counts = new Float64Array(LINEAR + (TOP_POWER - 11) * SUB);
        this.total = 0;
    }

    static indexOf(us) {
        if (us < LINEAR) return us < 0 ? 0 : us;
        const power = Math.floor(Math.log2(us));
        const sub = Math.floor(us / 2 ** (power - SUB_BITS)) - SUB;
        return LINEAR + (power - 11) * SUB + sub;
    }

    static valueOf(index) {
        if (index < LINEAR) return index;
        const power = Math.floor((index - LINEAR) / SUB) + 11;
        const sub = (index - LINEAR) % SUB;
        return (SUB + sub + 0.5) * 2 ** (power - SUB_BITS);
    }

    record(us) {
        const i = Math.min(Histogram.indexOf(Math.round(us)), this.counts.length - 1);
        this.counts[i] += 1;
        this.total += 1;
    }

    // Non-empty buckets as [index, count, ...] for process.send().
    sparse() {
        const out = [];
        for (let i = 0; i < this.counts.length; i++) if (this.counts[i]) out.push(i, this.counts[i]);
        return out;
    }

    merge(sparse) {
        for (let k = 0; k < sparse.length; k += 2) {
            this.counts[sparse[k]] += sparse[k + 1];
            this.total += sparse[k + 1];
        }
    }

    // The value (µs) at quantile q in [0, 1].
    quantile(q) {
        if (this.total === 0) return NaN;
        const rank = Math.max(1, Math.ceil(q * this.total));
        let seen = 0;
        for (let i = 0; i < this.counts.length; i++) {
            seen += this.counts[i];
            if (seen >= rank) return Histogram.valueOf(i);
        }
        return NaN;
    }
}
