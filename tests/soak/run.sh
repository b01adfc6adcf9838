#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Soak test (issue 7): holds N WebSocket connections while publishers,
# subscribers, short-lived connections, HTTP publishes and SSE streams come
# and go for a bounded time, under LeakSanitizer (the ASan+UBSan build) or
# valgrind; then checks that nothing leaked: every connection closed, the
# broker's file descriptors and resident memory back near their baseline, a
# clean exit 0 on SIGTERM and no sanitizer or valgrind report.
#
# Usage: tests/soak/run.sh [--quick] [--seconds N] [--connections N]
#                          [--bin PATH] [--wsb PATH] [--valgrind] [--keep]
# See tests/soak/README.md for what is checked and why the margins are what
# they are. Exits 0 when every check passed, 1 on a failed check, 2 on a bad
# command line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# ---- margins (explained in README.md) ----
FD_MARGIN=2             # fds over the start value still accepted at the end
RSS_MARGIN_PCT=25       # end RSS may exceed the post-warm-up RSS by this much...
RSS_MARGIN_MIN_KB=8192  # ...or by 8 MiB, whichever is larger,
SQLITE_CACHE_KB=32768   # plus twice the database's size, up to the broker's
                        # SQLite page cache (cache_size = -32768 in broker/store/)

usage() {
    cat <<'EOF'
Usage: tests/soak/run.sh [OPTION]...
Soak test of wsbroker: N held connections plus churn and mixed pub/sub for a
bounded time, then checks for leaks (LeakSanitizer or valgrind), file
descriptors and resident memory back near their baseline, a clean exit.

  --quick           2000 connections, 20 s of load after 2 x 8 s of warm-up
                    (valgrind: 200 connections, 30 s after 2 x 10 s)
  --seconds N       seconds of load after the warm-up (default 120)
  --connections N   idle connections held through the load (default 10000;
                    valgrind 1000)
  --bin PATH        broker binary (default build-asan/bin/wsbroker, or
                    build/bin/wsbroker with --valgrind; built when missing)
  --wsb PATH        the wsb client (default $WSB_BIN or build/bin/wsb)
  --valgrind        run the broker under valgrind --leak-check=full
                    (default 1000 connections; installs valgrind if missing)
  --keep            keep the temporary directory (samples, logs) on success
  -h, --help        this text
EOF
}

quick=0 use_valgrind=0 keep=0 seconds="" conns="" bin="" wsb="${WSB_BIN:-}"
need_value() {
    if [ "$#" -lt 2 ] || [ -z "$2" ]; then
        echo "run.sh: $1 needs a value" >&2
        exit 2
    fi
}
while [ "$#" -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --valgrind) use_valgrind=1 ;;
    --keep) keep=1 ;;
    --seconds) need_value "$@"; seconds="$2"; shift ;;
    --connections) need_value "$@"; conns="$2"; shift ;;
    --bin) need_value "$@"; bin="$2"; shift ;;
    --wsb) need_value "$@"; wsb="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in "$seconds" "$conns"; do
    case "$v" in
    *[!0-9]*) echo "run.sh: not a positive number: $v" >&2; exit 2 ;;
    esac
done

# ---- the shape of the load ----
if [ "$use_valgrind" = 1 ]; then
    if [ "$quick" = 1 ]; then d_conns=200 d_secs=30 warm_secs=10; else d_conns=1000 d_secs=120 warm_secs=20; fi
    pub_rate=20          # publishes per second for fan-out and for throughput
    client_loops=1       # parallel loops of short-lived clients (wsb, curl)
    slow=4               # multiplier for every guard timeout
else
    if [ "$quick" = 1 ]; then d_conns=2000 d_secs=20 warm_secs=8; else d_conns=10000 d_secs=120 warm_secs=15; fi
    pub_rate=100
    client_loops=2
    slow=1
fi
conns="${conns:-$d_conns}"
seconds="${seconds:-$d_secs}"
if [ "$conns" -lt 10 ] || [ "$seconds" -lt 1 ]; then
    echo "run.sh: need --connections >= 10 and --seconds >= 1" >&2
    exit 2
fi
fan_subs=$((conns / 10 < 100 ? conns / 10 : 100))       # fan-out subscribers
churn_conns=$((conns / 10 < 500 ? conns / 10 : 500))    # per short-lived batch
[ "$churn_conns" -lt 10 ] && churn_conns=10

# ---- binaries ----
if [ -z "$bin" ]; then
    if [ "$use_valgrind" = 1 ]; then
        bin="$root/build/bin/wsbroker"
        [ -x "$bin" ] || "$root/scripts/build.sh" build
    else
        bin="$root/build-asan/bin/wsbroker"
        [ -x "$bin" ] || "$root/scripts/build.sh" build-asan -DWSB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    fi
fi
if [ -z "$wsb" ]; then
    wsb="$root/build/bin/wsb"
    [ -x "$wsb" ] || "$root/scripts/build.sh" build
fi
for f in "$bin" "$wsb"; do
    if [ ! -x "$f" ]; then
        echo "run.sh: FAIL: no executable $f" >&2
        exit 1
    fi
done
if [ "$use_valgrind" = 1 ] && ! command -v valgrind >/dev/null; then
    echo "run.sh: installing valgrind" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y valgrind >/dev/null || { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }
    else
        sudo apt-get install -y valgrind >/dev/null
    fi
fi
command -v curl >/dev/null || { echo "run.sh: FAIL: curl is needed" >&2; exit 1; }

# ---- file descriptors: the broker and the holder each need one per connection ----
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit="$(ulimit -n)"
if [ "$fd_limit" != unlimited ] && [ "$fd_limit" -lt $((conns + churn_conns * 4 + 1000)) ]; then
    echo "run.sh: FAIL: open-file limit $fd_limit is too low for $conns connections" \
        "(hard limit $(ulimit -Hn)); lower --connections" >&2
    exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/wsb-soak.XXXXXX")"
csv="$tmp/samples.csv"
broker_pid="" sampler_pid="" port="" failures=0
declare -a load_pids=()

cleanup() {
    local p
    touch "$tmp/stop"
    for p in "${load_pids[@]}" $sampler_pid; do
        pkill -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -KILL "$broker_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 1' INT TERM

fail() {
    echo "run.sh: FAIL: $*" >&2
    failures=$((failures + 1))
}

sanitizer_lines() {
    grep -E 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)' \
        "$tmp/broker.err" 2>/dev/null || true
}

# Stops at once: the broker's state is not worth checking further.
die() {
    echo "run.sh: FAIL: $*" >&2
    sanitizer_lines | head -n 20 >&2
    echo "run.sh: logs kept in $tmp" >&2
    exit 1
}

now_s() { date +%s; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$broker_pid/status" 2>/dev/null || echo 0; }
fd_count() { ls "/proc/$broker_pid/fd" 2>/dev/null | wc -l; }
# The database and its WAL in KiB: the most the SQLite page cache can hold.
db_kb() { { du -ck "$tmp"/soak.db "$tmp"/soak.db-wal 2>/dev/null || true; } | awk 'END { print $1 + 0 }'; }
broker_alive() { [ -n "$broker_pid" ] && [ -e "/proc/$broker_pid" ] &&
    ! grep -q '^State:.*Z' "/proc/$broker_pid/status" 2>/dev/null; }
http() { curl -s --max-time $((10 * slow)) "$@"; }
stats() { http "http://127.0.0.1:$port/api/stats" || true; }
# stat_field JSON NAME: the integer value of "NAME": in the stats JSON.
stat_field() { printf '%s' "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2; }

# ---- the broker ----
start_broker() {
    local tries=0 p ready
    # A 16 MiB quarantine (the default is 256 MiB) and no release of free
    # pages to the OS, so RSS is the allocator's high-water mark: see
    # README.md, "Margins".
    local asan="quarantine_size_mb=16:allocator_release_to_os_interval_ms=-1:abort_on_error=1"
    asan="$asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}:detect_leaks=1"
    local ubsan="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
    local -a cmd=("$bin")
    if [ "$use_valgrind" = 1 ]; then
        # A 2 MB queue of freed blocks (the default is 20 MB): see README.md.
        cmd=(valgrind --leak-check=full --error-exitcode=1 --freelist-vol=2000000
            --log-file="$tmp/valgrind.log" "$bin")
    fi
    while [ "$tries" -lt 10 ]; do
        tries=$((tries + 1))
        p=$((20000 + RANDOM % 12000))
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            continue # something listens there already
        fi
        rm -f "$tmp"/soak.db*
        ASAN_OPTIONS="$asan" UBSAN_OPTIONS="$ubsan" "${cmd[@]}" --bind 127.0.0.1 --port "$p" \
            --db "$tmp/soak.db" --heartbeat 10 </dev/null >"$tmp/broker.out" 2>"$tmp/broker.err" &
        broker_pid=$!
        port=$p
        ready=0
        local deadline=$(($(now_s) + 30 * slow))
        while [ "$(now_s)" -lt "$deadline" ]; do
            if ! broker_alive; then
                break
            fi
            if http -o /dev/null "http://127.0.0.1:$p/healthz"; then
                ready=1
                break
            fi
            sleep 0.2
        done
        if [ "$ready" = 1 ]; then
            return 0
        fi
        if broker_alive; then
            die "the broker did not answer /healthz within $((30 * slow)) s (see $tmp/broker.err)"
        fi
        local rc=0
        wait "$broker_pid" || rc=$?
        broker_pid=""
        if ! grep -qi 'in use' "$tmp/broker.err"; then
            cat "$tmp/broker.err" >&2
            die "the broker exited with status $rc at start"
        fi
    done
    die "no free port found after 10 tries"
}

# ---- sampling: one CSV row per second ----
sampler() {
    echo "t_s,phase,rss_kb,fds,connections,published,delivered,db_kb" >"$csv"
    local t0 s
    t0="$(now_s)"
    while [ ! -e "$tmp/stop" ] && broker_alive; do
        local rss fds
        rss="$(rss_kb)"
        fds="$(fd_count)"
        s="$(stats)"
        echo "$(($(now_s) - t0)),$(cat "$tmp/phase"),$rss,$fds,$(stat_field "$s" connections)," \
            "$(stat_field "$s" messages_published),$(stat_field "$s" messages_delivered),$(db_kb)" |
            tr -d ' ' >>"$csv"
        sleep 1
    done
}

# ---- the load ----
url() { echo "ws://127.0.0.1:$port/ws"; }

# bench NAME GUARD ARGS...: one wsb bench run, its JSON in NAME.out, its
# progress in NAME.err, its exit status in NAME.rc.
bench() {
    local name="$1" guard="$2" rc=0
    shift 2
    timeout -k 10 "$guard" "$wsb" bench "$@" --url "$(url)" --broker-pid "$broker_pid" --json \
        >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
    echo "$rc" >"$tmp/$name.rc"
}

# Short-lived connections: batches of bench connections held for 1 s.
churn_bench() {
    local tag="$1" deadline="$2" n=0 bad=0 rc
    while [ "$(now_s)" -lt "$deadline" ] && [ ! -e "$tmp/stop" ]; do
        rc=0
        timeout -k 5 $((60 * slow + churn_conns / 20)) "$wsb" bench connections \
            --url "$(url)" --broker-pid "$broker_pid" --connections "$churn_conns" --subscribe \
            --topic "soak.churn.$tag" --duration 1 --json >/dev/null 2>"$tmp/churn-$tag.last" || rc=$?
        n=$((n + 1))
        if [ "$rc" != 0 ]; then
            bad=$((bad + 1))
            [ -e "$tmp/churn-$tag.firstfail" ] || cp "$tmp/churn-$tag.last" "$tmp/churn-$tag.firstfail"
        fi
    done
    echo "$n $bad" >"$tmp/churn-$tag.result"
}

# step NAME OK_CODES CMD...: runs one short client, counts it, and counts it
# as failed unless its status is one of OK_CODES (space-separated).
step() {
    local name="$1" ok="$2" rc=0
    shift 2
    # In its own shell, so that a client ended by a signal (on purpose) is
    # reported in the log rather than on the terminal.
    bash -c 'timeout -k 5 "$@"; exit $?' step $((15 * slow)) "$@" \
        >/dev/null 2>>"$tmp/clients-$loop_tag.err" || rc=$?
    steps=$((steps + 1))
    case " $ok " in
    *" $rc "*) ;;
    *)
        bad_steps=$((bad_steps + 1))
        echo "$name: status $rc" >>"$tmp/clients-$loop_tag.fails"
        ;;
    esac
}

# Short-lived clients of every kind: HTTP publishes (single with key, batch
# with base64), wsb pub, wsb sub with replay, SSE streams cut after 1 s, a
# subscriber killed with SIGKILL, a presence member stopped with SIGINT,
# history over HTTP, three API calls on one keep-alive connection.
churn_clients() {
    loop_tag="$1"
    local deadline="$2" i=0 h="http://127.0.0.1:$port"
    steps=0 bad_steps=0
    while [ "$(now_s)" -lt "$deadline" ] && [ ! -e "$tmp/stop" ]; do
        i=$((i + 1))
        local t="soak.clients.$loop_tag.$((i % 20))"
        step http-publish 0 curl -sf --max-time $((10 * slow)) -XPOST "$h/api/publish" \
            -d "{\"topic\":\"$t\",\"data\":{\"i\":$i},\"key\":\"$loop_tag-$i-$RANDOM\"}"
        step http-batch 0 curl -sf --max-time $((10 * slow)) -XPOST "$h/api/publish" \
            -d "{\"messages\":[{\"topic\":\"$t\",\"data\":$i},{\"topic\":\"$t\",\"data\":\"AAEC\",\"encoding\":\"base64\"}]}"
        step wsb-pub 0 "$wsb" pub --url "$(url)" --quiet "$t" "{\"i\":$i}"
        step wsb-sub-replay 0 "$wsb" sub --url "$(url)" --last 1 --count 1 "$t"
        # curl exits 28 when --max-time cuts the stream: the expected end.
        step sse 28 curl -sfN --max-time 1 "$h/sse?topic=soak.clients.>&topic=bench.fanout"
        step sse-resume 28 curl -sfN --max-time 1 -H "Last-Event-ID: $((i > 50 ? i - 50 : 0))" \
            "$h/sse?topic=$t"
        step wsb-sub-killed 137 timeout -s KILL 1 "$wsb" sub --url "$(url)" 'soak.>'
        step presence-interrupted "0 124" timeout -s INT 1 "$wsb" sub --url "$(url)" \
            --presence "soak.doc.$((i % 3))"
        step http-history 0 curl -sf --max-time $((10 * slow)) "$h/api/history?topic=$t&limit=10"
        # Three requests on one keep-alive connection.
        local c=(-sf --max-time $((10 * slow)))
        step http-keepalive 0 curl "${c[@]}" "$h/api/history?topic=$t&limit=1" \
            --next "${c[@]}" -d "{\"topic\":\"$t\",\"data\":0}" "$h/api/publish" \
            --next "${c[@]}" "$h/api/presence?topic=soak.doc.0"
    done
    echo "$i $steps $bad_steps" >"$tmp/clients-$loop_tag.result"
}

# run_load LABEL SECONDS: every load at once for SECONDS; waits for all of it.
run_load() {
    local label="$1" secs="$2" guard
    guard=$(((secs + 180 + conns / 50) * slow))
    local deadline=$(($(now_s) + secs))
    load_pids=()
    bench "$label-idle" "$guard" connections --connections "$conns" --subscribe \
        --topic soak.idle --duration "$secs" &
    load_pids+=($!)
    bench "$label-fanout" "$guard" fanout --publishers 3 --subscribers "$fan_subs" \
        --rate "$pub_rate" --duration "$secs" --drain 30 &
    load_pids+=($!)
    bench "$label-throughput" "$guard" throughput --publishers 2 --key --rate "$pub_rate" \
        --duration "$secs" --drain 30 &
    load_pids+=($!)
    churn_bench "$label" "$deadline" &
    load_pids+=($!)
    local k
    for k in $(seq 1 "$client_loops"); do
        churn_clients "$label-$k" "$deadline" &
        load_pids+=($!)
    done
    local p
    for p in "${load_pids[@]}"; do
        wait "$p" || true
    done
    load_pids=()
}

json_num() { grep -o "\"$2\":[0-9.]*" "$1" 2>/dev/null | head -n 1 | cut -d: -f2; }

# Checks what the load generators reported; only the held connections are a
# condition (all of them opened and kept); the rest is reported as a warning,
# since a publisher that cannot drain its tail on a loaded machine is not a
# leak.
report_load() {
    local label="$1" rc name
    rc="$(cat "$tmp/$label-idle.rc" 2>/dev/null || echo none)"
    local welcomed
    welcomed="$(json_num "$tmp/$label-idle.out" welcomed)"
    if [ "$rc" != 0 ] || [ "${welcomed:-0}" != "$conns" ]; then
        fail "$label: held connections: status $rc, ${welcomed:-0} of $conns welcomed:" \
            "$(tail -n 3 "$tmp/$label-idle.err" | tr '\n' ' ')"
    fi
    for name in fanout throughput; do
        rc="$(cat "$tmp/$label-$name.rc" 2>/dev/null || echo none)"
        if [ "$rc" != 0 ]; then
            echo "run.sh: warning: $label $name load ended with status $rc:" \
                "$(tail -n 2 "$tmp/$label-$name.err" | tr '\n' ' ')" >&2
        fi
    done
    churn_n=0 churn_bad=0
    read -r churn_n churn_bad <"$tmp/churn-$label.result" 2>/dev/null || true
    if [ "$churn_bad" != 0 ]; then
        echo "run.sh: warning: $label: $churn_bad of $churn_n connection batches failed:" \
            "$(tail -n 2 "$tmp/churn-$label.firstfail" | tr '\n' ' ')" >&2
    fi
    client_iters=0 client_steps=0 client_bad=0
    local k it st bd
    for k in $(seq 1 "$client_loops"); do
        it=0 st=0 bd=0
        read -r it st bd <"$tmp/clients-$label-$k.result" 2>/dev/null || true
        client_iters=$((client_iters + it)) client_steps=$((client_steps + st))
        client_bad=$((client_bad + bd))
        if [ "$bd" != 0 ]; then
            echo "run.sh: warning: $label: $bd of $st short clients failed:" \
                "$(sort "$tmp/clients-$label-$k.fails" | uniq -c | tr -s ' \n' ' ')" >&2
        fi
    done
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s until it succeeds.
wait_for() {
    local secs="$1" what="$2"
    shift 2
    local deadline=$(($(now_s) + secs))
    until "$@"; do
        broker_alive || die "the broker died while waiting for $what (see $tmp/broker.err)"
        if [ "$(now_s)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.5
    done
}
no_connections() { [ "$(stat_field "$(stats)" connections)" = 0 ]; }
fds_back() { [ "$(fd_count)" -le $((fd_start + FD_MARGIN)) ]; }
rss_near_warm() { [ "$(rss_kb)" -le $((rss_warm + margin)) ]; }

settle() {
    local label="$1"
    wait_for $((90 * slow)) "0 connections" no_connections ||
        die "$label: /api/stats still shows $(stat_field "$(stats)" connections) connections" \
            "after $((90 * slow)) s"
}

# ---- run ----
if [ "$use_valgrind" = 1 ]; then
    mode="valgrind memcheck"
elif grep -qa __asan_init "$bin"; then
    mode="ASan+UBSan/LeakSanitizer"
else
    mode="no sanitizer"
    echo "run.sh: warning: $bin has no sanitizer: leaks are not checked (RSS and fds are)" >&2
fi
echo "soak: $conns held connections, ${seconds}s of load after ${warm_secs}s of warm-up," \
    "$mode, broker $bin, fd limit $fd_limit, dir $tmp"
echo start >"$tmp/phase"
start_broker
rss_launch="$(rss_kb)" fd_start="$(fd_count)"
echo "soak: broker pid $broker_pid on port $port: rss $((rss_launch / 1024)) MiB, $fd_start fds"
sampler &
sampler_pid=$!

# Two rounds: the second starts, like the load, with the allocator already
# holding what the first freed (the ASan quarantine full), so the baseline is
# taken in the state the end is compared with.
echo warmup >"$tmp/phase"
for round in 1 2; do
    run_load "warmup$round" "$warm_secs"
    report_load "warmup$round"
    settle "warmup$round"
done
wait_for $((30 * slow)) "fds" fds_back || true
fd_warm="$(fd_count)" rss_warm="$(rss_kb)"
margin=$((rss_warm * RSS_MARGIN_PCT / 100))
[ "$margin" -lt "$RSS_MARGIN_MIN_KB" ] && margin="$RSS_MARGIN_MIN_KB"
echo "soak: after warm-up: rss $((rss_warm / 1024)) MiB (limit at the end $(((rss_warm + margin) / 1024))" \
    "MiB + twice the database size up to $((SQLITE_CACHE_KB / 1024)) MiB), $fd_warm fds"

echo load >"$tmp/phase"
load_start="$(now_s)"
run_load load "$seconds"
report_load load
load_end="$(now_s)"

echo drain >"$tmp/phase"
settle load
broker_alive || die "the broker died during the load (see $tmp/broker.err)"
final_stats="$(stats)"
if ! wait_for $((30 * slow)) "fds" fds_back; then
    fail "fds: $(fd_count) open at the end, $fd_start at the start (margin $FD_MARGIN)"
    ls -l "/proc/$broker_pid/fd" >"$tmp/fds-at-end.txt" 2>/dev/null || true
fi
fd_end="$(fd_count)"
# RSS is judged after the exit, when the database size is known; give the
# allocator a few seconds to hand pages back first.
wait_for $((10 * slow)) "rss" rss_near_warm || true
rss_end="$(rss_kb)"

echo stop >"$tmp/phase"
touch "$tmp/stop"
wait "$sampler_pid" || true
sampler_pid=""

# ---- shutdown: SIGTERM, exit 0, no report ----
kill -TERM "$broker_pid"
exit_guard=$((60 * slow))
[ "$use_valgrind" = 1 ] && exit_guard=600
broker_exited() { ! broker_alive; }
wait_for_exit_deadline=$(($(now_s) + exit_guard))
until broker_exited || [ "$(now_s)" -ge "$wait_for_exit_deadline" ]; do
    sleep 0.5
done
if ! broker_exited; then
    fail "the broker did not exit within $exit_guard s of SIGTERM; killed"
    kill -KILL "$broker_pid" 2>/dev/null || true
fi
status=0
wait "$broker_pid" || status=$?
broker_pid=""
if [ "$status" != 0 ]; then
    fail "the broker exited with status $status after SIGTERM (see $tmp/broker.err)"
fi
# After a clean exit the WAL is checkpointed into soak.db: its size bounds
# the pages the SQLite page cache can have held; twice that covers each
# page's header and the allocator's rounding (ASan size classes, redzones).
db_end="$(db_kb)"
db_allowance=$((2 * db_end < SQLITE_CACHE_KB ? 2 * db_end : SQLITE_CACHE_KB))
rss_limit=$((rss_warm + margin + db_allowance))
if [ "$rss_end" -gt "$rss_limit" ]; then
    fail "rss: $rss_end kB at the end, $rss_warm kB after the warm-up (limit $rss_limit kB:" \
        "margin $margin kB + database $db_allowance kB)"
fi
reports="$(sanitizer_lines)"
if [ -n "$reports" ]; then
    fail "sanitizer report in $tmp/broker.err:"
    printf '%s\n' "$reports" | head -n 20 >&2
fi
if [ "$use_valgrind" = 1 ]; then
    vg_errors="$(grep -o 'ERROR SUMMARY: [0-9]*' "$tmp/valgrind.log" | tail -n 1)"
    vg_lost="$(grep -E 'in use at exit:|definitely lost:|indirectly lost:|possibly lost:|All heap blocks' \
        "$tmp/valgrind.log" | sed 's/^==[0-9]*== *//' || true)"
    if [ "$vg_errors" != "ERROR SUMMARY: 0" ]; then
        fail "valgrind: ${vg_errors:-no summary} (see $tmp/valgrind.log)"
    fi
fi

# ---- summary ----
col_max() { awk -F, -v c="$1" -v p="$2" 'NR > 1 && (p == "" || $2 == p) && $c + 0 > m { m = $c + 0 } END { print m + 0 }' "$csv"; }
half_max() { # max RSS in the first or second half of the load phase
    awk -F, -v h="$1" '
        NR == 1 { next }
        $2 == "load" { n++; t[n] = $3 }
        END { lo = h == 1 ? 1 : int(n / 2) + 1; hi = h == 1 ? int(n / 2) : n
              for (i = lo; i <= hi; i++) if (t[i] > m) m = t[i]; print m + 0 }' "$csv"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo
echo "==== soak summary ($mode, $conns held connections, $((load_end - load_start)) s of load) ===="
echo "peak connections      $(col_max 5 "")"
echo "connections accepted  $(stat_field "$final_stats" connections_total)"
echo "messages published    $(stat_field "$final_stats" messages_published)"
echo "messages delivered    $(stat_field "$final_stats" messages_delivered)"
echo "slow-consumer cuts    $(stat_field "$final_stats" slow_consumer_disconnects)"
echo "short clients         $client_iters rounds, $client_steps runs, $client_bad failed"
echo "connection batches    $churn_n x $churn_conns, $churn_bad failed"
echo "rss launch/warm/peak/end  $(mib "$rss_launch") / $(mib "$rss_warm") / $(mib "$(col_max 3 "")") / $(mib "$rss_end") (limit $(mib "$rss_limit"))"
echo "rss peak in the load's first/second half  $(mib "$(half_max 1)") / $(mib "$(half_max 2)")"
echo "database at the end   $(mib "$db_end")"
echo "fds start/warm/peak/end   $fd_start / $fd_warm / $(col_max 4 "") / $fd_end (margin $FD_MARGIN)"
echo "broker exit status    $status"
if [ "$use_valgrind" = 1 ]; then
    echo "valgrind              $vg_errors"
    printf '%s\n' "$vg_lost" | sed 's/^/                      /'
else
    echo "sanitizer reports     $([ -n "$reports" ] && echo yes || echo none)"
fi
if [ "$failures" != 0 ]; then
    echo "soak: FAILED ($failures check(s)); logs kept in $tmp" >&2
    exit 1
fi
echo "soak: passed"
trap - EXIT
if [ "$keep" = 0 ]; then
    rm -rf "$tmp"
else
    echo "soak: samples in $csv, logs in $tmp"
fi
