#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The configuration files of deploy/multinode/, checked by the programs
# that read them, so an example an operator copies is one that loads:
#
#  1. haproxy.cfg passes `haproxy -c`, and keeps the lines the docs rely on
#     (leastconn, the /healthz check, the tunnel timeout, three nodes);
#  2. nginx-site.conf passes `nginx -t` inside a minimal main config whose
#     paths are in a temporary directory;
#  3. redis.conf loads into a real redis-server, which then reports
#     appendonly yes, appendfsync always and maxmemory-policy noeviction;
#  4. the template drop-in on a copy of deploy/wsbroker.service.in passes
#     `systemd-analyze verify` without a warning, for instance
#     wsbroker@8081, and its exposure stays under MAX_EXPOSURE;
#  5. every key of multinode.example.json is a flag of `wsbroker --help`.
#
# tests/integration/redis_lb.test.mjs runs haproxy.cfg and redis.conf in
# front of real nodes; this script checks what that test cannot start.
# Usage: tests/packaging/multinode_configs.sh (needs haproxy, nginx,
# redis-server, redis-cli and a built broker, $WSBROKER_BIN or
# build/bin/wsbroker).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/deploy/multinode"
bin="${WSBROKER_BIN:-$root/build/bin/wsbroker}"
# systemd-analyze security scores in tenths, as in tests/packaging/run.sh.
MAX_EXPOSURE=20

tmp="$(mktemp -d)"
redis_pid=""
cleanup() {
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "multinode configs: FAIL: $*" >&2
    exit 1
}
step() {
    echo "multinode configs: $*"
}

for tool in haproxy nginx redis-server redis-cli systemd-analyze; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/deps.sh test)"
done
[ -x "$bin" ] || fail "no broker at $bin: build it first"

# --- 1: HAProxy -------------------------------------------------------------

step "haproxy -c -f haproxy.cfg"
haproxy -c -f "$dir/haproxy.cfg" >"$tmp/haproxy.out" 2>&1 || fail "haproxy -c: $(cat "$tmp/haproxy.out")"
if grep -qi warning "$tmp/haproxy.out"; then
    fail "haproxy -c warns: $(cat "$tmp/haproxy.out")"
fi
for line in 'balance leastconn' 'option httpchk' 'http-check expect status 200' \
    'option http-server-close' 'timeout tunnel 1h'; do
    grep -qE "^\s+$line\$" "$dir/haproxy.cfg" || fail "haproxy.cfg lacks '$line'"
done
grep -qE '^\s+http-check send meth GET uri /healthz ' "$dir/haproxy.cfg" || fail "the check is not GET /healthz"
[ "$(grep -cE '^\s+server node[0-9] ' "$dir/haproxy.cfg")" -eq 3 ] || fail "haproxy.cfg does not list three nodes"

# --- 2: nginx ---------------------------------------------------------------

step "nginx -t with nginx-site.conf"
mkdir "$tmp/nginx"
cat >"$tmp/nginx/main.conf" <<EOF
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    include $dir/nginx-site.conf;
}
EOF
nginx -t -q -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/main.conf" >"$tmp/nginx.out" 2>&1 ||
    fail "nginx -t: $(cat "$tmp/nginx.out")"
# shellcheck disable=SC2016 # nginx variables, matched literally
for line in 'least_conn;' 'proxy_buffering off;' 'proxy_set_header Upgrade $http_upgrade;' \
    'proxy_set_header Connection $connection_upgrade;' 'proxy_http_version 1.1;'; do
    grep -qF "$line" "$dir/nginx-site.conf" || fail "nginx-site.conf lacks '$line'"
done

# --- 3: Redis ---------------------------------------------------------------

step "redis-server with redis.conf"
mkdir "$tmp/redis"
sock="$tmp/redis/redis.sock"
# Only a unix socket: no TCP port to collide with anything.
redis-server "$dir/redis.conf" --port 0 --unixsocket "$sock" --dir "$tmp/redis" \
    --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
    redis-cli -s "$sock" ping >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || fail "redis-server exited: $(tail -n 5 "$tmp/redis.log")"
    sleep 0.1
done
redis-cli -s "$sock" ping >/dev/null 2>&1 || fail "redis-server does not answer: $(tail -n 5 "$tmp/redis.log")"
check_redis() {
    local got
    got="$(redis-cli -s "$sock" --raw config get "$1" | sed -n 2p)"
    [ "$got" = "$2" ] || fail "redis.conf gives $1 '$got', expected '$2'"
}
check_redis appendonly yes
check_redis appendfsync always
check_redis maxmemory-policy noeviction
check_redis timeout 0
kill "$redis_pid"
wait "$redis_pid" || true
redis_pid=""

# --- 4: the systemd template ------------------------------------------------

step "systemd template wsbroker@.service with the multinode drop-in"
# The packaged unit, written as CMake writes it, under the template's name,
# with the drop-in beside it; both run the broker under test (verify wants
# the ExecStart binary to exist).
units="$tmp/units"
mkdir "$units"
sed -e "s|@CMAKE_INSTALL_FULL_BINDIR@|$(dirname "$bin")|" -e 's|@CMAKE_INSTALL_FULL_SYSCONFDIR@|/etc|' \
    "$root/deploy/wsbroker.service.in" >"$units/wsbroker@.service"
cp -r "$dir/wsbroker@.service.d" "$units/"
dropin="$units/wsbroker@.service.d/multinode.conf"
grep -qx 'ExecStart=/usr/bin/wsbroker --config /etc/wsbroker/multinode.json --port %i' "$dropin" ||
    fail "the drop-in's ExecStart is not the packaged path with --port %i"
sed -i "s|^ExecStart=/usr/bin/wsbroker |ExecStart=$bin |" "$dropin"
# --man=no: the man page is checked by tests/packaging/run.sh.
systemd-analyze verify --man=no "$units/wsbroker@8081.service" >"$tmp/verify.out" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
[ ! -s "$tmp/verify.out" ] || fail "systemd-analyze verify warns: $(cat "$tmp/verify.out")"
systemd-analyze security --offline=yes --threshold="$MAX_EXPOSURE" "$units/wsbroker@8081.service" \
    >"$tmp/security" || fail "exposure above $MAX_EXPOSURE/10: $(tail -n 1 "$tmp/security")"
step "$(tail -n 1 "$tmp/security")"

# --- 5: the node configuration ----------------------------------------------

step "multinode.example.json names only broker flags"
"$bin" --help >"$tmp/help"
python3 - "$dir/multinode.example.json" "$tmp/help" <<'EOF' || fail "multinode.example.json"
import json, re, sys
config = json.load(open(sys.argv[1]))
flags = set(re.findall(r"^\s+--([a-z0-9-]+)", open(sys.argv[2]).read(), re.M))
unknown = [k for k in config if k.replace("_", "-") not in flags]
if unknown:
    sys.exit("keys that are no flag of wsbroker --help: %s" % unknown)
if not config.get("redis", "").startswith("redis://"):
    sys.exit("no redis:// URL")
if "db" in config:
    sys.exit("a db key, which --redis does not use")
EOF

step "passed"
