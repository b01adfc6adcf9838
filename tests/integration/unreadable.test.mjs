// SPDX-License-Identifier: MIT
// unreadable.test.mjs: a stored message no JSON reader can take (written by
// an older broker that let `"data":1e999` through, here put into the store
// file by hand) is reported by the wsb tool, never waited on or skipped in
// silence; and big integers, which are valid JSON, read back as published.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { REPO_ROOT, scaled, startBroker } from './lib/broker.mjs';
import { connect } from './lib/client.mjs';
import { uniqueTopic } from './lib/util.mjs';

const WSB_BIN = process.env.WSB_BIN
    ? path.resolve(process.env.WSB_BIN) : path.join(REPO_ROOT, 'build', 'bin', 'wsb');

// Runs wsb; a run still going after limitMs is killed and reported as such.
function runWsb(args, limitMs) {
    return new Promise((resolve) => {
        const proc = spawn(WSB_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let killed = false;
        proc.stdout.on('data', (d) => { stdout += d; });
        proc.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => { killed = true; proc.kill('SIGKILL'); }, scaled(limitMs));
        proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, killed }); });
    });
}

describe('a stored message that cannot be read', () => {
    it('wsb history fails at once with the reason; wsb sub reports it and goes on', async (t) => {
        const broker = await startBroker({ t });
        const topic = uniqueTopic('ur');
        const c = await connect(broker.url);
        const first = await c.ok({ op: 'publish', topic, data: 1 });
        // Raw text: a JavaScript number would round the integer.
        c.send(`{"op":"publish","id":77,"topic":"${topic}","data":18446744073709551616}`);
        const second = await c.next((f) => f.id === 77 && f.op === 'ack');
        c.terminate();
        await broker.stop();
        await promisify(execFile)('sqlite3', [broker.dbPath,
            `UPDATE messages SET data = CAST('1e999' AS BLOB) WHERE seq = ${first.seq}`]);
        await broker.restart();

        // wsb's own timeout is far beyond the run's limit: only a prompt
        // failure passes.
        const hist = await runWsb(['history', '--url', broker.url, '--timeout', '600', topic], 20000);
        assert.equal(hist.killed, false, `wsb history answered (stderr: ${hist.stderr})`);
        assert.notEqual(hist.code, 0, 'wsb history failed');
        assert.match(hist.stderr, /bad_frame|cannot read|not JSON/i, 'and said why');

        const sub = await runWsb(['sub', '--url', broker.url, '--since', '0', '--count', '1', topic], 20000);
        assert.equal(sub.killed, false, `wsb sub printed the readable message (stderr: ${sub.stderr})`);
        assert.equal(sub.code, 0, sub.stderr);
        assert.match(sub.stderr, /bad_frame/, 'the unreadable one was reported');
        const printed = sub.stdout.trim().split('\n').map((l) => JSON.parse(l.replace(/:(\d{17,})/g, ':"$1"')));
        assert.equal(printed.length, 1);
        assert.equal(printed[0].seq, second.seq, 'the readable message after it was printed');
        assert.match(sub.stdout, /"data":18446744073709551616\b/, 'its big integer as published');
    });
});
