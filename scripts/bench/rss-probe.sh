#!/usr/bin/env bash
# Peak memory of one fresh oxcd member under put-1000c, without a profiler:
# prints requests/s, VmHWM, the largest RssAnon seen (sampled every 200 ms)
# and AnonHugePages at the end of the load. Extra NAME=VALUE arguments go to
# the server's environment (e.g. MIMALLOC_ALLOW_THP=0).
#
# usage: scripts/bench/rss-probe.sh OXCD_BIN BENCH_BIN [NAME=VALUE...]
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
oxcd_bin=$1; bench_bin=$2; shift 2
work=$(mktemp -d /tmp/oxcd-rss.XXXXXX)
. "$here/scripts/bench/member.sh"
for setting in "$@"; do export "${setting?}"; done

start_member oxcd "$oxcd_bin"
(while kill -0 "$pid" 2>/dev/null; do
   awk '/RssAnon/{print $2}' /proc/"$pid"/status 2>/dev/null || true
   sleep 0.2
 done) >"$work/anon" &

rps=$("$bench_bin" --endpoints 127.0.0.1:$port --no-progress --json --clients 1000 --conns 100 \
  --key-space-size 100000 --duration 10s put |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["requests_per_sec"]))')
hwm=$(awk '/VmHWM/{print $2}' /proc/"$pid"/status)
thp=$(awk '/AnonHugePages/{print $2}' /proc/"$pid"/smaps_rollup)
stop_member
max_anon=$(sort -n "$work/anon" | tail -1)
echo "$(basename "$oxcd_bin") $* req/s=$rps VmHWM=$((hwm / 1024))MiB" \
  "max RssAnon=$((max_anon / 1024))MiB AnonHugePages=$((thp / 1024))MiB"
