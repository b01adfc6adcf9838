// SPDX-License-Identifier: MIT
// schema.test.mjs: schema/envelope.schema.json against the broker. Every
// frame the suite receives is checked against $defs/serverFrame (lib/client);
// here the request side: requests the schema accepts are accepted by the
// broker, and requests the schema refuses are refused by it too.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import { schemaErrors, validateRequest } from './lib/schema.mjs';
import { sharedBroker, uniqueTopic } from './lib/util.mjs';

describe('envelope schema', () => {
    const ctx = sharedBroker();

    it('requests the schema accepts get an ack (or pong) from the broker', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('sc.ok');
        const requests = [
            { op: 'subscribe', topic, since: 0, presence: true },
            { op: 'subscribe', topic: `${topic}.*`, last: 5 },
            { op: 'publish', topic, data: { px: 189.2 }, key: 'k1', echo: false },
            { op: 'publish', topic, data: null },
            { op: 'history', topic, since: 0, limit: 10 },
            { op: 'presence', topic },
            { op: 'unsubscribe', topic: `${topic}.*` },
            { op: 'ping', extra: 'ignored' },
        ];
        for (const [i, r] of requests.entries()) {
            const req = { ...r, id: 100 + i };
            assert.ok(validateRequest(req), `schema refuses ${JSON.stringify(req)}: ${schemaErrors(validateRequest)}`);
            const reply = await c.request(req);
            assert.ok(reply.op === 'ack' || reply.op === 'pong', `${JSON.stringify(req)} -> ${JSON.stringify(reply)}`);
        }
    });

    it('requests the schema refuses get an error from the broker', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const topic = uniqueTopic('sc.bad');
        const requests = [
            { op: 'publish', topic },                                  // no data
            { op: 'publish', topic: `${topic}.>`, data: 1 },            // pattern
            { op: 'publish', topic, data: 1, key: '' },
            { op: 'subscribe', topic, since: 1, last: 1 },
            { op: 'subscribe', topic: 'a..b' },
            { op: 'history', topic, limit: 0 },
            { op: 'presence', topic: `${topic}.*` },
            { op: 'nope' },
            { op: 'subscribe', topic: 'x'.repeat(65) },
        ];
        for (const [i, r] of requests.entries()) {
            const req = { ...r, id: 200 + i };
            assert.ok(!validateRequest(req), `schema accepts ${JSON.stringify(req)}`);
            const reply = await c.request(req);
            assert.equal(reply.op, 'error', `${JSON.stringify(req)} -> ${JSON.stringify(reply)}`);
        }
    });
});
