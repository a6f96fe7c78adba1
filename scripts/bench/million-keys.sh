#!/usr/bin/env bash
# Memory on a store of 1,000,000 keys with 256-byte values, oxcd against
# etcd, the same steps on both (issue 18's RSS target):
#   1. fill: 1,000,000 sequential keys (16 bytes), 256-byte values, with
#      --clients over --conns connections; the fill's throughput is kept;
#   2. peak RSS (VmHWM) and RSS after the fill, and the backend size;
#   3. a count of every key (`get "" --prefix --limit=1`), RSS again;
#   4. restart (SIGTERM, start again): time until it serves, RSS then.
# Results go to OUT (Markdown) and OUT.json.
#
# usage: scripts/bench/million-keys.sh [--oxcd-bin B] [--etcd-bin B]
#        [--bench-bin B] [--keys N] [--clients N] [--out FILE] [--only etcd|oxcd]
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
oxcd_bin=$here/target/release/oxcd
bench_bin=$here/target/release/oxcd-bench
etcd_bin=$(command -v etcd || true)
keys=1000000
clients=200
out=$here/docs/bench/million-keys/results.md
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --oxcd-bin) oxcd_bin=$2; shift 2 ;;
    --etcd-bin) etcd_bin=$2; shift 2 ;;
    --bench-bin) bench_bin=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v etcdctl >/dev/null || { echo "etcdctl is needed (apt-get install etcd-client)" >&2; exit 2; }

work=$(mktemp -d /tmp/oxcd-million.XXXXXX)
mkdir -p "$(dirname "$out")"
# shellcheck source=member.sh
. "$here/scripts/bench/member.sh"

kib() { awk -v f="$2:" '$1==f {print $2}' "/proc/$1/status"; }
db_size() { etcdctl --endpoints=127.0.0.1:$port endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])'; }

json_rows=()
run_kind() {
  local kind=$1 bin=$2 fill t0 t1 hwm rss anon file count_rss restart_ms restart_rss size count
  start_member "$kind" "$bin" --quota-backend-bytes=8589934592
  fill=$("$bench_bin" --endpoints=127.0.0.1:$port --clients "$clients" --conns $((clients / 10 > 0 ? clients / 10 : 1)) \
    --total "$keys" --key-space-size "$keys" --sequential-keys --key-size 16 --val-size 256 \
    --json --no-progress put)
  hwm=$(kib "$pid" VmHWM); rss=$(kib "$pid" VmRSS); size=$(db_size)
  anon=$(kib "$pid" RssAnon); file=$(kib "$pid" RssFile)
  count=$(etcdctl --endpoints=127.0.0.1:$port --command-timeout=120s get "" --prefix --keys-only --limit=1 -w json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
  count_rss=$(kib "$pid" VmRSS)
  stop_member
  t0=$(date +%s%N)
  "$bin" --name=bench --data-dir="$work/$kind" \
    --listen-client-urls=http://127.0.0.1:$port --advertise-client-urls=http://127.0.0.1:$port \
    --listen-peer-urls=http://127.0.0.1:$((port + 1)) --initial-advertise-peer-urls=http://127.0.0.1:$((port + 1)) \
    --initial-cluster=bench=http://127.0.0.1:$((port + 1)) --quota-backend-bytes=8589934592 >>"$work/$kind.log" 2>&1 &
  pid=$!
  until etcdctl --endpoints=127.0.0.1:$port --dial-timeout=1s get k >/dev/null 2>&1; do sleep 0.05; done
  t1=$(date +%s%N)
  restart_ms=$(((t1 - t0) / 1000000))
  restart_rss=$(kib "$pid" VmRSS)
  stop_member
  echo "$kind: peak ${hwm} KiB, after fill ${rss} KiB, after count ${count_rss} KiB, restart ${restart_ms} ms at ${restart_rss} KiB, db ${size} B, ${count} keys" >&2
  json_rows+=("$(python3 - "$kind" "$fill" "$hwm" "$rss" "$count_rss" "$restart_ms" "$restart_rss" "$size" "$count" "$anon" "$file" <<'PY'
import json, sys
kind, fill = sys.argv[1], json.loads(sys.argv[2])
hwm, rss, count_rss, restart_ms, restart_rss, size, count, anon, file = map(int, sys.argv[3:12])
print(json.dumps({"kind": kind, "fill": fill, "peak_kib": hwm, "rss_after_fill_kib": rss,
                  "rss_after_count_kib": count_rss, "restart_ms": restart_ms,
                  "rss_after_restart_kib": restart_rss, "db_bytes": size, "keys": count,
                  "rss_anon_after_fill_kib": anon, "rss_file_after_fill_kib": file}))
PY
)")
}

[ "$only" != oxcd ] && [ -n "$etcd_bin" ] && run_kind etcd "$etcd_bin"
[ "$only" != etcd ] && run_kind oxcd "$oxcd_bin"

printf '%s\n' "${json_rows[@]}" > "$out.json"
python3 - "$out.json" "$keys" "$clients" > "$out" <<'PY'
import json, sys
rows = {r["kind"]: r for r in map(json.loads, open(sys.argv[1]))}
keys, clients = sys.argv[2], sys.argv[3]
mib = lambda k: f"{k / 1024:,.0f} MiB"
print(f"# {int(keys):,} keys x 256-byte values ({clients} clients)\n")
print("| | " + " | ".join(rows) + (" | oxcd / etcd |" if len(rows) == 2 else " |"))
print("|---|" + "---|" * (len(rows) + (1 if len(rows) == 2 else 0)))
def line(name, fmt, key, ratio=True):
    vals = [r[key] if not callable(key) else key(r) for r in rows.values()]
    cells = [fmt(v) for v in vals]
    extra = f" {vals[1] / vals[0]:.2f}x |" if len(vals) == 2 and ratio and vals[0] else (" |" if len(vals) == 2 else "")
    print(f"| {name} | " + " | ".join(cells) + " |" + extra)
line("fill throughput (puts/s)", lambda v: f"{v:,.0f}", lambda r: r["fill"]["requests_per_sec"])
line("fill p99 (ms)", lambda v: f"{v:.1f}", lambda r: r["fill"]["latency_ms"]["p99"])
line("peak RSS (VmHWM)", mib, "peak_kib")
line("RSS after the fill", mib, "rss_after_fill_kib")
line("  of it anonymous (heap)", mib, "rss_anon_after_fill_kib")
line("  of it file pages (mmap of the backend)", mib, "rss_file_after_fill_kib")
line("RSS after a full count", mib, "rss_after_count_kib")
line("restart until serving (ms)", lambda v: f"{v:,}", "restart_ms")
line("RSS after restart", mib, "rss_after_restart_kib")
line("backend size", lambda v: f"{v / 1048576:,.0f} MiB", "db_bytes")
line("keys counted", lambda v: f"{v:,}", "keys", ratio=False)
PY
cat "$out"
