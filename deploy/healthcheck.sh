#!/bin/bash
# SPDX-License-Identifier: MIT
# The container's HEALTHCHECK: exits 0 when GET /healthz answers 200 (the
# store can be written), 1 otherwise. Plain bash (/dev/tcp), so the image
# needs no HTTP client. It sends "Host: 127.0.0.1": a broker started with
# --allow-host must list that name too.
# Usage: healthcheck.sh [PORT] (default 8080).
port="${1:-8080}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
read -r -t 5 status_line <&3 || exit 1
case "$status_line" in
"HTTP/1."[01]" 200"*) exit 0 ;;
*) exit 1 ;;
esac
