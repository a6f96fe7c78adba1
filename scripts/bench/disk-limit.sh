#!/usr/bin/env bash
# The fastest one durable write at a time can be on this machine: what `put` with one
# client and one connection could reach if the server cost nothing.
#
#   scripts/bench/disk-limit.sh [DIR]     # DIR: where the data dir would be (default /tmp)
#
# 1. fio: 4 KiB writes, each followed by fdatasync, in place into a 16 MiB file laid out
#    with zeros first (as oxcd's WAL segments are), one at a time, 20 s; the sync latency.
# 2. scripts/bench/loopback_rtt.c (built with cc): a 300-byte request/answer over
#    127.0.0.1 between two threads, 50,000 times.
# limit = 1 / (fdatasync p50 + 2 x round trip p50): the client's request and answer, and
# the hand-over to the thread that syncs and back. Prints the figures and the limit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
dir="${1:-/tmp}"
command -v fio >/dev/null || apt-get install -y -q fio >&2
work=$(mktemp -d "$dir/oxcd-disk-limit.XXXXXX")
trap 'rm -rf "$work"' EXIT
fio --name=wal --filename="$work/segment" --rw=write --bs=4k --size=16m --overwrite=1 \
    --fdatasync=1 --ioengine=sync --time_based --runtime=20 --output-format=json \
    >"$work/fio.json" 2>/dev/null
cc -O2 -pthread -o "$work/rtt" loopback_rtt.c
"$work/rtt" >"$work/rtt.txt"
python3 - "$work/fio.json" "$work/rtt.txt" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
sync = job["sync"]["lat_ns"]
p50 = sync["percentile"]["50.000000"] / 1000
p99 = sync["percentile"]["99.000000"] / 1000
words = open(sys.argv[2]).read().split()
rtt50, rtt99 = float(words[2]), float(words[4])
print("fdatasync after a 4 KiB write: p50 %.1f us, p99 %.1f us, mean %.1f us (%d writes, %.0f/s)"
      % (p50, p99, sync["mean"] / 1000, job["write"]["total_ios"], job["write"]["iops"]))
print("loopback TCP round trip (300 B): p50 %.1f us, p99 %.1f us" % (rtt50, rtt99))
per = p50 + 2 * rtt50
print("one durable write at a time: %.0f us -> limit %.0f writes/s; 80%% = %.0f/s"
      % (per, 1e6 / per, 0.8e6 / per))
PY
