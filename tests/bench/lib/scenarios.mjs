// SPDX-License-Identifier: MIT
// scenarios.mjs: the four scenarios of the comparison and their phases
// (warm-up, measured window, drain), each against a fresh broker.
//
// Owns: fan-out (offered rate, then flat out with the subscribers' progress
// relayed to the publisher as credit), latency at fixed rates, idle memory
// per connection, and durable publishing in the configurations of
// DURABLE_CONFIGS. Every scenario takes `run`: { cfg (the CFG of
// compare.mjs), runDir, wsbroker (the binary) } and returns result rows.

import { Histogram } from './histogram.mjs';
import { brokerStart, NAMES } from './brokers.mjs';
import { fmtRate, fmtUs, log, round } from './format.mjs';
import { drain, pause, rssSettled, snapshot, usage } from './measure.mjs';
import { split, workersStart } from './workers.mjs';

async function withBroker(run, kind, { extra = [], label = kind } = {}, fn) {
    const broker = await brokerStart(kind, { runDir: run.runDir, wsbrokerBin: run.wsbroker, extra, label });
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

// The workers of one topic: CFG.subWorkers with `subscribers` on `topic`
// spread over them, and one with one publisher; all added to `workers` (to
// be stopped with the broker) before they subscribe.
async function topicWorkersStart(run, kind, port, workers, topic, subscribers) {
    const subW = await workersStart(kind, port, run.cfg.subWorkers, run.cfg.size);
    const [pubW] = await workersStart(kind, port, 1, run.cfg.size);
    workers.push(...subW, pubW);
    await Promise.all(split(subscribers, subW.length).map((n, i) => subW[i].call('subscribers', { count: n, topic })));
    await pubW.call('publishers', { count: 1 });
    return { subW, pubW };
}

// ---------------------------------------------------------------- fan-out

// One broker, `subscribers` on one topic, one publisher: first at the
// offered rate, then flat out.
export async function fanout(run, kind, subscribers) {
    const CFG = run.cfg;
    return withBroker(run, kind, {}, async (broker, workers) => {
        const topic = 'bench.fanout';
        const { subW, pubW } = await topicWorkersStart(run, kind, broker.port, workers, topic, subscribers);

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

export async function latency(run, kind) {
    const CFG = run.cfg;
    return withBroker(run, kind, {}, async (broker, workers) => {
        const topic = 'bench.latency';
        const subscribers = CFG.latencySubscribers;
        const { subW, pubW } = await topicWorkersStart(run, kind, broker.port, workers, topic, subscribers);
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

export async function idle(run, kind) {
    const CFG = run.cfg;
    return withBroker(run, kind, {}, async (broker, workers) => {
        const w = await workersStart(kind, broker.port, CFG.subWorkers, CFG.size);
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

export const DURABLE_CONFIGS = [
    { label: 'wsbroker', kind: 'wsbroker', extra: [], key: false, config: 'full (fsync before ack)' },
    { label: 'wsbroker-os', kind: 'wsbroker', extra: ['--durability', 'os'], key: false, config: '--durability os' },
    { label: 'wsbroker-key', kind: 'wsbroker', extra: [], key: true, config: 'full, with key' },
    { label: 'nats-jetstream', kind: 'nats', extra: [], key: false, config: 'JetStream file store' },
];

export async function durable(run, c) {
    const CFG = run.cfg;
    return withBroker(run, c.kind, { extra: c.extra, label: c.label }, async (broker, workers) => {
        const w = await workersStart(c.kind, broker.port, CFG.pubWorkers, CFG.size);
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
