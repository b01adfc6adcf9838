// SPDX-License-Identifier: MIT
// demo.test.mjs: the demo page (broker/www/index.html) in headless Chromium
// against the real broker: the ticker table follows prices published over
// HTTP (and by scripts/ticker.sh), two pages edit one document and see each
// other's text and presence, a page whose socket is cut resumes without
// missing what was published meanwhile, notifications arrive over SSE (from
// HTTP and from the page's own form), a ?token= in the page URL serves all
// three on a broker with auth, and screenshots of the whole page (desktop and phone) go to
// tests/artifacts/.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SECRET, claims, hs256 } from '../integration/lib/jwt.mjs';
import { ARTIFACTS_DIR, REPO_ROOT, assertNoPageErrors, launchBrowser, scaled, startBroker, uniqueName,
    waitConnected } from './lib/harness.mjs';

const run = promisify(execFile);

/** A symbol no other test uses (ticker rows are per symbol). */
function uniqueSymbol() {
    return uniqueName('T').toUpperCase();
}

function rowText(page, symbol) {
    return page.locator(`#ticker-rows tr[data-symbol="${symbol}"]`);
}

describe('demo page', () => {
    let broker;
    let browser;

    /**
     * Opens the demo in a new tab, closed when test `t` ends (each tab holds
     * an EventSource, and Chromium allows 6 HTTP/1.1 connections per host).
     */
    async function openDemo(t, hash = '', target = broker) {
        const page = await browser.newPage();
        t.after(async () => {
            if (!page.isClosed()) await page.close();
            assertNoPageErrors(page);
        });
        await page.goto(`${target.httpUrl}/${hash}`);
        await waitConnected(page);
        return page;
    }

    before(async () => {
        broker = await startBroker();
        browser = await launchBrowser();
    });

    after(async () => {
        await browser?.close();
        await broker?.cleanup();
    });

    it('serves the page and its modules with the right types', async (t) => {
        for (const [file, type] of [['/', 'text/html'], ['/wsb.js', 'text/javascript'], ['/demo.js', 'text/javascript'],
            ['/demo.css', 'text/css']]) {
            const res = await fetch(`${broker.httpUrl}${file}`);
            assert.equal(res.status, 200, file);
            assert.ok(res.headers.get('content-type').startsWith(type), `${file}: ${res.headers.get('content-type')}`);
            await res.arrayBuffer();
        }
        const page = await openDemo(t);
        await page.locator('#conn[data-state="open"]').waitFor();
        assert.match(await page.locator('#conn').innerText(), /connected/);
    });

    it('on a broker with auth, ?token= in the page URL serves the WebSocket, SSE and POST; the page says how', async (t) => {
        const authBroker = await startBroker({ args: ['--auth-secret', SECRET] });
        t.after(() => authBroker.cleanup());
        const token = hs256(claims({ sub: 'demo', subscribe: ['>'], publish: ['>'] }));
        const page = await openDemo(t, `?token=${token}`, authBroker);
        const url = await page.evaluate(() => window.__wsb.client._ws.url);
        assert.equal(new URL(url).searchParams.get('token'), token);
        await page.locator('#sse-state[data-state="open"]').waitFor();
        const text = uniqueName('with a token ');
        await page.fill('#notify-text', text);
        await page.click('#notify-form button[type="submit"]');
        await page.locator('#notify-list li', { hasText: text }).waitFor();
        assert.match(await page.locator('.page-foot').innerText(), /\?token=JWT/);
    });

    it('ticker rows update from prices.> with up/down colouring', async (t) => {
        const page = await openDemo(t);
        const symbol = uniqueSymbol();
        const row = rowText(page, symbol);
        await broker.publish(`prices.${symbol}`, { px: 100 });
        await row.locator('.px', { hasText: '100.00' }).waitFor();

        await broker.publish(`prices.${symbol}`, { px: 101.5 });
        await row.locator('.px', { hasText: '101.50' }).waitFor();
        assert.equal(await row.getAttribute('class').then((c) => c.split(' ')[0]), 'up');
        assert.equal(await row.locator('.chg').innerText(), '+1.50 (+1.50%)');
        const upColour = await row.locator('.px').evaluate((el) => getComputedStyle(el).color);

        await broker.publish(`prices.${symbol}`, { px: 99.47 });
        await row.locator('.px', { hasText: '99.47' }).waitFor();
        assert.equal(await row.getAttribute('class').then((c) => c.split(' ')[0]), 'down');
        assert.match(await row.locator('.chg').innerText(), /^-2\.03 \(-2\.00%\)$/);
        const downColour = await row.locator('.px').evaluate((el) => getComputedStyle(el).color);
        assert.notEqual(upColour, downColour, 'up and down have different colours');

        // Rows are sorted by symbol and a later page starts with the newest ticks (last: 64).
        const later = await openDemo(t);
        await rowText(later, symbol).locator('.px', { hasText: '99.47' }).waitFor();
        const symbols = await later.locator('#ticker-rows tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.symbol));
        assert.deepEqual(symbols, [...symbols].sort());
    });

    it('scripts/ticker.sh feeds the ticker over POST /api/publish', async (t) => {
        const page = await openDemo(t);
        await run(path.join(REPO_ROOT, 'scripts', 'ticker.sh'),
            ['--url', broker.httpUrl, '--rate', '50', '--count', '40', '--quiet'], { timeout: scaled(60000) });
        await page.waitForFunction(() => document.querySelectorAll('#ticker-rows tr[data-symbol]').length >= 5);
        const ticks = await page.evaluate(() => window.__demo.ticks.filter((t) => /^prices\.[A-Z]{4}$/.test(t.topic)));
        assert.ok(ticks.length >= 40, `the page got the ticks (${ticks.length})`);
        assert.ok(ticks.every((t) => t.px >= 1 && t.px < 10000));
        await page.locator('#ticker-stats', { hasText: 'symbols' }).waitFor();
    });

    it('"Simulate feed" publishes prices from the page over the WebSocket', async (t) => {
        const page = await openDemo(t);
        const before = await page.evaluate(() => window.__demo.ticks.length);
        await page.click('#simulate');
        await page.waitForFunction((n) => window.__demo.ticks.length >= n + 5, before);
        await page.click('#simulate');
        assert.equal(await page.getAttribute('#simulate', 'aria-pressed'), 'false');
    });

    it('two pages editing one document see each other\'s text and each other in presence', async (t) => {
        const docName = uniqueName('t');
        const alice = await openDemo(t, `#doc=${docName}`);
        const bob = await openDemo(t, `#doc=${docName}`);
        for (const [page, name] of [[alice, 'Alice'], [bob, 'Bob']]) {
            await page.fill('#user-name', name);
            await page.locator('#user-name').dispatchEvent('change');
        }
        assert.equal(await alice.locator('#doc-topic').innerText(), `doc.${docName}`);

        // Presence: each page lists both, with names.
        await alice.locator('#presence .member:not(.me)', { hasText: 'Bob' }).waitFor();
        await bob.locator('#presence .member:not(.me)', { hasText: 'Alice' }).waitFor();
        assert.equal(await alice.locator('#presence .member.me .name').innerText(), 'Alice (you)');
        assert.equal(await bob.locator('#presence .member:not(.me) .name').innerText(), 'Alice');
        assert.equal(await alice.locator('#presence .member').count(), 2);

        await alice.fill('#doc-text', 'Hello from Alice.');
        await bob.waitForFunction(() => document.getElementById('doc-text').value === 'Hello from Alice.');
        await bob.click('#doc-text');
        await bob.keyboard.press('End');
        await bob.keyboard.type(' And Bob.');
        await alice.waitForFunction(() => document.getElementById('doc-text').value === 'Hello from Alice. And Bob.');

        // A remote edit before the caret moves the caret with the text.
        await alice.locator('#doc-text').evaluate((el) => {
            el.focus();
            el.setSelectionRange(6, 6); // after "Hello "
        });
        await bob.locator('#doc-text').evaluate((el) => el.setSelectionRange(0, 0));
        await bob.keyboard.type('>> ');
        await alice.waitForFunction(() => document.getElementById('doc-text').value.startsWith('>> Hello'));
        assert.equal(await alice.locator('#doc-text').evaluate((el) => el.selectionStart), 9);

        // echo:false: a page does not get its own edits back.
        const own = await alice.evaluate(() => window.__demo.docUpdates.filter((u) => u.client === window.__wsb.client.id));
        assert.deepEqual(own, []);

        // A page that arrives later starts with the current text.
        const carol = await openDemo(t, `#doc=${docName}`);
        await carol.waitForFunction(() => document.getElementById('doc-text').value === '>> Hello from Alice. And Bob.');
        await carol.fill('#user-name', 'Carol'); // the tabs share localStorage, where Bob's name is now
        await carol.locator('#user-name').dispatchEvent('change');
        await alice.locator('#presence .member', { hasText: 'Carol' }).waitFor();
        assert.equal(await alice.locator('#presence .member').count(), 3);

        // Leaving: closing a page removes it from the others' presence list.
        await bob.close();
        await alice.waitForFunction(() => document.querySelectorAll('#presence .member').length === 2);
        assert.equal(await alice.locator('#presence .member', { hasText: 'Bob' }).count(), 0);
    });

    it('a page whose socket is cut reconnects and misses nothing published meanwhile', async (t) => {
        const page = await openDemo(t);
        const symbol = uniqueSymbol();
        const topic = `prices.${symbol}`;
        const acks = [(await broker.publish(topic, { px: 10 })).seq];
        await page.waitForFunction((seq) => window.__demo.ticks.some((t) => t.seq === seq), acks[0]);

        const firstClient = await page.evaluate(() => {
            const { client } = window.__wsb;
            client.opts.backoffMin = client.opts.backoffMax = 600000; // back when the test says so
            client._ws.close();
            return client.id;
        });
        await page.locator('#conn[data-state="reconnecting"]').waitFor();
        for (const px of [11, 12, 13]) acks.push((await broker.publish(topic, { px })).seq);
        assert.equal(await page.evaluate(() => window.__wsb.client.state), 'reconnecting', 'published while down');

        await page.evaluate(() => window.dispatchEvent(new Event('online'))); // the network is back
        await page.locator('#conn[data-state="open"]').waitFor();
        acks.push((await broker.publish(topic, { px: 14 })).seq);
        await page.waitForFunction((seq) => window.__demo.ticks.some((t) => t.seq === seq), acks[4]);

        const got = await page.evaluate((topic) => window.__demo.ticks.filter((t) => t.topic === topic), topic);
        assert.deepEqual(got.map((t) => t.seq), acks, 'every seq once, in order, none missing');
        assert.deepEqual(got.map((t) => t.px), [10, 11, 12, 13, 14]);
        // The store holds exactly these messages on the topic: the page got
        // all of them (other pages may publish on other topics meanwhile, so
        // the seqs need not be consecutive).
        const stored = await broker.history(topic, { since: 0, limit: 100 });
        assert.deepEqual(stored.messages.map((m) => m.seq), acks, 'the page got every stored message');
        assert.notEqual(await page.evaluate(() => window.__wsb.client.id), firstClient, 'a new connection');
        await rowText(page, symbol).locator('.px', { hasText: '14.00' }).waitFor();
    });

    it('notifications arrive over SSE, from HTTP and from the page\'s form', async (t) => {
        const page = await openDemo(t);
        const other = await openDemo(t);
        for (const p of [page, other]) await p.locator('#sse-state[data-state="open"]').waitFor();

        const text = uniqueName('deploy finished ');
        const { seq } = await broker.publish('notify.warning', { text, level: 'warning' });
        const item = page.locator(`#notify-list li[data-seq="${seq}"]`);
        await item.waitFor();
        assert.equal(await item.getAttribute('class'), 'warning');
        assert.equal(await item.locator('.text').innerText(), text);
        await page.locator('.toast', { hasText: text }).waitFor();

        const fromForm = uniqueName('hello from the form ');
        await page.fill('#notify-text', fromForm);
        await page.selectOption('#notify-level', 'success');
        await page.click('#notify-form button[type="submit"]');
        await page.locator('#notify-status', { hasText: /sent · seq \d+/ }).waitFor();
        for (const p of [page, other]) await p.locator('#notify-list li.success', { hasText: fromForm }).waitFor();
        const history = await broker.history('notify.success');
        assert.ok(history.messages.some((m) => m.data.text === fromForm), 'the form published to notify.success');
        assert.equal(await page.inputValue('#notify-text'), '', 'the form is cleared');
    });

    it('looks right on a desktop and on a phone (screenshots in tests/artifacts/)', async (t) => {
        await fs.mkdir(ARTIFACTS_DIR, { recursive: true });
        const docName = uniqueName('shot');
        const page = await openDemo(t, `#doc=${docName}`);
        const peer = await openDemo(t, `#doc=${docName}`);
        await peer.fill('#user-name', 'Grace');
        await peer.locator('#user-name').dispatchEvent('change');
        await page.fill('#user-name', 'Ada');
        await page.locator('#user-name').dispatchEvent('change');
        await run(path.join(REPO_ROOT, 'scripts', 'ticker.sh'),
            ['--url', broker.httpUrl, '--rate', '50', '--count', '64', '--quiet'], { timeout: scaled(60000) });
        await page.waitForFunction(() => document.querySelectorAll('#ticker-rows tr[data-symbol]').length >= 8);
        await page.locator('#presence .member', { hasText: 'Grace' }).waitFor();
        await page.locator('#sse-state[data-state="open"]').waitFor();
        await peer.fill('#doc-text', 'Release notes, v0.2\n\n- HTTP publish API and SSE\n- browser client wsb.js\n'
            + '- live demo: ticker, shared notes, notifications');
        await page.waitForFunction(() => document.getElementById('doc-text').value.includes('notifications'));
        await broker.publish('notify.success', { text: 'Build 1042 passed', level: 'success' });
        await broker.publish('notify.info', { text: 'Deploying to staging', level: 'info' });
        await page.locator('#notify-list li', { hasText: 'Deploying to staging' }).waitFor();
        await page.locator('#conn[data-state="open"]').waitFor(); // still connected: a live picture
        await page.locator('#sse-state[data-state="open"]').waitFor();

        await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'demo.png'), fullPage: true, animations: 'disabled' });
        const desktopOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(desktopOverflow <= 0, `no horizontal scrolling on a desktop (${desktopOverflow}px)`);

        await page.setViewportSize({ width: 390, height: 844 });
        const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(phoneOverflow <= 0, `no horizontal scrolling on a phone (${phoneOverflow}px)`);
        const columns = await page.evaluate(() => getComputedStyle(document.querySelector('.grid')).gridTemplateColumns);
        assert.equal(columns.split(' ').length, 1, 'one column on a phone');
        await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'demo-phone.png'), fullPage: true, animations: 'disabled' });
        const size = (await fs.stat(path.join(ARTIFACTS_DIR, 'demo.png'))).size;
        assert.ok(size > 10000, `a real screenshot (${size} bytes)`);
    });
    it('two pages editing at once lose no edit (expect_last, re-read and re-apply)', async (t) => {
        const docName = uniqueName('race');
        const alice = await openDemo(t, `#doc=${docName}`);
        const bob = await openDemo(t, `#doc=${docName}`);
        const text = (page) => page.locator('#doc-text').inputValue();
        await alice.fill('#doc-text', 'middle');
        await bob.waitForFunction(() => document.getElementById('doc-text').value === 'middle');

        // The same base edited on both pages in the same instant: one
        // publish wins, the other is refused and re-applied on top of it.
        const edit = (page, change) => page.evaluate((c) => {
            const el = document.getElementById('doc-text');
            el.value = c === 'front' ? `A0 ${el.value}` : `${el.value} B0`;
            el.dispatchEvent(new Event('input'));
        }, change);
        await Promise.all([edit(alice, 'front'), edit(bob, 'back')]);
        for (const page of [alice, bob]) {
            await page.waitForFunction(() => document.getElementById('doc-text').value === 'A0 middle B0');
        }

        // Then both type at once for a while, at either end.
        const typeAt = async (page, key, words) => {
            await page.locator('#doc-text').evaluate((el, k) => {
                el.focus();
                const at = k === 'Home' ? 0 : el.value.length;
                el.setSelectionRange(at, at);
            }, key);
            for (const w of words) {
                await page.keyboard.press(key);
                await page.keyboard.type(key === 'Home' ? `${w} ` : ` ${w}`, { delay: 15 });
            }
        };
        const aWords = Array.from({ length: 12 }, (_, i) => `A${i + 1}`);
        const bWords = Array.from({ length: 12 }, (_, i) => `B${i + 1}`);
        await Promise.all([typeAt(alice, 'Home', aWords), typeAt(bob, 'End', bWords)]);
        const expected = `${[...aWords].reverse().join(' ')} A0 middle B0 ${bWords.join(' ')}`;
        for (const page of [alice, bob]) {
            await page.waitForFunction((want) => document.getElementById('doc-text').value === want, expected,
                { timeout: scaled(20000) });
        }
        assert.equal(await text(alice), await text(bob));
        // The stored newest version is the merged text too.
        const res = await fetch(`${broker.httpUrl}/api/history?topic=doc.${docName}&limit=1000`);
        const { messages } = await res.json();
        assert.equal(messages[messages.length - 1].data.text, expected);
        const conflicts = await Promise.all([alice, bob].map((p) => p.evaluate(() => window.__demo.docConflicts)));
        t.diagnostic(`conflicts refused and re-applied: ${conflicts.join(' + ')}`);
    });
});
