// SPDX-License-Identifier: MIT
// presence.test.mjs: subscribe with presence:true, join/leave events and the
// `presence` request (docs/protocol.md sections 3, 4 "Presence" and 10).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from './lib/client.mjs';
import { assertError, sharedBroker, uniqueTopic } from './lib/util.mjs';

const isJoin = (topic, client) => (f) => f.op === 'join' && f.topic === topic && (!client || f.client === client);
const isLeave = (topic, client) => (f) => f.op === 'leave' && f.topic === topic && (!client || f.client === client);
const byClient = (a, b) => (a.client < b.client ? -1 : a.client > b.client ? 1 : 0);

describe('presence', () => {
    const ctx = sharedBroker();

    it('a member joining is announced to the other members', async (t) => {
        const topic = uniqueTopic('pr.join');
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        const ackA = await a.ok({ op: 'subscribe', topic, presence: true });
        assert.equal(ackA.topic, topic);
        await b.ok({ op: 'subscribe', topic, presence: true });
        const join = await a.next(isJoin(topic), { what: 'join of b' });
        assert.deepEqual(
            { op: join.op, topic: join.topic, client: join.client, user: join.user },
            { op: 'join', topic, client: b.welcome.client, user: null });
        assert.ok('user' in join, 'user is present and null for anonymous members');
    });

    it('the presence op lists the members', async (t) => {
        const topic = uniqueTopic('pr.list');
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        const plain = await connect(ctx.broker.url, { t });
        const empty = await a.ok({ op: 'presence', topic });
        assert.deepEqual(empty.members, []);
        await a.ok({ op: 'subscribe', topic, presence: true });
        await b.ok({ op: 'subscribe', topic, presence: true });
        await plain.ok({ op: 'subscribe', topic });
        const list = await plain.ok({ op: 'presence', topic });
        assert.deepEqual([...list.members].sort(byClient),
            [{ client: a.welcome.client, user: null }, { client: b.welcome.client, user: null }].sort(byClient),
            'members are the presence:true subscribers, not plain ones');
        const other = await a.ok({ op: 'presence', topic: `${topic}.other` });
        assert.deepEqual(other.members, []);
    });

    it('unsubscribe and disconnect send leave', async (t) => {
        const topic = uniqueTopic('pr.leave');
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        const c = await connect(ctx.broker.url, { t });
        await a.ok({ op: 'subscribe', topic, presence: true });
        await b.ok({ op: 'subscribe', topic, presence: true });
        await c.ok({ op: 'subscribe', topic, presence: true });
        await a.next(isJoin(topic, b.welcome.client));
        await a.next(isJoin(topic, c.welcome.client));

        await b.ok({ op: 'unsubscribe', topic });
        const leaveB = await a.next(isLeave(topic), { what: 'leave of b' });
        assert.deepEqual({ op: leaveB.op, topic: leaveB.topic, client: leaveB.client, user: leaveB.user },
            { op: 'leave', topic, client: b.welcome.client, user: null });
        await c.next(isLeave(topic, b.welcome.client));

        c.terminate();
        const leaveC = await a.next(isLeave(topic), { what: 'leave of c after its disconnect' });
        assert.equal(leaveC.client, c.welcome.client);
        assert.equal(leaveC.user, null);

        const list = await a.ok({ op: 'presence', topic });
        assert.deepEqual(list.members, [{ client: a.welcome.client, user: null }]);
    });

    it('a clean close also sends leave', async (t) => {
        const topic = uniqueTopic('pr.close');
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        await a.ok({ op: 'subscribe', topic, presence: true });
        await b.ok({ op: 'subscribe', topic, presence: true });
        await a.next(isJoin(topic, b.welcome.client));
        await b.close();
        const leave = await a.next(isLeave(topic));
        assert.equal(leave.client, b.welcome.client);
    });

    it('subscribers without presence get no join or leave events', async (t) => {
        const topic = uniqueTopic('pr.plain');
        const plain = await connect(ctx.broker.url, { t });
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        await plain.ok({ op: 'subscribe', topic });
        await a.ok({ op: 'subscribe', topic, presence: true });
        await b.ok({ op: 'subscribe', topic, presence: true });
        await a.next(isJoin(topic, b.welcome.client));
        await b.ok({ op: 'unsubscribe', topic });
        await a.next(isLeave(topic, b.welcome.client));
        // Joins and leaves of this topic are queued by now: a message after
        // them reaches `plain` last.
        await a.ok({ op: 'publish', topic, data: 'end' });
        await plain.next((f) => f.op === 'message' && f.data === 'end');
        assert.deepEqual(plain.peek((f) => f.op === 'join' || f.op === 'leave'), []);
        assert.deepEqual(plain.log.filter((f) => f.op === 'join' || f.op === 'leave'), []);
    });

    it('presence does not announce a member to itself twice or on resubscribe', async (t) => {
        const topic = uniqueTopic('pr.twice');
        const a = await connect(ctx.broker.url, { t });
        const b = await connect(ctx.broker.url, { t });
        await a.ok({ op: 'subscribe', topic, presence: true });
        await b.ok({ op: 'subscribe', topic, presence: true });
        await a.next(isJoin(topic, b.welcome.client));
        await b.ok({ op: 'subscribe', topic, presence: true });
        const list = await a.ok({ op: 'presence', topic });
        assert.equal(list.members.length, 2);
        await a.ok({ op: 'publish', topic, data: 'end' });
        await a.next((f) => f.op === 'message' && f.data === 'end');
        assert.deepEqual(a.peek(isJoin(topic)), [], 'subscribing again changes nothing');
    });

    it('presence:true on a pattern is bad_request', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const base = uniqueTopic('pr.pat');
        assertError(await c.request({ op: 'subscribe', topic: `${base}.*`, presence: true }), 'bad_request');
        assertError(await c.request({ op: 'subscribe', topic: `${base}.>`, presence: true }), 'bad_request');
        await c.sync();
        const reply = await c.request({ op: 'unsubscribe', topic: `${base}.*` });
        assertError(reply, 'not_subscribed', { what: 'the refused subscribe did not subscribe' });
    });

    it('the presence op takes a name: a pattern is refused', async (t) => {
        const c = await connect(ctx.broker.url, { t });
        const reply = await c.request({ op: 'presence', topic: `${uniqueTopic('pr.q')}.*` });
        assert.equal(reply.op, 'error');
        assert.ok(['bad_request', 'invalid_topic'].includes(reply.code), JSON.stringify(reply));
    });
});
