#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ticker.sh: a demo price feed for the wsbroker demo page (the ticker card).
#
# Publishes a random walk of prices for 8 symbols with curl, one
# `POST /api/publish` per tick, body {"topic":"prices.AAPL","data":{"px":189.52}}.
# Prices are kept in integer cents, so bash needs no floating point.
#
#   scripts/ticker.sh                         # http://127.0.0.1:8080, 4 ticks/s, until Ctrl-C
#   scripts/ticker.sh --url http://host:9000 --rate 10 --count 100
#   WSB_URL=http://127.0.0.1:9000 scripts/ticker.sh
#
# Options: --url BASE (default $WSB_URL or http://127.0.0.1:8080),
# --rate N ticks per second (default 4), --count N ticks then exit (default:
# forever), --token T (sent as "Authorization: Bearer T"), --quiet.
# Exits 0, or 1 when a publish failed (the feed itself keeps going), 2 on bad usage.
set -euo pipefail

url="${WSB_URL:-http://127.0.0.1:8080}"
rate=4
count=0
token=""
quiet=0

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --url) url="${2:?--url needs a value}"; shift 2 ;;
        --rate) rate="${2:?--rate needs a value}"; shift 2 ;;
        --count) count="${2:?--count needs a value}"; shift 2 ;;
        --token) token="${2:?--token needs a value}"; shift 2 ;;
        --quiet) quiet=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "ticker.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

case "$rate" in ''|*[!0-9]*|0) echo "ticker.sh: --rate must be a positive integer" >&2; exit 2 ;; esac
case "$count" in ''|*[!0-9]*) echo "ticker.sh: --count must be a non-negative integer" >&2; exit 2 ;; esac
command -v curl >/dev/null || { echo "ticker.sh: curl is required" >&2; exit 2; }

symbols=(AAPL AMZN GOOG META MSFT NFLX NVDA TSLA)
cents=(18950 18230 17210 50520 41560 64080 12140 24890)
interval=$(awk -v r="$rate" 'BEGIN { printf "%.3f", 1 / r }')
auth=()
[ -n "$token" ] && auth=(-H "Authorization: Bearer $token")

publish() { # topic json
    curl -sS --fail-with-body --max-time 5 "${auth[@]}" -H 'Content-Type: application/json' \
        --data-binary "{\"topic\":\"$1\",\"data\":$2}" "$url/api/publish"
}

trap 'echo; exit 0' INT TERM
tick=0
failed=0
while [ "$count" -eq 0 ] || [ "$tick" -lt "$count" ]; do
    i=$((RANDOM % ${#symbols[@]}))
    # A step of -0.30% .. +0.30%, never below 1.00.
    step=$(( cents[i] * (RANDOM % 61 - 30) / 10000 ))
    cents[i]=$(( cents[i] + step < 100 ? 100 : cents[i] + step ))
    px=$(printf '%d.%02d' $((cents[i] / 100)) $((cents[i] % 100)))
    if ! reply=$(publish "prices.${symbols[i]}" "{\"px\":$px}"); then
        echo "ticker.sh: publish to $url failed: $reply" >&2
        failed=$((failed + 1))
    elif [ "$quiet" -eq 0 ]; then
        printf '%-5s %9s  %s\n' "${symbols[i]}" "$px" "$reply"
    fi
    tick=$((tick + 1))
    sleep "$interval"
done
[ "$failed" -eq 0 ] || { echo "ticker.sh: $failed of $tick publishes failed" >&2; exit 1; }
