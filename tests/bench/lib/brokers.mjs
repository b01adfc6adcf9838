// SPDX-License-Identifier: MIT
// brokers.mjs: starts and stops the three brokers for the comparison, each
// on free loopback ports with a temporary directory of its own, and reads
// a process's CPU time and resident memory from /proc.
//
// Owns: the broker configurations (written into the run directory), the
// wait until a broker accepts connections, and the registry of every child
// process this run started (brokers and load-generator workers), so that
// all of them are killed when the run ends, however it ends.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

// The brokers' names as the table and the progress log write them.
export const NAMES = { wsbroker: 'wsbroker', mosquitto: 'Mosquitto', nats: 'nats-server' };

export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

// ---------------------------------------------------------------- children

const children = new Set();

export function childTrack(proc) {
    children.add(proc);
    proc.on('exit', () => children.delete(proc));
    return proc;
}

export function childrenKill() {
    for (const proc of children) {
        try {
            proc.kill('SIGKILL');
        } catch {
            // already gone
        }
    }
    children.clear();
}

// ---------------------------------------------------------------- /proc

// utime + stime of the whole process (all threads), in µs.
export function cpuUs(pid) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of stat
    return (ticks * 1e6) / CLOCK_TICKS;
}

// CPU time the whole machine spent busy (all cores, all processes), in µs:
// what is left after the broker and the load generator is other load.
export function machineBusyUs() {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return ((user + nice + system + irq + softirq + (steal || 0)) * 1e6) / CLOCK_TICKS;
}

export function rssKb(pid) {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) : NaN;
}

// ---------------------------------------------------------------- ports

export function freePort() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.on('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

function pause(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// wsbroker: GET /healthz answers 200 (a bare TCP connect and close is not
// used as the probe: wsbroker 0.1.0 crashes on it, see tests/bench/README.md).
function healthzOk(port) {
    return new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000 }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode === 200));
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => req.destroy());
    });
}

function tcpAccepts(port) {
    return new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        sock.on('connect', () => {
            sock.destroy();
            resolve(true);
        });
        sock.on('error', () => resolve(false));
    });
}

// ---------------------------------------------------------------- brokers

function mosquittoConfig(dir, plainPort, wsPort) {
    // 2.0.11 does not start with a websockets listener alone: a plain
    // listener on loopback goes with it (unused by the benchmark).
    return [
        'persistence false',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'allow_anonymous true',
        `listener ${plainPort} 127.0.0.1`,
        `listener ${wsPort} 127.0.0.1`,
        'protocol websockets',
        'socket_domain ipv4',
        '',
    ].join('\n');
}

function natsConfig(dir, plainPort, wsPort) {
    return [
        'host: 127.0.0.1',
        `port: ${plainPort}`,
        `websocket { host: 127.0.0.1, port: ${wsPort}, no_tls: true }`,
        `jetstream { store_dir: "${path.join(dir, 'jetstream')}" }`,
        '',
    ].join('\n');
}

const BROKER_BINS = {
    mosquitto: 'mosquitto',
    nats: 'nats-server',
};

// Starts one broker. `kind` is wsbroker, mosquitto or nats; `extra` are
// extra wsbroker flags (e.g. ['--durability', 'os']). Resolves with
// {kind, pid, port, dir, stop()} once the WebSocket port accepts.
export async function brokerStart(kind, { runDir, wsbrokerBin, extra = [], label = kind }) {
    const dir = fs.mkdtempSync(path.join(runDir, `${label}-`));
    const port = await freePort();
    let cmd;
    let args;
    if (kind === 'wsbroker') {
        cmd = wsbrokerBin;
        args = ['--bind', '127.0.0.1', '--port', String(port), '--db', path.join(dir, 'bench.db'),
            '--log-level', 'warn', ...extra];
    } else {
        const plainPort = await freePort();
        const conf = path.join(dir, `${kind}.conf`);
        const text = kind === 'mosquitto' ? mosquittoConfig(dir, plainPort, port) : natsConfig(dir, plainPort, port);
        fs.writeFileSync(conf, text);
        cmd = BROKER_BINS[kind];
        args = ['-c', conf];
    }
    const logFd = fs.openSync(path.join(dir, 'broker.log'), 'a');
    const proc = childTrack(spawn(cmd, args, { cwd: dir, stdio: ['ignore', logFd, logFd] }));
    fs.closeSync(logFd);
    let exited = null;
    proc.on('exit', (code, signal) => {
        exited = { code, signal };
    });
    proc.on('error', (err) => {
        exited = { code: -1, signal: err.message };
    });
    const deadline = Date.now() + 15000;
    const ready = kind === 'wsbroker' ? healthzOk : tcpAccepts;
    while (!(await ready(port))) {
        if (exited || Date.now() > deadline) {
            const log = fs.readFileSync(path.join(dir, 'broker.log'), 'utf8').slice(-2000);
            proc.kill('SIGKILL');
            throw new Error(`${label} did not start (${JSON.stringify(exited)}): ${log}`);
        }
        await pause(25);
    }
    return {
        kind,
        label,
        pid: proc.pid,
        port,
        dir,
        alive: () => exited === null,
        log: () => fs.readFileSync(path.join(dir, 'broker.log'), 'utf8'),
        async stop() {
            if (exited) return;
            const gone = new Promise((resolve) => proc.once('exit', resolve));
            proc.kill('SIGTERM');
            const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
            await gone;
            clearTimeout(timer);
        },
    };
}

export function brokerVersions(wsbrokerBin) {
    const run = (cmd, args) => {
        try {
            return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 })
                .toString()
                .trim()
                .split('\n')[0];
        } catch (err) {
            return `${err.stdout || ''}${err.stderr || ''}`.trim().split('\n')[0] || 'unknown';
        }
    };
    return {
        wsbroker: run(wsbrokerBin, ['--version']),
        mosquitto: run('dpkg-query', ['-W', '-f=${Version}', 'mosquitto']),
        nats: run('nats-server', ['--version']),
        node: process.version,
    };
}
