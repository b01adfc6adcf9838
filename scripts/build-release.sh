#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The release build: configures for the /usr prefix, builds every target
# and makes the Debian package (cmake/packaging.cmake) in BUILD_DIR, then
# prints the package's path. deploy/Dockerfile's build stage runs it and
# installs that package in the final image; tests/packaging/run.sh runs it
# too, so the container's build steps are tested on machines without a
# container engine.
# Usage: scripts/build-release.sh BUILD_DIR [CMAKE_ARG]...
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [CMAKE_ARG]..." >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(mkdir -p "$1" && cd "$1" && pwd)"
shift
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr "$@" >/dev/null
cmake --build "$build" -j"${WSB_BUILD_JOBS:-2}" >/dev/null
rm -f "$build"/wsbroker_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
ls "$build"/wsbroker_*.deb
