// SPDX-License-Identifier: MIT
// child.mjs: the life of a server process a test starts (wsbroker in
// broker.mjs, redis-server in redis.mjs).
//
// Owns: knowing when the current process ended and why (an exit the test
// asked for, or one it did not: a crash that fails the test at cleanup),
// SIGTERM with a SIGKILL after a timeout, SIGKILL, and starting again on
// the same port until the old process let go of it. A subclass says how to
// spawn (spawnOnce, which calls track) and when it is ready (startOnce:
// true when ready, false when the port was taken). It also holds the
// suite's timeout scale, which broker.mjs passes on.

// Every timeout in the suite is multiplied by this (a sanitizer build is slower).
export const TIMEOUT_SCALE = Number(process.env.WSB_TIMEOUT_SCALE) > 0
    ? Number(process.env.WSB_TIMEOUT_SCALE) : 1;
export function scaled(ms) {
    return Math.round(ms * TIMEOUT_SCALE);
}

export function pause(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

export class ChildServer {
    constructor(name) {
        this.name = name;
        this.proc = null;
        this.exit = null;           // {code, signal} once the current process ended
        this.exitPromise = null;
        this.expectingExit = false; // true after terminate()/kill9() asked for it
        this.unexpectedExits = [];  // crashes noticed while a test was running
        this.cleanedUp = false;
    }

    // Follows a freshly spawned process. Its exit settles on 'close' (its
    // output fully read) or, when something else keeps the pipes open (a
    // wrapper's orphaned child), 2 s after 'exit'.
    track(proc) {
        this.exit = null;
        this.expectingExit = false;
        this.proc = proc;
        this.exitPromise = new Promise((resolve) => {
            let exitInfo = null;
            let settled = false;
            const settle = (info) => {
                if (settled) return;
                settled = true;
                this.exit = info;
                if (!this.expectingExit) this.unexpectedExits.push(info);
                resolve(info);
            };
            proc.on('error', (err) => settle({ code: null, signal: null, error: err }));
            proc.on('exit', (code, signal) => {
                exitInfo = { code, signal };
                setTimeout(() => {
                    proc.stdout?.destroy();
                    proc.stderr?.destroy();
                    settle(exitInfo);
                }, 2000).unref();
            });
            proc.on('close', (code, signal) => settle(exitInfo ?? { code, signal }));
        });
        return proc;
    }

    // SIGTERM, then SIGKILL after timeoutMs; resolves the exit.
    async terminate(timeoutMs) {
        if (this.proc && !this.exit) {
            this.expectingExit = true;
            this.proc.kill('SIGTERM');
            const timer = setTimeout(() => {
                if (!this.exit) this.proc.kill('SIGKILL');
            }, scaled(timeoutMs));
            await this.exitPromise;
            clearTimeout(timer);
        }
        return this.exit;
    }

    async kill9() {
        if (this.proc && !this.exit) {
            this.expectingExit = true;
            this.proc.kill('SIGKILL');
            await this.exitPromise;
        }
        return this.exit;
    }

    // Starts again on the same port (and whatever else the subclass keeps).
    // The previous process must have exited; retries while the port is
    // still held.
    async restart({ timeoutMs = 10000 } = {}) {
        if (this.proc && !this.exit) throw new Error(`restart() while ${this.name} is running`);
        const deadline = Date.now() + scaled(timeoutMs);
        for (;;) {
            if (await this.startOnce()) return this;
            if (Date.now() > deadline) throw new Error(`${this.name}: port ${this.port} still in use after restart`);
            await pause(50);
        }
    }
}
