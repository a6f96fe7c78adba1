"""The standard loads of scripts/bench-vs-etcd.sh.

etcd's published benchmark set (Documentation/op-guide/performance.md: put and range with
1 and 1000 clients), scaled to a 2-core machine, plus a txn-put and a mixed read/write load.
Every load uses 8-byte keys and 256-byte values.

A load is a dict:
  name         short id used in file names and tables
  title        one line for the tables
  bench_args   oxcd-bench arguments: global flags first, then the subcommand and its own
               arguments; the runner puts --endpoints, --json, --no-progress and --duration
               (or --total) before them
  setup        what is done on the fresh server before the timed run:
                 None                  nothing
                 ("key", KEY)          KEY is written once with etcdctl (256-byte value)
                 ("prepopulate", N)    keys 0..N-1 are written with `oxcd-bench put --total N
                                       --sequential-keys --key-space-size N` (not timed)
  kind         (optional) "watch" for a watch-latency load: its JSON has its own schema and
               its own table in the results; absent for the request loads
  server_pid   (optional) True: the runner appends `--server-pid PID` (the server's pid)
  before       (optional) what oxcd-bench itself does before its clock starts, for the
               tables (e.g. lease-keepalive grants its leases); the report's figures are
               the same as a request load's
  quick        (optional) with --quick, these keys replace the load's own (fewer watchers)
"""

KEY_SIZE = 8
VAL_SIZE = 256
KEY_SPACE = 100000
RANGE_KEY = "rangekey"  # 8 bytes, like the load's keys

_KV = ["--key-size", str(KEY_SIZE), "--val-size", str(VAL_SIZE)]

STANDARD_LOADS = [
    {
        "name": "put-1c",
        "title": "put, 1 client, 1 conn",
        "bench_args": ["--clients", "1", "--conns", "1", "--key-space-size", str(KEY_SPACE),
                       "--sequential-keys"] + _KV + ["put"],
        "setup": None,
    },
    {
        "name": "put-1000c",
        "title": "put, 1000 clients, 100 conns",
        "bench_args": ["--clients", "1000", "--conns", "100", "--key-space-size",
                       str(KEY_SPACE)] + _KV + ["put"],
        "setup": None,
    },
    {
        "name": "range-l-1000c",
        "title": "range 1 key, linearizable, 1000 clients, 100 conns",
        "bench_args": ["--consistency", "l", "--clients", "1000", "--conns", "100",
                       "range", RANGE_KEY],
        "setup": ("key", RANGE_KEY),
    },
    {
        "name": "range-s-1000c",
        "title": "range 1 key, serializable, 1000 clients, 100 conns",
        "bench_args": ["--consistency", "s", "--clients", "1000", "--conns", "100",
                       "range", RANGE_KEY],
        "setup": ("key", RANGE_KEY),
    },
    {
        "name": "txn-put-100c",
        "title": "txn-put, 100 clients, 10 conns",
        "bench_args": ["--clients", "100", "--conns", "10", "--key-space-size",
                       str(KEY_SPACE)] + _KV + ["txn-put"],
        "setup": None,
    },
    {
        "name": "mixed-90r",
        "title": "90% range / 10% put, 100 clients, 10 conns, 100k keys pre-written",
        "bench_args": ["--clients", "100", "--conns", "10", "--key-space-size",
                       str(KEY_SPACE)] + _KV + ["mixed", "--read-ratio", "0.9"],
        "setup": ("prepopulate", KEY_SPACE),
    },
]

# lease-keepalive: 10,000 leases (TTL 60 s) granted by oxcd-bench before its clock starts
# (and revoked after it), then 100 clients, one LeaseKeepAlive stream each over 10
# connections, renewing their 100 leases round-robin with one request in flight per stream.
# With --quick: 1,000 leases, 20 clients over 2 connections.
LEASES = 10000
LEASE_TTL = 60
LEASE_CLIENTS = 100
LEASE_CONNS = 10


def _lease_args(leases, clients, conns):
    return ["--clients", str(clients), "--conns", str(conns), "lease-keepalive", "--leases",
            str(leases), "--lease-ttl", str(LEASE_TTL), "--window", "1"]


def _lease_title(leases, clients, conns):
    return ("lease keep-alive: {:,} leases, {} clients (1 stream each), {} conns, "
            "1 request in flight per stream".format(leases, clients, conns))


STANDARD_LOADS.append({
    "name": "lease-keepalive",
    "title": _lease_title(LEASES, LEASE_CLIENTS, LEASE_CONNS),
    "bench_args": _lease_args(LEASES, LEASE_CLIENTS, LEASE_CONNS),
    "setup": None,
    "before": "oxcd-bench grants the leases (reported as grant_seconds) and opens the streams "
              "before its clock starts, and revokes the leases after it",
    "quick": {
        "title": _lease_title(1000, 20, 2),
        "bench_args": _lease_args(1000, 20, 2),
    },
})

# watch-latency: 10,000 watchers, 100 per key, in blocks of 100 per stream (so every put
# reaches 100 watchers on 100 different streams), 100 streams over 10 connections, one
# paced put loop at 100 puts/s. With --quick: 1,000 watchers over 10 streams.
WATCHERS = 10000
WATCH_KEYS = 100
WATCH_STREAMS = 100
WATCH_CONNS = 10
PUT_RATE = 100


def _watch_args(watchers, streams, conns):
    return (["--conns", str(conns)] + _KV
            + ["watch-latency", "--watchers", str(watchers), "--watch-keys", str(WATCH_KEYS),
               "--streams", str(streams), "--put-rate", str(PUT_RATE)])


def _watch_title(watchers, streams, conns):
    return ("watch latency: {:,} watchers on {} keys, {} streams over {} conns, "
            "{} puts/s".format(watchers, WATCH_KEYS, streams, conns, PUT_RATE))


STANDARD_LOADS.append({
    "name": "watch-latency",
    "title": _watch_title(WATCHERS, WATCH_STREAMS, WATCH_CONNS),
    "kind": "watch",
    "server_pid": True,
    "bench_args": _watch_args(WATCHERS, WATCH_STREAMS, WATCH_CONNS),
    "setup": None,
    "quick": {
        "title": _watch_title(1000, 10, 2),
        "bench_args": _watch_args(1000, 10, 2),
    },
})

# kubernetes: the requests of Kubernetes' apiserver (oxcd-bench kubernetes, see
# docs/bench-tool.md): lists paginated by 500 (the apiserver's default page), counts,
# gets, optimistic-concurrency creates,
# updates and deletes on 1,000 pods, leased events, compaction every 10 s after a CAS on
# compact_rev_key, and 10 watch streams over /registry/ with prev_kv, progress_notify and
# RequestProgress every second. 100 clients over 10 conns. Not recorded (--record is for
# the robustness tests).
STANDARD_LOADS.append({
    "name": "kubernetes",
    "title": "Kubernetes apiserver traffic: 1,000 pods, 100 clients, 10 conns, 10 watchers",
    "bench_args": ["--clients", "100", "--conns", "10", "kubernetes", "--objects", "1000",
                   "--page", "500", "--watchers", "10", "--compact-every", "10s"],
    "setup": None,
})

LOAD_NAMES = [l["name"] for l in STANDARD_LOADS]

# authenticate: logins per second (a bcrypt check each, at the servers' default cost 10),
# 10 clients over 2 connections. Only with --auth; not in the default set.
EXTRA_LOADS = [{
    "name": "authenticate-10c",
    "title": "Authenticate (bcrypt cost 10), 10 clients, 2 conns",
    "bench_args": ["--clients", "10", "--conns", "2", "authenticate"],
    "setup": None,
    "needs_auth": True,
}]
ALL_NAMES = LOAD_NAMES + [l["name"] for l in EXTRA_LOADS]


def is_watch(load):
    """True for a watch-latency load (its own JSON schema and table)."""
    return load.get("kind") == "watch"


def for_run(load, quick):
    """The load as run: with --quick, its "quick" keys replace its own."""
    run = {k: v for k, v in load.items() if k != "quick"}
    if quick and load.get("quick"):
        run.update(load["quick"])
    return run


def by_name(name):
    for load in STANDARD_LOADS + EXTRA_LOADS:
        if load["name"] == name:
            return load
    raise KeyError(name)
