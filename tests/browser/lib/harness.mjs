// SPDX-License-Identifier: MIT
// harness.mjs: what every browser test needs: a real wsbroker process and a
// headless Chromium.
//
// Owns: the broker binary's path ($WSBROKER_BIN or <repo>/build/bin/wsbroker),
// starting it on a free loopback port with a database in a temporary
// directory and the repository's web root, waiting until GET /healthz is 200
// (polling, no fixed sleep), stopping, killing and restarting it, or serving wss://
// and https:// with a self-signed certificate made at run time; launching Chromium
// (/usr/bin/chromium or $CHROMIUM_BIN) through playwright-core with a fresh
// user-data directory; pages that fail the test on a JavaScript error, with
// wsb.js imported; and HTTP publish for the tests.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
// Paths, timeouts, ports and sanitizer checks are the integration suite's.
import {
    BROKER_BIN, REPO_ROOT, freePort, sanitizerReport, scaled, waitFor as waitForCondition,
} from '../../integration/lib/broker.mjs';

export { BROKER_BIN, REPO_ROOT, freePort, scaled };

export const WWW_DIR = path.join(REPO_ROOT, 'broker', 'www');
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'tests', 'artifacts');
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

/** The browser tests wait longer by default than the protocol tests. */
export function waitFor(check, opts = {}) {
    return waitForCondition(check, { timeoutMs: 10000, intervalMs: 25, ...opts });
}

/** A fresh name that no other test uses: prefix + random segment. */
export function uniqueName(prefix) {
    return `${prefix}${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * One wsbroker process. start() and restart() resolve when /healthz is 200.
 */
export class Broker {
    constructor({ port, dir, dbName = 'x.db', args = [], tls = false }) {
        this.port = port;
        this.dir = dir;
        this.dbName = dbName;
        this.args = args; // more flags for every start, e.g. ['--auth-secret', S]
        this.tls = tls;   // https:// and wss:// with a certificate for localhost
        const host = tls ? 'localhost' : '127.0.0.1';
        this.httpUrl = `${tls ? 'https' : 'http'}://${host}:${port}`;
        this.wsUrl = `${tls ? 'wss' : 'ws'}://${host}:${port}/ws`;
        this.proc = null;
        this.stderr = '';
    }

    get dbPath() {
        return path.join(this.dir, this.dbName);
    }

    async start() {
        const args = ['--bind', '127.0.0.1', '--port', String(this.port), '--db', this.dbPath,
            '--www', WWW_DIR, '--log-level', 'info', ...this.tlsArgs(), ...this.args];
        const proc = spawn(BROKER_BIN, args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
        this.proc = proc;
        this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
        proc.stderr.on('data', (d) => {
            if (this.stderr.length < 4 * 1024 * 1024) this.stderr += d;
        });
        proc.on('error', (err) => {
            this.stderr += `spawn failed: ${err.message}\n`;
        });
        let exitedEarly = false;
        this.exited.then(() => { exitedEarly = true; });
        await waitFor(async () => {
            if (exitedEarly) throw new Error(`broker exited at start: ${this.stderr.slice(-2000)}`);
            return (await this.healthz()) === 200;
        }, { timeoutMs: 15000, what: `${BROKER_BIN} to answer /healthz` }).catch((err) => {
            if (exitedEarly) throw new Error(`broker exited at start: ${this.stderr.slice(-2000)}`);
            throw err;
        });
    }

    /** --tls-cert and --tls-key of a self-signed certificate for localhost, made once. */
    tlsArgs() {
        if (!this.tls) return [];
        const cert = path.join(this.dir, 'cert.pem');
        const key = path.join(this.dir, 'key.pem');
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
            '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert],
        { stdio: 'ignore' });
        return ['--tls-cert', cert, '--tls-key', key];
    }

    /** The status of GET /healthz (the certificate is the test's own: not verified here). */
    healthz() {
        if (!this.tls) {
            return fetch(`${this.httpUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then((res) => res.status);
        }
        return new Promise((resolve, reject) => {
            const req = https.get(`${this.httpUrl}/healthz`, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
                res.resume();
                resolve(res.statusCode);
            });
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', reject);
        });
    }

    /** SIGTERM and wait for exit; throws on a sanitizer report or a bad exit. */
    async stop() {
        if (!this.proc) return;
        const proc = this.proc;
        this.proc = null;
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), scaled(10000));
        const { code, signal } = await this.exited;
        clearTimeout(timer);
        const report = sanitizerReport(this.stderr);
        if (report) throw new Error(`sanitizer report in broker stderr:\n${report}`);
        if (code !== 0) throw new Error(`broker exited with ${code ?? signal} on SIGTERM:\n${this.stderr.slice(-2000)}`);
    }

    /** SIGKILL, as a node that dies, and wait for the exit. */
    async kill() {
        if (!this.proc) return;
        const proc = this.proc;
        this.proc = null;
        proc.kill('SIGKILL');
        await this.exited;
    }

    /** Stops and starts again on the same port; `dbName` switches to another database file. */
    async restart({ dbName } = {}) {
        await this.stop();
        if (dbName) this.dbName = dbName;
        await this.start();
    }

    /** POST /api/publish; resolves with the broker's answer ({seq}). */
    async publish(topic, data, { key } = {}) {
        const body = { topic, data };
        if (key !== undefined) body.key = key;
        const res = await fetch(`${this.httpUrl}/api/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(scaled(5000)),
        });
        const json = await res.json();
        if (res.status !== 200) throw new Error(`POST /api/publish: ${res.status} ${JSON.stringify(json)}`);
        return json;
    }

    /** GET /api/history; resolves with {messages, recovered, more}. */
    async history(topic, { since, limit } = {}) {
        const q = new URLSearchParams({ topic });
        if (since !== undefined) q.set('since', String(since));
        if (limit !== undefined) q.set('limit', String(limit));
        const res = await fetch(`${this.httpUrl}/api/history?${q}`, { signal: AbortSignal.timeout(scaled(5000)) });
        const json = await res.json();
        if (res.status !== 200) throw new Error(`GET /api/history: ${res.status} ${JSON.stringify(json)}`);
        return json;
    }
}

/**
 * Starts a broker in a new temporary directory; removed by cleanup().
 * `args` are more flags of the broker; `tls` serves https:// and wss://.
 */
export async function startBroker({ args = [], tls = false } = {}) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsb-browser-'));
    const broker = new Broker({ port: await freePort(), dir, args, tls });
    try {
        await broker.start();
    } catch (err) {
        await fs.rm(dir, { recursive: true, force: true });
        throw err;
    }
    broker.cleanup = async () => {
        try {
            await broker.stop();
        } finally {
            await fs.rm(dir, { recursive: true, force: true });
        }
    };
    return broker;
}

/**
 * Launches headless Chromium with a fresh user-data directory. Returns
 * {context, newPage(url, {viewport}), close()}. Pages collect JavaScript
 * errors in page.errors; assertNoPageErrors(page) fails on any. With
 * ignoreHTTPSErrors, the test broker's self-signed certificate is accepted
 * (pages and WebSockets).
 */
export async function launchBrowser({ ignoreHTTPSErrors = false } = {}) {
    const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsb-chromium-'));
    let context;
    try {
        context = await chromium.launchPersistentContext(userDataDir, {
            executablePath: CHROMIUM_BIN,
            headless: true,
            args: CHROMIUM_ARGS,
            viewport: { width: 1280, height: 900 },
            ignoreHTTPSErrors,
            timeout: scaled(30000),
        });
    } catch (err) {
        await fs.rm(userDataDir, { recursive: true, force: true });
        throw err;
    }
    context.setDefaultTimeout(scaled(10000));
    return {
        context,
        async newPage(url) {
            const page = await context.newPage();
            page.errors = [];
            page.on('pageerror', (err) => page.errors.push(err.message));
            if (url) await page.goto(url);
            return page;
        },
        async close() {
            await context.close();
            await fs.rm(userDataDir, { recursive: true, force: true });
        },
    };
}

/** A page of the broker's origin with wsb.js imported as window.wsb; test state in window.t. */
export async function wsbPage(browser, broker) {
    const page = await browser.newPage(`${broker.httpUrl}/healthz`);
    await page.evaluate(async () => {
        window.wsb = await import('/wsb.js');
        window.t = {};
    });
    return page;
}

/** Waits (polling in the page) until `fn` returns a truthy value. */
export function pageWait(page, fn, arg) {
    return page.waitForFunction(fn, arg, { timeout: scaled(10000) });
}

/** Fails when the page threw an uncaught exception. */
export function assertNoPageErrors(page) {
    if (page.errors.length) throw new Error(`JavaScript errors in the page:\n${page.errors.join('\n')}`);
}

/** Waits until the page's WsbClient (window.__wsb.client) has a welcome and is open. */
export async function waitConnected(page) {
    await page.waitForFunction(() => window.__wsb && window.__wsb.client.state === 'open');
}
