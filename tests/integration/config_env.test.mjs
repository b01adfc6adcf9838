// SPDX-License-Identifier: MIT
// config_env.test.mjs: settings from the environment (docs/operations.md
// section 8): WSBROKER_<KEY> for every config key, a list comma-separated,
// flags winning over the environment and the environment over the file, a
// bad value an exit 2 with one line naming the variable; and the reference
// table of docs/operations.md checked against `wsbroker --help`.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, onCleanup, runBroker, startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { assertHttpError, httpPublish, uniqueTopic } from './lib/util.mjs';

// Runs fn with `vars` in the environment the broker inherits.
async function withEnv(vars, fn) {
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    Object.assign(process.env, vars);
    try {
        return await fn();
    } finally {
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    }
}

async function tempDir(t) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-env-'));
    onCleanup(t, () => fs.rm(dir, { recursive: true, force: true }));
    return dir;
}

async function welcomeMaxMessage(broker, t) {
    const c = await connect(broker.url, { t });
    return c.welcome.max_message;
}

describe('configuration from the environment', () => {
    it('WSBROKER_<KEY> sets a key; a flag wins over it; it wins over the file', async (t) => {
        const dir = await tempDir(t);
        const file = path.join(dir, 'cfg.json');
        await fs.writeFile(file, JSON.stringify({ max_message: 3000 }));
        await withEnv({ WSBROKER_MAX_MESSAGE: '1000' }, async () => {
            assert.equal(await welcomeMaxMessage(await startBroker({ t }), t), 1000, 'from the environment');
            const flagged = await startBroker({ t, args: ['--max-message', '2000'] });
            assert.equal(await welcomeMaxMessage(flagged, t), 2000, 'the flag wins');
            const filed = await startBroker({ t, args: ['--config', file] });
            assert.equal(await welcomeMaxMessage(filed, t), 1000, 'the environment wins over the file');
        });
    });

    it('a list is comma-separated and replaces the file\'s', async (t) => {
        const dir = await tempDir(t);
        const file = path.join(dir, 'cfg.json');
        await fs.writeFile(file, JSON.stringify({ allow_origin: ['https://file.example'] }));
        const env = { WSBROKER_ALLOW_ORIGIN: 'https://a.example, https://b.example' };
        const broker = await withEnv(env, () => startBroker({ t, args: ['--config', file] }));
        const topic = uniqueTopic('env.origin');
        for (const origin of ['https://a.example', 'https://b.example']) {
            const res = await httpPublish(broker, { topic, data: 1 }, { headers: { origin } });
            assert.equal(res.status, 200, `${origin}: ${res.text}`);
        }
        for (const origin of ['https://file.example', 'https://c.example']) {
            assertHttpError(await httpPublish(broker, { topic, data: 1 }, { headers: { origin } }), 403, 'forbidden',
                origin);
        }
    });

    it('a bad value exits 2 with one line naming the variable', async (t) => {
        const dir = await tempDir(t);
        const cases = {
            WSBROKER_PORT: 'abc',
            WSBROKER_RETAIN: '0',
            WSBROKER_DURABILITY: 'sometimes',
            WSBROKER_LOG_FORMAT: 'xml',
            WSBROKER_BIND: '',
            WSBROKER_ALLOW_HOST: 'a,,b',
        };
        for (const [name, value] of Object.entries(cases)) {
            const res = await withEnv({ [name]: value }, () => runBroker(['--db', ':memory:'], { cwd: dir }));
            const shown = `${name}=${value}: code ${res.code}, stderr ${JSON.stringify(res.stderr)}`;
            assert.equal(res.code, 2, shown);
            const lines = res.stderr.trimEnd().split('\n');
            assert.equal(lines.length, 1, shown);
            assert.match(lines[0], new RegExp(`^wsbroker: ${name}: `), shown);
        }
        assert.deepEqual(await fs.readdir(dir), [], 'nothing created');
    });

    it('docs/operations.md has a row for every flag of --help: key, variable, default', async () => {
        const help = await runBroker(['--help']);
        assert.equal(help.code, 0);
        const doc = await fs.readFile(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
        const rows = new Map();
        for (const line of doc.split('\n')) {
            const cells = line.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, '').trim());
            const flag = /^`--([a-z-]+) [A-Z_]+`$/.exec(cells[0] ?? '');
            if (flag) rows.set(flag[1], cells);
        }
        let checked = 0;
        for (const line of help.stdout.split('\n')) {
            const m = /^ {2}--([a-z-]+) \S+ +.* \(default: (.*)\)$/.exec(line);
            if (!m) continue;
            const [, flag, fallback] = m;
            const row = rows.get(flag);
            assert.ok(row, `docs/operations.md section 8 has no row for --${flag}`);
            // The contract names --topic-rule's key topic_rules (it holds a list).
            const key = flag === 'topic-rule' ? 'topic_rules' : flag.replace(/-/g, '_');
            if (flag !== 'config') {
                assert.equal(row[1], `\`${key}\``, `--${flag}: config key`);
                assert.equal(row[2], `\`WSBROKER_${key.toUpperCase()}\``, `--${flag}: environment variable`);
            }
            if (flag !== 'www') { // the built-in web root depends on where the broker was built
                assert.equal(row[3], fallback === 'none' ? 'none' : `\`${fallback}\``, `--${flag}: default`);
            }
            checked++;
        }
        assert.ok(checked >= 30, `${checked} flags checked`);
        assert.equal(rows.size, checked, 'no row for a flag --help does not list');
    });
});
