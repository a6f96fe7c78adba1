#!/usr/bin/env bash
# Boots a 3-member cluster from DNS SRV records (--discovery-srv) inside a
# network and mount namespace of its own: a private loopback, dnsmasq on
# 127.0.0.1:53 serving the records, and /etc/resolv.conf bind-mounted to
# point at it, so the servers resolve through the system resolver as they
# would in production. Run as: unshare --net --mount -- bash discovery_srv.sh
#
# Environment: SERVER (binary), ETCDCTL, WORK (scratch dir), SCHEME (http or
# https), SUFFIX (--discovery-srv-name, may be empty), and for https CA,
# CERT, KEY (peer TLS files).
# Prints "member NAME PEER_URL" lines (sorted), then "put ok" / "get VALUE",
# then "stray: EXIT-STATUS MESSAGE" for a member the records do not list.
set -euo pipefail

DOMAIN=example.test
ip link set lo up
printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf
# Names only DNS knows: nothing from the host's /etc/hosts.
: >"$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts

if [ "$SCHEME" = https ]; then service=_etcd-server-ssl; else service=_etcd-server; fi
[ -n "$SUFFIX" ] && service="$service-$SUFFIX"
records=()
for i in 1 2 3; do
    records+=("--host-record=m$i.$DOMAIN,127.0.0.1")
    records+=("--srv-host=$service._tcp.$DOMAIN,m$i.$DOMAIN,${i}2380")
done
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --local=/$DOMAIN/ --listen-address=127.0.0.1 \
    --bind-interfaces --port=53 --user=root --pid-file="$WORK/dnsmasq.pid" \
    --log-facility="$WORK/dnsmasq.log" "${records[@]}"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    kill "$(cat "$WORK/dnsmasq.pid")" 2>/dev/null || true
}
trap cleanup EXIT

member_flags() {
    local i=$1 name=$2
    echo "--name=$name --data-dir=$WORK/$name --discovery-srv=$DOMAIN"
    [ -n "$SUFFIX" ] && echo "--discovery-srv-name=$SUFFIX"
    echo "--listen-client-urls=http://127.0.0.1:${i}2379 --advertise-client-urls=http://127.0.0.1:${i}2379"
    echo "--listen-peer-urls=$SCHEME://127.0.0.1:${i}2380 --initial-advertise-peer-urls=$SCHEME://127.0.0.1:${i}2380"
    if [ "$SCHEME" = https ]; then
        echo "--peer-trusted-ca-file=$CA --peer-cert-file=$CERT --peer-key-file=$KEY --peer-client-cert-auth"
    fi
}

for i in 1 2 3; do
    # shellcheck disable=SC2046
    "$SERVER" $(member_flags "$i" "n$i") >"$WORK/n$i.log" 2>&1 &
    pids+=($!)
done

ctl() { "$ETCDCTL" --endpoints="http://127.0.0.1:${1}2379" --dial-timeout=2s --command-timeout=5s "${@:2}"; }

# Every member published its name once the list names all three.
listed=""
alive() { for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
for _ in $(seq 1 100); do
    alive || break
    listed=$(ctl 1 member list 2>/dev/null | awk -F', ' '{print "member " $3 " " $4}' | sort) || true
    if [ "$(printf '%s\n' "$listed" | grep -c '^member n[123] ')" = 3 ]; then break; fi
    sleep 0.3
done
printf '%s\n' "$listed"
ctl 2 put k from-srv >/dev/null && echo "put ok"
echo "get $(ctl 3 get k --print-value-only)"

# A fourth member that no record lists refuses to start.
set +e
"$SERVER" $(member_flags 4 n4) >"$WORK/n4.log" 2>&1 &
stray=$!
pids+=($stray)
for _ in $(seq 1 50); do kill -0 "$stray" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$stray" 2>/dev/null; then
    echo "stray: still running"
    exit 0
fi
wait "$stray"
[ $? -ne 0 ] && outcome=refused || outcome=exited-0
message=$(grep -o 'cannot find local etcd member "n4" in SRV records' "$WORK/n4.log" | head -1)
echo "stray: $outcome: $message"
