// SPDX-License-Identifier: MIT
// cli.test.mjs: the command line of docs/protocol.md section 9: --version,
// --help, exit status 2 with one line on stderr for a bad flag, a bad value,
// an unreadable or bad config file and a port in use; config file values and
// flags winning over the file.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort, httpGet, onCleanup, runBroker, startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';

async function tempDir(t) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wsbroker-cli-'));
    onCleanup(t, () => fs.rm(dir, { recursive: true, force: true }));
    return dir;
}

function assertOneLineExit2(res, what) {
    const shown = `${what}: code ${res.code} signal ${res.signal} timedOut ${res.timedOut}\n` +
        `stderr: ${JSON.stringify(res.stderr)}\nstdout: ${JSON.stringify(res.stdout.slice(0, 500))}`;
    assert.equal(res.timedOut, false, `exits by itself (${shown})`);
    assert.equal(res.code, 2, shown);
    const lines = res.stderr.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1));
    assert.equal(lines.length, 1, `exactly one line on stderr (${shown})`);
    assert.ok(lines[0].trim().length > 5, `a clear line (${shown})`);
}

describe('cli', () => {
    it('--version prints the version and exits 0', async (t) => {
        const dir = await tempDir(t);
        const res = await runBroker(['--version'], { cwd: dir });
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stdout, /\b\d+\.\d+\.\d+\b/);
        assert.deepEqual(await fs.readdir(dir), [], 'nothing created');
    });

    it('--help prints usage and exits 0', async (t) => {
        const dir = await tempDir(t);
        const res = await runBroker(['--help'], { cwd: dir });
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stdout, /--port/);
        assert.match(res.stdout, /--db/);
        assert.deepEqual(await fs.readdir(dir), [], 'nothing created');
    });

    it('a bad flag or a bad value: exit 2, one line, nothing started', async (t) => {
        const dir = await tempDir(t);
        const cases = [
            ['--no-such-flag'],
            ['--port', 'abc'],
            ['--port', '70000'],
            ['--port', '-1'],
            ['--port'],
            ['--max-message', 'lots'],
            ['--max-backlog', '-5'],
            ['--log-level', 'chatty'],
            ['stray-argument'],
        ];
        for (const args of cases) {
            const res = await runBroker([...args, '--db', path.join(dir, 'x.db'), '--bind', '127.0.0.1'],
                { cwd: dir });
            assertOneLineExit2(res, args.join(' '));
        }
        const files = await fs.readdir(dir);
        assert.deepEqual(files, [], `nothing half-started: ${files}`);
    });

    it('an unreadable config file: exit 2, one line', async (t) => {
        const dir = await tempDir(t);
        const safe = ['--db', ':memory:', '--bind', '127.0.0.1', '--port', String(await freePort())];
        const res = await runBroker(['--config', path.join(dir, 'missing.json'), ...safe], { cwd: dir });
        assertOneLineExit2(res, 'missing config');
        const res2 = await runBroker(['--config', dir, ...safe], { cwd: dir });
        assertOneLineExit2(res2, 'config is a directory');
    });

    it('a config file with an unknown key, a bad value or bad JSON: exit 2, one line', async (t) => {
        const dir = await tempDir(t);
        const cases = {
            'unknown.json': '{"max_message": 5000, "no_such_key": 1}',
            'badvalue.json': '{"max_message": "lots"}',
            'badtype.json': '{"port": "eighty"}',
            'notjson.json': '{"max_message": 5000',
            'array.json': '[1, 2]',
        };
        for (const [name, text] of Object.entries(cases)) {
            const file = path.join(dir, name);
            await fs.writeFile(file, text);
            const port = String(await freePort());
            const res = await runBroker(['--config', file, '--db', ':memory:', '--bind', '127.0.0.1', '--port', port],
                { cwd: dir });
            assertOneLineExit2(res, name);
        }
    });

    it('port in use: exit 2 with one line, and the broker on that port is unaffected', async (t) => {
        const broker = await startBroker({ t });
        const c = await connect(broker.url, { t });
        const dir = await tempDir(t);
        const res = await runBroker(
            ['--bind', '127.0.0.1', '--port', String(broker.port), '--db', path.join(dir, 'other.db')],
            { cwd: dir });
        assertOneLineExit2(res, 'port in use');
        await c.sync();
        assert.equal(c.closeInfo, null);
        const health = await httpGet(`${broker.http}/healthz`);
        assert.equal(health.status, 200);
        const c2 = await connect(broker.url, { t });
        assert.equal(c2.welcome.epoch, c.welcome.epoch, 'still the same broker');
    });

    it('an --auth-secret shorter than 32 bytes: exit 2 with one line', async (t) => {
        const dir = await tempDir(t);
        const port = String(await freePort());
        const args = ['--auth-secret', 'sekrit', '--db', ':memory:', '--bind', '127.0.0.1', '--port', port];
        const res = await runBroker(args, { cwd: dir });
        assertOneLineExit2(res, '--auth-secret');
        assert.match(res.stderr, /--auth-secret: the HS256 secret needs at least 32 bytes/);
    });

    it('a config file sets values and flags win over it', async (t) => {
        const dir = await tempDir(t);
        const file = path.join(dir, 'wsbroker.json');
        await fs.writeFile(file, JSON.stringify({ max_message: 5000, max_backlog: 100000, retain: 10 }));
        const a = await startBroker({ t, args: ['--config', file] });
        const ca = await connect(a.url, { t });
        assert.equal(ca.welcome.max_message, 5000, 'the file sets max_message');
        const b = await startBroker({ t, args: ['--config', file, '--max-message', '6000'] });
        const cb = await connect(b.url, { t });
        assert.equal(cb.welcome.max_message, 6000, 'the flag wins over the file');
        const c = await startBroker({ t, args: ['--max-message', '6000', '--config', file] });
        const cc = await connect(c.url, { t });
        assert.equal(cc.welcome.max_message, 6000, 'the flag wins whatever the order');
    });

    it('a config file may set the port; the flag wins', async (t) => {
        const dir = await tempDir(t);
        const file = path.join(dir, 'port.json');
        // The harness passes --port: the file's port must lose.
        await fs.writeFile(file, JSON.stringify({ port: 1, bind: '203.0.113.1' }));
        const broker = await startBroker({ t, args: ['--config', file] });
        const c = await connect(broker.url, { t });
        await c.sync();
    });
});
