// SPDX-License-Identifier: MIT
// worker.mjs: one load-generator process (forked by compare.mjs), the same
// code for the three brokers; only the client class differs.
//
// Owns: this process's connections and their counters. Subscribers count
// deliveries, keep the highest message number seen (for the flat-out
// window) and, while recording, put publish-to-deliver latencies in a
// histogram. Publishers publish at a fixed rate, or flat out within a window
// of messages not yet seen by the slowest subscriber, or durably with a
// number of requests in flight per connection.
//
// Requests come from the parent as {rid, cmd, ...} and are answered
// {re: rid, ok, ...}; a few notices go both ways without rid ({cmd:'credit'}
// in, {ev:'progress'} out).

import { clientMake, nowUs, payloadMake, payloadRead } from './lib/protocols.mjs';
import { Histogram } from './lib/histogram.mjs';

const state = {
    kind: null,
    port: 0,
    size: 100,
    subs: [], // {client, lastN, count}
    pubs: [], // {client, inflight}
    idle: [],
    delivered: 0,
    recording: false,
    hist: new Histogram(),
    progressTimer: null,
    sent: 0, // messages published (numbered 1.. across phases)
    publishing: null, // {mode, ...}
    acked: 0,
    ackErrors: 0,
    ackErrorSample: null,
    closedSubs: 0,
    closeSample: null,
};

const scratch = { n: 0, t: 0 };

function pause(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// Runs fn(i) for i in [0, count) with at most `concurrency` at once.
async function eachLimited(count, concurrency, fn) {
    let next = 0;
    async function lane() {
        while (next < count) {
            const i = next++;
            await fn(i);
        }
    }
    const lanes = [];
    for (let k = 0; k < Math.min(concurrency, count); k++) lanes.push(lane());
    await Promise.all(lanes);
}

async function connect() {
    const client = clientMake(state.kind, state.port);
    await client.open();
    return client;
}

function subscriberAttach(client) {
    const sub = { client, lastN: 0, count: 0, closed: false };
    client.onDelivery = (buf, start, end) => {
        sub.count += 1;
        state.delivered += 1;
        payloadRead(buf, start, end, scratch);
        if (scratch.n > sub.lastN) sub.lastN = scratch.n;
        if (state.recording && scratch.t > 0) state.hist.record(nowUs() - scratch.t);
    };
    client.onClose = (code, reason) => {
        if (sub.closed) return;
        sub.closed = true;
        state.closedSubs += 1;
        if (!state.closeSample) state.closeSample = `${code} ${reason}`;
    };
    return sub;
}

function minLastN() {
    let min = Infinity;
    for (const sub of state.subs) if (!sub.closed && sub.lastN < min) min = sub.lastN;
    return min === Infinity ? state.sent : min;
}

// ---------------------------------------------------------------- publishers

function publishOne(client, topic) {
    state.sent += 1;
    client.publish(topic, payloadMake(state.sent, nowUs(), state.size));
}

// Fixed rate: every timer tick publishes what is due since the start, so
// the average rate holds even when ticks come late.
function rateStart(topic, rate) {
    const client = state.pubs[0].client;
    const started = performance.now();
    let done = 0;
    const run = { mode: 'rate', timer: null };
    const tick = () => {
        const due = Math.floor(((performance.now() - started) / 1000) * rate);
        while (done < due) {
            publishOne(client, topic);
            done += 1;
        }
        run.timer = setTimeout(tick, 1);
    };
    run.stop = () => clearTimeout(run.timer);
    tick();
    return run;
}

// Flat out: keep at most `window` messages between the newest published and
// the one the slowest subscriber (of every worker, sent by the parent as
// credit) has seen.
function windowStart(topic, window) {
    const client = state.pubs[0].client;
    const run = { mode: 'window', minSeen: state.sent, stopped: false };
    run.fill = () => {
        if (run.stopped) return;
        while (state.sent - run.minSeen < window) publishOne(client, topic);
    };
    run.stop = () => {
        run.stopped = true;
    };
    run.fill();
    return run;
}

// Durable: each connection keeps `inflight` acked publishes outstanding;
// every ack sends the next one.
function ackedStart(topicPrefix, inflight, withKey) {
    const run = { mode: 'acked', stopped: false, outstanding: 0 };
    let keyCounter = 0;
    state.pubs.forEach((pub, index) => {
        const topic = `${topicPrefix}.${process.pid}.${index}`;
        const sendOne = () => {
            state.sent += 1;
            run.outstanding += 1;
            const key = withKey ? `k${process.pid}-${++keyCounter}` : null;
            pub.client.publishAcked(topic, payloadMake(state.sent, nowUs(), state.size), key);
        };
        pub.client.onPubAck = (ok, why) => {
            run.outstanding -= 1;
            if (ok) state.acked += 1;
            else {
                state.ackErrors += 1;
                if (!state.ackErrorSample) state.ackErrorSample = why;
            }
            if (!run.stopped) sendOne();
        };
        for (let k = 0; k < inflight; k++) sendOne();
    });
    run.stop = () => {
        run.stopped = true;
    };
    return run;
}

// ---------------------------------------------------------------- commands

const commands = {
    init(m) {
        state.kind = m.kind;
        state.port = m.port;
        state.size = m.size;
        return {};
    },

    // Subscribers on one topic.
    async subscribers(m) {
        await eachLimited(m.count, 50, async () => {
            const client = await connect();
            const sub = subscriberAttach(client);
            await client.subscribe(m.topic);
            state.subs.push(sub);
        });
        return { subscribers: state.subs.length };
    },

    async publishers(m) {
        for (let i = 0; i < m.count; i++) {
            const client = await connect();
            if (m.durable && state.kind === 'nats') await client.inboxOpen();
            state.pubs.push({ client });
        }
        return { publishers: state.pubs.length };
    },

    // NATS only: the JetStream stream the durable publishes go to.
    async jsStream(m) {
        const client = await connect();
        const reply = await client.jsRequest(`$JS.API.STREAM.CREATE.${m.config.name}`, m.config);
        client.close();
        if (reply.error) throw new Error(`stream create: ${JSON.stringify(reply.error)}`);
        return {};
    },

    // Idle connections, subscribed to nothing.
    async idle(m) {
        await eachLimited(m.count, 32, async () => {
            state.idle.push(await connect());
        });
        const closed = state.idle.filter((c) => c.closed).length;
        return { open: state.idle.length - closed };
    },

    // Each idle connection subscribes to a topic of its own.
    async idleSubscribe(m) {
        await eachLimited(state.idle.length, 32, async (i) => {
            await state.idle[i].subscribe(`${m.prefix}.${process.pid}.${i}`);
        });
        const closed = state.idle.filter((c) => c.closed).length;
        return { open: state.idle.length - closed };
    },

    counts() {
        return {
            delivered: state.delivered,
            sent: state.sent,
            acked: state.acked,
            ackErrors: state.ackErrors,
            ackErrorSample: state.ackErrorSample,
            minN: minLastN(),
            closedSubs: state.closedSubs,
            closeSample: state.closeSample,
            idleClosed: state.idle.filter((c) => c.closed).length,
        };
    },

    record(m) {
        state.recording = m.on;
        if (m.on) state.hist = new Histogram();
        return m.on ? {} : { hist: state.hist.sparse() };
    },

    // Sends {ev:'progress', minN} every `everyMs` while on.
    progress(m) {
        clearInterval(state.progressTimer);
        state.progressTimer = null;
        if (!m.on) return {};
        let last = -1;
        state.progressTimer = setInterval(() => {
            const minN = minLastN();
            if (minN !== last) {
                last = minN;
                process.send({ ev: 'progress', minN });
            }
        }, m.everyMs);
        return { minN: minLastN() };
    },

    publish(m) {
        if (state.publishing) throw new Error('already publishing');
        if (m.mode === 'rate') state.publishing = rateStart(m.topic, m.rate);
        else if (m.mode === 'window') state.publishing = windowStart(m.topic, m.window);
        else if (m.mode === 'acked') state.publishing = ackedStart(m.topic, m.inflight, m.key);
        else throw new Error(`unknown publish mode ${m.mode}`);
        return {};
    },

    // Stops publishing; for acked publishing also waits (bounded) for the
    // acks still outstanding.
    async stop(m) {
        const run = state.publishing;
        state.publishing = null;
        if (!run) return { sent: state.sent };
        run.stop();
        if (run.mode === 'acked') {
            const deadline = Date.now() + (m.waitMs || 5000);
            while (run.outstanding > 0 && Date.now() < deadline) await pause(10);
            return { sent: state.sent, outstanding: run.outstanding };
        }
        return { sent: state.sent };
    },

    exit() {
        for (const c of [...state.subs.map((s) => s.client), ...state.pubs.map((p) => p.client), ...state.idle]) {
            c.close();
        }
        setTimeout(() => process.exit(0), 50);
        return {};
    },
};

process.on('message', async (m) => {
    if (m.cmd === 'credit') {
        const run = state.publishing;
        if (run && run.mode === 'window') {
            run.minSeen = m.minN;
            run.fill();
        }
        return;
    }
    try {
        const result = await commands[m.cmd](m);
        process.send({ re: m.rid, ok: true, ...result });
    } catch (err) {
        process.send({ re: m.rid, ok: false, error: err.message });
    }
});

process.on('disconnect', () => process.exit(0));
