// SPDX-License-Identifier: MIT
/**
 * demo.js: the logic of the demo page (index.html), on top of wsb.js.
 *
 * - Ticker: subscribes to `prices.>` (the newest 64 ticks first) and keeps
 *   one table row per symbol with up/down colouring and a sparkline. Fed by
 *   scripts/ticker.sh, or by the "Simulate feed" button, which publishes a
 *   random walk from this page over the WebSocket.
 * - Shared document: topic `doc.<name>`. Each edit publishes the whole text
 *   with echo:false and `expectLast`, the seq of the version it was made
 *   on, so an edit made against a stale version is refused (`conflict`)
 *   instead of overwriting another page's edit: the page then re-reads the
 *   newest version, re-applies its own change on top of it and publishes
 *   again. Other pages apply each version, keeping their caret and their
 *   own unsent change. The page is a presence member of the topic
 *   (join/leave), and announces its display name on `doc.<name>.who`, so the
 *   member list shows names, not client ids.
 * - Notifications: Server-Sent Events from `/sse?topic=notify.>`; the form
 *   sends one with `POST /api/publish`.
 *
 * - Auth: on a broker with auth (docs/auth.md), `?token=JWT` in the page's
 *   URL is handed to the WebSocket client (which sends it as `?token=`),
 *   the SSE stream (`?token=`, since EventSource sends no headers) and
 *   `POST /api/publish` (`Authorization: Bearer`). Without one the page
 *   works as before on a broker without auth.
 *
 * Test hooks: window.__wsb.client (the WsbClient) and window.__demo (what
 * the page received).
 */
import { WsbClient } from './wsb.js';

const $ = (id) => document.getElementById(id);

const token = new URLSearchParams(location.search).get('token') || undefined;
const client = new WsbClient(undefined, { token });
const demo = { ticks: [], notifications: [], docUpdates: [], docConflicts: 0 };
window.__wsb = { client };
window.__demo = demo;

const MAX_KEPT = 2000; // entries kept in the test hook arrays

function keep(list, item) {
    list.push(item);
    if (list.length > MAX_KEPT) list.shift();
}

function formatTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// ---------------------------------------------------------------- connection

let newestSeq = 0;

function renderConnection(state, delay) {
    const box = $('conn');
    box.dataset.state = state;
    let text = 'connecting…';
    let detail = '';
    if (state === 'open') {
        text = 'connected';
        detail = `· ${client.id} · seq ${Math.max(newestSeq, client.welcome.seq)}`;
    } else if (state === 'reconnecting') {
        text = delay ? `reconnecting in ${(delay / 1000).toFixed(1)} s…` : 'reconnecting…';
    } else if (state === 'closed') {
        text = 'closed';
    }
    $('conn-text').textContent = text;
    $('conn-detail').textContent = detail;
}

client.on('state', ({ state, delay }) => renderConnection(state, delay));

function noteSeq(seq) {
    if (seq <= newestSeq) return;
    newestSeq = seq;
    if (client.state === 'open') renderConnection('open');
}

// -------------------------------------------------------------------- ticker

const BASE_PRICES = { AAPL: 189.5, AMZN: 182.3, GOOG: 172.1, META: 505.2, MSFT: 415.6, NFLX: 640.8,
                      NVDA: 121.4, TSLA: 248.9 };
const SPARK_POINTS = 40;
const rows = new Map(); // symbol -> {tr, first, last, points}
const tickTimes = [];   // receipt times of the last few seconds, for the rate

function sparkline(points) {
    const min = Math.min(...points);
    const span = Math.max(...points) - min || 1;
    const step = 100 / Math.max(1, points.length - 1);
    return points.map((p, i) => `${(i * step).toFixed(1)},${(24 - ((p - min) / span) * 22).toFixed(1)}`).join(' ');
}

function createRow(symbol) {
    const tr = document.createElement('tr');
    tr.dataset.symbol = symbol;
    tr.innerHTML = '<td class="sym"></td><td class="num px"></td><td class="num chg"></td>' +
        '<td class="spark-cell"><svg class="spark" viewBox="0 0 100 26" preserveAspectRatio="none">' +
        '<polyline points=""/></svg></td>';
    tr.cells[0].textContent = symbol;
    const body = $('ticker-rows');
    body.querySelector('.empty')?.remove();
    const after = [...body.rows].find((r) => r.dataset.symbol > symbol);
    body.insertBefore(tr, after || null);
    return tr;
}

function flash(tr, direction) {
    tr.classList.remove('flash-up', 'flash-down');
    void tr.offsetWidth; // restart the animation
    if (direction !== 'flat') tr.classList.add(`flash-${direction}`);
}

function onPrice(message) {
    const symbol = message.topic.slice('prices.'.length);
    const px = Number(message.data && message.data.px);
    if (!symbol || !Number.isFinite(px)) return;
    keep(demo.ticks, { topic: message.topic, seq: message.seq, px });
    tickTimes.push(Date.now());
    noteSeq(message.seq);

    let row = rows.get(symbol);
    if (!row) {
        row = { tr: createRow(symbol), last: px, points: [] };
        rows.set(symbol, row);
    }
    const change = px - row.last;
    const direction = change > 0 ? 'up' : change < 0 ? 'down' : 'flat';
    row.last = px;
    row.points.push(px);
    if (row.points.length > SPARK_POINTS) row.points.shift();

    const { tr } = row;
    tr.dataset.seq = message.seq;
    tr.className = direction;
    tr.cells[1].textContent = px.toFixed(2);
    const pct = row.points.length > 1 ? (change / (px - change)) * 100 : 0;
    tr.cells[2].textContent = `${change >= 0 ? '+' : ''}${change.toFixed(2)} (${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%)`;
    tr.querySelector('polyline').setAttribute('points', sparkline(row.points));
    flash(tr, direction);
    renderTickerStats();
}

function renderTickerStats() {
    const now = Date.now();
    while (tickTimes.length && now - tickTimes[0] > 5000) tickTimes.shift();
    if (!demo.ticks.length) return;
    const last = demo.ticks[demo.ticks.length - 1];
    $('ticker-stats').textContent =
        `${rows.size} symbols · last seq ${last.seq} · ${(tickTimes.length / 5).toFixed(1)} ticks/s`;
}

client.subscribe('prices.>', onPrice, { last: 64 });
setInterval(renderTickerStats, 1000);

// "Simulate feed": a random walk published from this page over the WebSocket.
let simulator = null;

function simulateTick() {
    if (client.state !== 'open') return; // do not queue a backlog while offline
    const symbols = Object.keys(BASE_PRICES);
    const symbol = symbols[Math.floor(Math.random() * symbols.length)];
    const from = rows.get(symbol)?.last ?? BASE_PRICES[symbol];
    const px = Math.max(1, from * (1 + (Math.random() - 0.5) * 0.006));
    client.publish(`prices.${symbol}`, { px: Math.round(px * 100) / 100 }).catch(() => {});
}

$('simulate').addEventListener('click', (ev) => {
    const on = !simulator;
    if (on) {
        simulator = setInterval(simulateTick, 150);
    } else {
        clearInterval(simulator);
        simulator = null;
    }
    ev.currentTarget.setAttribute('aria-pressed', String(on));
    ev.currentTarget.textContent = on ? 'Stop feed' : 'Simulate feed';
});

// ---------------------------------------------------------- shared document

const NAMES = ['Ada', 'Alan', 'Barbara', 'Dennis', 'Grace', 'Ken', 'Linus', 'Margaret', 'Radia', 'Whitfield'];
const NAME_RE = /^[A-Za-z0-9_\-:@~]{1,64}$/;
const textArea = $('doc-text');
// {topic, sub, whoSub, members: Map client -> member, names: Map client -> name,
//  base: {seq, text} the newest version known to be stored, sending: a publish in flight}
let doc = null;
let publishTimer = null;
const typingTimers = new Map();

function storedName() {
    try {
        return localStorage.getItem('wsb-demo-name');
    } catch {
        return null;
    }
}

function myName() {
    return $('user-name').value.trim() || 'anonymous';
}

/** The one edit that turns `before` into `after`: [start, end) of `before` becomes `text`. */
function textEdit(before, after) {
    let prefix = 0;
    while (prefix < before.length && prefix < after.length && before[prefix] === after[prefix]) prefix++;
    let suffix = 0;
    while (suffix < before.length - prefix && suffix < after.length - prefix &&
           before[before.length - 1 - suffix] === after[after.length - 1 - suffix]) suffix++;
    return { start: prefix, end: before.length - suffix, text: after.slice(prefix, after.length - suffix) };
}

/** Caret position `pos` in `before`, moved to where it belongs in `after`. */
function moveCaret(pos, before, after) {
    const edit = textEdit(before, after);
    if (pos <= edit.start) return pos;
    if (pos >= edit.end) return pos + after.length - before.length;
    return edit.start + edit.text.length;
}

/** `mine` and `theirs` are two edits of `base`: mine, re-applied on top of theirs. */
function rebaseText(base, mine, theirs) {
    const edit = textEdit(base, mine);
    const start = moveCaret(edit.start, base, theirs);
    const end = Math.max(start, moveCaret(edit.end, base, theirs));
    return theirs.slice(0, start) + edit.text + theirs.slice(end);
}

function applyRemoteText(text) {
    const before = textArea.value;
    if (before === text) return;
    const focused = document.activeElement === textArea;
    const start = textArea.selectionStart;
    const end = textArea.selectionEnd;
    textArea.value = text;
    if (focused) textArea.setSelectionRange(moveCaret(start, before, text), moveCaret(end, before, text));
}

function avatarColour(id) {
    let h = 0;
    for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) % 360;
    return `hsl(${h} 55% 48%)`;
}

function renderPresence() {
    const box = $('presence');
    box.textContent = '';
    if (!doc) return;
    const members = [...doc.members.values()];
    if (client.id && !doc.members.has(client.id)) members.push({ client: client.id, user: null });
    members.sort((a, b) => (b.client === client.id) - (a.client === client.id) || a.client.localeCompare(b.client));
    for (const m of members) {
        const me = m.client === client.id;
        const name = me ? myName() : m.user || doc.names.get(m.client) || m.client;
        const chip = document.createElement('span');
        chip.className = `member${me ? ' me' : ''}${typingTimers.has(m.client) ? ' typing' : ''}`;
        chip.dataset.client = m.client;
        chip.title = m.client;
        const avatar = document.createElement('span');
        avatar.className = 'avatar';
        avatar.style.background = avatarColour(m.client);
        avatar.textContent = name.slice(0, 1);
        const label = document.createElement('span');
        label.className = 'name';
        label.textContent = me ? `${name} (you)` : name;
        chip.append(avatar, label);
        box.append(chip);
    }
}

function markTyping(clientId) {
    clearTimeout(typingTimers.get(clientId));
    typingTimers.set(clientId, setTimeout(() => {
        typingTimers.delete(clientId);
        renderPresence();
    }, 1500));
    renderPresence();
}

function setDocStatus(text) {
    $('doc-status').textContent = text;
}

/** A newer stored version: my unsent change (if any) is kept on top of it. */
function takeVersion(seq, text) {
    if (seq <= doc.base.seq) return;
    applyRemoteText(rebaseText(doc.base.text, textArea.value, text));
    doc.base = { seq, text };
}

function onDocMessage(message) {
    const data = message.data || {};
    if (typeof data.text !== 'string') return;
    keep(demo.docUpdates, { seq: message.seq, client: data.client, text: data.text });
    noteSeq(message.seq);
    if (data.client && data.name) doc.names.set(data.client, data.name);
    takeVersion(message.seq, data.text);
    if (data.client && data.client !== client.id) markTyping(data.client);
    setDocStatus(`synced · seq ${message.seq} · last edit by ${data.name || 'someone'} at ${formatTime(message.ts)}`);
}

function onWho(message) {
    const data = message.data || {};
    if (typeof data.client === 'string' && typeof data.name === 'string') {
        doc.names.set(data.client, data.name);
        renderPresence();
    }
}

function announceName() {
    if (!doc || client.state !== 'open') return;
    client.publish(`${doc.topic}.who`, { client: client.id, name: myName() }, { echo: false }).catch(() => {});
}

async function refreshMembers(topic) {
    try {
        const members = await client.presence(topic);
        if (!doc || doc.topic !== topic) return;
        doc.members = new Map(members.map((m) => [m.client, m]));
        renderPresence();
    } catch (err) {
        setDocStatus(`presence: ${err.message}`);
    }
}

function openDoc(name) {
    if (doc) {
        doc.sub.unsubscribe().catch(() => {});
        doc.whoSub.unsubscribe().catch(() => {});
    }
    const topic = `doc.${name}`;
    doc = { topic, members: new Map(), names: new Map(), base: { seq: 0, text: '' }, sending: false };
    $('doc-topic').textContent = topic;
    textArea.value = '';
    setDocStatus('loading…');
    doc.sub = client.subscribe(topic, onDocMessage, {
        last: 1,
        presence: true,
        onSubscribe: (ack, { resumed }) => {
            refreshMembers(topic);
            if (!resumed && !ack.replayed) setDocStatus('new document · start typing');
        },
        onJoin: (ev) => {
            doc.members.set(ev.client, ev);
            renderPresence();
        },
        onLeave: (ev) => {
            doc.members.delete(ev.client);
            renderPresence();
        },
    });
    doc.whoSub = client.subscribe(`${topic}.who`, onWho, { last: 200, onSubscribe: announceName });
    renderPresence();
}

function schedulePublish() {
    if (!publishTimer) publishTimer = setTimeout(publishDoc, 100); // at most ~10 publishes/s
}

/** After a conflict: the newest version (seq `last`) read back, unless it already arrived. */
async function rereadVersion(current, last) {
    if (last <= current.base.seq) return;
    const { messages } = await client.history(current.topic, { since: last - 1, limit: 1 });
    const newest = messages.find((m) => m.seq === last);
    if (doc === current && newest && typeof newest.data?.text === 'string') takeVersion(last, newest.data.text);
}

/** Publishes the text as an edit of doc.base; one publish in flight at a time. */
async function publishDoc() {
    publishTimer = null;
    const current = doc;
    if (!current || current.sending || textArea.value === current.base.text) return;
    const text = textArea.value;
    current.sending = true;
    try {
        const ack = await client.publish(current.topic, { text, client: client.id, name: myName() },
                                         { echo: false, expectLast: current.base.seq });
        if (ack.seq > current.base.seq) current.base = { seq: ack.seq, text };
        setDocStatus(`saved · seq ${ack.seq} · ${formatTime(Date.now())}`);
    } catch (err) {
        if (err.code === 'conflict') demo.docConflicts++;
        if (err.code !== 'conflict') setDocStatus(`not saved: ${err.message}`);
        else await rereadVersion(current, err.last).catch((e) => setDocStatus(`not saved: ${e.message}`));
    } finally {
        current.sending = false;
    }
    if (doc === current && textArea.value !== current.base.text) schedulePublish();
}

textArea.addEventListener('input', schedulePublish);

function docNameFromHash() {
    const m = /(?:^#|&)doc=([^&]+)/.exec(location.hash);
    const name = m ? decodeURIComponent(m[1]) : 'demo';
    return NAME_RE.test(name) ? name : 'demo';
}

$('doc-name').value = docNameFromHash();
$('doc-name').addEventListener('change', (ev) => {
    const name = ev.target.value.trim();
    if (!NAME_RE.test(name)) return;
    history.replaceState(null, '', `#doc=${encodeURIComponent(name)}`);
    openDoc(name);
});
$('doc-form').addEventListener('submit', (ev) => ev.preventDefault());

$('user-name').value = storedName() || `${NAMES[Math.floor(Math.random() * NAMES.length)]}`;
$('user-name').addEventListener('change', () => {
    try {
        localStorage.setItem('wsb-demo-name', myName());
    } catch {
        // storage disabled: the name lasts for this page
    }
    announceName();
    renderPresence();
});

client.on('welcome', () => renderPresence());
openDoc($('doc-name').value);

// ------------------------------------------------------------- notifications

const SSE_RETRY_MS = 3000;
let lastNotifySeq = null;
let eventSource = null;
let sseRetryTimer = null;

function setSseState(state, text) {
    const badge = $('sse-state');
    badge.dataset.state = state;
    badge.textContent = text;
}

function renderNotificationPlaceholder() {
    const list = $('notify-list');
    if (!list.children.length) list.innerHTML = '<li class="placeholder">No notifications yet.</li>';
}

function toast(text, level) {
    const el = document.createElement('div');
    el.className = `toast ${level}`;
    el.textContent = text;
    $('toasts').append(el);
    setTimeout(() => el.remove(), 4000);
}

function onNotification(message) {
    keep(demo.notifications, message);
    lastNotifySeq = message.seq;
    noteSeq(message.seq);
    const data = message.data && typeof message.data === 'object' ? message.data : { text: String(message.data) };
    const level = ['info', 'success', 'warning'].includes(data.level) ? data.level : 'info';
    const text = String(data.text ?? '');
    const list = $('notify-list');
    list.querySelector('.placeholder')?.remove();
    const li = document.createElement('li');
    li.className = level;
    li.dataset.seq = message.seq;
    const badge = document.createElement('span');
    badge.className = 'level';
    badge.textContent = level;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    const time = document.createElement('time');
    time.textContent = formatTime(message.ts);
    li.append(badge, body, time);
    list.prepend(li);
    while (list.children.length > 30) list.lastElementChild.remove();
    toast(text, level);
}

/**
 * EventSource reconnects by itself (with Last-Event-ID); when the server
 * refuses the stream (e.g. an HTTP error) it gives up, and this opens a new
 * one that resumes with `since`.
 */
function openNotifications() {
    clearTimeout(sseRetryTimer);
    let url = `/sse?topic=${encodeURIComponent('notify.>')}`;
    if (lastNotifySeq !== null) url += `&since=${lastNotifySeq}`;
    if (token) url += `&token=${encodeURIComponent(token)}`;
    const source = new EventSource(url);
    eventSource = source;
    source.onopen = () => setSseState('open', 'SSE live');
    source.onmessage = (ev) => {
        try {
            onNotification(JSON.parse(ev.data));
        } catch {
            // not a message object: ignore
        }
    };
    source.onerror = () => {
        if (source !== eventSource) return;
        if (source.readyState === EventSource.CLOSED) {
            setSseState('error', 'SSE unavailable');
            sseRetryTimer = setTimeout(openNotifications, SSE_RETRY_MS);
        } else {
            setSseState('connecting', 'SSE reconnecting');
        }
    };
}

$('notify-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('notify-text');
    const level = $('notify-level').value;
    const text = input.value.trim();
    if (!text) return;
    const status = $('notify-status');
    try {
        const res = await fetch('/api/publish', {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
            body: JSON.stringify({ topic: `notify.${level}`, data: { text, level } }),
        });
        const body = await res.json().catch(() => ({}));
        if (!res.ok) throw new Error(body.error?.message || `HTTP ${res.status}`);
        status.textContent = `sent · seq ${body.seq}`;
        input.value = '';
    } catch (err) {
        status.textContent = `not sent: ${err.message}`;
    }
});

/**
 * A browser gives a host only 6 HTTP/1.1 connections, and every open event
 * stream holds one: a hidden tab gives its stream back and, when shown
 * again, resumes from the last notification it got.
 */
document.addEventListener('visibilitychange', () => {
    if (document.hidden && eventSource) {
        eventSource.close();
        eventSource = null;
        clearTimeout(sseRetryTimer);
        setSseState('connecting', 'SSE paused');
    } else if (!document.hidden && !eventSource) {
        openNotifications();
    }
});

renderNotificationPlaceholder();
openNotifications();

client.connect();
