#!/usr/bin/env bash
# Benchmarks oxcd against the real etcd (3.4.23 from Debian) with oxcd-bench.
#
#   scripts/bench-vs-etcd.sh                    # every standard load, 3 rounds of 10s each
#   scripts/bench-vs-etcd.sh --quick            # smoke run: 1 round of 3s
#   scripts/bench-vs-etcd.sh --loads put-1c,range-s-1000c --rounds 5 --duration 20s
#   scripts/bench-vs-etcd.sh --loads watch-latency   # only the watch load (10,000 watchers)
#   scripts/bench-vs-etcd.sh --loads lease-keepalive # only lease renewals (10,000 leases)
#   scripts/bench-vs-etcd.sh --members 3 --loads put-1c,put-1000c  # 3-member clusters
#   scripts/bench-vs-etcd.sh --tls --loads put-1000c,range-l-1000c  # clients over TLS
#   scripts/bench-vs-etcd.sh --tool etcd-benchmark --loads put-1c,range-l-1000c  # etcd's own tool
#   scripts/bench-vs-etcd.sh --list-loads
#
# Steps:
#   1. installs etcd-server and etcd-client with apt when etcd/etcdctl are missing
#      (`--skip-apt` or OXCD_SKIP_APT=1 skips this);
#   2. cargo build --release --bin oxcd --bin oxcd-bench (`--no-build` skips this; a
#      binary given with --oxcd-bin/--bench-bin is not built);
#   3. python3 scripts/bench/run.py with all the arguments: for each load and round, etcd
#      then oxcd, each on a fresh server and data dir on free 127.0.0.1 ports, one timed
#      oxcd-bench run each; then the table on stdout, docs/bench/results.md,
#      docs/bench/chart.svg and docs/bench/raw/*.json (the raw JSON of every run).
#      The watch-latency load (`oxcd-bench watch-latency`: 10,000 watchers on 100 keys,
#      100 puts/s; 1,000 watchers with --quick) gets the server's pid (--server-pid, for
#      its RSS) and its own table: event latency p50/p99, peak RSS, watch creation time.
#      The lease-keepalive load (`oxcd-bench lease-keepalive`: 10,000 leases renewed by 100
#      clients over 10 conns; 1,000 leases and 20 clients with --quick) is in the main
#      table (renewals/s, p99); its lease grant time is in the log and under "Every run".
#      With --members N, every run starts N members of the server (one cluster, all on this
#      machine) and oxcd-bench gets all their client addresses, the leader's first; peak
#      RSS, server CPU and data dir sizes are then sums over the members.
#      With --tls, both servers serve clients over https only with --client-cert-auth,
#      using one CA and one server and client certificate made with openssl for the run.
#
# Re-render the Markdown and chart from the raw JSON: python3 scripts/bench/report.py docs/bench/raw
# Options (see --help): --rounds N --duration D --quick --loads A,B --out FILE --raw-dir DIR
#   --chart FILE --prepopulate N --members N --bench-bin P --oxcd-bin P --etcd-bin P --etcdctl-bin P
#   --keep-tmp --no-build --skip-apt --list-loads --tls --auth simple|jwt
#   --tool oxcd-bench|etcd-benchmark --etcd-benchmark-bin P --total-scale X
# Exit status: 0 when every run succeeded, 1 when some run failed, 2 on a usage/setup error.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

no_build=0
skip_apt="${OXCD_SKIP_APT:-0}"
build_oxcd=1
build_bench=1
info_only=0
for arg in "$@"; do
    case "$arg" in
        --no-build) no_build=1 ;;
        --skip-apt) skip_apt=1 ;;
        --oxcd-bin | --oxcd-bin=*) build_oxcd=0 ;;
        --bench-bin | --bench-bin=*) build_bench=0 ;;
        -h | --help | --list-loads) info_only=1 ;;
    esac
done

if [ "$info_only" = 1 ]; then
    OXCD_BENCH_PROG="scripts/bench-vs-etcd.sh" exec python3 scripts/bench/run.py "$@"
fi

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    if [ "$skip_apt" = 1 ]; then
        echo "etcd/etcdctl missing and --skip-apt given; pass --etcd-bin/--etcdctl-bin" >&2
    else
        sudo=""
        if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
        echo "==> installing etcd-server etcd-client" >&2
        $sudo apt-get update >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y etcd-server etcd-client >&2
    fi
fi

if [ "$no_build" = 0 ]; then
    bins=()
    if [ "$build_oxcd" = 1 ]; then bins+=(--bin oxcd); fi
    if [ "$build_bench" = 1 ]; then bins+=(--bin oxcd-bench); fi
    if [ "${#bins[@]}" -gt 0 ]; then
        echo "==> cargo build --release ${bins[*]}" >&2
        cargo build --release "${bins[@]}" >&2
    fi
fi

export OXCD_BENCH_INVOKED_AS="scripts/bench-vs-etcd.sh"
export OXCD_BENCH_PROG="scripts/bench-vs-etcd.sh"
exec python3 scripts/bench/run.py "$@"
