// SPDX-License-Identifier: MIT
// jwt.mjs: tokens signed in the test (docs/auth.md): HS256 with node's HMAC,
// RS256 and ES256 with keys made by crypto.generateKeyPairSync.

import crypto from 'node:crypto';

export const SECRET = 'integration-test-secret-of-at-least-32-bytes';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// The signing input of a token with this header and these claims.
export function unsigned(header, claims) {
    return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
}

export function hs256(claims, secret = SECRET, header = { alg: 'HS256', typ: 'JWT' }) {
    const input = unsigned(header, claims);
    return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// Signs with a private key: RS256 (RSA) or ES256 (P-256, r||s).
export function signWithKey(claims, alg, privateKey) {
    const input = unsigned({ alg, typ: 'JWT' }, claims);
    const sig = crypto.sign('sha256', Buffer.from(input), alg === 'ES256'
        ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey);
    return `${input}.${b64url(sig)}`;
}

export const now = () => Math.floor(Date.now() / 1000);

// Claims valid for `seconds` from now.
export function claims(extra = {}, seconds = 600) {
    return { exp: now() + seconds, ...extra };
}
