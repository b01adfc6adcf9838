// compare.mjs: the coordinator of tests/bench/compare.sh. Runs every
// scenario against wsbroker, Mosquitto and nats-server, each broker fresh
// for each scenario, with the same load generator (worker.mjs processes),
// and writes the results.
//
// Owns: the scenarios and their phases (warm-up, measured window, drain),
// the measurement (deliveries or acks counted by the workers; the broker's
// utime+stime from /proc/PID/stat and VmRSS from /proc/PID/status; the load
// generator's CPU, its workers plus this process), the relay of the
// subscribers' progress to the flat-out publisher, and the outputs: the
// markdown table (stdout and results/compare.md), results/compare.json and
// the gnuplot data files (in the run directory).
//
// Usage: node compare.mjs --run-dir DIR --out DIR --wsbroker BIN [--quick]
//        [--only fanout,latency,idle,durable] [--brokers wsbroker,mosquitto,nats]
//        node compare.mjs --from-json results/compare.json --run-dir DIR --out DIR
//        (no measuring: the table and the chart data again from a saved run)

import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Histogram } from './lib/histogram.mjs';
import {
    brokerStart, brokerVersions, childTrack, childrenKill, cpuUs, machineBusyUs, rssKb,
} from './lib/brokers.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NAMES = { wsbroker: 'wsbroker', mosquitto: 'Mosquitto', nats: 'nats-server' };

// ---------------------------------------------------------------- options

function optionsParse(argv) {
    const opts = {
        quick: false,
        runDir: null,
        out: path.join(HERE, 'results'),
        wsbroker: path.resolve(HERE, '..', '..', 'build', 'bin', 'wsbroker'),
        only: ['fanout', 'latency', 'idle', 'durable'],
        brokers: ['wsbroker', 'mosquitto', 'nats'],
        fromJson: null,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--quick') opts.quick = true;
        else if (a === '--run-dir') opts.runDir = argv[++i];
        else if (a === '--out') opts.out = argv[++i];
        else if (a === '--wsbroker') opts.wsbroker = argv[++i];
        else if (a === '--only') opts.only = argv[++i].split(',');
        else if (a === '--brokers') opts.brokers = argv[++i].split(',');
        else if (a === '--from-json') opts.fromJson = argv[++i];
        else throw new Error(`unknown argument ${a}`);
    }
    if (!opts.runDir) opts.runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsb-compare-'));
    return opts;
}

const opts = optionsParse(process.argv.slice(2));

const CFG = {
    size: 100, // payload bytes
    warmupMs: opts.quick ? 500 : 2000,
    fanoutMs: opts.quick ? 2000 : 8000,
    latencyMs: opts.quick ? 2000 : 10000,
    durableMs: opts.quick ? 2000 : 8000,
    fanoutSubscribers: [1000, 100],
    offeredDeliveries: 50000,
    // Flat out: messages the publisher may be ahead of the slowest
    // subscriber; about 200k deliveries in flight, at most 1000 a subscriber.
    window: (subscribers) => Math.min(1000, Math.ceil(200000 / subscribers)),
    latencySubscribers: 100,
    latencyRates: [500, 2000],
    idleConnections: opts.quick ? 1000 : 5000,
    durablePublishers: 10,
    durableInflight: 100,
    subWorkers: 2,
    pubWorkers: 2, // durable publishers
};

// ---------------------------------------------------------------- helpers

function pause(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function log(line) {
    process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function selfCpuUs() {
    const u = process.cpuUsage();
    return u.user + u.system;
}

class Worker {
    constructor(kind, port) {
        this.proc = childTrack(fork(path.join(HERE, 'worker.mjs'), [], {
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

async function workersStart(kind, port, count) {
    const workers = [];
    for (let i = 0; i < count; i++) {
        const w = new Worker(kind, port);
        await w.call('init', { kind, port, size: CFG.size });
        workers.push(w);
    }
    return workers;
}

// Splits `total` into `parts` near-equal integers.
function split(total, parts) {
    const out = [];
    for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0));
    return out;
}

// Counters of every worker plus both CPU clocks, at one moment.
async function snapshot(broker, workers) {
    const counts = await Promise.all(workers.map((w) => w.call('counts')));
    const at = performance.now();
    const brokerCpu = cpuUs(broker.pid);
    let genCpu = selfCpuUs();
    for (const w of workers) genCpu += cpuUs(w.pid);
    const machineCpu = machineBusyUs();
    const sum = (field) => counts.reduce((acc, c) => acc + c[field], 0);
    return {
        at,
        brokerCpu,
        genCpu,
        machineCpu,
        delivered: sum('delivered'),
        sent: sum('sent'),
        acked: sum('acked'),
        ackErrors: sum('ackErrors'),
        closedSubs: sum('closedSubs'),
        ackErrorSample: counts.map((c) => c.ackErrorSample).find(Boolean) || null,
        closeSample: counts.map((c) => c.closeSample).find(Boolean) || null,
    };
}

// Rates and CPU between two snapshots; `work` counted `unit`s (delivery,
// ack) in between: <unit>s_per_s, broker_cpu_us_per_<unit>, ...
function usage(s0, s1, work, unit) {
    const seconds = (s1.at - s0.at) / 1000;
    const brokerUs = s1.brokerCpu - s0.brokerCpu;
    const genUs = s1.genCpu - s0.genCpu;
    const plural = unit === 'delivery' ? 'deliveries' : `${unit}s`;
    return {
        seconds: round(seconds, 3),
        [`${plural}_per_s`]: round(work / seconds, 0),
        [`broker_cpu_us_per_${unit}`]: work > 0 ? round(brokerUs / work, 3) : null,
        [`loadgen_cpu_us_per_${unit}`]: work > 0 ? round(genUs / work, 3) : null,
        broker_cpu_pct: round((brokerUs / 1e4) / seconds, 1),
        loadgen_cpu_pct: round((genUs / 1e4) / seconds, 1),
        other_cpu_pct: round(Math.max(0, s1.machineCpu - s0.machineCpu - brokerUs - genUs) / 1e4 / seconds, 1),
    };
}

function round(x, digits) {
    if (!Number.isFinite(x)) return null;
    const f = 10 ** digits;
    return Math.round(x * f) / f;
}

// Polls until every subscriber got every message published so far, or
// nothing moved for a second, or 10 s passed. Returns the last snapshot.
async function drain(broker, subWorkers, expected) {
    const deadline = Date.now() + 10000;
    let last = await snapshot(broker, subWorkers);
    let movedAt = Date.now();
    while (last.delivered < expected() && Date.now() < deadline && Date.now() - movedAt < 1000) {
        await pause(50);
        const now = await snapshot(broker, subWorkers);
        if (now.delivered !== last.delivered) movedAt = Date.now();
        last = now;
    }
    return last;
}

async function withBroker(kind, { extra = [], label = kind } = {}, fn) {
    const broker = await brokerStart(kind, { runDir: opts.runDir, wsbrokerBin: opts.wsbroker, extra, label });
    const workers = [];
    try {
        return await fn(broker, workers);
    } finally {
        await Promise.all(workers.map((w) => w.exit()));
        const alive = broker.alive();
        await broker.stop();
        if (!alive) log(`${label} had exited during the run; log tail: ${broker.log().slice(-500)}`);
    }
}

// ---------------------------------------------------------------- fan-out

// One broker, `subscribers` on one topic, one publisher: first at the
// offered rate, then flat out.
async function fanout(kind, subscribers) {
    return withBroker(kind, {}, async (broker, workers) => {
        const subW = await workersStart(kind, broker.port, CFG.subWorkers);
        const [pubW] = await workersStart(kind, broker.port, 1);
        workers.push(...subW, pubW);
        const topic = 'bench.fanout';
        await Promise.all(split(subscribers, subW.length).map((n, i) => subW[i].call('subscribers', { count: n, topic })));
        await pubW.call('publishers', { count: 1 });

        // Flat out: the publisher may run `window` messages ahead of the
        // slowest subscriber of all workers.
        const minByWorker = new Map();
        const relay = () => {
            let min = Infinity;
            for (const v of minByWorker.values()) min = Math.min(min, v);
            if (min !== Infinity) pubW.notify({ cmd: 'credit', minN: min });
        };
        subW.forEach((w) => {
            w.onEvent = (m) => {
                if (m.ev !== 'progress') return;
                minByWorker.set(w, m.minN);
                relay();
            };
        });

        const rows = [];
        const rate = Math.round(CFG.offeredDeliveries / subscribers);
        const phases = [
            { mode: 'rate', rate, label: `${CFG.offeredDeliveries / 1000}k/s offered` },
            { mode: 'window', window: CFG.window(subscribers), label: 'flat out' },
        ];
        for (const phase of phases) {
            if (phase.mode === 'window') {
                const replies = await Promise.all(subW.map((w) => w.call('progress', { on: true, everyMs: 2 })));
                replies.forEach((r, i) => minByWorker.set(subW[i], r.minN));
            }
            const before = await snapshot(broker, [...subW, pubW]);
            await pubW.call('publish', { mode: phase.mode, topic, rate: phase.rate, window: phase.window });
            await pause(CFG.warmupMs);
            const s0 = await snapshot(broker, [...subW, pubW]);
            await pause(CFG.fanoutMs);
            const s1 = await snapshot(broker, [...subW, pubW]);
            const stopped = await pubW.call('stop');
            if (phase.mode === 'window') await Promise.all(subW.map((w) => w.call('progress', { on: false })));
            const published = stopped.sent - before.sent;
            const end = await drain(broker, [...subW, pubW],
                () => before.delivered + published * (subscribers - s1.closedSubs));
            const delivered = s1.delivered - s0.delivered;
            const row = {
                broker: kind,
                subscribers,
                mode: phase.mode === 'rate' ? 'offered' : 'flat_out',
                offered_deliveries_per_s: phase.mode === 'rate' ? rate * subscribers : null,
                window: phase.mode === 'window' ? phase.window : null,
                publishes_per_s: round((s1.sent - s0.sent) / ((s1.at - s0.at) / 1000), 0),
                ...usage(s0, s1, delivered, 'delivery'),
                lost: Math.max(0, published * subscribers - (end.delivered - before.delivered)),
                disconnected: end.closedSubs,
                disconnect_reason: end.closeSample,
            };
            rows.push(row);
            log(`fan-out ${NAMES[kind]} ${subscribers} subs ${phase.label}: ${fmtRate(row.deliveries_per_s)} deliveries, `
                + `${fmtUs(row.broker_cpu_us_per_delivery)}/delivery, CPU broker ${row.broker_cpu_pct}% `
                + `load gen ${row.loadgen_cpu_pct}% other ${row.other_cpu_pct}%, lost ${row.lost}, disconnected ${row.disconnected}`);
        }
        return rows;
    });
}

// ---------------------------------------------------------------- latency

async function latency(kind) {
    return withBroker(kind, {}, async (broker, workers) => {
        const subW = await workersStart(kind, broker.port, CFG.subWorkers);
        const [pubW] = await workersStart(kind, broker.port, 1);
        workers.push(...subW, pubW);
        const topic = 'bench.latency';
        const subscribers = CFG.latencySubscribers;
        await Promise.all(split(subscribers, subW.length).map((n, i) => subW[i].call('subscribers', { count: n, topic })));
        await pubW.call('publishers', { count: 1 });
        const rows = [];
        for (const rate of CFG.latencyRates) {
            const before = await snapshot(broker, [...subW, pubW]);
            await pubW.call('publish', { mode: 'rate', topic, rate });
            await pause(CFG.warmupMs);
            await Promise.all(subW.map((w) => w.call('record', { on: true })));
            const s0 = await snapshot(broker, [...subW, pubW]);
            await pause(CFG.latencyMs);
            const s1 = await snapshot(broker, [...subW, pubW]);
            const hists = await Promise.all(subW.map((w) => w.call('record', { on: false })));
            const stopped = await pubW.call('stop');
            const published = stopped.sent - before.sent;
            const end = await drain(broker, [...subW, pubW], () => before.delivered + published * subscribers);
            const hist = new Histogram();
            hists.forEach((h) => hist.merge(h.hist));
            const ms = (q) => round(hist.quantile(q) / 1000, 3);
            const row = {
                broker: kind,
                subscribers,
                rate,
                samples: hist.total,
                p50_ms: ms(0.5),
                p90_ms: ms(0.9),
                p99_ms: ms(0.99),
                p999_ms: ms(0.999),
                max_ms: ms(1),
                ...usage(s0, s1, s1.delivered - s0.delivered, 'delivery'),
                lost: Math.max(0, published * subscribers - (end.delivered - before.delivered)),
                disconnected: end.closedSubs,
            };
            rows.push(row);
            log(`latency ${NAMES[kind]} ${subscribers} subs ${rate} msg/s: p50 ${row.p50_ms} p90 ${row.p90_ms} `
                + `p99 ${row.p99_ms} p99.9 ${row.p999_ms} ms (${row.samples} samples), CPU broker `
                + `${row.broker_cpu_pct}% load gen ${row.loadgen_cpu_pct}% other ${row.other_cpu_pct}%, lost ${row.lost}`);
        }
        return rows;
    });
}

// ---------------------------------------------------------------- idle memory

// VmRSS once it stopped moving (two reads 250 ms apart within 0.5 %), at
// most 5 s.
async function rssSettled(pid) {
    let last = rssKb(pid);
    const deadline = Date.now() + 5000;
    let calm = 0;
    while (Date.now() < deadline && calm < 2) {
        await pause(250);
        const now = rssKb(pid);
        calm = Math.abs(now - last) <= last * 0.005 ? calm + 1 : 0;
        last = now;
    }
    return last;
}

async function idle(kind) {
    return withBroker(kind, {}, async (broker, workers) => {
        const w = await workersStart(kind, broker.port, CFG.subWorkers);
        workers.push(...w);
        const base = await rssSettled(broker.pid);
        const opened = await Promise.all(split(CFG.idleConnections, w.length).map((n, i) => w[i].call('idle', { count: n })));
        const rssOpen = await rssSettled(broker.pid);
        const subscribed = await Promise.all(w.map((x) => x.call('idleSubscribe', { prefix: 'idle' })));
        const rssSub = await rssSettled(broker.pid);
        const n = CFG.idleConnections;
        const row = {
            broker: kind,
            connections: n,
            open_after_connect: opened.reduce((a, r) => a + r.open, 0),
            open_after_subscribe: subscribed.reduce((a, r) => a + r.open, 0),
            rss_base_kb: base,
            rss_connected_kb: rssOpen,
            rss_subscribed_kb: rssSub,
            kb_per_connection: round((rssOpen - base) / n, 2),
            kb_per_connection_subscribed: round((rssSub - base) / n, 2),
        };
        log(`idle ${NAMES[kind]} ${n} connections: ${row.kb_per_connection} KB each, `
            + `${row.kb_per_connection_subscribed} KB with one subscription (base ${base} KB)`);
        return [row];
    });
}

// ---------------------------------------------------------------- durable

const DURABLE_CONFIGS = [
    { label: 'wsbroker', kind: 'wsbroker', extra: [], key: false, config: 'full (fsync before ack)' },
    { label: 'wsbroker-os', kind: 'wsbroker', extra: ['--durability', 'os'], key: false, config: '--durability os' },
    { label: 'wsbroker-key', kind: 'wsbroker', extra: [], key: true, config: 'full, with key' },
    { label: 'nats-jetstream', kind: 'nats', extra: [], key: false, config: 'JetStream file store' },
];

async function durable(c) {
    return withBroker(c.kind, { extra: c.extra, label: c.label }, async (broker, workers) => {
        const w = await workersStart(c.kind, broker.port, CFG.pubWorkers);
        workers.push(...w);
        if (c.kind === 'nats') {
            // The same retention as wsbroker's default: 1000 messages a topic.
            await w[0].call('jsStream', {
                config: {
                    name: 'BENCH',
                    subjects: ['durable.>'],
                    storage: 'file',
                    max_msgs_per_subject: 1000,
                },
            });
        }
        await Promise.all(split(CFG.durablePublishers, w.length).map((n, i) => w[i].call('publishers', { count: n, durable: true })));
        await Promise.all(w.map((x) => x.call('publish', {
            mode: 'acked', topic: 'durable', inflight: CFG.durableInflight, key: c.key,
        })));
        await pause(CFG.warmupMs);
        const s0 = await snapshot(broker, w);
        await pause(CFG.durableMs);
        const s1 = await snapshot(broker, w);
        const stops = await Promise.all(w.map((x) => x.call('stop', { waitMs: 5000 })));
        const end = await snapshot(broker, w);
        const acked = s1.acked - s0.acked;
        const row = {
            broker: c.kind,
            config: c.config,
            label: c.label,
            publishers: CFG.durablePublishers,
            inflight: CFG.durableInflight,
            ...usage(s0, s1, acked, 'ack'),
            errors: end.ackErrors,
            error_sample: end.ackErrorSample,
            unanswered: stops.reduce((a, r) => a + (r.outstanding || 0), 0),
        };
        log(`durable ${c.label}: ${fmtRate(row.acks_per_s)} acks, ${fmtUs(row.broker_cpu_us_per_ack)}/ack, `
            + `CPU broker ${row.broker_cpu_pct}% load gen ${row.loadgen_cpu_pct}% other ${row.other_cpu_pct}%, errors ${row.errors}`
            + (row.error_sample ? ` (${row.error_sample.slice(0, 120)})` : ''));
        return [row];
    });
}

// ---------------------------------------------------------------- output

function fmtRate(x) {
    if (x === null || x === undefined) return '-';
    if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M/s`;
    if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k/s`;
    if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k/s`;
    return `${x.toFixed(0)}/s`;
}

function fmtUs(x) {
    if (x === null || x === undefined) return '-';
    return x >= 10 ? `${x.toFixed(1)} µs` : `${x.toFixed(2)} µs`;
}

function fmtMs(x) {
    if (x === null || x === undefined) return '-';
    return x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function cellFanout(r, what) {
    if (!r) return '-';
    if (what === 'rate') {
        let s = fmtRate(r.deliveries_per_s);
        if (r.lost > 0) s += ` (lost ${r.lost})`;
        if (r.disconnected > 0) s += ` (${r.disconnected} cut)`;
        return s;
    }
    if (what === 'cpu') return fmtUs(r.broker_cpu_us_per_delivery);
    return cpuCell(r);
}

// "broker% / load gen%", plus other processes' load when it was notable.
function cpuCell(r) {
    if (!r) return '-';
    const other = r.other_cpu_pct >= 5 ? ` (+${r.other_cpu_pct.toFixed(0)}% other)` : '';
    return `${r.broker_cpu_pct.toFixed(0)}% / ${r.loadgen_cpu_pct.toFixed(0)}%${other}`;
}

function table(results) {
    const brokers = opts.brokers;
    const lines = [];
    const head = ['scenario', 'measure', ...brokers.map((b) => NAMES[b])];
    lines.push(`| ${head.join(' | ')} |`);
    lines.push(`|${head.map((_, i) => (i < 2 ? '---' : '--:')).join('|')}|`);
    const row = (scenario, measure, cells) => lines.push(`| ${scenario} | ${measure} | ${cells.join(' | ')} |`);

    for (const subs of CFG.fanoutSubscribers) {
        for (const mode of ['offered', 'flat_out']) {
            const rs = brokers.map((b) => results.fanout.find((r) => r.broker === b && r.subscribers === subs && r.mode === mode));
            if (rs.every((r) => !r)) continue;
            const name = `fan-out ${subs} subs, ${mode === 'offered' ? `${CFG.offeredDeliveries / 1000}k/s offered` : 'flat out'}`;
            row(name, 'deliveries/s', rs.map((r) => cellFanout(r, 'rate')));
            row('', 'broker CPU per delivery', rs.map((r) => cellFanout(r, 'cpu')));
            row('', 'CPU broker / load gen', rs.map((r) => cellFanout(r, 'pct')));
        }
    }
    for (const rate of CFG.latencyRates) {
        const rs = brokers.map((b) => results.latency.find((r) => r.broker === b && r.rate === rate));
        if (rs.every((r) => !r)) continue;
        row(`latency ${CFG.latencySubscribers} subs, ${rate} msg/s`, 'p50 / p90 / p99 / p99.9 ms',
            rs.map((r) => (r ? [r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms].map(fmtMs).join(' / ') + (r.lost ? ` (lost ${r.lost})` : '') : '-')));
        row('', 'CPU broker / load gen',
            rs.map(cpuCell));
    }
    {
        const rs = brokers.map((b) => results.idle.find((r) => r.broker === b));
        if (rs.some(Boolean)) {
            const kb = (x) => (x === null ? '-' : `${x.toFixed(1)} KB`);
            const note = (r, field) => (r[field] < r.connections ? ` (${r[field]} open)` : '');
            row(`idle ${CFG.idleConnections} connections`, 'broker RSS per connection',
                rs.map((r) => (r ? kb(r.kb_per_connection) + note(r, 'open_after_connect') : '-')));
            row('', '… each subscribed to its own topic',
                rs.map((r) => (r ? kb(r.kb_per_connection_subscribed) + note(r, 'open_after_subscribe') : '-')));
        }
    }
    const durableCell = (r) => (r ? `${fmtRate(r.acks_per_s)}, ${fmtUs(r.broker_cpu_us_per_ack)}/ack`
        + (r.errors ? ` (${r.errors} errors)` : '') : '-');
    const d = (label) => results.durable.find((r) => r.label === label);
    if (results.durable.length) {
        const scen = `durable publish, ${CFG.durablePublishers} publishers × ${CFG.durableInflight} in flight`;
        row(scen, 'acks/s, broker CPU per ack (wsbroker default: fsync before ack; NATS: JetStream file store)',
            brokers.map((b) => (b === 'wsbroker' ? durableCell(d('wsbroker')) : b === 'nats' ? durableCell(d('nats-jetstream')) : '-')));
        row('', 'CPU broker / load gen', brokers.map((b) => {
            const r = b === 'wsbroker' ? d('wsbroker') : b === 'nats' ? d('nats-jetstream') : null;
            return cpuCell(r);
        }));
        row('', 'wsbroker `--durability os`', brokers.map((b) => (b === 'wsbroker' ? durableCell(d('wsbroker-os')) : '-')));
        row('', 'wsbroker with `key` (idempotent)', brokers.map((b) => (b === 'wsbroker' ? durableCell(d('wsbroker-key')) : '-')));
    }
    return lines.join('\n');
}

// Data files for compare.gp: one row per group, one column per broker,
// "-" where a broker has no number.
function plotData(results, dir) {
    fs.mkdirSync(dir, { recursive: true });
    const brokers = ['wsbroker', 'mosquitto', 'nats'];
    const num = (x) => (x === null || x === undefined ? '-' : String(x));
    const write = (file, rows) => fs.writeFileSync(path.join(dir, file), rows.map((r) => r.join(' ')).join('\n') + '\n');

    const fanRows = [];
    const cpuRows = [];
    for (const subs of CFG.fanoutSubscribers) {
        for (const mode of ['offered', 'flat_out']) {
            const label = `"${subs} subs\\n${mode === 'offered' ? `${CFG.offeredDeliveries / 1000}k/s offered` : 'flat out'}"`;
            const rs = brokers.map((b) => results.fanout.find((r) => r.broker === b && r.subscribers === subs && r.mode === mode));
            fanRows.push([label, ...rs.map((r) => num(r && round(r.deliveries_per_s / 1000, 1)))]);
            cpuRows.push([label, ...rs.map((r) => num(r && r.broker_cpu_us_per_delivery))]);
        }
    }
    write('fanout.dat', fanRows);
    write('fanout_cpu.dat', cpuRows);

    const latRows = [];
    for (const rate of CFG.latencyRates) {
        for (const [q, field] of [['p50', 'p50_ms'], ['p99', 'p99_ms'], ['p99.9', 'p999_ms']]) {
            const rs = brokers.map((b) => results.latency.find((r) => r.broker === b && r.rate === rate));
            latRows.push([`"${rate}/s\\n${q}"`, ...rs.map((r) => num(r && r[field]))]);
        }
    }
    write('latency.dat', latRows);

    const idleRs = brokers.map((b) => results.idle.find((r) => r.broker === b));
    write('idle.dat', [
        ['"idle"', ...idleRs.map((r) => num(r && r.kb_per_connection))],
        ['"1 subscription\\neach"', ...idleRs.map((r) => num(r && r.kb_per_connection_subscribed))],
    ]);

    const durRows = DURABLE_CONFIGS.map((c) => {
        const r = results.durable.find((x) => x.label === c.label);
        const name = c.kind === 'nats' ? '"nats-server\\nJetStream file"' : `"wsbroker\\n${c.config.replace(' (fsync before ack)', ', fsync')}"`;
        const colour = c.kind === 'nats' ? 0x2ca02c : 0x1f77b4;
        return [name, num(r && round(r.acks_per_s / 1000, 1)), num(r && r.broker_cpu_us_per_ack), colour];
    });
    write('durable.dat', durRows);

    const m = results.meta;
    const otherMax = Math.max(0, ...[...results.fanout, ...results.latency, ...results.durable]
        .map((r) => r.other_cpu_pct || 0));
    // Log-scale bounds of the latency panel: whole decades, with room on
    // top for the key.
    const lats = results.latency.flatMap((r) => [r.p50_ms, r.p99_ms, r.p999_ms]).filter((v) => v > 0);
    const latRange = lats.length
        ? [10 ** Math.floor(Math.log10(Math.min(...lats))), 10 ** Math.ceil(Math.log10(Math.max(...lats) * 3))]
        : [1, 10];
    const quote = (t) => `"${t.replace(/[\\"]/g, '')}"`;
    fs.writeFileSync(path.join(dir, 'meta.gp'), [
        `title1 = ${quote(`wsbroker ${m.versions.wsbroker.replace(/^wsbroker /, '')} vs Mosquitto ${m.versions.mosquitto} vs ${m.versions.nats.replace(/^nats-server: /, 'nats-server ')}, each over WebSocket in its own protocol`)}`,
        `title2 = ${quote(`${m.date.slice(0, 16).replace('T', ' ')} UTC, ${m.cores} cores, ${m.quick ? 'QUICK smoke run' : 'full run'}; `
            + `load generator Node.js ${m.versions.node} + ws (same code for all three); `
            + `other processes took up to ${otherMax.toFixed(0)}% of a core during a measurement`)}`,
        `has_fanout = ${results.fanout.length > 0 ? 1 : 0}`,
        `has_latency = ${results.latency.length > 0 ? 1 : 0}`,
        `has_idle = ${results.idle.length > 0 ? 1 : 0}`,
        `has_durable = ${results.durable.length > 0 ? 1 : 0}`,
        `lat_lo = ${latRange[0]}`,
        `lat_hi = ${latRange[1]}`,
        `latency_subs = ${CFG.latencySubscribers}`,
        `idle_connections = ${CFG.idleConnections}`,
        `durable_pubs = ${CFG.durablePublishers}`,
        `durable_inflight = ${CFG.durableInflight}`,
        '',
    ].join('\n'));
}

// ---------------------------------------------------------------- main

// Writes compare.md and the chart data; prints the table.
function report(results) {
    const versions = results.meta.versions;
    const md = table(results);
    const header = `Measured ${results.meta.date.slice(0, 10)} on ${results.meta.cores} cores (${results.meta.cpu}), `
        + `${results.meta.quick ? 'quick run' : 'full run'}; wsbroker ${versions.wsbroker.replace(/^wsbroker /, '')}, `
        + `Mosquitto ${versions.mosquitto}, ${versions.nats}; load generator: ${results.meta.loadgen}. `
        + `CPU % is of one core (the machine has ${results.meta.cores}); "other" is CPU used meanwhile by other `
        + 'processes of the machine (and steal).';
    const errors = (results.errors || []).map((e) => `- failed: ${e}`).join('\n');
    const text = `${header}\n\n${md}\n${errors ? `\n${errors}\n` : ''}`;
    fs.writeFileSync(path.join(opts.out, 'compare.md'), text);
    plotData(results, path.join(opts.runDir, 'plot'));
    process.stdout.write(`\n${text}\n`);
}

async function main() {
    fs.mkdirSync(opts.out, { recursive: true });
    if (opts.fromJson) {
        const saved = JSON.parse(fs.readFileSync(opts.fromJson, 'utf8'));
        Object.assign(CFG, saved.meta.config, { window: CFG.window });
        opts.brokers = ['wsbroker', 'mosquitto', 'nats'];
        report(saved);
        return;
    }
    const started = Date.now();
    const versions = brokerVersions(opts.wsbroker);
    log(`run directory ${opts.runDir}; ${opts.quick ? 'quick' : 'full'} run; ${JSON.stringify(versions)}`);
    const results = {
        meta: {
            date: new Date().toISOString(),
            quick: opts.quick,
            cores: os.cpus().length,
            cpu: os.cpus()[0] ? os.cpus()[0].model : 'unknown',
            versions,
            loadavg_at_start: fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
            config: CFG,
            loadgen: `Node.js ${process.version}, ws 8.23.0, ${CFG.subWorkers} subscriber worker processes + 1 publisher process (durable: ${CFG.pubWorkers} publisher processes)`,
        },
        fanout: [],
        latency: [],
        idle: [],
        durable: [],
        errors: [],
    };
    // One scenario of one broker failing (a broker that does not start, a
    // connection refused) is recorded and the run goes on.
    const attempt = async (what, fn) => {
        try {
            return await fn();
        } catch (err) {
            log(`${what} failed: ${err.message}`);
            results.errors.push(`${what}: ${err.message.split('\n')[0].slice(0, 300)}`);
            return [];
        }
    };
    const brokers = opts.brokers;
    if (opts.only.includes('fanout')) {
        for (const subs of CFG.fanoutSubscribers) {
            for (const b of brokers) results.fanout.push(...(await attempt(`fan-out ${b} ${subs}`, () => fanout(b, subs))));
        }
    }
    if (opts.only.includes('latency')) {
        for (const b of brokers) results.latency.push(...(await attempt(`latency ${b}`, () => latency(b))));
    }
    if (opts.only.includes('idle')) {
        for (const b of brokers) results.idle.push(...(await attempt(`idle ${b}`, () => idle(b))));
    }
    if (opts.only.includes('durable')) {
        for (const c of DURABLE_CONFIGS) {
            if (brokers.includes(c.kind)) results.durable.push(...(await attempt(`durable ${c.label}`, () => durable(c))));
        }
    }
    results.meta.seconds = Math.round((Date.now() - started) / 1000);

    fs.writeFileSync(path.join(opts.out, 'compare.json'), JSON.stringify(results, null, 2) + '\n');
    report(results);
    log(`done in ${results.meta.seconds} s`);
}

function shutdown(code) {
    childrenKill();
    process.exit(code);
}

process.on('SIGINT', () => shutdown(130));
process.on('SIGTERM', () => shutdown(143));
process.on('exit', () => childrenKill());

main().then(
    () => shutdown(0),
    (err) => {
        log(`failed: ${err.stack || err.message}`);
        shutdown(1);
    },
);
