// SPDX-License-Identifier: MIT
// workers.mjs: the load-generator processes (worker.mjs) seen from the
// coordinator.
//
// Owns: forking a worker (registered with childTrack, so that it dies with
// the run), the request/reply calls over its IPC channel, its unsolicited
// events (progress), and its exit.

import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childTrack } from './brokers.mjs';

const BENCH_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

export class Worker {
    constructor(kind, port) {
        this.proc = childTrack(fork(path.join(BENCH_DIR, 'worker.mjs'), [], {
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }));
        this.pid = this.proc.pid;
        this.nextRid = 1;
        this.waiting = new Map();
        this.onEvent = () => {};
        this.kind = kind;
        this.port = port;
        this.proc.on('message', (m) => {
            if (m.re === undefined) {
                this.onEvent(m);
                return;
            }
            const w = this.waiting.get(m.re);
            if (!w) return;
            this.waiting.delete(m.re);
            if (m.ok) w.resolve(m);
            else w.reject(new Error(`worker ${this.pid} ${w.cmd}: ${m.error}`));
        });
        this.proc.on('exit', (code) => {
            for (const w of this.waiting.values()) w.reject(new Error(`worker exited ${code}`));
            this.waiting.clear();
        });
    }

    call(cmd, args = {}) {
        const rid = this.nextRid++;
        return new Promise((resolve, reject) => {
            this.waiting.set(rid, { resolve, reject, cmd });
            this.proc.send({ rid, cmd, ...args });
        });
    }

    notify(msg) {
        if (this.proc.connected) this.proc.send(msg);
    }

    async exit() {
        const gone = new Promise((resolve) => {
            if (this.proc.exitCode !== null) resolve();
            else this.proc.once('exit', resolve);
        });
        try {
            await this.call('exit');
        } catch {
            // already gone
        }
        const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(timer);
    }
}

// `count` workers, each connected to the broker on `port` and sending
// payloads of `size` bytes.
export async function workersStart(kind, port, count, size) {
    const workers = [];
    for (let i = 0; i < count; i++) {
        const w = new Worker(kind, port);
        await w.call('init', { kind, port, size });
        workers.push(w);
    }
    return workers;
}

// Splits `total` into `parts` near-equal integers.
export function split(total, parts) {
    const out = [];
    for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0));
    return out;
}
