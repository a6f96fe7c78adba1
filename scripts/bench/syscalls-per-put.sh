#!/usr/bin/env bash
# System calls per put on a 3-member cluster: starts three members of the
# given server binary on tmpfs (127.0.0.1, ports 1237x-3237x), runs a
# single-client put load against the leader for 5 s, and counts with
# `strace -c -f` for 3 s on the leader and on one follower. Counts are
# divided by that member's fdatasync calls (one WAL sync per put).
#
#   scripts/bench/syscalls-per-put.sh [target/release/oxcd]
#
# Needs strace, etcdctl and target/release/oxcd-bench. The figures do not
# swing with the machine's load the way rates do (docs/benchmarks.md).
set -euo pipefail
bin=${1:-target/release/oxcd}
bench=${OXCD_BENCH:-target/release/oxcd-bench}
dir=$(mktemp -d /dev/shm/oxcd-syscalls-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

cluster="a=http://127.0.0.1:12380,b=http://127.0.0.1:22380,c=http://127.0.0.1:32380"
i=0
for name in a b c; do
    i=$((i + 1))
    "$bin" --name "$name" --data-dir "$dir/$name" \
        --listen-client-urls "http://127.0.0.1:${i}2379" --advertise-client-urls "http://127.0.0.1:${i}2379" \
        --listen-peer-urls "http://127.0.0.1:${i}2380" --initial-advertise-peer-urls "http://127.0.0.1:${i}2380" \
        --initial-cluster "$cluster" --initial-cluster-token syscalls --initial-cluster-state new \
        >"$dir/$name.log" 2>&1 &
    pids+=($!)
done
endpoints=127.0.0.1:12379,127.0.0.1:22379,127.0.0.1:32379
sleep 0.5
for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a member exited (ports in use?); see $dir/*.log" >&2; exit 1; }
done
for _ in $(seq 100); do
    leader=$(ETCDCTL_API=3 etcdctl --endpoints=$endpoints endpoint status 2>/dev/null |
        awk -F', ' '$5=="true"{print $1}')
    [ -n "$leader" ] && break
    sleep 0.1
done
[ -n "$leader" ] || { echo "no leader" >&2; exit 1; }
# Every member serves (each published itself) and the leader takes writes.
for ep in ${endpoints//,/ }; do
    ETCDCTL_API=3 etcdctl --endpoints="$ep" --command-timeout=10s get probe >/dev/null
done
ETCDCTL_API=3 etcdctl --endpoints="$leader" put probe ready >/dev/null
port=${leader##*:}
leader_pid=${pids[$((${port:0:1} - 1))]}
follower_pid=${pids[$((${port:0:1} % 3))]}

"$bench" --endpoints "$leader" --duration 5s --clients 1 --conns 1 --key-size 8 \
    --val-size 256 --sequential-keys --no-progress put >/dev/null 2>&1 &
load=$!
sleep 1
timeout 3 strace -c -f -p "$follower_pid" -o "$dir/follower.strace" >/dev/null 2>&1 &
tracer=$!
timeout 3 strace -c -f -p "$leader_pid" -o "$dir/leader.strace" >/dev/null 2>&1 || true
wait "$tracer" "$load" || true
for role in leader follower; do
    awk -v role="$role" '
        NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ { calls[$NF] = $4; all += $4 }
        END {
            n = calls["fdatasync"]; if (n == 0) { print role ": no fdatasync seen"; exit }
            printf "%s (per put, %d puts):", role, n
            for (c in calls) if (calls[c] / n >= 0.05) printf " %s %.1f", c, calls[c] / n
            printf " | all %.1f\n", all / n
        }' "$dir/$role.strace"
done
