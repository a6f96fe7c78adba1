#!/usr/bin/env bash
# Defragmentation under write load, oxcd against etcd, the same steps on both:
#   1. fill: 16384 keys x 64 KiB (1 GiB live), then 8192 of them again and a
#      compaction, so the file holds about 1.5 GiB with 0.5 GiB free pages;
#   2. put load (256-byte values, --clients, random keys) for PHASE seconds:
#      "before";
#   3. the same load for 2 x PHASE seconds with `etcdctl defrag` started
#      2 s in: "during" (the defrag's own time is recorded);
#   4. the same load for PHASE seconds again: "after".
# Each phase's latency percentiles, errors and the DB size before/after go to
# OUT (Markdown) and OUT.json (raw oxcd-bench reports).
#
# usage: scripts/bench/defrag.sh [--oxcd-bin B] [--etcd-bin B] [--bench-bin B]
#        [--clients N] [--phase SECONDS] [--out FILE] [--only etcd|oxcd]
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
oxcd_bin=$here/target/release/oxcd
bench_bin=$here/target/release/oxcd-bench
etcd_bin=$(command -v etcd || true)
clients=1000
phase=10
out=$here/docs/bench/defrag/results.md
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --oxcd-bin) oxcd_bin=$2; shift 2 ;;
    --etcd-bin) etcd_bin=$2; shift 2 ;;
    --bench-bin) bench_bin=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --phase) phase=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v etcdctl >/dev/null || { echo "etcdctl is needed (apt-get install etcd-client)" >&2; exit 2; }

work=$(mktemp -d /tmp/oxcd-defrag-bench.XXXXXX)
mkdir -p "$(dirname "$out")"
json=$out.json
: > "$json"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # kind binary
  local kind=$1 bin=$2
  port=$(free_port); peer=$(free_port)
  rm -rf "$work/$kind"
  "$bin" --name=bench --data-dir="$work/$kind" \
    --listen-client-urls=http://127.0.0.1:$port --advertise-client-urls=http://127.0.0.1:$port \
    --listen-peer-urls=http://127.0.0.1:$peer --initial-advertise-peer-urls=http://127.0.0.1:$peer \
    --initial-cluster=bench=http://127.0.0.1:$peer --quota-backend-bytes=$((8 * 1024 * 1024 * 1024)) \
    >"$work/$kind.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    etcdctl --endpoints=127.0.0.1:$port endpoint health >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "$kind did not start" >&2; tail "$work/$kind.log" >&2; exit 1
}

db_size() {
  etcdctl --endpoints=127.0.0.1:$port endpoint status -w json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])'
}

bench() { # label duration
  "$bench_bin" --endpoints=127.0.0.1:$port --conns=100 --clients="$clients" --no-progress --json \
    --duration="$2s" --key-space-size=100000 --key-size=8 --val-size=256 put
}

run_one() { # kind binary
  local kind=$1
  start "$kind" "$2"
  echo "== $kind: filling" >&2
  "$bench_bin" --endpoints=127.0.0.1:$port --conns=8 --clients=32 --no-progress --json \
    --total=16384 --sequential-keys --key-space-size=16384 --key-size=16 --val-size=65536 put >/dev/null
  "$bench_bin" --endpoints=127.0.0.1:$port --conns=8 --clients=32 --no-progress --json \
    --total=8192 --sequential-keys --key-space-size=16384 --key-size=16 --val-size=65536 put >/dev/null
  rev=$(etcdctl --endpoints=127.0.0.1:$port endpoint status -w json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
  etcdctl --endpoints=127.0.0.1:$port compact "$rev" --physical >/dev/null
  size_filled=$(db_size)
  echo "== $kind: before" >&2
  before=$(bench before "$phase")
  echo "== $kind: during" >&2
  bench during $((phase * 2)) > "$work/during.json" &
  bench_pid=$!
  sleep 2
  size_before=$(db_size)
  t0=$(date +%s.%N)
  etcdctl --endpoints=127.0.0.1:$port --command-timeout=600s defrag >/dev/null
  t1=$(date +%s.%N)
  size_after=$(db_size)
  wait "$bench_pid"
  during=$(cat "$work/during.json")
  echo "== $kind: after" >&2
  after=$(bench after "$phase")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  # oxcd logs how long writes were held for the swap.
  server_says=$(grep -i "finished defragmenting" "$work/$kind.log" | tail -1 | cut -c1-400 || true)
  echo "$server_says" >&2
  python3 - "$kind" "$size_filled" "$size_before" "$size_after" "$t0" "$t1" "$before" "$during" "$after" "$server_says" >>"$json" <<'PY'
import json, sys
kind, filled, sb, sa, t0, t1 = sys.argv[1:7]
phases = [json.loads(a) for a in sys.argv[7:10]]
print(json.dumps({"server": kind, "db_size_filled": int(filled), "db_size_before_defrag": int(sb),
                  "db_size_after_defrag": int(sa), "defrag_seconds": float(t1) - float(t0),
                  "server_log": sys.argv[10],
                  "phases": dict(zip(["before", "during", "after"], phases))}))
PY
}

[ "$only" != oxcd ] && { [ -n "$etcd_bin" ] || { echo "etcd not found (apt-get install etcd-server)" >&2; exit 2; }; run_one etcd "$etcd_bin"; }
[ "$only" != etcd ] && run_one oxcd "$oxcd_bin"

python3 - "$json" "$clients" "$phase" >"$out" <<'PY'
import json, sys
path, clients, phase = sys.argv[1], sys.argv[2], sys.argv[3]
runs = [json.loads(l) for l in open(path) if l.strip()]
mb = lambda b: f"{b / 1e6:,.0f} MB"
print(f"# Defragmentation under put load ({clients} clients, 256-byte values)\n")
print("Generated by `scripts/bench/defrag.sh`; raw reports in results.md.json.\n")
print("| server | DB size before defrag | after | defrag took | phase | puts/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |")
print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in runs:
    for name in ["before", "during", "after"]:
        p = r["phases"][name]; l = p["latency_ms"]
        first = name == "before"
        print(f"| {r['server'] if first else ''} | {mb(r['db_size_before_defrag']) if first else ''} | "
              f"{mb(r['db_size_after_defrag']) if first else ''} | {r['defrag_seconds']:.2f} s |"
              f" {name} | {p['requests_per_sec']:,.0f} | {l['p50']:.1f} | {l['p99']:.1f} | {l['p999']:.1f} | {l['max']:.1f} | {p['errors']} |"
              if first else
              f"| | | | | {name} | {p['requests_per_sec']:,.0f} | {l['p50']:.1f} | {l['p99']:.1f} | {l['p999']:.1f} | {l['max']:.1f} | {p['errors']} |")
PY
cat "$out"
