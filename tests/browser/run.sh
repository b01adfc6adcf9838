#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: runs the browser tests (node --test) of wsb.js and the demo page
# in headless Chromium against $WSBROKER_BIN (default <repo>/build/bin/wsbroker).
# Installs what is missing first: the Debian chromium package (as root) and
# playwright-core (npm ci). Extra arguments are passed to node, e.g. one
# file: ./run.sh wsb.test.mjs. WSB_TIMEOUT_SCALE=3 multiplies every timeout.
# The demo screenshots land in tests/artifacts/.
set -eu
cd "$(dirname "$0")"
chromium_bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run.sh: $chromium_bin is missing; run as root (or: apt-get install -y chromium)" >&2
        exit 2
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
    npm ci --no-audit --no-fund
fi
if [ "$#" -eq 0 ]; then
    set -- ./*.test.mjs
fi
exec node --test --test-concurrency=1 --test-timeout=300000 "$@"
