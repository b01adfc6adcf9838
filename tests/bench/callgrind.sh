#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions the broker executes per delivered message and per durable
# ack, counted by valgrind's callgrind: a figure that does not depend on the
# machine's load, for before/after comparisons of optimizations.
#
# Usage: tests/bench/callgrind.sh [--broker BIN] [--wsb BIN] [--seconds S]
#   fan-out: 100 subscribers, 50 publishes/s (5000 deliveries/s), S seconds
#   durable: 10 publishers x 100 in flight, no key, S seconds
# Prints one line per scenario: instructions / (deliveries or acks). The
# count covers the broker's whole run (start, connection set-up, shutdown),
# spread over the messages: a few percent at the default 10 s. Needs
# valgrind (installed by scripts/deps.sh bench when missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
broker="$root/build/bin/wsbroker"
wsb="$root/build/bin/wsb"
seconds=10
while [ $# -gt 0 ]; do
    case "$1" in
    --broker) broker="$2"; shift 2 ;;
    --wsb) wsb="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: $0 [--broker BIN] [--wsb BIN] [--seconds S]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || "$root/scripts/deps.sh" bench
tmp="$(mktemp -d "${TMPDIR:-/tmp}/wsb-callgrind.XXXXXX")"
pid=""
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

# Runs the broker under callgrind while `wsb bench ARGS` runs; prints the
# instruction total and the bench's JSON result.
measure() {
    local port out
    port="$(free_port)"
    out="$tmp/cg.$port"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$broker" --bind 127.0.0.1 \
        --port "$port" --db "$tmp/db.$port" --log-level warn >"$tmp/log.$port" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    "$wsb" bench "$@" --url "ws://127.0.0.1:$port/ws" --broker-pid "$pid" --drain 30 --json \
        >"$tmp/bench.json" 2>/dev/null
    kill -INT "$pid"
    wait "$pid" || true
    pid=""
    local total
    total="$(awk '/^summary:|^totals:/ {print $2; exit}' "$out")"
    echo "$total $(cat "$tmp/bench.json")"
}

field() { # field NAME JSON: the first numeric value of "NAME":
    grep -o "\"$1\":[0-9.]*" <<<"$2" | head -1 | cut -d: -f2
}

read -r ir json < <(measure fanout --subscribers 100 --rate 50 --duration "$seconds")
n="$(field delivered "$json")"
printf 'fan-out  (100 subscribers, 50 msg/s): %s instructions / %s deliveries = %d per delivery\n' \
    "$ir" "$n" $((ir / n))
read -r ir json < <(measure throughput --publishers 10 --window 100 --no-key --duration "$seconds")
n="$(field acked "$json")"
printf 'durable  (10 x 100 in flight, no key): %s instructions / %s acks = %d per ack\n' \
    "$ir" "$n" $((ir / n))
