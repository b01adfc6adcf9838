// SPDX-License-Identifier: MIT
// common.mjs: helpers shared by the reliability tests.
//
// Owns: the seeded PRNG (every random choice of a test comes from it and
// the seed is printed, so a failing run can be replayed with WSB_SEED),
// the broker's open fd count (paging a whole history is lib/util.mjs's),
// /api/stats, temporary directories and mounts (tmpfs) cleaned up in
// t.after(), and starting a broker process under a wrapper (strace) or
// with an extra environment (LD_PRELOAD), which the integration harness
// does not do.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
    BROKER_BIN, freePort, httpGet, onCleanup, sanitizerReport, scaled, waitFor,
} from '../../integration/lib/broker.mjs';

// mulberry32: a small, good-enough 32-bit PRNG. Returns () => [0, 1).
export function prng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// The seed of this run: $WSB_SEED or a fresh one. Printed by the caller.
export function runSeed() {
    const env = Number(process.env.WSB_SEED);
    return Number.isInteger(env) && env > 0 ? env : (Date.now() ^ (process.pid << 16)) >>> 0;
}

// Integer in [lo, hi].
export function randInt(rand, lo, hi) {
    return lo + Math.floor(rand() * (hi - lo + 1));
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

// A temporary directory removed in t.after().
export async function tempDir(t, prefix = 'wsbroker-rel-') {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    onCleanup(t, () => fs.rm(dir, { recursive: true, force: true }));
    return dir;
}

// Mounts a tmpfs of `size` on a fresh directory; unmounted in t.after()
// (after the brokers stopped: cleanups registered later run first, and the
// brokers run last, so the unmount is registered as a "last" cleanup
// before any broker starts). Returns the mount point, or a reason string
// when mounting is not possible.
export async function mountTmpfs(t, size) {
    if (!isRoot) return { skip: 'needs root to mount a tmpfs' };
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-rel-fs-'));
    try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (err) {
        await fs.rm(dir, { recursive: true, force: true });
        return { skip: `mount -t tmpfs failed: ${String(err.stderr || err.message).trim()}` };
    }
    onCleanup(t, async () => {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
        await fs.rm(dir, { recursive: true, force: true });
    }, { last: true });
    return { dir };
}

// Free bytes on the filesystem holding `dir`.
export async function freeBytes(dir) {
    const s = await fs.statfs(dir);
    return s.bavail * s.bsize;
}

// fullHistory: paging history; it lives with the integration helpers.
export { fullHistory } from '../../integration/lib/util.mjs';

// Open file descriptors of a process (entries of /proc/PID/fd).
export function fdCount(pid) {
    return fsSync.readdirSync(`/proc/${pid}/fd`).length;
}

export async function stats(http) {
    const res = await httpGet(`${http}/api/stats`);
    if (res.status !== 200 || !res.json) throw new Error(`/api/stats answered ${res.status} ${res.text.slice(0, 200)}`);
    return res.json;
}

// A broker started with `wrap` before the binary (e.g. ['strace', ...]) and
// `env` added to the environment. The harness's Broker cannot do either.
// `pid` is the broker's own pid (the wrapper's child when wrapped).
export class WrappedBroker {
    constructor({ dir, dbPath, port, args = [], env = {}, wrap = [] }) {
        Object.assign(this, { dir, dbPath, port, args, env, wrap });
        this.proc = null;
        this.exit = null;
        this.exited = null;
        this.stderr = '';
        this.pid = null;
    }

    get url() {
        return `ws://127.0.0.1:${this.port}/ws`;
    }

    get http() {
        return `http://127.0.0.1:${this.port}`;
    }

    async start({ healthTimeoutMs = 20000 } = {}) {
        const argv = [BROKER_BIN, '--bind', '127.0.0.1', '--port', String(this.port), '--db', this.dbPath,
            ...this.args];
        const [cmd, ...rest] = [...this.wrap, ...argv];
        this.exit = null;
        this.stderr = '';
        const proc = spawn(cmd, rest, { cwd: this.dir, env: { ...process.env, ...this.env }, stdio: ['ignore', 'ignore', 'pipe'] });
        this.proc = proc;
        proc.stderr.setEncoding('utf8');
        proc.stderr.on('data', (d) => {
            if (this.stderr.length < 4 * 1024 * 1024) this.stderr += d;
        });
        this.exited = new Promise((resolve) => {
            proc.on('exit', (code, signal) => {
                this.exit = { code, signal };
                resolve(this.exit);
            });
        });
        await waitFor(async () => {
            if (this.exit) throw new Error(`broker exited during start: ${JSON.stringify(this.exit)} ${this.stderr.slice(-2000)}`);
            const res = await httpGet(`${this.http}/healthz`, { timeoutMs: 1000 });
            return res.status === 200;
        }, { timeoutMs: healthTimeoutMs, what: `healthy broker on :${this.port}`, intervalMs: 30 });
        if (this.exit) throw new Error(`broker exited during start: ${this.stderr.slice(-2000)}`);
        this.pid = this.wrap.length ? this.childOf(proc.pid) : proc.pid;
        return this;
    }

    childOf(pid) {
        const kids = fsSync.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
        if (kids.length !== 1 || !kids[0]) throw new Error(`expected one child of ${pid}, got "${kids.join(' ')}"`);
        return Number(kids[0]);
    }

    signal(sig) {
        if (this.pid && !this.exit) {
            try {
                process.kill(this.pid, sig);
            } catch {
                // already gone
            }
        }
    }

    // SIGTERM to the broker itself, then wait for the (wrapper) process.
    async stop({ timeoutMs = 20000 } = {}) {
        if (!this.proc || this.exit) return this.exit;
        this.signal('SIGTERM');
        const timer = setTimeout(() => {
            this.signal('SIGKILL');
            this.proc.kill('SIGKILL');
        }, scaled(timeoutMs));
        await this.exited;
        clearTimeout(timer);
        return this.exit;
    }

    async kill9() {
        if (!this.proc || this.exit) return this.exit;
        this.signal('SIGKILL');
        await this.exited;
        return this.exit;
    }

    sanitizerReport() {
        return sanitizerReport(this.stderr);
    }
}

// A WrappedBroker on a free port, stopped in t.after().
export async function startWrapped(t, opts) {
    const port = opts.port ?? await freePort();
    const b = new WrappedBroker({ ...opts, port });
    onCleanup(t, () => b.stop(), { last: true });
    await b.start();
    return b;
}
