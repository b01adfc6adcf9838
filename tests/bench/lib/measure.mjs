// SPDX-License-Identifier: MIT
// measure.mjs: what a scenario measures, and how it waits.
//
// Owns: a snapshot of every worker's counters together with the broker's
// CPU time, the load generator's (its workers plus this process) and the
// whole machine's; the rates and CPU per unit of work between two
// snapshots; the drain after a phase; and the broker's settled RSS.

import { cpuUs, machineBusyUs, rssKb } from './brokers.mjs';
import { round } from './format.mjs';

export function pause(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function selfCpuUs() {
    const u = process.cpuUsage();
    return u.user + u.system;
}

// Counters of every worker plus both CPU clocks, at one moment.
export async function snapshot(broker, workers) {
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
export function usage(s0, s1, work, unit) {
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

// Polls until every subscriber got every message published so far, or
// nothing moved for a second, or 10 s passed. Returns the last snapshot.
export async function drain(broker, subWorkers, expected) {
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

// VmRSS once it stopped moving (two reads 250 ms apart within 0.5 %), at
// most 5 s.
export async function rssSettled(pid) {
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
