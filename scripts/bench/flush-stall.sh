#!/bin/bash
# Serializable 1-client Range latency while a 1-client put load runs: ranges never touch the
# MVCC writer, so range latency spikes are stalls of the system arbiter (base: the LMDB
# flush of an inline batch ran there once a second before issue 11).
# usage: scripts/bench/flush-stall.sh LABEL OXCD_BIN ROUND
#   writes the range run's JSON to ${OUT_DIR:-/tmp}/flush-LABEL-rROUND.json;
#   BENCH_BIN defaults to target/release/oxcd-bench. Needs etcdctl (one put).
set -e
label=$1; bin=$2; round=$3
B=${BENCH_BIN:-target/release/oxcd-bench}
d=$(mktemp -d); cp=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'); pp=$((cp+1))
$bin --data-dir $d/data --listen-client-urls http://127.0.0.1:$cp --advertise-client-urls http://127.0.0.1:$cp \
  --listen-peer-urls http://127.0.0.1:$pp --initial-advertise-peer-urls http://127.0.0.1:$pp \
  --initial-cluster default=http://127.0.0.1:$pp > $d/log 2>&1 & srv=$!
sleep 1.5
E=127.0.0.1:$cp
ETCDCTL_API=3 etcdctl --endpoints=$E put rangekey v > /dev/null
$B --endpoints $E --no-progress --duration 12s --clients 1 --conns 1 --key-space-size 100000 --sequential-keys --val-size 256 put > /dev/null 2>&1 &
pl=$!
sleep 1
$B --endpoints $E --json --no-progress --duration 10s --clients 1 --conns 1 --consistency s range rangekey > "${OUT_DIR:-/tmp}/flush-$label-r$round.json"
wait $pl; kill -TERM $srv; wait $srv || true; rm -rf $d
