// SPDX-License-Identifier: MIT
// lb.mjs: the processes around several wsbroker nodes, for the tests of
// deploy/multinode/: a redis-server started with deploy/multinode/redis.conf,
// and HAProxy or nginx started with the deploy files, ports changed.
//
// Owns: starting and stopping those processes (free ports, temporary
// directories, captured output), one Redis command over RESP for checks,
// and turning the deploy configurations into ones that listen on free
// ports. Each substitution must match exactly once, so a deploy file that
// changes shape fails the test instead of being half rewritten.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, httpGet, onCleanup, REPO_ROOT, scaled, waitFor } from './broker.mjs';

export const MULTINODE_DIR = path.join(REPO_ROOT, 'deploy', 'multinode');

const OUTPUT_KEEP = 256 * 1024;

// A child process whose output is kept (the last OUTPUT_KEEP bytes) for
// failure messages. stop() sends `signal` and waits for the exit.
class Daemon {
    constructor(name, file, args, { cwd } = {}) {
        this.name = name;
        this.output = '';
        this.exit = null;
        this.proc = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
        const keep = (chunk) => {
            this.output = (this.output + chunk).slice(-OUTPUT_KEEP);
        };
        this.proc.stdout.setEncoding('utf8').on('data', keep);
        this.proc.stderr.setEncoding('utf8').on('data', keep);
        this.exited = new Promise((resolve) => {
            this.proc.on('error', (err) => {
                this.exit = { code: null, signal: null, error: err };
                resolve(this.exit);
            });
            this.proc.on('exit', (code, signal) => {
                this.exit = { code, signal };
                resolve(this.exit);
            });
        });
    }

    describe() {
        return `${this.name}: ${this.exit ? `exited ${JSON.stringify(this.exit)}` : 'running'}; ` +
            `output tail: ${this.output.slice(-2000)}`;
    }

    async stop(signal = 'SIGTERM', timeoutMs = 10000) {
        if (this.exit) return this.exit;
        this.proc.kill(signal);
        const timer = setTimeout(() => this.proc.kill('SIGKILL'), scaled(timeoutMs));
        await this.exited;
        clearTimeout(timer);
        return this.exit;
    }
}

// One command on a fresh connection; resolves the reply as a string
// (simple string, bulk string, or an array's elements joined by newlines).
// Enough for PING and CONFIG GET; an error reply rejects.
export function redisCommand(port, ...args) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        let buf = '';
        sock.setEncoding('utf8');
        sock.setTimeout(scaled(5000), () => sock.destroy(new Error(`redis ${args[0]}: no answer`)));
        sock.on('error', reject);
        sock.on('connect', () => {
            sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
        });
        sock.on('data', (chunk) => {
            buf += chunk;
            const reply = parseReply(buf);
            if (reply === undefined) return;
            sock.end();
            if (reply instanceof Error) reject(reply);
            else resolve(reply);
        });
    });
}

// The reply in `text`, or undefined while it is incomplete. Bulk strings
// are taken as ASCII, which is all the checks read.
function parseReply(text) {
    const lines = text.split('\r\n');
    if (lines.length < 2) return undefined;
    const [head] = lines;
    if (head[0] === '+' || head[0] === ':') return head.slice(1);
    if (head[0] === '-') return new Error(`redis: ${head.slice(1)}`);
    if (head[0] === '$') return Number(head.slice(1)) < 0 ? '' : (lines.length > 2 ? lines[1] : undefined);
    if (head[0] === '*') {
        const n = Number(head.slice(1));
        const items = [];
        for (let i = 0; i < n; i++) {
            if (lines.length < 4 + 2 * i) return undefined;
            items.push(lines[2 + 2 * i]);
        }
        return items.join('\n');
    }
    return new Error(`redis: unexpected reply ${JSON.stringify(head)}`);
}

// A redis-server with deploy/multinode/redis.conf on a free port and a
// temporary directory (its append-only file). start() may be called again
// after stop(): the same port and directory, so the data comes back.
class Redis {
    constructor(dir, port) {
        this.dir = dir;
        this.port = port;
        this.daemon = null;
    }

    get url() {
        return `redis://127.0.0.1:${this.port}/0`;
    }

    async start() {
        this.daemon = new Daemon('redis-server', 'redis-server', [
            path.join(MULTINODE_DIR, 'redis.conf'),
            '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
            '--save', '', '--daemonize', 'no',
        ]);
        await waitFor(async () => {
            if (this.daemon.exit) throw new Error(this.daemon.describe());
            return (await redisCommand(this.port, 'PING')) === 'PONG';
        }, { timeoutMs: 10000, what: 'redis-server to answer PING' });
        return this;
    }

    // SIGTERM: Redis fsyncs the append-only file and exits.
    async stop() {
        if (this.daemon) await this.daemon.stop();
    }
}

export async function startRedis(t) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-redis-'));
    const redis = new Redis(dir, await freePort());
    onCleanup(t, async () => {
        await redis.stop();
        await fs.rm(dir, { recursive: true, force: true });
    }, { last: true });
    return redis.start();
}

// Replaces `from` (a string or a regular expression) by `to` in `text`,
// and throws unless it occurs exactly once.
export function replaceOnce(text, from, to, file) {
    const re = typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g')
        : new RegExp(from.source, `${from.flags.replace('g', '')}g`);
    const hits = text.match(re)?.length ?? 0;
    if (hits !== 1) throw new Error(`${file}: ${from} occurs ${hits} times, expected once`);
    return text.replace(re, to);
}

// deploy/multinode/haproxy.cfg listening on 127.0.0.1:port in front of
// nodePorts (three), with `overrides` ({'timeout client 60s': 'timeout
// client 3s', ...}) applied. maxconn is lowered so that HAProxy needs no
// descriptor limit above an ordinary user's, and it stays the user that
// runs the test (no user and group lines).
export function haproxyConfig(port, nodePorts, overrides = {}) {
    const file = 'haproxy.cfg';
    let text = readFileSync(path.join(MULTINODE_DIR, file), 'utf8');
    text = replaceOnce(text, /^(\s+)bind :8080$/m, `$1bind 127.0.0.1:${port}`, file);
    text = replaceOnce(text, /^(\s+)maxconn 60000$/m, '$1maxconn 1000', file);
    text = replaceOnce(text, /^\s+user haproxy\n\s+group haproxy\n/m, '', file);
    nodePorts.forEach((nodePort, i) => {
        text = replaceOnce(text, `127.0.0.1:${8081 + i}`, `127.0.0.1:${nodePort}`, file);
    });
    for (const [from, to] of Object.entries(overrides)) text = replaceOnce(text, from, to, file);
    return text;
}

// deploy/multinode/nginx-site.conf listening on 127.0.0.1:port in front of
// nodePorts, inside a main configuration whose paths are all in `dir`.
export function nginxConfig(dir, port, nodePorts) {
    const file = 'nginx-site.conf';
    let site = readFileSync(path.join(MULTINODE_DIR, file), 'utf8');
    site = replaceOnce(site, /^(\s+)listen 8080;$/m, `$1listen 127.0.0.1:${port};`, file);
    nodePorts.forEach((nodePort, i) => {
        site = replaceOnce(site, `127.0.0.1:${8081 + i}`, `127.0.0.1:${nodePort}`, file);
    });
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
        .map((k) => `    ${k}_temp_path ${dir}/${k};`).join('\n');
    return `pid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n    access_log off;\n${temp}\n` +
        `${site}\n}\n`;
}

// A load balancer process with `http` and `url` like a Broker's, so the
// helpers of util.mjs and client.mjs work through it.
class Proxy {
    constructor(daemon, port) {
        this.daemon = daemon;
        this.port = port;
    }

    get url() {
        return `ws://127.0.0.1:${this.port}/ws`;
    }

    get http() {
        return `http://127.0.0.1:${this.port}`;
    }

    // Resolves once GET /healthz through the proxy answers `status`.
    async waitHealth(status, { timeoutMs = 15000 } = {}) {
        await waitFor(async () => {
            if (this.daemon.exit) throw new Error(this.daemon.describe());
            return (await httpGet(`${this.http}/healthz`, { timeoutMs: 2000 })).status === status;
        }, { timeoutMs, intervalMs: 100, what: `${this.daemon.name} /healthz ${status}` });
    }
}

async function startProxy(t, name, command, writeConfig) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `wsbroker-${name}-`));
    const port = await freePort();
    const args = await writeConfig(dir, port);
    const proxy = new Proxy(new Daemon(name, command, args, { cwd: dir }), port);
    onCleanup(t, async () => {
        await proxy.daemon.stop();
        await fs.rm(dir, { recursive: true, force: true });
    });
    await proxy.waitHealth(200);
    return proxy;
}

// HAProxy in the foreground (-db) with haproxyConfig().
export function startHaproxy(t, nodePorts, overrides) {
    return startProxy(t, 'haproxy', 'haproxy', async (dir, port) => {
        const cfg = path.join(dir, 'haproxy.cfg');
        await fs.writeFile(cfg, haproxyConfig(port, nodePorts, overrides));
        return ['-db', '-f', cfg];
    });
}

// nginx in the foreground with nginxConfig().
export function startNginx(t, nodePorts) {
    return startProxy(t, 'nginx', 'nginx', async (dir, port) => {
        const cfg = path.join(dir, 'nginx.conf');
        await fs.writeFile(cfg, nginxConfig(dir, port, nodePorts));
        return ['-p', dir, '-e', 'stderr', '-c', cfg, '-g', 'daemon off;'];
    });
}
