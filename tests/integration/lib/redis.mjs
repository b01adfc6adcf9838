// SPDX-License-Identifier: MIT
// redis.mjs: a real redis-server for the tests of several brokers on one
// Redis (--redis), and those brokers.
//
// Owns: starting redis-server on a free loopback port with a temporary
// directory and the durability the broker asks for (appendonly,
// appendfsync always, no RDB snapshots), waiting until it answers PING,
// stopping (SIGTERM), killing (SIGKILL) and restarting it on the same port
// and directory; a minimal RESP client for one command at a time (CLIENT
// LIST, CLIENT KILL, CONFIG), written here so the suite needs no Redis
// package; and a group of brokers started with --redis on one server.
//
// The binary is $REDIS_SERVER, or redis-server on the PATH.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { freePort, httpGet, onCleanup, startBroker } from './broker.mjs';
import { ChildServer, pause, scaled } from './child.mjs';

export const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server';

const OUTPUT_KEEP = 64 * 1024; // keep at most this much of redis-server's log
const PORT_IN_USE = /Address already in use|Could not create server TCP listening socket/i;

export class RedisError extends Error {}

function encodeCommand(args) {
    const parts = [`*${args.length}\r\n`];
    for (const arg of args) {
        const bytes = Buffer.from(String(arg), 'utf8');
        parts.push(`$${bytes.length}\r\n`, bytes, '\r\n');
    }
    return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8'))));
}

// Parses one RESP2 reply at `at`; returns {value, end} or null when the
// buffer does not hold all of it yet. An error reply becomes a RedisError
// value (thrown by the caller, so that arrays of replies stay whole).
function parseReply(buf, at) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const kind = String.fromCharCode(buf[at]);
    const line = buf.toString('utf8', at + 1, lineEnd);
    const afterLine = lineEnd + 2;
    switch (kind) {
    case '+':
        return { value: line, end: afterLine };
    case '-':
        return { value: new RedisError(line), end: afterLine };
    case ':':
        return { value: Number(line), end: afterLine };
    case '$': {
        const len = Number(line);
        if (len < 0) return { value: null, end: afterLine };
        if (buf.length < afterLine + len + 2) return null;
        return { value: buf.toString('utf8', afterLine, afterLine + len), end: afterLine + len + 2 };
    }
    case '*': {
        const count = Number(line);
        if (count < 0) return { value: null, end: afterLine };
        const items = [];
        let end = afterLine;
        for (let i = 0; i < count; i++) {
            const item = parseReply(buf, end);
            if (!item) return null;
            items.push(item.value);
            end = item.end;
        }
        return { value: items, end };
    }
    default:
        throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('utf8', at, at + 40))}`);
    }
}

// Sends one command to 127.0.0.1:port on a connection of its own and
// resolves its parsed reply; an error reply rejects with a RedisError.
export function redisCommand(port, args, { timeoutMs = 3000 } = {}) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        let buf = Buffer.alloc(0);
        let settled = false;
        const finish = (err, value) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            sock.destroy();
            if (err) reject(err);
            else resolve(value);
        };
        const timer = setTimeout(() => finish(new Error(
            `no reply from redis :${port} within ${scaled(timeoutMs)} ms to ${args.join(' ')}`)), scaled(timeoutMs));
        sock.on('connect', () => sock.write(encodeCommand(args)));
        sock.on('data', (chunk) => {
            buf = Buffer.concat([buf, chunk]);
            let reply;
            try {
                reply = parseReply(buf, 0);
            } catch (err) {
                finish(err);
                return;
            }
            if (!reply) return;
            if (reply.value instanceof RedisError) finish(reply.value);
            else finish(null, reply.value);
        });
        sock.on('error', (err) => finish(err));
        sock.on('close', () => finish(new Error(`redis :${port} closed the connection before replying`)));
    });
}

class RedisServer extends ChildServer {
    constructor({ port, dir }) {
        super('redis-server');
        this.port = port;
        this.dir = dir;
        this.output = '';
    }

    get url() {
        return `redis://127.0.0.1:${this.port}`;
    }

    commandLine() {
        return [
            '--port', String(this.port),
            '--bind', '127.0.0.1',
            '--dir', this.dir,
            '--appendonly', 'yes',
            '--appendfsync', 'always',
            '--save', '',
            '--daemonize', 'no',
        ];
    }

    spawnOnce() {
        const proc = spawn(REDIS_SERVER, this.commandLine(), { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
        const keep = (chunk) => {
            this.output = (this.output + chunk).slice(-OUTPUT_KEEP);
        };
        proc.stdout.setEncoding('utf8');
        proc.stderr.setEncoding('utf8');
        proc.stdout.on('data', keep);
        proc.stderr.on('data', keep);
        return this.track(proc);
    }

    // Starts redis-server and waits until it answers PING. Resolves true
    // when ready, false when it exited because the port was taken.
    async startOnce({ timeoutMs = 10000 } = {}) {
        const outputBefore = this.output.length;
        this.spawnOnce();
        const deadline = Date.now() + scaled(timeoutMs);
        for (;;) {
            if (this.exit) {
                this.unexpectedExits.pop();
                const said = this.output.slice(outputBefore);
                if (PORT_IN_USE.test(said)) return false;
                const { code, signal, error } = this.exit;
                const how = error ? error.message : `code ${code}, signal ${signal}`;
                throw new Error(`${REDIS_SERVER} exited during start (${how}): ${said.slice(-3000)}`);
            }
            try {
                if (await this.answersAsItself()) return true;
            } catch {
                // not listening yet, or still loading the append-only file
            }
            if (Date.now() > deadline) {
                await this.kill9();
                throw new Error(`redis-server not answering PING after ${scaled(timeoutMs)} ms: ` +
                    this.output.slice(-3000));
            }
            await pause(20);
        }
    }

    // True when the server on the port answers PING and is this process,
    // not another test's redis-server that took the port first.
    async answersAsItself() {
        if ((await redisCommand(this.port, ['PING'], { timeoutMs: 1000 })) !== 'PONG') return false;
        const info = await redisCommand(this.port, ['INFO', 'server'], { timeoutMs: 1000 });
        const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
        if (pid === this.proc.pid) return true;
        await this.exitPromise; // this one cannot bind the port and exits
        return false;
    }

    // One command; resolves the parsed reply (strings, numbers, arrays, null).
    command(...args) {
        return redisCommand(this.port, args);
    }

    stop({ timeoutMs = 10000 } = {}) {
        return this.terminate(timeoutMs);
    }

    // CLIENT LIST as objects: one per connection, its fields by name.
    async clients() {
        const text = await this.command('CLIENT', 'LIST');
        return text.split('\n').filter((l) => l.trim()).map((line) => Object.fromEntries(
            line.trim().split(' ').map((kv) => {
                const eq = kv.indexOf('=');
                return [kv.slice(0, eq), kv.slice(eq + 1)];
            })));
    }

    async cleanup() {
        if (this.cleanedUp) return;
        this.cleanedUp = true;
        await this.stop();
        await fs.rm(this.dir, { recursive: true, force: true });
        if (this.unexpectedExits.length) {
            const e = this.unexpectedExits[0];
            throw new Error(`redis-server died during the test: code ${e.code}, signal ${e.signal}\n` +
                this.output.slice(-2000));
        }
    }
}

// Starts redis-server on a fresh temporary directory and, unless `port` is
// given, a free port. With `t` it is stopped and its directory removed in
// t.after(), after the brokers (register it before starting them).
export async function startRedis({ t, port } = {}) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-redis-'));
    try {
        for (let attempt = 0; attempt < 8; attempt++) {
            const server = new RedisServer({ port: port ?? await freePort(), dir });
            if (t) onCleanup(t, () => server.cleanup(), { last: true });
            if (await server.startOnce()) return server;
            server.cleanedUp = true;
            if (port) throw new Error(`redis port ${port} is in use`);
        }
    } catch (err) {
        if (!t) await fs.rm(dir, { recursive: true, force: true });
        throw err;
    }
    throw new Error('no free port found for redis-server after 8 attempts');
}

// Starts `count` brokers with --redis on `redis` (in parallel) and no --db.
// Each one is added to `started` as soon as it runs, so that a caller
// without `t` can stop those that started when another one failed.
export function startRedisBrokers(redis, { t, count = 3, args = [], started = [] } = {}) {
    return Promise.all(Array.from({ length: count }, async () => {
        const broker = await startBroker({ t, db: false, args: ['--redis', redis.url, ...args] });
        started.push(broker);
        return broker;
    }));
}

// One redis-server and `count` brokers on it for a test (cleaned up in
// t.after(), the brokers first). Resolves {redis, nodes}.
export async function startRedisNodes({ t, count = 3, args = [] }) {
    const redis = await startRedis({ t });
    const nodes = await startRedisBrokers(redis, { t, count, args });
    return { redis, nodes };
}

// One redis-server and `count` brokers for every test of a describe()
// block; the object's `redis` and `nodes` are set once before() ran.
export function sharedRedisNodes({ count = 3, args = [] } = {}) {
    const ctx = { redis: null, nodes: [] };
    const started = [];
    before(async () => {
        ctx.redis = await startRedis();
        ctx.nodes = await startRedisBrokers(ctx.redis, { count, args, started });
    });
    after(async () => {
        const errors = [];
        for (const b of started) await b.cleanup().catch((err) => errors.push(err));
        if (ctx.redis) await ctx.redis.cleanup().catch((err) => errors.push(err));
        if (errors.length) throw new Error(errors.map((e) => e.message).join('\n---\n'));
    });
    return ctx;
}

// GET /api/stats of a broker, asserted 200.
export async function stats(broker) {
    const res = await httpGet(`${broker.http}/api/stats`);
    if (res.status !== 200 || !res.json) throw new Error(`/api/stats answered ${res.status} ${res.text.slice(0, 300)}`);
    return res.json;
}

// The status GET /healthz answers now.
export async function healthStatus(broker) {
    return (await httpGet(`${broker.http}/healthz`, { timeoutMs: 2000 })).status;
}

// The CLIENT LIST entry of a broker's Redis pub/sub connection, named
// wsb-<node>-sub with the node id from its /api/stats; undefined when it has
// none right now.
export async function subConnection(redis, broker) {
    const node = (await stats(broker)).redis?.node;
    if (!node) throw new Error(`no redis.node in ${broker.http}/api/stats`);
    return (await redis.clients()).find((c) => c.name === `wsb-${node}-sub`);
}
