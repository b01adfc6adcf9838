// SPDX-License-Identifier: MIT
// format.mjs: how the comparison writes numbers: rounding, rates, µs and
// ms for the table and the progress log, and the progress log line itself
// (stderr, with the time of day).

export function round(x, digits) {
    if (!Number.isFinite(x)) return null;
    const f = 10 ** digits;
    return Math.round(x * f) / f;
}

export function fmtRate(x) {
    if (x === null || x === undefined) return '-';
    if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M/s`;
    if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k/s`;
    if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k/s`;
    return `${x.toFixed(0)}/s`;
}

export function fmtUs(x) {
    if (x === null || x === undefined) return '-';
    return x >= 10 ? `${x.toFixed(1)} µs` : `${x.toFixed(2)} µs`;
}

export function fmtMs(x) {
    if (x === null || x === undefined) return '-';
    return x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function log(line) {
    process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}
