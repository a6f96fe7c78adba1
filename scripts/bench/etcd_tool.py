"""etcd's own load tool (`benchmark`, etcd 3.4.23's tools/benchmark) as a second load
generator for scripts/bench-vs-etcd.sh (`--tool etcd-benchmark`).

The tool runs a fixed number of requests (`--total`), not for a fixed time, and prints a
text report; this module turns a standard load into the tool's arguments and its report
into the JSON fields oxcd-bench writes (requests, errors, requests_per_sec, latency_ms), so
report.py renders both tools' runs alike. Loads the tool has no command for are left out.
"""

import re

# Requests per run, about 10 s of the slower server on a 2-core machine: etcd's tool has no
# --duration. `--total-scale` in run.py multiplies them.
TOTALS = {
    "put-1c": 10000,
    "put-1000c": 150000,
    "range-l-1000c": 200000,
    "range-s-1000c": 300000,
    "txn-put-100c": 100000,
}

# The standard loads in the tool's own words (same clients, connections, key and value sizes
# and key space as oxcd-bench's version in loads.py).
_ARGS = {
    "put-1c": ["--clients", "1", "--conns", "1", "put", "--key-size", "8", "--val-size",
               "256", "--key-space-size", "100000", "--sequential-keys"],
    "put-1000c": ["--clients", "1000", "--conns", "100", "put", "--key-size", "8",
                  "--val-size", "256", "--key-space-size", "100000"],
    "range-l-1000c": ["--clients", "1000", "--conns", "100", "range", "rangekey",
                      "--consistency", "l"],
    "range-s-1000c": ["--clients", "1000", "--conns", "100", "range", "rangekey",
                      "--consistency", "s"],
    "txn-put-100c": ["--clients", "100", "--conns", "10", "txn-put", "--key-size", "8",
                     "--val-size", "256", "--key-space-size", "100000"],
}

SUPPORTED = tuple(_ARGS)


def args_for(load_name, total_scale=1.0):
    """The tool's arguments after the global flags, or None when it has no such load."""
    args = _ARGS.get(load_name)
    if args is None:
        return None
    total = max(1, int(TOTALS[load_name] * total_scale))
    return list(args) + ["--total", str(total)]


# With --precise the tool prints Go's %g: "0.000512 secs", "5.12e-05 secs".
_NUM = r"([0-9.]+(?:e[-+]?[0-9]+)?)"
_SECS = _NUM + r" secs"


def parse(text):
    """The report's figures as oxcd-bench's JSON fields, or None when there is no summary."""
    rps = re.search(r"Requests/sec:\s*" + _NUM, text)
    total = re.search(r"Total:\s*" + _SECS, text)
    if rps is None or total is None:
        return None
    lat = {}
    for name, label in (("max", "Slowest"), ("avg", "Average")):
        m = re.search(label + r":\s*" + _SECS, text)
        if m:
            lat[name] = float(m.group(1)) * 1000.0
    for pct, name in (("50", "p50"), ("90", "p90"), ("99", "p99"), ("99.9", "p999")):
        m = re.search(r"^\s*" + re.escape(pct) + r"% in " + _SECS, text, re.M)
        if m:
            lat[name] = float(m.group(1)) * 1000.0
    errors = 0
    dist = text.split("Error distribution:", 1)
    if len(dist) == 2:
        errors = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", dist[1], re.M))
    seconds = float(total.group(1))
    requests_per_sec = float(rps.group(1))
    return {
        "tool": "etcd-benchmark",
        "requests": int(round(requests_per_sec * seconds)),
        "errors": errors,
        "elapsed_seconds": seconds,
        "requests_per_sec": requests_per_sec,
        "latency_ms": lat,
    }


_SAMPLE = """
Summary:
  Total:\t10.0000 secs.
  Slowest:\t0.2000 secs.
  Fastest:\t5.12e-05 secs.
  Average:\t0.0500 secs.
  Stddev:\t0.0100 secs.
  Requests/sec:\t2000.0000

Response time histogram:
  0.0010 [1]\t|

Latency distribution:
  10% in 0.0100 secs.
  50% in 0.0400 secs.
  90% in 0.0800 secs.
  99% in 0.1500 secs.
  99.9% in 0.1900 secs.

Error distribution:
  [3]\tcontext deadline exceeded
  [2]\tetcdserver: too many requests
"""


def _self_test():
    got = parse(_SAMPLE)
    assert got["requests"] == 20000 and got["errors"] == 5, got
    assert got["latency_ms"] == {"max": 200.0, "avg": 50.0, "p50": 40.0, "p90": 80.0,
                                 "p99": 150.0, "p999": 190.0}, got
    assert parse("no summary") is None
    assert args_for("mixed-90r") is None
    assert args_for("put-1c", 0.5)[-2:] == ["--total", "5000"]


if __name__ == "__main__":
    _self_test()
    print("ok")
