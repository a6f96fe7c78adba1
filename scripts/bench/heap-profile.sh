#!/usr/bin/env bash
# A heap profile of one oxcd member under one oxcd-bench load: the server runs
# under heaptrack (which hooks malloc, so the binary must be built with
# `--features system-allocator`), the load runs for its duration, the server is
# stopped with SIGTERM and heaptrack_print writes the peak's biggest consumers.
#
# usage: scripts/bench/heap-profile.sh OXCD_BIN BENCH_BIN OUT_DIR [oxcd-bench args...]
#   default load: put-1000c (--clients 1000 --conns 100 --key-space-size 100000
#   --duration 10s put)
# Writes OUT_DIR/heaptrack.*.zst, OUT_DIR/peak.txt (heaptrack_print) and
# OUT_DIR/rss.txt (RssAnon/RssFile of the server every 200 ms).
set -euo pipefail

[ $# -ge 3 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
oxcd_bin=$(realpath "$1"); bench_bin=$(realpath "$2"); out=$3; shift 3
[ $# -gt 0 ] || set -- --clients 1000 --conns 100 --key-space-size 100000 --duration 10s put
command -v heaptrack >/dev/null || { echo "heaptrack is needed (apt-get install heaptrack)" >&2; exit 2; }
mkdir -p "$out"; out=$(realpath "$out")

work=$(mktemp -d /tmp/oxcd-heap.XXXXXX)
. "$here/scripts/bench/member.sh"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; cleanup' EXIT

# start_member runs the binary it is given: a wrapper puts heaptrack in front.
cat >"$work/under-heaptrack" <<EOF
#!/bin/sh
cd "$out" && exec heaptrack -o "$out/heaptrack.oxcd" "$oxcd_bin" "\$@"
EOF
chmod +x "$work/under-heaptrack"
MEMBER_START_TRIES=300 start_member oxcd "$work/under-heaptrack"
# $pid is heaptrack's own script; the server is the process running the
# binary itself.
for p in $(pgrep -f -- "--data-dir=$work/oxcd"); do
  [ "$(readlink /proc/"$p"/exe)" = "$oxcd_bin" ] && server=$p
done
[ -n "$server" ] || { echo "server did not start" >&2; cat "$work/oxcd.log" >&2; exit 1; }
echo "server pid $server" >&2

: >"$out/rss.txt"
(while kill -0 "$server" 2>/dev/null; do
   grep -E "VmHWM|RssAnon|RssFile" /proc/"$server"/status | tr '\n' ' ' >>"$out/rss.txt" || true
   echo >>"$out/rss.txt"; sleep 0.2
 done) &
sampler=$!

"$bench_bin" --endpoints 127.0.0.1:$port --no-progress "$@" | tail -15
kill "$server"
for _ in $(seq 600); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
server=""
wait "$pid" 2>/dev/null || true; pid=""   # heaptrack writes its file as it exits
wait "$sampler" 2>/dev/null || true
sleep 2
profile=$(ls -t "$out"/heaptrack.oxcd*.zst | head -1)
heaptrack_print --print-peaks=yes --print-allocators=no --print-temporary=no --print-leaks=no \
  --peak-limit 15 --merge-backtraces=no "$profile" >"$out/peak.txt"
grep -E "^peak heap memory|^peak RSS|^total memory leaked|^calls to allocation" "$out/peak.txt" >&2 || true
tail -3 "$out/rss.txt" >&2
