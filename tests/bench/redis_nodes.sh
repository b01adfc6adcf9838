#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# redis_nodes.sh: the Redis engine (--redis) beside the embedded SQLite engine,
# in one run, with `wsb bench` as the load generator:
#   durable   10 publishers x 100 in flight, no key: acks/s, broker CPU per ack,
#             and Redis's own CPU per ack (redis-server's /proc/PID/stat)
#   fan-out   1000 subscribers at 50 msg/s (compare.sh's 50k deliveries/s
#             offered) on 1, 2 and 3 Redis nodes sharing the subscribers round
#             robin, and on the embedded engine: deliveries/s, broker CPU per
#             delivery of each node and of all, latency p50 / p99
#   failover  subscribers on node A dropped at once, resuming with since on
#             node B: time until every one resumed and caught up, CPU spent
#   replay    5 subscribers to `>` from since=0 over 8 topics x N messages of
#             32 KiB (the hardening replay test's store): time to catch up,
#             broker CPU, broker RSS before and at its peak (paced replays)
# Starts its own redis-server (appendonly yes, appendfsync always) and brokers
# on free 127.0.0.1 ports in a temporary directory; Redis is emptied and the
# brokers started afresh for each measurement. Every process it starts is in
# one process group, killed at the end however the run ends. Prints a markdown
# table and writes tests/bench/results/redis_nodes.{md,json}.
#
# Usage: tests/bench/redis_nodes.sh [--quick]
#   --quick   short windows, 200 failover subscribers, 8 x 25 replayed messages:
#             a smoke run of under a minute; the full run takes a few minutes.
# The nodes, Redis and the load generator share this host's CPUs: on a 2-core
# host the figures of 2 and 3 nodes are what the cluster costs, not what more
# machines would give.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib/group.sh
. "$here/lib/group.sh"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

quick=0
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "redis_nodes.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$quick" -eq 1 ]; then
    durable_s=2 fanout_s=2 failover_subs=200 failover_warmup=1 failover_s=2 replay_per_topic=25
    replay_timeout=60
else
    durable_s=10 fanout_s=10 failover_subs=1000 failover_warmup=3 failover_s=5 replay_per_topic=300
    replay_timeout=300
fi
fanout_subs=1000
fanout_rate=50
failover_rate=20
replay_topics=8
replay_readers=5
replay_bytes=32768

# --- what the run needs -------------------------------------------------------

"$repo/scripts/deps.sh" bench
export PATH="$PATH:/usr/sbin:/sbin"
if [ ! -x "$repo/build/bin/wsbroker" ] || [ ! -x "$repo/build/bin/wsb" ]; then
    echo "building wsbroker and wsb (scripts/build.sh)" >&2
    "$repo/scripts/deps.sh" build
    "$repo/scripts/build.sh"
fi

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/wsb-redis-nodes.XXXXXX")"
group=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$group" ]; then
        group_kill "$group"
    fi
    rm -rf "$run_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The run uses its own copies: a rebuild in the tree cannot change them midway.
cp "$repo/build/bin/wsbroker" "$repo/build/bin/wsb" "$run_dir/"
bin="$run_dir"
hz="$(getconf CLK_TCK)"

# --- helpers (run inside the measuring process group) -------------------------

# Below the kernel's ephemeral range (32768-60999): the load generator's
# thousands of client sockets leave ports there in TIME_WAIT.
free_port() {
    local port
    while :; do
        port=$((10000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

# wait_port PORT: until something accepts on it, at most 10 s.
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "redis_nodes.sh: nothing listens on port $1 after 10 s" >&2
    return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# calc EXPR with a, b, c bound: awk arithmetic, 3 decimals.
calc() { awk -v a="$2" -v b="$3" -v c="${4:-0}" "BEGIN { printf \"%.3f\", $1 }"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

redis_port=""
redis_pid=""
start_redis() {
    mkdir -p "$run_dir/redis"
    redis_port="$(free_port)"
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$run_dir/redis" \
        --appendonly yes --appendfsync always --save '' >"$run_dir/redis.log" 2>&1 &
    redis_pid=$!
    wait_port "$redis_port"
}

flush_redis() { redis-cli -p "$redis_port" FLUSHALL >/dev/null; }

broker_pids=()
broker_urls=()
# start_brokers ENGINE N: N brokers (sqlite: N must be 1) on free ports.
start_brokers() {
    local engine="$1" n="$2" port store
    broker_pids=()
    broker_urls=()
    [ "$engine" = redis ] && flush_redis
    for _ in $(seq "$n"); do
        port="$(free_port)"
        if [ "$engine" = redis ]; then
            store=(--redis "redis://127.0.0.1:$redis_port")
        else
            store=(--db "$run_dir/sqlite.$port.db")
        fi
        "$bin/wsbroker" --bind 127.0.0.1 --port "$port" "${store[@]}" --log-level warn \
            >"$run_dir/broker.$port.log" 2>&1 &
        broker_pids+=($!)
        broker_urls+=("ws://127.0.0.1:$port/ws")
        wait_port "$port"
    done
}

stop_brokers() {
    local pid
    for pid in "${broker_pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in "${broker_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    broker_pids=()
}

url_list() { local IFS=,; echo "${broker_urls[*]}"; }

failed=0
# bench NAME ENGINE NODES SCENARIO ARGS...: runs wsb bench against the brokers
# started, appends {engine, nodes, status, result} to NAME.jsonl.
bench() {
    local name="$1" engine="$2" nodes="$3" status=0 aux=()
    shift 3
    [ "$engine" = redis ] && aux=(--aux-pid "$redis_pid")
    echo "[$name] $engine, $nodes node(s): wsb bench $*" >&2
    "$bin/wsb" bench "$@" --url "$(url_list)" "${aux[@]}" --json \
        >"$run_dir/out.json" 2>"$run_dir/progress.log" || status=$?
    if ! jq -e . "$run_dir/out.json" >/dev/null 2>&1; then
        tail -5 "$run_dir/progress.log" >&2
        echo '{}' >"$run_dir/out.json"
        [ "$status" -ne 0 ] || status=1
    fi
    [ "$status" -eq 0 ] || { failed=1; echo "[$name] wsb bench exited $status" >&2; }
    jq -c --arg e "$engine" --argjson n "$nodes" --argjson s "$status" \
        '{engine: $e, nodes: $n, status: $s, result: .}' "$run_dir/out.json" >>"$run_dir/$name.jsonl"
}

# --- the measurements ---------------------------------------------------------

measure_durable() {
    local engine
    for engine in sqlite redis; do
        start_brokers "$engine" 1
        bench durable "$engine" 1 throughput --publishers 10 --window 100 --no-key \
            --duration "$durable_s"
        stop_brokers
    done
}

measure_fanout() {
    local run
    for run in sqlite:1 redis:1 redis:2 redis:3; do
        start_brokers "${run%:*}" "${run#*:}"
        bench fanout "${run%:*}" "${run#*:}" fanout --subscribers "$fanout_subs" \
            --rate "$fanout_rate" --duration "$fanout_s"
        stop_brokers
    done
}

# Embedded: the subscribers come back to the same broker (no other node
# shares its store); Redis: they resume on the second node.
measure_failover() {
    local run
    for run in sqlite:1 redis:2; do
        start_brokers "${run%:*}" "${run#*:}"
        bench failover "${run%:*}" "${run#*:}" reconnect --subscribers "$failover_subs" \
            --rate "$failover_rate" --warmup "$failover_warmup" --duration "$failover_s"
        stop_brokers
    done
}

# fill_store URL: replay_topics x replay_per_topic messages of replay_bytes.
fill_store() {
    local pad lines="$run_dir/replay.lines" pids=() pid status=0
    pad="$(head -c "$replay_bytes" /dev/zero | tr '\0' x)"
    for n in $(seq "$replay_per_topic"); do printf '{"n":%d,"pad":"%s"}\n' "$n" "$pad"; done >"$lines"
    for t in $(seq "$replay_topics"); do
        "$bin/wsb" pub --quiet --url "$1" "bench.replay.t$t" <"$lines" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
    return "$status"
}

# replay_once ENGINE: appends {engine, messages, seconds, cpu, rss...} to replay.jsonl.
replay_once() {
    local engine="$1" url pid total t0 t1 c0 c1 r0 rc0 rc1 peak rss readers=() left status=0
    start_brokers "$engine" 1
    url="${broker_urls[0]}" pid="${broker_pids[0]}"
    echo "[replay] $engine: filling $replay_topics x $replay_per_topic messages" >&2
    fill_store "$url" || status=1
    total=$((replay_topics * replay_per_topic))
    r0="$(rss_kb "$pid")" peak="$r0" c0="$(cpu_ticks "$pid")" rc0="$(cpu_ticks "$redis_pid")"
    t0="$(date +%s.%N)"
    for _ in $(seq "$replay_readers"); do
        timeout "$replay_timeout" "$bin/wsb" sub --url "$url" --since 0 --count "$total" '>' >/dev/null &
        readers+=($!)
    done
    # Sample the broker's RSS until every reader has its count (or gave up).
    while :; do
        left=0
        for r in "${readers[@]}"; do kill -0 "$r" 2>/dev/null && left=$((left + 1)); done
        rss="$(rss_kb "$pid")"
        [ "$rss" -gt "$peak" ] && peak="$rss"
        [ "$left" -eq 0 ] && break
        sleep 0.05
    done
    t1="$(date +%s.%N)"
    c1="$(cpu_ticks "$pid")" rc1="$(cpu_ticks "$redis_pid")"
    for r in "${readers[@]}"; do wait "$r" || status=$?; done
    [ "$status" -eq 0 ] || { failed=1; echo "[replay] $engine: a reader failed ($status)" >&2; }
    stop_brokers
    jq -nc --arg e "$engine" --argjson s "$status" --argjson m "$total" \
        --argjson r "$replay_readers" --argjson b "$replay_bytes" \
        --argjson sec "$(calc 'b - a' "$t0" "$t1")" \
        --argjson cpu "$(calc '(b - a) / c' "$c0" "$c1" "$hz")" \
        --argjson rcpu "$(calc '(b - a) / c' "$rc0" "$rc1" "$hz")" \
        --argjson r0 "$r0" --argjson peak "$peak" \
        '{engine: $e, nodes: 1, status: $s, messages: $m, readers: $r, bytes: $b, seconds: $sec,
          broker_cpu_s: $cpu, redis_cpu_s: (if $e == "redis" then $rcpu else null end),
          broker_rss_before_kb: $r0, broker_rss_peak_kb: $peak}' >>"$run_dir/replay.jsonl"
}

measure_all() {
    # As many open files as the fan-out's connections need, in every broker.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    start_redis
    measure_durable
    measure_fanout
    measure_failover
    replay_once sqlite
    replay_once redis
    kill "$redis_pid"
    wait "$redis_pid" || true
    return "$failed"
}

read -r load1 _ </proc/loadavg
echo "load average before the run: $load1 (other processes share these $(nproc) cores)" >&2
for name in durable fanout failover replay; do : >"$run_dir/$name.jsonl"; done
set -m # the measuring subshell and all it starts get a process group of their own
measure_all &
group=$!
set +m
status=0
wait "$group" || status=$?
group_done="$group"
group=""
kill -KILL -- "-$group_done" 2>/dev/null || true

# --- the report ---------------------------------------------------------------

mkdir -p "$results"
jq -n --argjson quick "$([ "$quick" -eq 1 ] && echo true || echo false)" \
    --arg load1 "$load1" --argjson cpus "$(nproc)" \
    --slurpfile durable "$run_dir/durable.jsonl" --slurpfile fanout "$run_dir/fanout.jsonl" \
    --slurpfile failover "$run_dir/failover.jsonl" --slurpfile replay "$run_dir/replay.jsonl" \
    '{quick: $quick, host: {cpus: $cpus, load1_before: ($load1 | tonumber)},
      durable: $durable, fanout: $fanout, failover: $failover, replay: $replay}' \
    >"$results/redis_nodes.json"
"$here/redis_nodes_report.sh" "$results/redis_nodes.json" | tee "$results/redis_nodes.md"
echo "wrote $results/redis_nodes.json and $results/redis_nodes.md" >&2
[ "$status" -eq 0 ] || echo "redis_nodes.sh: a measurement failed (see status in the JSON)" >&2
exit "$status"
