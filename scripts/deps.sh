#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages wsbroker needs that are missing.
# Usage: scripts/deps.sh build|release|test|bench
# "build": compiler, CMake and the libraries; "release": also what the man
# pages and the Debian package need (help2man, dpkg-shlibdeps, file), as
# deploy/Dockerfile's build stage runs it; "test": also Node.js (for the
# integration suite and the JS package), clang (sanitizer runtime, fuzzers)
# and the tools of tests/packaging (systemd-analyze, groff, curl, python3)
# and of the tests that edit or check a store file (sqlite3), promtool
# (Debian's prometheus package, for `promtool check metrics`) and openssl
# (the TLS tests make their certificates at run time), redis-server (the
# several-nodes tests start their own on a free port); "bench": the brokers
# tests/bench/compare.sh runs beside wsbroker, gnuplot and valgrind, and
# redis-server and jq for tests/bench/redis_nodes.sh.
set -euo pipefail

mode="${1:-build}"
want=(cmake gcc make pkg-config libwebsockets-dev libjansson-dev libsqlite3-dev libssl-dev
      libuv1-dev libsystemd-dev libhiredis-dev check libsubunit-dev)
if [ "$mode" = "release" ] || [ "$mode" = "test" ]; then
    want+=(help2man dpkg-dev file)
fi
if [ "$mode" = "test" ]; then
    want+=(clang libclang-rt-14-dev systemd groff-base curl python3 sqlite3 prometheus openssl
           redis-server haproxy nginx)
fi
if [ "$mode" = "bench" ]; then
    want+=(mosquitto nats-server gnuplot-nox valgrind redis-server jq)
fi
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
    command -v node >/dev/null 2>&1 || want+=(nodejs)
    command -v npm >/dev/null 2>&1 || want+=(npm)
fi

missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
