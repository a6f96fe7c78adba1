# Sourced by the bench scripts: one member of etcd or oxcd on free loopback
# ports, its data and log under $work (the caller makes $work).
#   start_member KIND BINARY [FLAG...]  sets $port (client) and $pid; waits
#                                       until it answers `endpoint health`
#                                       (MEMBER_START_TRIES x 0.1 s, default 100)
#   stop_member                         stops it (SIGTERM) and waits
# The EXIT trap stops a member still running and removes $work.

pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_member() {
  local kind=$1 bin=$2 peer
  shift 2
  port=$(free_port); peer=$(free_port)
  rm -rf "$work/$kind"
  "$bin" --name=bench --data-dir="$work/$kind" \
    --listen-client-urls=http://127.0.0.1:$port --advertise-client-urls=http://127.0.0.1:$port \
    --listen-peer-urls=http://127.0.0.1:$peer --initial-advertise-peer-urls=http://127.0.0.1:$peer \
    --initial-cluster=bench=http://127.0.0.1:$peer "$@" >"$work/$kind.log" 2>&1 &
  pid=$!
  for _ in $(seq "${MEMBER_START_TRIES:-100}"); do
    etcdctl --endpoints=127.0.0.1:$port endpoint health >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "$kind did not start" >&2; tail "$work/$kind.log" >&2; exit 1
}

stop_member() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
