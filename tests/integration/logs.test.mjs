// SPDX-License-Identifier: MIT
// logs.test.mjs: the log formats (docs/operations.md section 2):
// --log-format json writes one object per line with ts, level and msg;
// text lines carry the broker's timestamp, except when stderr is the
// stream JOURNAL_STREAM names (the journal stamps lines itself); a
// JOURNAL_STREAM naming another stream changes nothing.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startBroker } from './lib/broker.mjs';
import { httpPublish, uniqueTopic } from './lib/util.mjs';

const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// The broker's log lines, after it logged something of its own.
async function logLines(broker) {
    await httpPublish(broker, { topic: uniqueTopic('log'), data: 'x' }); // a debug line
    await broker.stop();
    return broker.stderrText().split('\n').filter((l) => l !== '');
}

// A wrapper that runs the broker with JOURNAL_STREAM set to `value`, or to
// its own stderr's "device:inode" when value is null.
function journalWrapper(value) {
    const set = value === null ? '$(stat -L -c %d:%i /proc/self/fd/2)' : value;
    return ['sh', '-c', `JOURNAL_STREAM=${set} exec "$0" "$@"`];
}

describe('logs', () => {
    it('--log-format json: one object per line with ts, level and msg', async (t) => {
        const broker = await startBroker({ t, args: ['--log-format', 'json'] });
        const lines = await logLines(broker);
        assert.ok(lines.length >= 3, lines.join('\n'));
        for (const line of lines) {
            const entry = JSON.parse(line);
            assert.match(entry.ts, STAMP, line);
            assert.ok(['error', 'warn', 'info', 'debug'].includes(entry.level), line);
            assert.equal(typeof entry.msg, 'string', line);
            assert.ok(entry.msg.length > 0 && !entry.msg.includes('\n'), line);
        }
        assert.ok(lines.some((l) => JSON.parse(l).msg.includes('listening on')), 'the start line');
    });

    it('text lines have their timestamp, but not when stderr is the journal', async (t) => {
        const plain = await logLines(await startBroker({ t }));
        assert.ok(plain.every((l) => STAMP.test(l.split(' ')[0])), plain.slice(0, 3).join('\n'));
        const other = await logLines(await startBroker({ t, wrapper: journalWrapper('1:1') }));
        assert.ok(other.every((l) => STAMP.test(l.split(' ')[0])), 'JOURNAL_STREAM names another stream');
        const journal = await logLines(await startBroker({ t, wrapper: journalWrapper(null) }));
        assert.ok(journal.length >= 3);
        for (const line of journal) assert.match(line, /^(error|warn |info |debug) \S/, line);
    });
});
