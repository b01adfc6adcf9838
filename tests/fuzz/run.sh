#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets of tests/fuzz and runs each one.
#
# Usage: tests/fuzz/run.sh [SECONDS]     (default 20 seconds per target)
#   FUZZ_TARGETS="fuzz_topic fuzz_config" limits the run to those targets.
#   FUZZ_BUILD=DIR builds elsewhere than <repo>/build-fuzz.
#
# Needs clang and libclang-rt-14-dev (scripts/deps.sh test) and the -dev
# libraries of the broker. For each target it first replays every input in
# tests/fuzz/regressions/<target>/ (crashes found before, which must stay
# fixed), then fuzzes for SECONDS on one core, starting from a copy of
# tests/fuzz/corpus/<target>/ in a temporary directory (the repository's
# corpus is never written). Any crash, leak, timeout or out-of-memory makes
# the script exit non-zero; the inputs that caused it are kept and named.
set -euo pipefail

seconds="${1:-20}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$fuzz_dir/../.." && pwd)"
build="${FUZZ_BUILD:-$repo/build-fuzz}"
targets="${FUZZ_TARGETS:-fuzz_envelope_text fuzz_envelope_binary fuzz_topic fuzz_config fuzz_token fuzz_redis_wire}"
# Same limits for replays and fuzzing: 10 s for one input is a hang.
limits=(-rss_limit_mb=2048 -timeout=10)

scratch="$(mktemp -d "${TMPDIR:-/tmp}/wsb-fuzz.XXXXXX")"

# Configures once, then builds; the build's output is shown only on failure.
build_targets() {
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$fuzz_dir" -B "$build" -DCMAKE_C_COMPILER=clang || return 1
    fi
    cmake --build "$build" -j 2
}
if ! build_targets >"$scratch/build.log" 2>&1; then
    tail -n 40 "$scratch/build.log" >&2
    echo "FAIL: cannot build the fuzz targets (log: $scratch/build.log)" >&2
    exit 1
fi

dict_for() {
    case "$1" in
    fuzz_topic) echo "$fuzz_dir/topic.dict" ;;
    fuzz_redis_wire) echo "$fuzz_dir/redis_wire.dict" ;;
    *) echo "$fuzz_dir/json.dict" ;;
    esac
}

# Runs every file of regressions/<target>/ once; fails on the first that
# still crashes.
replay_regressions() {
    local target="$1" dir="$fuzz_dir/regressions/$1" log="$2"
    [ -d "$dir" ] || return 0
    local files=()
    while IFS= read -r -d '' f; do files+=("$f"); done \
        < <(find "$dir" -type f ! -name '.*' -print0 | sort -z)
    [ ${#files[@]} -gt 0 ] || return 0
    if ! TMPDIR="$scratch" "$build/$target" "${limits[@]}" "${files[@]}" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "FAIL $target: a regression input crashes again (log: $log)" >&2
        return 1
    fi
    echo "ok   $target: ${#files[@]} regression inputs replayed"
}

# Fuzzes one target for $seconds in $work; fails on any finding.
fuzz_target() {
    local target="$1" work="$2"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp -R "$fuzz_dir/corpus/$target/." "$work/corpus/"
    local status=0
    # -jobs=1 runs the fuzzer in one child process whose output goes to
    # fuzz-0.log in the working directory; TMPDIR keeps fuzz_config's
    # temporary file in $work too.
    (cd "$work" && TMPDIR="$work" "$build/$target" "${limits[@]}" -jobs=1 \
        -max_total_time="$seconds" -dict="$(dict_for "$target")" \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 corpus \
        >/dev/null 2>&1) || status=$?
    local found
    found="$(find "$work/artifacts" -type f | sort)"
    if [ "$status" -ne 0 ] || [ -n "$found" ]; then
        [ -f "$work/fuzz-0.log" ] && grep -v '^#[0-9]' "$work/fuzz-0.log" | tail -n 60 >&2
        echo "FAIL $target: exit status $status; inputs kept:" >&2
        echo "${found:-  (none written)}" >&2
        echo "  log: $work/fuzz-0.log" >&2
        return 1
    fi
    local runs
    runs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/fuzz-0.log" | tail -n 1 |
        awk '{print $2}')"
    local inputs
    inputs="$(find "$work/corpus" -type f | wc -l)"
    echo "ok   $target: ${runs:-?} runs in ${seconds}s, corpus $inputs inputs"
}

failed=0
for target in $targets; do
    if [ ! -x "$build/$target" ]; then
        echo "FAIL $target: not built" >&2
        failed=1
        continue
    fi
    replay_regressions "$target" "$scratch/$target-regressions.log" || {
        failed=1
        continue
    }
    fuzz_target "$target" "$scratch/$target" || failed=1
done

if [ "$failed" -ne 0 ]; then
    echo "fuzzing found problems; everything is kept in $scratch" >&2
    exit 1
fi
rm -rf "$scratch"
echo "all fuzz targets clean"
