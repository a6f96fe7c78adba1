#!/usr/bin/env python3
"""Renders the results of scripts/bench-vs-etcd.sh from its raw JSON directory.

    python3 scripts/bench/report.py docs/bench/raw [--out docs/bench/results.md]
                                                   [--chart docs/bench/chart.svg]

Reads raw/meta.json and raw/<load>.r<round>.<server>.json, prints the summary table, and
writes the Markdown results and the SVG chart (defaults: results.md and chart.svg in the
parent directory of the raw directory). Python 3 standard library only.
"""

import argparse
import json
import os
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in scripts/bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import svgchart  # noqa: E402

SERVERS = ("etcd", "oxcd")


# ---------------------------------------------------------------------------- loading

def load_raw(raw_dir):
    meta_path = os.path.join(raw_dir, "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    runs = []
    for name in sorted(os.listdir(raw_dir)):
        if name.endswith(".json") and name != "meta.json":
            with open(os.path.join(raw_dir, name)) as f:
                runs.append(json.load(f))
    order = {l["name"]: i for i, l in enumerate(meta.get("loads", []))}
    runs.sort(key=lambda r: (order.get(r["load"], len(order)), r["load"], r["round"],
                             SERVERS.index(r["server"]) if r["server"] in SERVERS else 9))
    return meta, runs


def _get(rec, *path):
    cur = rec
    for p in path:
        if not isinstance(cur, dict) or cur.get(p) is None:
            return None
        cur = cur[p]
    return cur


def is_watch(load):
    """A watch-latency load: its own JSON schema and its own table."""
    return load.get("kind") == "watch"


def summarize(meta, runs):
    """One row per request load (in the order of meta['loads']): per server, the
    medians/maxima. Watch loads are summarized by summarize_watch."""
    rows = []
    for load in meta["loads"]:
        if is_watch(load):
            continue
        row = {"load": load["name"], "title": load["title"], "bench_args": load["bench_args"],
               "setup": load.get("setup"), "before": load.get("before")}
        for s in SERVERS:
            mine = [r for r in runs if r["load"] == load["name"] and r["server"] == s]
            ok = [r for r in mine if r.get("ok")]
            rps = [_get(r, "bench", "requests_per_sec") for r in ok]
            rps = [x for x in rps if x is not None]
            p99 = [_get(r, "bench", "latency_ms", "p99") for r in ok]
            p99 = [x for x in p99 if x is not None]
            rss = [r["peak_rss_kb"] for r in ok if r.get("peak_rss_kb") is not None]
            ddir = [r["data_dir_bytes"] for r in ok if r.get("data_dir_bytes") is not None]
            errs = sum(_get(r, "bench", "errors") or 0 for r in ok)
            reqs = sum(_get(r, "bench", "requests") or 0 for r in ok)
            row[s] = {
                "runs": len(mine),
                "ok_runs": len(ok),
                "failed_runs": len(mine) - len(ok),
                "rps": statistics.median(rps) if rps else None,
                "rps_min": min(rps) if rps else None,
                "rps_max": max(rps) if rps else None,
                "p99": statistics.median(p99) if p99 else None,
                "p99_min": min(p99) if p99 else None,
                "p99_max": max(p99) if p99 else None,
                "rss_kb": max(rss) if rss else None,
                "data_bytes": statistics.median(ddir) if ddir else None,
                "errors": errs,
                "requests": reqs,
            }
        row["rps_ratio"] = _ratio(row["oxcd"]["rps"], row["etcd"]["rps"])
        row["p99_ratio"] = _ratio(row["oxcd"]["p99"], row["etcd"]["p99"])
        rows.append(row)
    return rows


def summarize_watch(meta, runs):
    """One row per watch-latency load: per server, medians over the rounds of the event
    latency percentiles and the watch creation time, the largest sampled peak RSS, and the
    events missing (summed)."""
    rows = []
    for load in meta["loads"]:
        if not is_watch(load):
            continue
        row = {"load": load["name"], "title": load["title"], "bench_args": load["bench_args"],
               "setup": load.get("setup"), "kind": "watch",
               "server_pid": load.get("server_pid")}
        for s in SERVERS:
            mine = [r for r in runs if r["load"] == load["name"] and r["server"] == s]
            ok = [r for r in mine if r.get("ok")]

            def med(*path):
                xs = [_get(r, "bench", *path) for r in ok]
                xs = [x for x in xs if x is not None]
                return statistics.median(xs) if xs else None

            rss = [_get(r, "bench", "rss_peak_mib") for r in ok]
            rss = [x for x in rss if x is not None]
            after = [_get(r, "bench", "rss_after_watch_mib") for r in ok]
            after = [x for x in after if x is not None]
            # A failed run may still have its report (e.g. events missing).
            missing = sum(_get(r, "bench", "events_missing") or 0 for r in mine)
            row[s] = {
                "runs": len(mine),
                "ok_runs": len(ok),
                "failed_runs": len(mine) - len(ok),
                "watchers": med("watchers"),
                "p50": med("latency_ms", "p50"),
                "p99": med("latency_ms", "p99"),
                "send_p50": med("latency_from_send_ms", "p50"),
                "send_p99": med("latency_from_send_ms", "p99"),
                "create_s": med("create_seconds"),
                "rss_peak_mib": max(rss) if rss else None,
                "rss_after_watch_mib": max(after) if after else None,
                "missing": missing,
                "errors": sum(_get(r, "bench", "put_errors") or 0 for r in ok),
            }
        for k in ("p50", "p99", "send_p50", "send_p99", "create_s", "rss_peak_mib"):
            row[k + "_ratio"] = _ratio(row["oxcd"][k], row["etcd"][k])
        rows.append(row)
    return rows


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# ---------------------------------------------------------------------------- formatting

def f_rps(x):
    return "–" if x is None else "{:,.0f}".format(x)


def f_ms(x):
    if x is None:
        return "–"
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def f_ratio(x):
    return "–" if x is None else "%.2f×" % x


def f_mib_kb(kb):
    return "–" if kb is None else f_mib_b(kb * 1024)


def f_mib_b(b):
    if b is None:
        return "–"
    mib = b / 1048576.0
    return "%.0f MiB" % mib if mib >= 100 else "%.1f MiB" % mib


def f_errors(row):
    parts = []
    for s in SERVERS:
        e = row[s]["errors"]
        failed = row[s]["failed_runs"]
        text = "{:,}".format(e)
        if failed:
            text += " (%d run%s failed)" % (failed, "" if failed == 1 else "s")
        parts.append(text)
    return " / ".join(parts)


def machine_line(meta):
    m = meta.get("machine", {})
    mem = m.get("mem_total_kb")
    mem_s = "%.1f GiB RAM" % (mem / 1048576.0) if mem else "? RAM"
    date = (meta.get("started") or "")[:10]
    return "%s cores (nproc), %s, %s, Linux %s, %s" % (
        m.get("nproc", "?"), m.get("cpu_model") or "unknown CPU", mem_s, m.get("kernel", "?"),
        date)


def members(meta):
    """Members per cluster (config.members; 1 for raw dirs written before it existed)."""
    return meta.get("config", {}).get("members") or 1


def members_line(meta):
    """The header line of a multi-member run (None for single-member clusters)."""
    n = members(meta)
    if n == 1:
        return None
    return ("%d members per server, all on this machine: every run starts a fresh %d-member "
            "cluster of one server kind (`--initial-cluster` with all %d, "
            "`--initial-cluster-state new`, one `--initial-cluster-token` per run) and "
            "oxcd-bench spreads its connections round-robin over all %d client addresses, "
            "the leader's first (a one-connection load talks to the leader only)"
            % (n, n, n, n))


def labels(meta):
    return {s: meta.get("servers", {}).get(s, {}).get("label", s) for s in SERVERS}


SUMMARY_HEAD = ["load", "{etcd} req/s", "{oxcd} req/s", "{oxcd}/{etcd}", "{etcd} p99 ms",
                "{oxcd} p99 ms", "p99 {oxcd}/{etcd}", "{etcd} peak RSS", "{oxcd} peak RSS",
                "{etcd} data dir", "{oxcd} data dir", "errors {etcd} / {oxcd}"]


def summary_cells(rows, lab):
    head = [h.format(**lab) for h in SUMMARY_HEAD]
    body = []
    for r in rows:
        e, o = r["etcd"], r["oxcd"]
        body.append([r["load"], f_rps(e["rps"]), f_rps(o["rps"]), f_ratio(r["rps_ratio"]),
                     f_ms(e["p99"]), f_ms(o["p99"]), f_ratio(r["p99_ratio"]),
                     f_mib_kb(e["rss_kb"]), f_mib_kb(o["rss_kb"]), f_mib_b(e["data_bytes"]),
                     f_mib_b(o["data_bytes"]), f_errors(r)])
    return head, body


RUN_HEAD = ["load", "round", "server", "req/s", "ok requests", "errors", "avg ms", "p50 ms",
            "p90 ms", "p99 ms", "p99.9 ms", "max ms", "peak RSS", "data dir", "server CPU s",
            "bench CPU s", "other CPU s", "server up s", "note"]


def run_cells(runs, lab):
    body = []
    for r in runs:
        lat = _get(r, "bench", "latency_ms") or {}
        note = ""
        if r.get("ok") and (other_cores(r) or 0) > BUSY_CORES:
            note = "busy machine (%.1f other cores)" % other_cores(r)
        if not r.get("ok"):
            note = "FAILED: " + (r.get("error") or "?").splitlines()[0][:120]
        elif (_get(r, "bench", "errors") or 0) > 0:
            msgs = _get(r, "bench", "errors_by_message") or {}
            if msgs:
                top = max(msgs.items(), key=lambda kv: kv[1])
                note = ("top error: %s (%s)" % (top[0][:80], "{:,}".format(top[1]))
                        + ("; " + note if note else ""))
        if r.get("ok") and _get(r, "bench", "grant_seconds") is not None:
            grant = "%s leases granted in %.2f s" % ("{:,}".format(r["bench"].get("leases", 0)),
                                                    r["bench"]["grant_seconds"])
            note = grant + ("; " + note if note else "")
        cpu = _get(r, "server_cpu_s")
        body.append([
            r["load"], str(r["round"]), lab.get(r["server"], r["server"]),
            f_rps(_get(r, "bench", "requests_per_sec")),
            "–" if _get(r, "bench", "requests") is None else "{:,}".format(r["bench"]["requests"]),
            "–" if _get(r, "bench", "errors") is None else "{:,}".format(r["bench"]["errors"]),
            f_ms(lat.get("avg")), f_ms(lat.get("p50")), f_ms(lat.get("p90")), f_ms(lat.get("p99")),
            f_ms(lat.get("p999")), f_ms(lat.get("max")), f_mib_kb(r.get("peak_rss_kb")),
            f_mib_b(r.get("data_dir_bytes")), _f1(cpu), _f1(_get(r, "bench_run", "cpu_s")),
            _f1(r.get("other_cpu_s")),
            "%.1f" % r["total_s"] if r.get("total_s") is not None else "–", note])
    return RUN_HEAD, body


BUSY_CORES = 0.25  # other processes using more than this many cores make a run suspect


def other_cores(r):
    """Cores that processes other than the server and oxcd-bench used during the run."""
    other, dur = r.get("other_cpu_s"), _get(r, "bench", "duration_s")
    if other is None or not dur:
        return None
    return other / dur


def busy_runs(runs):
    return [r for r in runs if r.get("ok") and (other_cores(r) or 0) > BUSY_CORES]


def busy_warning(runs):
    busy = busy_runs(runs)
    if not busy:
        return None
    worst = max(other_cores(r) for r in busy)
    return ("%d of %d runs ran on a busy machine: other processes used more than %.2f of a "
            "core during the timed run (up to %.1f cores). Their numbers are suspect; re-run "
            "on a quiet machine." % (len(busy), sum(1 for r in runs if r.get("ok")),
                                     BUSY_CORES, worst))


WATCH_HEAD = ["load", "{etcd} p50 ms", "{oxcd} p50 ms", "p50 {oxcd}/{etcd}", "{etcd} p99 ms",
              "{oxcd} p99 ms", "p99 {oxcd}/{etcd}", "{etcd} peak RSS", "{oxcd} peak RSS",
              "RSS {oxcd}/{etcd}", "{etcd} create s", "{oxcd} create s",
              "missing events {etcd} / {oxcd}"]


def f_mib(mib):
    return "–" if mib is None else f_mib_b(mib * 1048576)


def f_secs(x):
    return "–" if x is None else "%.2f" % x


def f_missing(row):
    parts = []
    for s in SERVERS:
        text = "{:,}".format(row[s]["missing"])
        failed = row[s]["failed_runs"]
        if failed:
            text += " (%d run%s failed)" % (failed, "" if failed == 1 else "s")
        parts.append(text)
    return " / ".join(parts)


def watch_cells(rows, lab):
    head = [h.format(**lab) for h in WATCH_HEAD]
    body = []
    for r in rows:
        e, o = r["etcd"], r["oxcd"]
        body.append([r["load"], f_ms(e["p50"]), f_ms(o["p50"]), f_ratio(r["p50_ratio"]),
                     f_ms(e["p99"]), f_ms(o["p99"]), f_ratio(r["p99_ratio"]),
                     f_mib(e["rss_peak_mib"]), f_mib(o["rss_peak_mib"]),
                     f_ratio(r["rss_peak_mib_ratio"]), f_secs(e["create_s"]),
                     f_secs(o["create_s"]), f_missing(r)])
    return head, body


WATCH_RUN_HEAD = ["load", "round", "server", "watchers", "create s", "puts", "events expected",
                  "events received", "missing", "before ack", "p50 ms", "p90 ms", "p99 ms",
                  "p99.9 ms", "max ms", "from send p50 ms", "from send p99 ms",
                  "RSS after watch", "peak RSS (sampled)", "VmHWM", "server CPU s",
                  "bench CPU s", "note"]


def _count(x):
    return "–" if x is None else "{:,}".format(x)


def watch_run_cells(runs, lab):
    body = []
    for r in runs:
        b = r.get("bench") or {}
        lat = b.get("latency_ms") or {}
        send = b.get("latency_from_send_ms") or {}
        note = ""
        if r.get("ok") and (other_cores(r) or 0) > BUSY_CORES:
            note = "busy machine (%.1f other cores)" % other_cores(r)
        if not r.get("ok"):
            note = "FAILED: " + (r.get("error") or "?").splitlines()[0][:120]
        body.append([
            r["load"], str(r["round"]), lab.get(r["server"], r["server"]),
            _count(b.get("watchers")), f_secs(b.get("create_seconds")), _count(b.get("puts")),
            _count(b.get("events_expected")), _count(b.get("events_received")),
            _count(b.get("events_missing")), _count(b.get("events_before_ack")),
            f_ms(lat.get("p50")), f_ms(lat.get("p90")), f_ms(lat.get("p99")),
            f_ms(lat.get("p999")), f_ms(lat.get("max")), f_ms(send.get("p50")),
            f_ms(send.get("p99")), f_mib(b.get("rss_after_watch_mib")),
            f_mib(b.get("rss_peak_mib")), f_mib_kb(r.get("peak_rss_kb")),
            _f1(_get(r, "server_cpu_s")), _f1(_get(r, "bench_run", "cpu_s")), note])
    return WATCH_RUN_HEAD, body


def _f1(x):
    return "–" if x is None else "%.1f" % x


def md_escape(cell):
    return str(cell).replace("|", "\\|").replace("\n", " ")


def md_table(head, body, right_from=1, right_to=None):
    right_to = len(head) if right_to is None else right_to
    out = ["| " + " | ".join(md_escape(h) for h in head) + " |",
           "| " + " | ".join("---:" if right_from <= i < right_to else "---"
                             for i in range(len(head))) + " |"]
    for row in body:
        out.append("| " + " | ".join(md_escape(c) for c in row) + " |")
    return "\n".join(out)


def text_table(head, body):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = []
    for i, row in enumerate([head] + body):
        cells = [str(c).ljust(w) if j == 0 else str(c).rjust(w)
                 for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(meta, runs, rows, chart_rel, raw_shown="docs/bench/raw", doc_link=None,
                    watch_rows=()):
    lab = labels(meta)
    watch_names = {r["load"] for r in watch_rows}
    watch_runs = [r for r in runs if r["load"] in watch_names]
    runs_all, runs = runs, [r for r in runs if r["load"] not in watch_names]
    cfg = meta.get("config", {})
    out = []
    out.append("# oxcd vs etcd: benchmark results")
    out.append("")
    out.append("Generated by `scripts/bench-vs-etcd.sh` (re-render with "
               "`python3 scripts/bench/report.py %s`). How to read it: %s."
               % (raw_shown, "[docs/benchmarks.md](%s)" % doc_link if doc_link
                  else "docs/benchmarks.md"))
    out.append("")
    out.append("- **Machine:** " + machine_line(meta))
    for s in SERVERS:
        srv = meta.get("servers", {}).get(s, {})
        out.append("- **%s:** `%s` %s%s" % (lab[s], srv.get("bin", "?"), srv.get("version", ""),
                                             ", binary sha256 %s…" % srv["sha256"]
                                             if srv.get("sha256") else ""))
    out.append("- **Command:** `%s`" % meta.get("command", "?"))
    if cfg.get("tool") == "etcd-benchmark":
        out.append("- **Load generator:** etcd 3.4.23's own `benchmark` (tools/benchmark, "
                   "built by scripts/bench/etcd-benchmark.sh), a fixed number of requests "
                   "per run (`--total`, below), not a fixed time; its figures are read from "
                   "its text report")
    if members_line(meta):
        out.append("- **Cluster:** " + members_line(meta))
    if meta.get("config", {}).get("tls"):
        out.append("- **TLS:** both servers serve clients over https only, with "
                   "`--client-cert-auth`; the same CA, server and client certificates "
                   "(ECDSA P-256, made with openssl) for both; oxcd-bench and etcdctl "
                   "present the client certificate")
    if meta.get("loadavg_at_start") is not None:
        out.append("- **1-minute load average** before the first run: %.2f (on %s cores; well "
                   "above 0 means something else was using the CPU; see also \"other CPU s\" "
                   "under Every run)" % (meta["loadavg_at_start"],
                                         meta.get("machine", {}).get("nproc", "?")))
    n = members(meta)
    fresh = ("a fresh server and data dir" if n == 1
             else "a fresh %d-member cluster and data dirs" % n)
    out.append("- **Runs:** %s round(s) of %s per load and server, order etcd, %s, etcd, %s, …; "
               "every run on %s; total wall time %s"
               % (cfg.get("rounds", "?"),
                  "a fixed request count" if cfg.get("tool") == "etcd-benchmark"
                  else cfg.get("duration", "?"), lab["oxcd"], lab["oxcd"],
                  fresh, _fmt_wall(meta.get("wall_s"))))
    out.append("")
    if n == 1:
        sizes = ("Peak RSS is the largest VmHWM of the server over the rounds; data dir is the "
                 "median `du -sb` of the data dir at the end of the run.")
    else:
        sizes = ("Peak RSS is the largest, over the rounds, of the sum of the %d members' "
                 "VmHWM; data dir is the median of the sum of the members' `du -sb` at the end "
                 "of the run; server CPU s (under Every run) is summed over the members too."
                 % n)
    out.append("req/s and p99 are medians over the rounds; ratios are %s/%s (req/s: higher is "
               "better for %s; p99: lower is better for %s). %s Errors are summed over the "
               "rounds." % (lab["oxcd"], lab["etcd"], lab["oxcd"], lab["oxcd"], sizes))
    out.append("")
    warning = busy_warning(runs_all)
    if warning:
        out.append("> **Warning:** " + warning)
        out.append("")
    if rows:
        head, body = summary_cells(rows, lab)
        out.append(md_table(head, body))
        out.append("")
    if chart_rel:
        out.append("![requests/s and p99 latency per load](%s)" % chart_rel)
        out.append("")
    if watch_rows:
        out.append("## Watch latency")
        out.append("")
        out.append("Latency is from a put's answer arriving at the load generator to each "
                   "watcher's event for it arriving (0 when the event came first), over every "
                   "delivered event; p50 and p99 are medians over the rounds. Peak RSS is the "
                   "largest VmRSS of the server read after the watches were created and every "
                   "100 ms while the puts ran (`rss_peak_mib`), over the rounds; create s is the median time to open the "
                   "streams and create every watch. Missing events are summed over the rounds "
                   "(any makes the run fail).")
        out.append("")
        head, body = watch_cells(watch_rows, lab)
        out.append(md_table(head, body))
        out.append("")
    out.append("## Loads")
    out.append("")
    if cfg.get("tool") == "etcd-benchmark":
        out.append("Every load runs etcd's `benchmark <args>` (argv as in each run's raw JSON):")
        out.append("")
        out.append(md_table(["load", "what", "benchmark args", "before the timed run (not timed)"],
                            [[r["load"], r["title"], "`%s`" % _tool_argv(runs, r["load"]),
                              _setup_text(r["setup"], r.get("before"))] for r in rows],
                            right_from=99))
    else:
        out.append("Every load runs `oxcd-bench --endpoints %s --json --no-progress "
                   "--duration %s <args>`." % ("<server>" if n == 1
                                               else "<the %d members, leader first>" % n,
                                               cfg.get("duration", "?")))
        out.append("")
        out.append(md_table(["load", "what", "oxcd-bench args",
                             "before the timed run (not timed)"],
                            [[r["load"], r["title"], "`%s`" % _args_text(r),
                              _setup_text(r["setup"], r.get("before"))]
                             for r in list(rows) + list(watch_rows)],
                            right_from=99))
    out.append("")
    out.append("## Every run")
    out.append("")
    if runs:
        out.append("<details><summary>%d runs (click to expand)</summary>" % len(runs))
        out.append("")
        head, body = run_cells(runs, lab)
        out.append(md_table(head, body, right_from=3, right_to=len(head) - 1))
        out.append("")
        out.append("</details>")
        out.append("")
    if watch_runs:
        out.append("<details><summary>%d watch-latency runs (click to expand)</summary>"
                   % len(watch_runs))
        out.append("")
        head, body = watch_run_cells(watch_runs, lab)
        out.append(md_table(head, body, right_from=3, right_to=len(head) - 1))
        out.append("")
        out.append("</details>")
        out.append("")
    failed = [r for r in runs_all if not r.get("ok")]
    if failed:
        out.append("## Failed runs")
        out.append("")
        for r in failed:
            out.append("- `%s` round %d, %s: %s" % (r["load"], r["round"],
                                                     lab.get(r["server"], r["server"]),
                                                     md_escape((r.get("error") or "?")[:300])))
        out.append("")
        out.append("The raw files in `raw/` hold the server log tails.")
        out.append("")
    return "\n".join(out)


def _fmt_wall(s):
    if s is None:
        return "?"
    s = int(s)
    return "%dm%02ds" % (s // 60, s % 60) if s >= 60 else "%ds" % s


def _args_text(row):
    """The load's oxcd-bench arguments as shown in the Loads table."""
    args = list(row["bench_args"])
    if is_watch(row) or row.get("server_pid"):
        args += ["--server-pid", "PID"]
    return " ".join(args)


def _setup_text(setup, before=None):
    if before:
        return before if not setup else "%s; %s" % (_setup_text(setup), before)
    if not setup:
        return "nothing"
    kind, arg = setup
    if kind == "key":
        return "`%s` written once (256-byte value) with etcdctl" % arg
    if kind == "prepopulate":
        return ("keys 0..%d written with `oxcd-bench --total %d --sequential-keys "
                "--clients 100 --conns 10 put`" % (arg - 1, arg))
    return str(setup)


# ---------------------------------------------------------------------------- entry points

def _tool_argv(runs, load):
    """The load generator's argv of the load's first run that has one."""
    for r in runs:
        argv = _get(r, "bench_run", "argv")
        if r["load"] == load and argv:
            return " ".join(argv)
    return "?"


def render(raw_dir, out_md, out_svg, print_table=True):
    meta, runs = load_raw(raw_dir)
    rows = summarize(meta, runs)
    watch_rows = summarize_watch(meta, runs)
    lab = labels(meta)
    chart_rel = None
    if out_svg and rows:
        os.makedirs(os.path.dirname(os.path.abspath(out_svg)), exist_ok=True)
        svg = svgchart.chart(rows, lab, subtitle="%s; %s%s × %s per load and server; "
                             "bars: median, whiskers: min–max" % (
                                 machine_line(meta),
                                 "" if members(meta) == 1
                                 else "%d-member clusters; " % members(meta),
                                 meta.get("config", {}).get("rounds", "?"),
                                 meta.get("config", {}).get("duration", "?")))
        with open(out_svg, "w") as f:
            f.write(svg)
        chart_rel = os.path.relpath(os.path.abspath(out_svg),
                                    os.path.dirname(os.path.abspath(out_md)))
    repo = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    raw_abs = os.path.abspath(raw_dir)
    raw_shown = os.path.relpath(raw_abs, repo) if raw_abs.startswith(repo + os.sep) else raw_dir
    out_abs = os.path.abspath(out_md)
    doc_link = None
    if out_abs.startswith(repo + os.sep):
        doc_link = os.path.relpath(os.path.join(repo, "docs", "benchmarks.md"),
                                   os.path.dirname(out_abs))
    md = render_markdown(meta, runs, rows, chart_rel, raw_shown, doc_link, watch_rows)
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    with open(out_md, "w") as f:
        f.write(md)
    if print_table:
        print()
        print("Machine: " + machine_line(meta))
        print("Command: " + meta.get("command", "?"))
        if members(meta) > 1:
            print("Members: %d per server (sums over the members: peak RSS, data dir, server "
                  "CPU)" % members(meta))
        print()
        if rows:
            head, body = summary_cells(rows, lab)
            print(text_table(head, body))
            print()
        if watch_rows:
            head, body = watch_cells(watch_rows, lab)
            print(text_table(head, body))
            print()
        if busy_warning(runs):
            print("WARNING: " + busy_warning(runs))
            print()
        print("Markdown: %s" % out_md)
        if chart_rel:
            print("Chart:    %s" % out_svg)
        print("Raw JSON: %s" % raw_dir)
    failed = sum(1 for r in runs if not r.get("ok"))
    if failed:
        print("%d run(s) failed; see the Markdown's 'Failed runs'." % failed, file=sys.stderr)
    return 1 if failed else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("raw_dir", help="directory with meta.json and one JSON file per run")
    ap.add_argument("--out", help="Markdown output (default: results.md beside raw_dir)")
    ap.add_argument("--chart", help="SVG output (default: chart.svg beside raw_dir)")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="do not print the table")
    a = ap.parse_args(argv)
    parent = os.path.dirname(os.path.abspath(a.raw_dir.rstrip("/")))
    out = a.out or os.path.join(parent, "results.md")
    chart = None if a.no_chart else (a.chart or os.path.join(parent, "chart.svg"))
    return render(a.raw_dir, out, chart, print_table=not a.quiet)


if __name__ == "__main__":
    sys.exit(main())
