#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# compare.sh: wsbroker against Mosquitto and nats-server, each over WebSocket
# in its own protocol, driven by one load generator (Node.js + ws), in one run.
#
# Installs what is missing (mosquitto, nats-server, gnuplot, Node.js, npm ci),
# builds wsbroker when build/bin/wsbroker is missing, runs every scenario on
# 127.0.0.1 only (free ports, temporary directories), prints a markdown table
# and writes tests/bench/results/compare.{json,md,png}. Every process it
# starts is in one process group, killed at the end however the run ends.
#
# Usage: tests/bench/compare.sh [--quick] [--only fanout,latency,idle,durable]
#                               [--brokers wsbroker,mosquitto,nats]
#   --quick   short measuring windows and 1000 idle connections (a smoke run,
#             about 2 minutes); the full run takes about 6 minutes.
#   --replot  measure nothing: the table and the chart again from
#             results/compare.json.
#   --wait-quiet S  first wait up to S seconds until the machine is quiet (other
#             processes below 20 % of a core over 3 s), then run anyway.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/group.sh
. "$here/lib/group.sh"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

node_args=()
wait_quiet=0
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) node_args+=(--quick) ;;
    --replot) node_args+=(--from-json "$results/compare.json") ;;
    --only | --brokers)
        [ $# -ge 2 ] || { echo "compare.sh: $1 needs a value" >&2; exit 2; }
        node_args+=("$1" "$2")
        shift
        ;;
    --wait-quiet)
        [ $# -ge 2 ] || { echo "compare.sh: $1 needs a value" >&2; exit 2; }
        wait_quiet="$2"
        shift
        ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# --- what the run needs -------------------------------------------------------

"$repo/scripts/deps.sh" bench
export PATH="$PATH:/usr/sbin:/sbin"

if [ ! -x "$repo/build/bin/wsbroker" ]; then
    echo "building wsbroker (scripts/build.sh)" >&2
    "$repo/scripts/deps.sh" build
    "$repo/scripts/build.sh"
fi

if [ ! -f "$here/node_modules/ws/package.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- the run ----------------------------------------------------------------

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/wsb-compare.XXXXXX")"
coordinator=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$coordinator" ]; then
        # The coordinator leads a process group of its own (set -m below):
        # the brokers and the load-generator workers are in it.
        group_kill "$coordinator"
    fi
    rm -rf "$run_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Busy CPU of the whole machine over 3 s, in % of one core.
machine_busy_pct() {
    local a b
    read -r _ u1 n1 s1 _ _ i1 q1 t1 _ < /proc/stat
    sleep 3
    read -r _ u2 n2 s2 _ _ i2 q2 t2 _ < /proc/stat
    a=$((u1 + n1 + s1 + i1 + q1 + t1))
    b=$((u2 + n2 + s2 + i2 + q2 + t2))
    echo $(((b - a) * 100 / (3 * $(getconf CLK_TCK))))
}

if [ "$wait_quiet" -gt 0 ]; then
    deadline=$((SECONDS + wait_quiet))
    while busy=$(machine_busy_pct) && [ "$busy" -ge 20 ] && [ "$SECONDS" -lt "$deadline" ]; do
        echo "machine busy: ${busy}% of a core used by other processes; waiting" >&2
    done
fi
read -r load1 _ < /proc/loadavg
echo "load average before the run: $load1 (other processes share these $(nproc) cores; see 'other' in the table)" >&2

# The run uses its own copy of the binary: a rebuild of build/bin/wsbroker
# during the run (other work in the tree) cannot change or break it midway.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    cp "$repo/build/bin/wsbroker" "$run_dir/wsbroker" 2>/dev/null && "$run_dir/wsbroker" --version >/dev/null 2>&1 && break
    sleep 1
done
"$run_dir/wsbroker" --version >/dev/null || { echo "compare.sh: cannot run a copy of build/bin/wsbroker" >&2; exit 1; }

mkdir -p "$results"
set -m # the coordinator gets its own process group
node "$here/compare.mjs" --run-dir "$run_dir" --out "$results" \
    --wsbroker "$run_dir/wsbroker" ${node_args[@]+"${node_args[@]}"} </dev/null &
coordinator=$!
set +m
status=0
wait "$coordinator" || status=$?
[ "$status" -eq 0 ] || { echo "compare.sh: the benchmark failed (status $status)" >&2; exit "$status"; }

gnuplot -e "dir='$run_dir/plot'; out='$results/compare.png'" "$here/compare.gp"
echo "wrote $results/compare.json, $results/compare.md and $results/compare.png" >&2
