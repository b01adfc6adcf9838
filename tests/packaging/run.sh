#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The packaging test: what an operator installs, checked the way an
# operator would use it, without root changes to this machine.
#
#  1. scripts/build-release.sh (the build steps of deploy/Dockerfile) makes
#     the Debian package in a fresh build directory, from a copy of the
#     files a docker build context holds (docker_context.py);
#  2. its contents, Depends and conffiles are checked with dpkg-deb;
#  3. it is unpacked into a temporary root, and the broker from there runs
#     with the packaged config, answers /healthz (through the container's
#     healthcheck script), / and /wsb.js, tells a fake systemd READY=1 and
#     STOPPING=1, and the unpacked wsb and libwsb talk to it;
#  4. the man pages render without warnings;
#  5. the unit passes `systemd-analyze verify` and its exposure score stays
#     under MAX_EXPOSURE;
#  6. the JavaScript package packs with wsb.js and its declarations, and a
#     TypeScript program type-checks against them.
# Usage: tests/packaging/run.sh (needs `scripts/deps.sh test`).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# systemd-analyze security scores in tenths: 20 is an exposure of 2.0.
MAX_EXPOSURE=20

tmp="$(mktemp -d)"
broker_pid=""
listener_pid=""
cleanup() {
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null
    [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "packaging: FAIL: $*" >&2
    exit 1
}
step() {
    echo "packaging: $*"
}

# --- 1, 2: the package ------------------------------------------------------

step "building the package (scripts/build-release.sh, as deploy/Dockerfile)"
grep -q '^RUN scripts/deps.sh release' "$root/deploy/Dockerfile" &&
    grep -q '^RUN scripts/build-release.sh /build$' "$root/deploy/Dockerfile" ||
    fail "deploy/Dockerfile no longer builds with scripts/deps.sh and scripts/build-release.sh"
# From a copy of the tree a docker build gets (.dockerignore applied).
"$root/tests/packaging/docker_context.py" "$root" "$tmp/context"
deb="$("$tmp/context/scripts/build-release.sh" "$tmp/build" | tail -n 1)"
[ -f "$deb" ] || fail "no package from scripts/build-release.sh"

step "contents and Depends of $(basename "$deb")"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
for path in /usr/bin/wsbroker /usr/bin/wsb /usr/share/man/man1/wsbroker.1 \
    /usr/share/man/man1/wsb.1 /usr/share/wsbroker/www/index.html \
    /usr/share/wsbroker/www/wsb.js /usr/lib/systemd/system/wsbroker.service \
    /etc/wsbroker/wsbroker.json /usr/include/wsb.h /usr/share/doc/wsbroker/copyright \
    /usr/share/doc/wsbroker/operations.md; do
    grep -qx "$path" "$tmp/contents" || fail "$path is not in the package"
done
grep -qE '^/usr/lib/[^/]+/libwsb\.so\.0$' "$tmp/contents" || fail "libwsb.so.0 is not in the package"
grep -qE '^/usr/lib/[^/]+/pkgconfig/libwsb\.pc$' "$tmp/contents" || fail "libwsb.pc is not in the package"
depends="$(dpkg-deb -f "$deb" Depends)"
for pkg in libc6 libwebsockets17 libwebsockets-evlib-uv libjansson4 libsqlite3-0 libuv1 libsystemd0; do
    echo "$depends" | tr ',' '\n' | grep -qE "^ *$pkg( |$)" || fail "Depends lacks $pkg: $depends"
done
dpkg-deb -e "$deb" "$tmp/control"
grep -qx /etc/wsbroker/wsbroker.json "$tmp/control/conffiles" || fail "the config is not a conffile"
grep -qx 'activate-noawait ldconfig' "$tmp/control/triggers" || fail "no ldconfig trigger for libwsb.so.0"

# --- 3: the unpacked broker -------------------------------------------------

pkgroot="$tmp/root"
dpkg-deb -x "$deb" "$pkgroot"
if ldd "$pkgroot/usr/bin/wsbroker" | grep -q "not found"; then
    fail "the packaged broker misses a library: $(ldd "$pkgroot/usr/bin/wsbroker" | grep 'not found')"
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="ws://127.0.0.1:$port/ws"
# A stand-in for systemd's notify socket: prints the first two messages.
notify_socket="$tmp/notify"
python3 - "$notify_socket" >"$tmp/notify.out" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
for _ in range(2):
    print(s.recv(4096).decode().replace("\n", " "), flush=True)
EOF
listener_pid=$!
for _ in $(seq 100); do
    [ -S "$notify_socket" ] && break
    sleep 0.1
done

# No --www: the binary finds share/wsbroker/www beside its own prefix, so
# the unpacked root serves its own copy.
step "running the unpacked broker on 127.0.0.1:$port with the packaged config"
mkdir "$tmp/data"
NOTIFY_SOCKET="$notify_socket" "$pkgroot/usr/bin/wsbroker" \
    --config "$pkgroot/etc/wsbroker/wsbroker.json" --bind 127.0.0.1 --port "$port" \
    --db "$tmp/data/wsbroker.db" 2>"$tmp/broker.log" &
broker_pid=$!
for _ in $(seq 100); do
    grep -q READY=1 "$tmp/notify.out" && break
    kill -0 "$broker_pid" 2>/dev/null || fail "the broker exited: $(cat "$tmp/broker.log")"
    sleep 0.1
done
grep -q READY=1 "$tmp/notify.out" || fail "no READY=1 on the notify socket"

"$root/deploy/healthcheck.sh" "$port" || fail "the container healthcheck fails against /healthz"
http="http://127.0.0.1:$port"
# Whole answers first: `curl | grep -q` fails under pipefail when grep
# stops reading before curl has written everything (SIGPIPE).
health=$(curl -sf "$http/healthz") && grep -q '"ok"' <<<"$health" || fail "/healthz does not answer ok"
curl -sf "$http/" -o "$tmp/index.html" || fail "/ does not answer"
cmp -s "$tmp/index.html" "$pkgroot/usr/share/wsbroker/www/index.html" ||
    fail "/ is not the packaged index.html"
curl -sf "$http/wsb.js" -o "$tmp/wsb.js" && cmp -s "$tmp/wsb.js" "$root/broker/www/wsb.js" ||
    fail "/wsb.js is not broker/www/wsb.js"
metrics=$(curl -sf "$http/metrics") && grep -q '^wsbroker_' <<<"$metrics" || fail "/metrics has no wsbroker_ metric"
if grep -q "libuv plugin is not available" "$tmp/broker.log"; then
    fail "the packaged broker fell back to poll(): $(cat "$tmp/broker.log")"
fi

step "the unpacked wsb and libwsb against it"
"$pkgroot/usr/bin/wsb" pub --url "$url" packaging.check '{"n":1}' | grep -q '"seq"' ||
    fail "wsb pub failed"
"$pkgroot/usr/bin/wsb" history --url "$url" packaging.check | grep -q '"n":1' ||
    fail "wsb history does not return the message"
pcdir="$(dirname "$(grep -E '/pkgconfig/libwsb\.pc$' "$tmp/contents")")"
cat >"$tmp/app.c" <<'EOF'
#include <stdio.h>
#include <wsb.h>

int main(void)
{
    return puts(wsb_strerror(0)) < 0;
}
EOF
flags="$(PKG_CONFIG_SYSROOT_DIR="$pkgroot" PKG_CONFIG_PATH="$pkgroot$pcdir" \
    pkg-config --cflags --libs libwsb)"
# shellcheck disable=SC2086 # the flags are words
cc -o "$tmp/app" "$tmp/app.c" $flags || fail "a program does not build against the packaged libwsb"
LD_LIBRARY_PATH="$pkgroot/$(dirname "$pcdir")" "$tmp/app" >/dev/null ||
    fail "a program does not run with the packaged libwsb.so"

kill -TERM "$broker_pid"
status=0
wait "$broker_pid" || status=$?
broker_pid=""
[ "$status" -eq 0 ] || fail "the broker exited $status after SIGTERM: $(cat "$tmp/broker.log")"
wait "$listener_pid" || true
listener_pid=""
grep -q STOPPING=1 "$tmp/notify.out" || fail "no STOPPING=1 on the notify socket"

# --- 4: man pages -----------------------------------------------------------

step "man pages"
for page in wsbroker wsb; do
    file="$pkgroot/usr/share/man/man1/$page.1"
    warnings="$(groff -man -Tutf8 -ww -z "$file" 2>&1)"
    [ -z "$warnings" ] || fail "$page.1 renders with warnings: $warnings"
    shown=$(MANWIDTH=80 man -l "$file" 2>/dev/null) && grep -q "^NAME" <<<"$shown" ||
        fail "man -l $page.1 shows no NAME"
    if grep -q "$root" "$file"; then
        fail "$page.1 names the source tree"
    fi
done

# --- 5: the systemd unit ----------------------------------------------------

step "systemd unit"
unit="$pkgroot/usr/lib/systemd/system/wsbroker.service"
grep -qx 'ExecStart=/usr/bin/wsbroker --config /etc/wsbroker/wsbroker.json' "$unit" ||
    fail "ExecStart does not name the installed paths"
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify"
# verify wants the ExecStart binary to exist: check a copy that runs the
# unpacked one. Its Documentation= man page is looked up in the unpacked root.
mkdir "$tmp/unit"
sed "s|^ExecStart=/usr/bin/|ExecStart=$pkgroot/usr/bin/|" "$unit" >"$tmp/unit/wsbroker.service"
MANPATH="$pkgroot/usr/share/man" systemd-analyze verify "$tmp/unit/wsbroker.service" ||
    fail "systemd-analyze verify"
systemd-analyze security --offline=yes --threshold="$MAX_EXPOSURE" "$tmp/unit/wsbroker.service" \
    >"$tmp/security" || fail "exposure above $MAX_EXPOSURE/10: $(tail -n 1 "$tmp/security")"
step "$(tail -n 1 "$tmp/security")"

# --- 6: the JavaScript package ----------------------------------------------

step "JavaScript package (npm ci, npm pack)"
js="$root/clients/js"
(cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
    npm pack --pack-destination "$tmp" --loglevel=error >/dev/null) || fail "npm pack"
tarball="$(ls "$tmp"/wsbroker-client-*.tgz)"
tar -tzf "$tarball" >"$tmp/npm-contents"
for path in wsb.js wsb.d.ts README.md LICENSE package.json; do
    grep -qx "package/$path" "$tmp/npm-contents" || fail "$path is not in $(basename "$tarball")"
done
mkdir -p "$tmp/consumer/node_modules/wsbroker-client"
tar -xzf "$tarball" -C "$tmp/consumer/node_modules/wsbroker-client" --strip-components=1
cmp -s "$tmp/consumer/node_modules/wsbroker-client/wsb.js" "$root/broker/www/wsb.js" ||
    fail "the package's wsb.js is not broker/www/wsb.js"
if grep -E '^\s+_\w+[(:]' "$tmp/consumer/node_modules/wsbroker-client/wsb.d.ts"; then
    fail "wsb.d.ts declares internal members: mark them @private in wsb.js's JSDoc"
fi
echo '{"type": "module"}' >"$tmp/consumer/package.json"
cat >"$tmp/consumer/app.ts" <<'EOF'
import { WsbClient, type Message } from 'wsbroker-client';

const client = new WsbClient('ws://127.0.0.1:8080/ws');
client.subscribe('prices.>', (m: Message) => console.log(m.topic, m.seq + 1));
const ack: Promise<{ seq: number; duplicate?: boolean }> = client.publish('prices.a', { px: 1 });
void ack;
EOF
"$js/node_modules/.bin/tsc" --noEmit --strict --target es2022 --module nodenext \
    --moduleResolution nodenext --lib es2022,dom "$tmp/consumer/app.ts" ||
    fail "a TypeScript program does not type-check against wsb.d.ts"

step "passed"
