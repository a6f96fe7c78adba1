#!/usr/bin/env bash
# Peak memory of one fresh oxcd member under put-1000c, without a profiler:
# prints requests/s, VmHWM, the largest RssAnon seen (sampled every 200 ms)
# and AnonHugePages at the end of the load. Extra NAME=VALUE arguments go to
# the server's environment (e.g. MIMALLOC_ALLOW_THP=0).
#
# usage: scripts/bench/rss-probe.sh OXCD_BIN BENCH_BIN [NAME=VALUE...]
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
oxcd_bin=$1; bench_bin=$2; shift 2
work=$(mktemp -d /tmp/oxcd-rss.XXXXXX)
server=""; sampler=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  wait 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); peer=$(free_port)

env "$@" "$oxcd_bin" --name=probe --data-dir="$work/data" \
  --listen-client-urls=http://127.0.0.1:$port --advertise-client-urls=http://127.0.0.1:$port \
  --listen-peer-urls=http://127.0.0.1:$peer --initial-advertise-peer-urls=http://127.0.0.1:$peer \
  --initial-cluster=probe=http://127.0.0.1:$peer >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  etcdctl --endpoints=127.0.0.1:$port endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done

(while kill -0 "$server" 2>/dev/null; do
   awk '/RssAnon/{print $2}' /proc/"$server"/status 2>/dev/null || true
   sleep 0.2
 done) >"$work/anon" &
sampler=$!

rps=$("$bench_bin" --endpoints 127.0.0.1:$port --no-progress --json --clients 1000 --conns 100 \
  --key-space-size 100000 --duration 10s put |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["requests_per_sec"]))')
hwm=$(awk '/VmHWM/{print $2}' /proc/"$server"/status)
thp=$(awk '/AnonHugePages/{print $2}' /proc/"$server"/smaps_rollup)
max_anon=$(sort -n "$work/anon" | tail -1)
echo "$(basename "$oxcd_bin") $* req/s=$rps VmHWM=$((hwm / 1024))MiB" \
  "max RssAnon=$((max_anon / 1024))MiB AnonHugePages=$((thp / 1024))MiB"
