#!/usr/bin/env bash
# Installs the Debian 12 packages wsbroker needs that are missing.
# Usage: scripts/deps.sh build|test
# "build": compiler, CMake and the libraries; "test": also Node.js (for the
# integration suite) and clang (sanitizer runtime, fuzzers).
set -euo pipefail

want=(cmake gcc make pkg-config libwebsockets-dev libjansson-dev libsqlite3-dev libssl-dev
      libuv1-dev libsystemd-dev check libsubunit-dev)
if [ "${1:-build}" = "test" ]; then
    want+=(clang libclang-rt-14-dev)
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
