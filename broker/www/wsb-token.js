// SPDX-License-Identifier: MIT
/**
 * wsb-token.js: where the token of wsb.js's client comes from, and how it
 * travels (docs/auth.md, "Clients").
 *
 * Owns the token the client presents: a string (replaced by auth() calls),
 * or a function asked for a fresh one before every connection and when the
 * broker says `token_expired`. A token rides on the upgrade URL as
 * `?token=`, except one too long for it, which the client sends with `auth`
 * ahead of everything else on the connection.
 */

/** The longest `?token=`: the broker reads about 2 KB of the URL's query. */
export const URL_TOKEN_MAX = 2000;

export class TokenSource {
    /**
     * @param {string|(() => string|Promise<string>)} [token]
     */
    constructor(token) {
        /** @private */
        this.token = token;
    }

    /**
     * True when a function gives a fresh token on demand.
     * @returns {boolean}
     */
    get renews() {
        return typeof this.token === 'function';
    }

    /**
     * The token for the next connection or refresh (a function is asked
     * again), or null when there is none.
     * @returns {Promise<string|null>}
     */
    async next() {
        const token = this.renews ? await this.token() : this.token;
        return token || null;
    }

    /**
     * A token presented by hand: kept for later connections, unless a
     * function gives them.
     * @param {string} token
     */
    replace(token) {
        if (!this.renews) this.token = token;
    }
}

/**
 * The URL of a connection presenting `token`, and the token still to send
 * with `auth` (null when the URL carries it).
 * @param {string} url
 * @param {string|null} token
 * @returns {{url: string, authToken: string|null}}
 */
export function urlWithToken(url, token) {
    if (!token) return { url, authToken: null };
    if (token.length > URL_TOKEN_MAX) return { url, authToken: token };
    const u = new URL(url);
    u.searchParams.set('token', token);
    return { url: u.toString(), authToken: null };
}
