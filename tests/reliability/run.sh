#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: runs the reliability tests (crash, fsync, store faults, churn)
# against $WSBROKER_BIN (default: <repo>/build/bin/wsbroker).
#
# Installs the Debian packages the tests need when they are missing and we
# are root (strace, e2fsprogs for chattr, mount, a C compiler for the power
# cut shim); runs `npm ci` in tests/integration when its node_modules is
# missing (the tests reuse its harness and its `ws`); builds
# powercut_shim.so into a temporary directory; then runs every
# *.test.mjs here one file at a time. Extra arguments replace the file
# list: ./run.sh crash.test.mjs. Exits non-zero when a test fails.
# WSB_SEED=N replays the random choices of a run; WSB_TIMEOUT_SCALE=3
# multiplies every timeout (sanitizer builds).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

missing=""
command -v strace >/dev/null 2>&1 || missing="$missing strace"
command -v chattr >/dev/null 2>&1 || missing="$missing e2fsprogs"
command -v mount >/dev/null 2>&1 || missing="$missing mount"
command -v cc >/dev/null 2>&1 || missing="$missing gcc libc6-dev"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: installing$missing" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "run.sh: missing$missing (not root: the tests that need them will skip)" >&2
    fi
fi

if [ -z "${WSBROKER_BIN:-}" ] && [ ! -x "$repo/build/bin/wsbroker" ]; then
    [ -f "$repo/build/CMakeCache.txt" ] || cmake -S "$repo" -B "$repo/build"
    cmake --build "$repo/build" -j2 --target wsbroker
fi

if [ ! -d "$repo/tests/integration/node_modules/ws" ] || [ ! -d "$repo/tests/integration/node_modules/ajv" ]; then
    (cd "$repo/tests/integration" && npm ci --no-audit --no-fund)
fi

shimdir=$(mktemp -d "${TMPDIR:-/tmp}/wsbroker-shim.XXXXXX")
trap 'rm -rf "$shimdir"' EXIT INT TERM
if command -v cc >/dev/null 2>&1; then
    cc -std=c17 -Wall -Wextra -Werror -shared -fPIC -O2 -o "$shimdir/powercut_shim.so" \
        "$here/powercut_shim.c" -ldl -lpthread
    WSB_POWERCUT_SHIM="$shimdir/powercut_shim.so"
    export WSB_POWERCUT_SHIM
fi

cd "$here"
if [ "$#" -eq 0 ]; then
    set -- ./*.test.mjs
fi
status=0
node --test --test-concurrency=1 --test-timeout=600000 "$@" || status=$?
exit "$status"
