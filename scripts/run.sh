#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, and runs the broker with its defaults
# (port 8080, wsbroker.db in the working directory, the demo page at /).
# Extra arguments go to wsbroker, e.g. scripts/run.sh --port 9000.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh" build
"$root/scripts/build.sh" >&2
exec "$root/build/bin/wsbroker" "$@"
