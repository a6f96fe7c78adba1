#!/usr/bin/env bash
# Instructions the server executes per request, counted by callgrind: a
# measure of CPU work that does not move with this VM's speed (there are no
# hardware counters here, and throughput and CPU seconds swing by 10% from
# one minute to the next). One fresh member runs under
# `valgrind --tool=callgrind` with instrumentation off; a warm-up of WARMUP
# requests, then instrumentation on for exactly TOTAL requests, then off.
# Prints requests, instructions (Ir) and Ir per request; the callgrind
# output is kept in the work dir with --keep (for callgrind_annotate).
#
# usage: scripts/bench/instructions-per-request.sh OXCD_BIN BENCH_BIN [--keep] [LOAD...]
#   LOAD defaults to: --clients 100 --conns 10 --key-space-size 100000 put
#   env: TOTAL (default 5000), WARMUP (default 1000)
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
oxcd_bin=$1; bench_bin=$2; shift 2
keep=false
if [ "${1:-}" = "--keep" ]; then keep=true; shift; fi
load=("$@")
[ ${#load[@]} -gt 0 ] || load=(--clients 100 --conns 10 --key-space-size 100000 put)
total=${TOTAL:-5000}; warmup=${WARMUP:-1000}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }

work=$(mktemp -d /tmp/oxcd-ir.XXXXXX)
. "$here/scripts/bench/member.sh"
if $keep; then trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; echo "kept $work" >&2' EXIT; fi

# start_member runs the binary it is given: a wrapper puts valgrind in front.
cat >"$work/under-callgrind" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$work/callgrind.out \
  "$oxcd_bin" "\$@" 2>>$work/valgrind.log
EOF
chmod +x "$work/under-callgrind"
# Under valgrind the member takes a while to answer its first health check.
MEMBER_START_TRIES=600 start_member oxcd "$work/under-callgrind"

run() { "$bench_bin" --endpoints 127.0.0.1:$port --no-progress --json --total "$1" "${load[@]}"; }
run "$warmup" >/dev/null
callgrind_control -i on "$pid" >/dev/null 2>&1
requests=$(run "$total" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["requests"] - j["errors"])')
callgrind_control -i off "$pid" >/dev/null 2>&1
stop_member
ir=$(awk '/^totals:/ {sum += $2} END {if (NR) print sum}' "$work/callgrind.out")
[ -n "$ir" ] || { echo "no callgrind summary" >&2; tail "$work/valgrind.log" >&2; exit 1; }
echo "$(basename "$oxcd_bin") ${load[*]}: requests=$requests Ir=$ir Ir/request=$((ir / requests))"
