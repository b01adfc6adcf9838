// SPDX-License-Identifier: MIT
// broker.mjs: starts and stops a real wsbroker process for one test.
//
// Owns: finding a free loopback port, the temporary directory (database and
// working directory), waiting until `GET /healthz` answers, capturing stderr,
// stopping (SIGTERM), killing (SIGKILL), restarting on the same db and port,
// and the sanitizer check (a test fails when the broker's stderr holds an
// AddressSanitizer, LeakSanitizer or UBSan report).
//
// The binary is $WSBROKER_BIN, or <repo>/build/bin/wsbroker.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildServer, TIMEOUT_SCALE, pause, scaled } from './child.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
export const BROKER_BIN = process.env.WSBROKER_BIN
    ? path.resolve(process.env.WSBROKER_BIN)
    : path.join(REPO_ROOT, 'build', 'bin', 'wsbroker');

// True when the broker is built with AddressSanitizer, whose allocator keeps
// freed memory in a quarantine: tests of the resident size skip there.
export const SANITIZED = (() => {
    try {
        return readFileSync(BROKER_BIN).includes('__asan_init');
    } catch {
        return false;
    }
})();

export { TIMEOUT_SCALE, scaled };

const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'LeakSanitizer', 'runtime error:'];
const PORT_IN_USE = /in use|EADDRINUSE|address already|could not bind|cannot bind|bind\(\)|listen/i;
const STDERR_KEEP = 32 * 1024 * 1024; // keep at most this much of a broker's stderr

// Polls `check` (sync or async) every intervalMs until it returns a truthy
// value, which is returned; throws after timeoutMs. This is a wait for a
// condition, not a fixed sleep.
export async function waitFor(check, { timeoutMs = 5000, intervalMs = 20, what = 'condition' } = {}) {
    const deadline = Date.now() + scaled(timeoutMs);
    let lastError = null;
    for (;;) {
        try {
            const value = await check();
            if (value) return value;
        } catch (err) {
            lastError = err;
        }
        if (Date.now() > deadline) {
            const why = lastError ? ` (last error: ${lastError.message})` : '';
            throw new Error(`timed out after ${scaled(timeoutMs)} ms waiting for ${what}${why}`);
        }
        await pause(intervalMs);
    }
}

// Cleanups of one node:test context run in one t.after() hook: first the
// ordinary ones (connections, directories), then the brokers, newest first
// within each group. Every cleanup runs even when an earlier one throws; the
// errors are thrown together at the end, so the test fails.
const cleanupRegistries = new WeakMap();

export function onCleanup(t, fn, { last = false } = {}) {
    let reg = cleanupRegistries.get(t);
    if (!reg) {
        reg = { first: [], last: [] };
        cleanupRegistries.set(t, reg);
        t.after(async () => {
            const errors = [];
            for (const f of [...reg.first.reverse(), ...reg.last.reverse()]) {
                try {
                    await f();
                } catch (err) {
                    errors.push(err);
                }
            }
            if (errors.length === 1) throw errors[0];
            if (errors.length > 1) throw new Error(errors.map((e) => e.message).join('\n---\n'));
        });
    }
    (last ? reg.last : reg.first).push(fn);
}

// A port that was free a moment ago on 127.0.0.1.
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

// A field of the broker's /proc/PID/status in bytes: VmRSS (resident now),
// VmHWM (resident at its peak).
export function procStatusBytes(broker, field) {
    const text = readFileSync(`/proc/${broker.proc.pid}/status`, 'utf8');
    const m = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    if (!m) throw new Error(`no ${field} in /proc/${broker.proc.pid}/status`);
    return Number(m[1]) * 1024;
}

export function sanitizerReport(text) {
    const hit = SANITIZER_MARKERS.find((m) => text.includes(m));
    if (!hit) return null;
    const at = text.indexOf(hit);
    return text.slice(Math.max(0, at - 200), at + 3000);
}

// One HTTP request with a timeout. `body`: an object (sent as JSON), a
// string or a Buffer (sent as is). Resolves {status, headers, text, json}
// (json undefined when the body is not JSON).
export async function httpRequest(url, { method = 'GET', body, headers = {}, timeoutMs = 5000 } = {}) {
    const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(scaled(timeoutMs)) };
    if (body !== undefined) {
        if (typeof body === 'string' || Buffer.isBuffer(body)) {
            init.body = body;
        } else {
            init.body = JSON.stringify(body);
            init.headers['content-type'] ??= 'application/json';
        }
    }
    const res = await fetch(url, init);
    const text = await res.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
}

// GET on the broker's HTTP side; resolves {status, headers, text, json}.
export function httpGet(url, { timeoutMs = 5000, headers = {} } = {}) {
    return httpRequest(url, { timeoutMs, headers });
}

// Runs the binary with exactly `args` (nothing added) and waits for it to
// exit. Resolves {code, signal, stdout, stderr, timedOut}. Used for command
// line checks that expect the process to exit by itself.
export function runBroker(args, { cwd, timeoutMs = 10000 } = {}) {
    return new Promise((resolve, reject) => {
        const proc = spawn(BROKER_BIN, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let timedOut = false;
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => {
            timedOut = true;
            proc.kill('SIGKILL');
        }, scaled(timeoutMs));
        proc.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
        });
        let done = false;
        const finish = (code, signal) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr, timedOut });
        };
        proc.on('exit', (code, signal) => {
            // 'close' waits for the pipes; do not hang if a wrapper's child holds them.
            setTimeout(() => {
                proc.stdout.destroy();
                proc.stderr.destroy();
                finish(code, signal);
            }, 2000).unref();
        });
        proc.on('close', finish);
    });
}

class Broker extends ChildServer {
    constructor({ args, dir, dbPath, port, healthTimeoutMs, wrapper, readyWhenAnswering }) {
        super('wsbroker');
        this.args = args;
        this.wrapper = wrapper;
        this.dir = dir;
        this.dbPath = dbPath;
        this.port = port;
        this.healthTimeoutMs = healthTimeoutMs;
        this.readyWhenAnswering = readyWhenAnswering;
        this.stderrChunks = [];
        this.stderrBytes = 0;
        this.sanitizerHits = [];
        this.stdoutText = '';
    }

    get url() {
        return `ws://127.0.0.1:${this.port}/ws`;
    }

    get http() {
        return `http://127.0.0.1:${this.port}`;
    }

    stderrText() {
        return this.stderrChunks.join('');
    }

    commandLine() {
        return [
            '--bind', '127.0.0.1',
            '--port', String(this.port),
            ...(this.dbPath ? ['--db', this.dbPath] : []),
            '--log-level', 'debug',
            ...this.args,
        ];
    }

    spawnOnce() {
        // A wrapper (e.g. prlimit) must exec the broker, keeping its pid.
        const [file, ...argv] = [...this.wrapper, BROKER_BIN, ...this.commandLine()];
        const proc = spawn(file, argv, {
            cwd: this.dir,
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let tail = '';
        proc.stderr.setEncoding('utf8');
        proc.stderr.on('data', (chunk) => {
            const probe = tail + chunk;
            const report = sanitizerReport(probe);
            if (report) this.sanitizerHits.push(report);
            tail = chunk.slice(-64);
            this.stderrChunks.push(chunk);
            this.stderrBytes += chunk.length;
            while (this.stderrBytes > STDERR_KEEP && this.stderrChunks.length > 1) {
                this.stderrBytes -= this.stderrChunks.shift().length;
            }
        });
        proc.stdout.setEncoding('utf8');
        proc.stdout.on('data', (chunk) => {
            if (this.stdoutText.length < 1024 * 1024) this.stdoutText += chunk;
        });
        return this.track(proc);
    }

    // Starts the process and waits for /healthz: a 200, or with
    // readyWhenAnswering any status (a broker whose store is unreachable at
    // start answers 503). Resolves true when ready, false when it exited
    // with status 2 and a "port in use" message.
    async startOnce() {
        const stderrBefore = this.stderrText().length;
        this.spawnOnce();
        const deadline = Date.now() + scaled(this.healthTimeoutMs);
        for (;;) {
            if (this.exit) {
                const err = this.stderrText().slice(stderrBefore);
                this.unexpectedExits.pop();
                if (this.exit.code === 2 && PORT_IN_USE.test(err)) return false;
                throw new Error(
                    `wsbroker exited during start (code ${this.exit.code}, signal ${this.exit.signal}` +
                    `${this.exit.error ? `, ${this.exit.error.message}` : ''}): ${err.slice(-4000)}`);
            }
            try {
                const res = await httpGet(`${this.http}/healthz`, { timeoutMs: 1000 });
                if (res.status === 200 || this.readyWhenAnswering) return true;
            } catch {
                // not listening yet
            }
            if (Date.now() > deadline) {
                await this.kill9();
                throw new Error(`wsbroker not healthy after ${scaled(this.healthTimeoutMs)} ms: ` +
                    this.stderrText().slice(-4000));
            }
            await pause(20);
        }
    }

    // SIGTERM, wait for the exit; resolves the exit code (null when killed
    // by a signal). Throws when the sanitizers reported anything.
    async stop({ timeoutMs = 15000 } = {}) {
        const running = this.proc && !this.exit;
        await this.terminate(timeoutMs);
        if (running && this.exit.signal === 'SIGKILL') {
            throw new Error(`wsbroker did not exit within ${scaled(timeoutMs)} ms of SIGTERM`);
        }
        this.checkSanitizers();
        return this.exit ? this.exit.code : null;
    }

    // Starts again with the same database, port and arguments (see
    // ChildServer.restart); a sanitizer report of the old process fails it.
    async restart(opts) {
        this.checkSanitizers();
        return super.restart(opts);
    }

    checkSanitizers() {
        if (this.sanitizerHits.length) {
            throw new Error(`sanitizer report in wsbroker stderr:\n${this.sanitizerHits[0]}`);
        }
    }

    // Stops the broker, removes the temporary directory, and throws when the
    // broker crashed, did not exit cleanly on SIGTERM or the sanitizers spoke.
    async cleanup() {
        if (this.cleanedUp) return;
        this.cleanedUp = true;
        const problems = [];
        try {
            const wasRunning = this.proc && !this.exit;
            const code = await this.stop();
            if (wasRunning && code !== 0) {
                problems.push(`wsbroker exited with ${code ?? this.exit.signal} on SIGTERM (expected 0)`);
            }
        } catch (err) {
            problems.push(err.message);
        }
        for (const e of this.unexpectedExits) {
            problems.push(`wsbroker died during the test: code ${e.code}, signal ${e.signal}`);
        }
        await fs.rm(this.dir, { recursive: true, force: true });
        if (problems.length) {
            throw new Error(`${problems.join('\n')}\n--- stderr tail ---\n${this.stderrText().slice(-3000)}`);
        }
    }
}

// Starts a broker on a fresh port and temporary directory.
//   args: extra command line arguments
//   db:   the --db value (default DIR/test.db); ':memory:' works; false: no --db
//   t:    a node:test context; when given, cleanup() runs in t.after()
//   wrapper: a command that execs the broker, e.g. ['prlimit', '--nofile=128:128']
//   readyWhenAnswering: ready once /healthz answers at all, 503 included
export async function startBroker({
    args = [], db, t, healthTimeoutMs = 10000, wrapper = [], readyWhenAnswering = false,
} = {}) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-it-'));
    const dbPath = db === false ? null : db ?? path.join(dir, 'test.db');
    let broker = null;
    try {
        for (let attempt = 0; attempt < 8; attempt++) {
            const port = await freePort();
            broker = new Broker({ args, dir, dbPath, port, healthTimeoutMs, wrapper, readyWhenAnswering });
            if (t) {
                const mine = broker;
                onCleanup(t, () => mine.cleanup(), { last: true });
            }
            if (await broker.startOnce()) return broker;
            broker.cleanedUp = true; // that attempt's process already exited
        }
    } catch (err) {
        if (!t) await fs.rm(dir, { recursive: true, force: true });
        throw err;
    }
    if (!t) await fs.rm(dir, { recursive: true, force: true });
    throw new Error('no free port found for wsbroker after 8 attempts');
}
