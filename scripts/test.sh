#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, and runs every test: the Check unit
# tests and the integration suite against the real broker, first on the
# normal build, then again on a build with AddressSanitizer and
# UndefinedBehaviorSanitizer. Exits non-zero when anything fails.
set -euo pipefail
stages=0
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/deps.sh" test

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_suite() {
    local dir="$1"
    echo "=== unit tests ($dir) ==="
    ctest --test-dir "$dir" --output-on-failure -j2
    stages=$((stages + 1))
    echo "=== integration tests ($dir) ==="
    WSBROKER_BIN="$root/$dir/bin/wsbroker" WSB_BIN="$root/$dir/bin/wsb" \
        "$root/tests/integration/run.sh"
    stages=$((stages + 1))
}

echo "=== build ==="
"$root/scripts/build.sh" build
run_suite build

echo "=== build with -fsanitize=address,undefined ==="
"$root/scripts/build.sh" build-asan -DWSB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
run_suite build-asan

echo "=== soak: churn and mixed load on the sanitizer build, then no leak, fds and RSS back ==="
"$root/tests/soak/run.sh" --quick --bin "$root/build-asan/bin/wsbroker" --wsb "$root/build/bin/wsb"
stages=$((stages + 1))

echo "=== reliability: kill -9 loop, fsync before ack, power cut, store faults, churn ==="
WSBROKER_BIN="$root/build/bin/wsbroker" "$root/tests/reliability/run.sh"
stages=$((stages + 1))

echo "=== browser tests (headless Chromium, normal build) ==="
WSBROKER_BIN="$root/build/bin/wsbroker" "$root/tests/browser/run.sh"
stages=$((stages + 1))

echo "=== packaging: Debian package, systemd unit, man pages, container build steps, JS package, multinode configs ==="
"$root/tests/packaging/run.sh"
WSBROKER_BIN="$root/build/bin/wsbroker" "$root/tests/packaging/multinode_configs.sh"
stages=$((stages + 1))

echo "=== fuzzing (each target for ${WSB_FUZZ_SECONDS:-15} s) ==="
"$root/tests/fuzz/run.sh" "${WSB_FUZZ_SECONDS:-15}"
stages=$((stages + 1))
echo "all tests passed"
# Every stage above stops the script (set -e) when it fails.
echo "stages: $stages passed, 0 failed"
