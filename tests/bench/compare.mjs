// SPDX-License-Identifier: MIT
// compare.mjs: the coordinator of tests/bench/compare.sh. Runs every
// scenario against wsbroker, Mosquitto and nats-server, each broker fresh
// for each scenario, with the same load generator (worker.mjs processes),
// and writes the results.
//
// Owns: the command line, the configuration of a run (CFG), the order of
// the scenarios, recording a failed scenario and going on, results/
// compare.json, and killing every child process however the run ends. The
// scenarios are in lib/scenarios.mjs, the measurement in lib/measure.mjs,
// the worker processes in lib/workers.mjs, the table and chart data in
// lib/report.mjs.
//
// Usage: node compare.mjs --run-dir DIR --out DIR --wsbroker BIN [--quick]
//        [--only fanout,latency,idle,durable] [--brokers wsbroker,mosquitto,nats]
//        node compare.mjs --from-json results/compare.json --run-dir DIR --out DIR
//        (no measuring: the table and the chart data again from a saved run)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerVersions, childrenKill } from './lib/brokers.mjs';
import { log } from './lib/format.mjs';
import { report } from './lib/report.mjs';
import {
    DURABLE_CONFIGS, durable, fanout, idle, latency,
} from './lib/scenarios.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

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

// ---------------------------------------------------------------- main

// Where report() writes, and which brokers are its columns.
function reportTo() {
    return { cfg: CFG, brokers: opts.brokers, outDir: opts.out, runDir: opts.runDir };
}

async function main() {
    fs.mkdirSync(opts.out, { recursive: true });
    if (opts.fromJson) {
        const saved = JSON.parse(fs.readFileSync(opts.fromJson, 'utf8'));
        Object.assign(CFG, saved.meta.config, { window: CFG.window });
        opts.brokers = ['wsbroker', 'mosquitto', 'nats'];
        report(saved, reportTo());
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
    const run = { cfg: CFG, runDir: opts.runDir, wsbroker: opts.wsbroker };
    if (opts.only.includes('fanout')) {
        for (const subs of CFG.fanoutSubscribers) {
            for (const b of brokers) results.fanout.push(...(await attempt(`fan-out ${b} ${subs}`, () => fanout(run, b, subs))));
        }
    }
    if (opts.only.includes('latency')) {
        for (const b of brokers) results.latency.push(...(await attempt(`latency ${b}`, () => latency(run, b))));
    }
    if (opts.only.includes('idle')) {
        for (const b of brokers) results.idle.push(...(await attempt(`idle ${b}`, () => idle(run, b))));
    }
    if (opts.only.includes('durable')) {
        for (const c of DURABLE_CONFIGS) {
            if (brokers.includes(c.kind)) results.durable.push(...(await attempt(`durable ${c.label}`, () => durable(run, c))));
        }
    }
    results.meta.seconds = Math.round((Date.now() - started) / 1000);

    fs.writeFileSync(path.join(opts.out, 'compare.json'), JSON.stringify(results, null, 2) + '\n');
    report(results, reportTo());
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
