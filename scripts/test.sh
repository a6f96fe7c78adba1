#!/usr/bin/env bash
# The one command that runs every check and test of oxcd on a fresh Debian machine:
#   1. installs missing apt packages (etcd-server etcd-client golang-etcd-server-dev
#      protobuf-compiler), running `apt-get update` once, only when something is missing,
#      and the Python package prometheus_client (the Prometheus text parser the
#      /metrics test reads with) when python3 cannot import it;
#   2. cargo fmt --all -- --check
#   3. cargo clippy --all-targets --features failpoints -- -D warnings
#   4. python3 scripts/check-proto.py (when that file exists) and
#      python3 scripts/check-layers.py (no import circles; api -> actors -> storage only)
#   5. OXCD_REQUIRE_ETCD=1 cargo test --all-targets --features failpoints (debug build;
#      the differential tests compare oxcd with the real etcd and fail, rather than skip,
#      if etcd is missing; the failpoints let tests/robustness.rs crash members at chosen
#      instructions)
# Prints a summary and exits non-zero if any step failed. Every step runs even after a
# failure, so one run shows everything that is wrong.
#
# Environment: extra arguments are passed to `cargo test` (e.g. a test name filter);
# OXCD_SKIP_APT=1 skips the package step. With CI=true, incremental compilation is off
# (a fresh clone never reuses it, and it would add gigabytes to target/).
set -uo pipefail

if [ "${CI:-}" = "true" ]; then
    export CARGO_INCREMENTAL=0
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

APT_PACKAGES=(etcd-server etcd-client golang-etcd-server-dev protobuf-compiler curl dnsmasq-base)

declare -a STEP_NAMES=()
declare -a STEP_RESULTS=()
declare -a STEP_TIMES=()
FAILED=0

run_step() {
    local name="$1"
    shift
    echo
    echo "==> ${name}: $*"
    local start=$SECONDS
    "$@"
    local rc=$?
    STEP_NAMES+=("$name")
    STEP_TIMES+=("$((SECONDS - start))s")
    if [ "$rc" -eq 0 ]; then
        STEP_RESULTS+=("ok")
    else
        STEP_RESULTS+=("FAILED (exit $rc)")
        FAILED=1
    fi
    return 0
}

install_packages() {
    if [ "${OXCD_SKIP_APT:-0}" = "1" ]; then
        echo "OXCD_SKIP_APT=1: not installing packages"
        return 0
    fi
    local missing=()
    local p
    for p in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all packages present: ${APT_PACKAGES[*]}"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "missing packages ${missing[*]} and not root (no sudo)" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update -q || return 1
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
}

check_proto() {
    if [ -f scripts/check-proto.py ]; then
        python3 scripts/check-proto.py
    else
        echo "scripts/check-proto.py not present: skipped"
    fi
}

TOTAL_START=$SECONDS

install_python_packages() {
    if python3 -c "import prometheus_client" 2>/dev/null; then
        echo "python: prometheus_client present"
        return 0
    fi
    python3 -m pip install --quiet --disable-pip-version-check prometheus_client
}

run_step "packages" install_packages
run_step "python" install_python_packages
run_step "fmt" cargo fmt --all -- --check
run_step "clippy" cargo clippy --all-targets --features failpoints -- -D warnings
run_step "proto" check_proto
run_step "layers" python3 scripts/check-layers.py
TEST_LOG="$(mktemp)"
trap 'rm -f "$TEST_LOG"' EXIT
run_cargo_test() {
    OXCD_REQUIRE_ETCD=1 cargo test --all-targets --features failpoints --no-fail-fast "$@" 2>&1 |
        tee "$TEST_LOG"
    return "${PIPESTATUS[0]}"
}
run_step "test" run_cargo_test "$@"

# One closing line over every test binary (cargo prints one per binary).
count_tests() {
    awk -v what="$1" '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ "^" what) n += $i } END { print n + 0 }' "$TEST_LOG"
}
TESTS_PASSED=$(count_tests passed)
TESTS_FAILED=$(count_tests failed)

echo
echo "==================== summary ===================="
for i in "${!STEP_NAMES[@]}"; do
    printf '  %-9s %-20s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_TIMES[$i]}"
done
echo "  total     $((SECONDS - TOTAL_START))s"
if [ "$FAILED" -ne 0 ]; then
    echo "RESULT: FAILED"
    echo "tests: ${TESTS_PASSED} passed, ${TESTS_FAILED} failed"
    exit 1
fi
echo "RESULT: all checks passed"
echo "tests: ${TESTS_PASSED} passed, ${TESTS_FAILED} failed"
