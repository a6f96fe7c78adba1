#!/usr/bin/env bash
# Builds etcd's own load tool, `benchmark` (etcd 3.4.23's tools/benchmark), from Debian's
# source package, offline from Debian's Go packages, so that oxcd's ratios against etcd can
# be checked with a tool the project did not write:
#
#   scripts/bench/etcd-benchmark.sh          # prints the binary's path (builds it once)
#   scripts/bench-vs-etcd.sh --tool etcd-benchmark --loads put-1c,range-l-1000c
#
# Steps (each skipped when already done):
#   1. apt: golang-go, golang-etcd-server-dev (etcd's Go library source, with every
#      dependency as golang-*-dev), and the two the benchmark adds
#      (golang-gopkg-cheggaaa-pb.v1-dev, golang-github-spf13-cobra-dev);
#   2. etcd 3.4.23's Debian source package (tools/ is not in golang-etcd-server-dev),
#      fetched with a private deb-src list; the system's apt configuration is untouched;
#   3. a GOPATH of symlinks to /usr/share/gocode plus tools/benchmark, then `go build` in
#      GOPATH mode with the network off.
# Output: $ETCD_BENCHMARK_HOME/benchmark (default /tmp/oxcd-etcd-benchmark/benchmark).
# Nothing of etcd's is committed to this repository.
set -euo pipefail

home="${ETCD_BENCHMARK_HOME:-/tmp/oxcd-etcd-benchmark}"
version=3.4.23
bin="$home/benchmark"
if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi
mkdir -p "$home"

need=()
for p in golang-go golang-etcd-server-dev golang-gopkg-cheggaaa-pb.v1-dev golang-github-spf13-cobra-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    apt-get install -y -q "${need[@]}" >&2
fi

src="$home/src/etcd-$version"
if [ ! -d "$src/tools/benchmark" ]; then
    mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | cut -d' ' -f1)
    mirror="${mirror:-http://deb.debian.org/debian}"
    mkdir -p "$home/apt/parts" "$home/apt/lists/partial" "$home/src"
    cat >"$home/apt/parts/src.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_opts=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$home/apt/parts"
        -o "Dir::State::Lists=$home/apt/lists")
    apt-get "${apt_opts[@]}" update -q >&2
    (cd "$home/src" && apt-get "${apt_opts[@]}" source --download-only "etcd=$version-4" >&2 &&
        tar xzf "etcd_$version.orig.tar.gz")
fi

gopath="$home/gopath"
rm -rf "$gopath"
mkdir -p "$gopath/src/go.etcd.io/etcd/tools"
for d in /usr/share/gocode/src/*; do
    [ "$(basename "$d")" = go.etcd.io ] || ln -s "$d" "$gopath/src/$(basename "$d")"
done
for d in /usr/share/gocode/src/go.etcd.io/*; do
    [ "$(basename "$d")" = etcd ] || ln -s "$d" "$gopath/src/go.etcd.io/$(basename "$d")"
done
for d in /usr/share/gocode/src/go.etcd.io/etcd/*; do
    ln -s "$d" "$gopath/src/go.etcd.io/etcd/$(basename "$d")"
done
ln -s "$src/tools/benchmark" "$gopath/src/go.etcd.io/etcd/tools/benchmark"

echo "building etcd $version tools/benchmark" >&2
(cd "$gopath/src/go.etcd.io/etcd/tools/benchmark" &&
    GOPATH="$gopath" GO111MODULE=off GOCACHE="$home/gocache" GOFLAGS= GOPROXY=off \
        go build -o "$bin" .)
echo "$bin"
