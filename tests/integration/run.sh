#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: runs the wsbroker integration suite (node --test) against
# $WSBROKER_BIN (default: <repo>/build/bin/wsbroker). Extra arguments are
# passed to node, e.g. a subset of files: ./run.sh replay.test.mjs
# WSB_TIMEOUT_SCALE=3 multiplies every timeout (sanitizer builds).
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules/ws ] || [ ! -d node_modules/ajv ]; then
    npm ci --no-audit --no-fund
fi
if [ "$#" -eq 0 ]; then
    set -- ./*.test.mjs
fi
exec node --test --test-concurrency=2 --test-timeout=300000 "$@"
