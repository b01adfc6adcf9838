// SPDX-License-Identifier: MIT
// report.mjs: the outputs of a comparison run: the markdown table
// (stdout and OUT/compare.md) and the gnuplot data files for compare.gp
// (RUN_DIR/plot). Takes the results and the CFG they were measured with;
// measures nothing.

import fs from 'node:fs';
import path from 'node:path';
import { NAMES } from './brokers.mjs';
import { fmtMs, fmtRate, fmtUs, round } from './format.mjs';
import { DURABLE_CONFIGS } from './scenarios.mjs';

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

function table(results, CFG, brokers) {
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
function plotData(results, CFG, dir) {
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

// Writes compare.md into outDir and the chart data into runDir/plot;
// prints the table. brokers: the columns, in order.
export function report(results, { cfg, brokers, outDir, runDir }) {
    const versions = results.meta.versions;
    const md = table(results, cfg, brokers);
    const header = `Measured ${results.meta.date.slice(0, 10)} on ${results.meta.cores} cores (${results.meta.cpu}), `
        + `${results.meta.quick ? 'quick run' : 'full run'}; wsbroker ${versions.wsbroker.replace(/^wsbroker /, '')}, `
        + `Mosquitto ${versions.mosquitto}, ${versions.nats}; load generator: ${results.meta.loadgen}. `
        + `CPU % is of one core (the machine has ${results.meta.cores}); "other" is CPU used meanwhile by other `
        + 'processes of the machine (and steal).';
    const errors = (results.errors || []).map((e) => `- failed: ${e}`).join('\n');
    const text = `${header}\n\n${md}\n${errors ? `\n${errors}\n` : ''}`;
    fs.writeFileSync(path.join(outDir, 'compare.md'), text);
    plotData(results, cfg, path.join(runDir, 'plot'));
    process.stdout.write(`\n${text}\n`);
}
