// SPDX-License-Identifier: MIT
// tls.test.mjs: --tls-cert and --tls-key (docs/operations.md, TLS): wss://
// and https:// on one port with the certificate verified against a CA made
// at run time, a wrong host name refused, plain connections refused.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import { BROKER_BIN, freePort, scaled } from './lib/broker.mjs';

// A CA and a server certificate for localhost and 127.0.0.1, signed by it.
function makeCertificates(dir) {
    const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=wsbroker test CA');
    run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    fs.writeFileSync(path.join(dir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'server.pem', '-days', '2', '-extfile', 'ext');
    return {
        ca: fs.readFileSync(path.join(dir, 'ca.pem')),
        cert: path.join(dir, 'server.pem'),
        key: path.join(dir, 'server.key'),
    };
}

function httpsGet(url, options) {
    return new Promise((resolve, reject) => {
        const req = https.get(url, options, (res) => {
            let body = '';
            res.on('data', (d) => { body += d; });
            res.on('end', () => resolve({ status: res.statusCode, body }));
        });
        req.on('error', reject);
        req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    });
}

// lib/broker.mjs waits for plain /healthz; this broker speaks TLS only.
async function startTlsBroker(dir, certs) {
    const port = await freePort();
    const proc = spawn(BROKER_BIN, ['--bind', '127.0.0.1', '--port', String(port), '--db',
        path.join(dir, 'test.db'), '--tls-cert', certs.cert, '--tls-key', certs.key],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const deadline = Date.now() + scaled(10000);
    for (;;) {
        if (proc.exitCode !== null) throw new Error(`wsbroker exited: ${stderr}`);
        try {
            const res = await httpsGet(`https://localhost:${port}/healthz`, { ca: certs.ca });
            if (res.status === 200) return { port, proc };
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            proc.kill('SIGKILL');
            throw new Error(`wsbroker with TLS not healthy: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
}

function wssWelcome(url, options) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, options);
        ws.once('message', (data) => { resolve(JSON.parse(data.toString())); ws.terminate(); });
        ws.once('error', reject);
    });
}

describe('TLS', () => {
    let dir;
    let certs;
    let broker;

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsbroker-tls-'));
        certs = makeCertificates(dir);
        broker = await startTlsBroker(dir, certs);
    });
    after(async () => {
        if (broker) {
            broker.proc.kill('SIGTERM');
            await new Promise((r) => (broker.proc.exitCode !== null ? r() : broker.proc.once('exit', r)));
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it('https:// answers with the certificate verified', async () => {
        const res = await httpsGet(`https://localhost:${broker.port}/healthz`, { ca: certs.ca });
        assert.equal(res.status, 200);
        assert.match(res.body, /"ok"/);
    });

    it('wss:// gets welcome with the certificate verified', async () => {
        const welcome = await wssWelcome(`wss://127.0.0.1:${broker.port}/ws`, { ca: certs.ca });
        assert.equal(welcome.op, 'welcome');
    });

    it('offers HTTP/1.1 only (ALPN): a browser preferring h2 still gets the static files whole', async () => {
        const alpn = await new Promise((resolve, reject) => {
            const sock = tls.connect({ host: '127.0.0.1', port: broker.port, ca: certs.ca, servername: 'localhost',
                ALPNProtocols: ['h2', 'http/1.1'] }, () => { resolve(sock.alpnProtocol); sock.end(); });
            sock.on('error', reject);
        });
        assert.equal(alpn, 'http/1.1');
        const res = await httpsGet(`https://localhost:${broker.port}/wsb.js`, { ca: certs.ca });
        assert.equal(res.status, 200);
        assert.ok(res.body.length > 1000, `/wsb.js over https: ${res.body.length} bytes`);
    });

    it('a wrong host name is refused', async () => {
        await assert.rejects(httpsGet(`https://localhost:${broker.port}/healthz`,
            { ca: certs.ca, servername: 'wrong.example' }), /altnames|Hostname|host/i);
    });

    it('an untrusted CA is refused', async () => {
        await assert.rejects(httpsGet(`https://localhost:${broker.port}/healthz`, {}),
            /self.signed|unable to verify|certificate/i);
    });

    it('plain HTTP on the TLS port is refused', async () => {
        const answer = await new Promise((resolve) => {
            const sock = net.connect(broker.port, '127.0.0.1', () => {
                sock.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
            });
            let text = '';
            sock.on('data', (d) => { text += d.toString('latin1'); });
            sock.on('close', () => resolve(text));
            sock.on('error', () => resolve(text));
            sock.setTimeout(5000, () => sock.destroy());
        });
        assert.doesNotMatch(answer, /200 OK|"status"/);
    });
});
