// SPDX-License-Identifier: MIT
// metrics.test.mjs: GET /metrics as Prometheus expects it
// (docs/operations.md section 6): the content type with charset,
// `promtool check metrics` clean (when promtool is installed:
// scripts/deps.sh test), and the naming rules checked here too: counters
// end in _total, no gauge shares a counter's family name, base units,
// wsbroker_build_info, the process_* figures; the renamed counter of
// accepted connections.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { BROKER_BIN, httpGet, waitFor } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { parsePrometheus, sharedBroker } from './lib/util.mjs';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

async function scrape(broker) {
    const res = await httpGet(`${broker.http}/metrics`);
    assert.equal(res.status, 200, res.text);
    return res;
}

describe('metrics', () => {
    const ctx = sharedBroker();

    it('is text/plain 0.0.4 with charset=utf-8 and passes promtool check metrics', async (t) => {
        const res = await scrape(ctx.broker);
        assert.equal(res.headers.get('content-type'), CONTENT_TYPE);
        const promtool = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
        if (promtool.error?.code === 'ENOENT') {
            t.diagnostic('promtool is not installed (scripts/deps.sh test): only the rules below were checked');
            return;
        }
        assert.equal(promtool.status, 0, `promtool: ${promtool.stdout}${promtool.stderr}`);
        assert.equal(`${promtool.stdout}${promtool.stderr}`.trim(), '', 'promtool has no complaint');
    });

    it('follows the naming rules: _total counters, no shared family, base units', async () => {
        const { families } = parsePrometheus((await scrape(ctx.broker)).text);
        for (const [name, fam] of families) {
            assert.ok(fam.help && fam.help.length > 3, `${name} has a HELP text`);
            assert.ok(name.startsWith('wsbroker_') || name.startsWith('process_'), name);
            if (fam.type === 'counter') {
                assert.match(name, /_total$/, `counter ${name}`);
                assert.equal(families.get(name.slice(0, -'_total'.length)), undefined,
                    `${name} and a metric of its family name`);
            } else {
                assert.doesNotMatch(name, /_total$/, `${fam.type} ${name} is named as a counter`);
            }
            assert.doesNotMatch(name, /_(ms|us|millis|milliseconds|micros|kb|mb|kib|mib)(_|$)/, `base units: ${name}`);
        }
        assert.equal(families.get('wsbroker_connections')?.type, 'gauge');
        assert.equal(families.get('wsbroker_connections_total'), undefined, 'the old counter name is gone');
        assert.equal(families.get('wsbroker_connections_accepted_total')?.type, 'counter');
    });

    it('has wsbroker_build_info with the version, and the process_* figures', async () => {
        const m = parsePrometheus((await scrape(ctx.broker)).text);
        const version = spawnSync(BROKER_BIN, ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ')[1];
        assert.equal(m.get('wsbroker_build_info', { version }), 1);
        assert.equal(m.families.get('wsbroker_build_info').type, 'gauge');
        const rss = m.get('process_resident_memory_bytes');
        assert.ok(rss > 1e6 && rss < 1e10, `rss ${rss}`);
        assert.ok(m.get('process_virtual_memory_bytes') >= rss);
        const fds = m.get('process_open_fds');
        assert.ok(fds >= 3 && fds < 10000, `open fds ${fds}`);
        assert.ok(m.get('process_max_fds') >= fds);
        assert.ok(m.get('process_cpu_seconds_total') >= 0);
        assert.equal(m.families.get('process_cpu_seconds_total').type, 'counter');
        const start = m.get('process_start_time_seconds');
        const now = Date.now() / 1000;
        assert.ok(start > now - 3600 && start <= now + 5, `start ${start}, now ${now}`);
    });

    it('counts accepted connections in wsbroker_connections_accepted_total', async (t) => {
        const before = parsePrometheus((await scrape(ctx.broker)).text).get('wsbroker_connections_accepted_total');
        await connect(ctx.broker.url, { t });
        await connect(ctx.broker.url, { t });
        await waitFor(async () => parsePrometheus((await scrape(ctx.broker)).text)
            .get('wsbroker_connections_accepted_total') >= before + 2, { what: 'two more accepted' });
    });
});
