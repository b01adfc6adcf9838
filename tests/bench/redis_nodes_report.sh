#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# redis_nodes_report.sh: the markdown tables of a redis_nodes.sh run, from its
# JSON (tests/bench/results/redis_nodes.json), on stdout. Apart from the
# measuring script so that a table can be made again from a stored result.
#
# Usage: tests/bench/redis_nodes_report.sh [results/redis_nodes.json]
# A "-" is a figure not measured (an unknown pid, no unit to divide by).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
json="${1:-$here/results/redis_nodes.json}"

jq -r '
def num(d): if . == null or . < 0 then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
def ms: if . == null then "-" else (. / 1000 | num(1)) end;
def engine: if .engine == "redis" then "Redis, \(.nodes) node\(if .nodes > 1 then "s" else "" end)"
            else "embedded (SQLite)" end;
def flag: if .status != 0 then " (failed: status \(.status))" else "" end;

"# wsbroker: the Redis engine beside the embedded one",
"",
"\(if .quick then "A --quick smoke run: not figures to quote. " else "" end)\(.host.cpus) cores; load average before the run \(.host.load1_before). The nodes, Redis and the load generator share these cores.",
"",
"## Durable publish (10 publishers x 100 in flight, no key)",
"",
"| engine | acks/s | broker CPU us/ack | Redis CPU us/ack | ack p50 / p99 ms |",
"|---|--:|--:|--:|--:|",
(.durable[] | .result.phases[0] as $p |
  "| \(engine)\(flag) | \($p.acks_per_s | num(0)) | \($p.nodes_total.cpu_us_per_ack | num(1)) | \($p.aux_cpu_us_per_ack | num(1)) | \($p.ack_latency_us.p50 | ms) / \($p.ack_latency_us.p99 | ms) |"),
"",
"## Fan-out (subscribers shared round robin by the nodes, publisher on the first)",
"",
"| engine | subscribers, rate | deliveries/s | broker CPU us/delivery, each node | all nodes | Redis CPU us/delivery | latency p50 / p99 ms | lost |",
"|---|--:|--:|--:|--:|--:|--:|--:|",
(.fanout[] | .result as $r | $r.phases[0] as $p |
  "| \(engine)\(flag) | \($r.subscribers), \($r.rate) msg/s | \($p.deliveries_per_s | num(0)) | \([$p.nodes[].cpu_us_per_delivery | num(2)] | join(" / ")) | \($p.nodes_total.cpu_us_per_delivery | num(2)) | \($p.aux_cpu_us_per_delivery | num(2)) | \($p.latency_us.p50 | ms) / \($p.latency_us.p99 | ms) | \(($p.expected - $p.delivered) | if . < 0 then 0 else . end) |"),
"",
"## Resume after a failover (dropped at once on the first node, resumed with since on the second; embedded: on the same broker)",
"",
"| engine | subscribers, rate | all resumed after s | resume p50 / p99 ms | broker CPU s drop..resumed, each node | Redis CPU s | recovered, gaps, dups, missing |",
"|---|--:|--:|--:|--:|--:|--:|",
(.failover[] | .result as $r |
  "| \(engine)\(flag) | \($r.subscribers), \($r.rate) msg/s | \($r.all_resumed_s | num(3)) | \($r.resume_us.p50 | ms) / \($r.resume_us.p99 | ms) | \([$r.storm_nodes[]?.cpu_s | num(2)] | join(" / ")) | \($r.storm_aux_cpu_s | num(2)) | \($r.recovered_all), \($r.gaps), \($r.dups), \($r.missing) |"),
"",
"## Paced replay (readers subscribing to `>` with since=0)",
"",
"| engine | readers x messages (bytes each) | caught up after s | broker CPU s | broker RSS before / peak MiB | Redis CPU s |",
"|---|--:|--:|--:|--:|--:|",
(.replay[] |
  "| \(engine)\(flag) | \(.readers) x \(.messages) (\(.bytes)) | \(.seconds | num(2)) | \(.broker_cpu_s | num(2)) | \(.broker_rss_before_kb / 1024 | num(1)) / \(.broker_rss_peak_kb / 1024 | num(1)) | \(.redis_cpu_s | num(2)) |")
' "$json"
