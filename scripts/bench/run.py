#!/usr/bin/env python3
"""Runs the standard loads against the real etcd and oxcd, A B A B..., and writes the raw
JSON of every run, the Markdown table and the SVG chart (through report.py).

Normally started by scripts/bench-vs-etcd.sh, which builds the binaries first; run
`python3 scripts/bench/run.py --help` for the options. Python 3 standard library only.

Each run: a fresh temp data dir, a freshly started server on free 127.0.0.1 ports with the
same flags for both servers (--name --data-dir --listen-client-urls --advertise-client-urls
--listen-peer-urls --initial-advertise-peer-urls --initial-cluster, nothing else), a wait
until `etcdctl get` succeeds, the load's setup, ONE timed oxcd-bench run with --json
--no-progress (plus --server-pid PID for loads that ask for it: watch-latency), then VmHWM
from /proc/PID/status and `du -sb` of the data dir, then SIGTERM (SIGKILL after a few
seconds), by pid. With --quick, a load's "quick" variant (if any) is run instead.

With --members N (N > 1), each run starts N members of the same server instead, each in its
own subdir with its own free ports, all with the same flags: the ones above (with the whole
--initial-cluster) plus --initial-cluster-state new and one --initial-cluster-token per run.
The wait is until a linearizable `etcdctl get` succeeds through every member and
`etcdctl endpoint status` shows them agreeing on one leader; oxcd-bench gets every member's
client address in --endpoints, the leader's first (its connections go round-robin over
them, so a one-connection load talks to the leader only). Peak RSS (VmHWM), server CPU time
and the data dir size are summed over the members; the raw JSON of the run also has them
per member (member_stats). --server-pid gets the leader's pid. Every member is stopped by
pid: SIGTERM, SIGKILL when still running 5 s later; the followers first, then the leader.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in scripts/bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import etcd_tool  # noqa: E402
import loads as loadsmod  # noqa: E402
import report  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SERVERS = ("etcd", "oxcd")
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0


# With --tls: the PEM files of a CA, a server certificate for 127.0.0.1 and a client
# certificate, made by make_tls_files(); every server then serves https only with
# --client-cert-auth, and etcdctl and oxcd-bench present the client certificate.
TLS_FILES = {}


def make_tls_files(directory):
    """One CA (ECDSA P-256), a server certificate (SAN 127.0.0.1) and a client certificate
    (CN root), with openssl: the same files for etcd and oxcd."""
    def run(*cmd):
        subprocess.run(cmd, check=True, capture_output=True)
    p = lambda name: os.path.join(directory, name)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p("ca-key.pem"), "-out", p("ca.pem"), "-days", "30",
        "-subj", "/CN=bench-ca")
    for name, cn, san in (("server", "server", "IP:127.0.0.1"), ("client", "root", "DNS:client")):
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p(name + "-key.pem"), "-out", p(name + ".csr"), "-subj", "/CN=" + cn)
        with open(p(name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % san)
        run("openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"),
            "-CAkey", p("ca-key.pem"), "-CAcreateserial", "-out", p(name + ".pem"),
            "-days", "30", "-extfile", p(name + ".ext"))
    TLS_FILES.update(ca=p("ca.pem"), server_cert=p("server.pem"),
                     server_key=p("server-key.pem"), client_cert=p("client.pem"),
                     client_key=p("client-key.pem"))


# With --auth simple|jwt: auth is enabled on every server after it starts (users root and
# bench; bench holds readwrite on every key through a role, so each request is checked
# against a real grant, not root's bypass), oxcd-bench logs in as bench (--user) and sends
# its token with every request, and etcdctl logs in as root. For jwt, both servers sign
# with one RSA key made with openssl for the run (sign-method RS256).
AUTH = {}
AUTH_USER = "bench:benchpw"
AUTH_ROOT = "root:rootpw"


def make_jwt_keys(directory):
    key, pub = os.path.join(directory, "jwt.key"), os.path.join(directory, "jwt.pub")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    return ["--auth-token", "jwt,pub-key=%s,priv-key=%s,sign-method=RS256" % (pub, key)]


def client_tls_args():
    if not TLS_FILES:
        return []
    return ["--cacert", TLS_FILES["ca"], "--cert", TLS_FILES["client_cert"],
            "--key", TLS_FILES["client_key"]]


def parse_json_output(text):
    """oxcd-bench's one JSON object; stray lines before it are tolerated."""
    for candidate in (text, text.splitlines()[-1]):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_duration(text):
    """'10s', '10', '1.5s', '2m', '500ms' -> seconds (float)."""
    t = text.strip().lower()
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if t.endswith(suffix):
            return float(t[: -len(suffix)]) * mult
    return float(t)


def fmt_duration(seconds):
    if seconds >= 1 and float(seconds).is_integer():
        return "%ds" % int(seconds)
    return "%dms" % int(round(seconds * 1000))


def free_port(taken):
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken and port not in (2379, 2380):
            taken.add(port)
            return port


def clean_env():
    """The environment without ETCD_*/ETCDCTL_*/OXCD_* (both servers read ETCD_* flags)."""
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("ETCD_") or k.startswith("ETCDCTL_") or k.startswith("OXCD_"))}


def read_status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_cpu_s(pid):
    """utime+stime of a live process, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, ValueError, IndexError):
        return None


def loadavg():
    """The 1-minute load average: shows whether something else used the cores."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_stat():
    """The machine-wide CPU times since boot from /proc/stat, in seconds, by field."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:1 + len(STAT_FIELDS)]]
        tick = os.sysconf("SC_CLK_TCK")
        return {k: x / tick for k, x in zip(STAT_FIELDS, v)}
    except (OSError, ValueError, IndexError):
        return None


def du_bytes(path):
    """Disk space the data dir takes (allocated blocks, as plain `du`): oxcd's LMDB
    file is sparse up to its map size, so its apparent length says little."""
    try:
        out = subprocess.run(["du", "-s", "-B1", path], capture_output=True, text=True, timeout=60)
        return int(out.stdout.split()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class Server:
    """One server process (etcd or oxcd) on free loopback ports: a single-member cluster, or
    one member of an N-member cluster (see Cluster)."""

    def __init__(self, kind, binary, workdir, taken_ports, name="bench"):
        self.kind = kind
        self.binary = binary
        self.workdir = workdir
        self.client_port = free_port(taken_ports)
        self.peer_port = free_port(taken_ports)
        self.name = name
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "server.log")
        self.proc = None
        self.endpoint = "127.0.0.1:%d" % self.client_port
        if TLS_FILES:
            self.endpoint = "https://" + self.endpoint
        self.peer_url = "http://127.0.0.1:%d" % self.peer_port
        # Set by Cluster for a multi-member cluster: the whole --initial-cluster and the
        # flags only a multi-member cluster gets.
        self.initial_cluster = "%s=%s" % (self.name, self.peer_url)
        self.extra_args = []

    def args(self):
        client = "%s://127.0.0.1:%d" % ("https" if TLS_FILES else "http", self.client_port)
        peer = self.peer_url
        tls = []
        if TLS_FILES:
            tls = ["--cert-file", TLS_FILES["server_cert"], "--key-file", TLS_FILES["server_key"],
                   "--trusted-ca-file", TLS_FILES["ca"], "--client-cert-auth"]
        return [
            self.binary,
            "--name", self.name,
            "--data-dir", self.data_dir,
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self.initial_cluster,
        ] + tls + AUTH.get("server_args", []) + self.extra_args

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args(), stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=clean_env(), cwd=self.workdir)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_term(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def reap(self, deadline):
        """Waits for the process until `deadline` (time.monotonic()), then SIGKILLs it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log("  %s pid %d did not stop on SIGTERM in %ds: SIGKILL"
                    % (self.kind, self.proc.pid, STOP_GRACE_S))
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.logf.close()

    def stop(self):
        if self.proc is None:
            return
        self.send_term()
        self.reap(time.monotonic() + STOP_GRACE_S)


class Cluster:
    """The servers of one run: N members of the same kind, each in its own subdir of the
    run's temp dir, all started with the same flags (the single-member flags plus, for
    N > 1, the whole --initial-cluster, --initial-cluster-state new and one
    --initial-cluster-token per run). With N = 1 this is exactly the single server of
    before: same name, same flags, same dirs."""

    def __init__(self, kind, binary, workdir, taken_ports, members, token):
        self.kind = kind
        self.workdir = workdir
        if members == 1:
            self.members = [Server(kind, binary, workdir, taken_ports)]
        else:
            self.members = [Server(kind, binary, os.path.join(workdir, "m%d" % i), taken_ports,
                                   name="bench%d" % i)
                            for i in range(1, members + 1)]
            initial = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
            for m in self.members:
                m.initial_cluster = initial
                m.extra_args = ["--initial-cluster-state", "new",
                                "--initial-cluster-token", token]
        self.leader = 0  # index into members; found by Runner.wait_ready for N > 1

    def start(self):
        for m in self.members:
            m.start()

    def endpoints(self):
        """The client addresses for oxcd-bench and etcdctl: the leader's first (so a
        one-connection load talks to the leader, as etcd's "leader only" benchmarks), then
        the others in member order."""
        order = [self.leader] + [i for i in range(len(self.members)) if i != self.leader]
        return ",".join(self.members[i].endpoint for i in order)

    def dead(self):
        return [m for m in self.members if not m.alive()]

    def stop(self):
        """SIGTERM to every follower, SIGKILL to any still running 5 s later; then the same
        for the leader. (A leader stopped along with its followers tries to hand its
        leadership to one of them: etcd then hangs until SIGKILL. Once no follower is left,
        it stops at once.)"""
        if len(self.members) == 1:
            self.members[0].stop()
            return
        leader = self.members[self.leader]
        followers = [m for m in self.members if m is not leader]
        for group in (followers, [leader]):
            for m in group:
                m.send_term()
            deadline = time.monotonic() + STOP_GRACE_S
            for m in group:
                m.reap(deadline)


class Runner:
    def __init__(self, opts):
        self.opts = opts
        self.taken_ports = set()
        # True once auth is on in the running cluster: etcdctl then logs in as root.
        self.auth_on = False

    def etcdctl(self, endpoint, args, timeout=10.0):
        env = clean_env()
        env["ETCDCTL_API"] = "3"
        user = ["--user", AUTH_ROOT] if self.auth_on else []
        cmd = ([self.opts.etcdctl_bin, "--endpoints=" + endpoint, "--command-timeout=5s"]
               + client_tls_args() + user + args)
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return None

    def wait_ready(self, cluster):
        """Until a linearizable `etcdctl get` succeeds through every member (which needs a
        leader) and, with N > 1 members, `etcdctl endpoint status` shows every member
        agreeing on one leader among them (cluster.leader is set to it)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        last = ""
        members = cluster.members
        ready = set()
        while time.monotonic() < deadline:
            dead = cluster.dead()
            if dead:
                m = dead[0]
                raise RuntimeError("%s%s exited with %s during start-up; log tail:\n%s"
                                   % (m.kind, "" if len(members) == 1 else " " + m.name,
                                      m.proc.returncode, tail(m.log_path)))
            for i, m in enumerate(members):
                if i in ready:
                    continue
                r = self.etcdctl(m.endpoint, ["get", "bench-ready-probe"], timeout=6.0)
                if r is not None and r.returncode == 0:
                    ready.add(i)
                else:
                    last = r.stderr.strip() if r is not None else "etcdctl timed out"
            if len(ready) == len(members):
                if len(members) == 1:
                    return
                leader, why = self.find_leader(cluster)
                if leader is not None:
                    cluster.leader = leader
                    return
                last = why
            time.sleep(0.2)
        m = members[0]
        raise RuntimeError("%s did not serve within %ds (last etcdctl error: %s); log tail%s:\n%s"
                           % (cluster.kind, START_TIMEOUT_S, last,
                              "" if len(members) == 1 else " of " + m.name, tail(m.log_path)))

    def find_leader(self, cluster):
        """(index of the leader in cluster.members, None) when every member reports the
        same leader and it is one of them; (None, reason) otherwise."""
        eps = ",".join(m.endpoint for m in cluster.members)
        r = self.etcdctl(eps, ["endpoint", "status", "-w", "json"], timeout=10.0)
        if r is None or r.returncode != 0:
            return None, "endpoint status: %s" % (r.stderr.strip() if r else "timed out")
        try:
            statuses = json.loads(r.stdout)
            by_ep = {st["Endpoint"]: st["Status"] for st in statuses}
            ids = [by_ep[m.endpoint]["header"]["member_id"] for m in cluster.members]
            leaders = {by_ep[m.endpoint].get("leader", 0) for m in cluster.members}
        except (ValueError, KeyError, TypeError) as e:
            return None, "endpoint status: unexpected output (%s): %s" % (e, r.stdout[:300])
        if len(leaders) != 1:
            return None, "members disagree on the leader: %s" % sorted(leaders)
        leader = leaders.pop()
        if leader not in ids:
            return None, "no leader yet (leader %s)" % leader
        return ids.index(leader), None

    def enable_auth(self, cluster):
        """Users root and bench (readwrite on every key via role bench), then auth on."""
        eps = cluster.endpoints()
        for args in (["user", "add", AUTH_ROOT, "--interactive=false"],
                     ["user", "grant-role", "root", "root"],
                     ["user", "add", AUTH_USER, "--interactive=false"],
                     ["role", "add", "bench"],
                     ["role", "grant-permission", "bench", "--prefix=true", "readwrite", ""],
                     ["user", "grant-role", "bench", "bench"],
                     ["auth", "enable"]):
            r = self.etcdctl(eps, args, timeout=20.0)
            if r is None or r.returncode != 0:
                raise RuntimeError("enabling auth: etcdctl %s failed: %s"
                                   % (" ".join(args), r.stderr if r else "timeout"))
        self.auth_on = True

    def bench(self, endpoint, args, timeout):
        """Runs oxcd-bench once; returns (parsed JSON or None, info dict)."""
        common = ["--endpoints", endpoint, "--json", "--no-progress"] + client_tls_args()
        if AUTH:
            common += ["--user", AUTH_USER]
        shown = [os.path.basename(self.opts.bench_bin), "--endpoints",
                 "ENDPOINT" if self.opts.members == 1 else "ENDPOINTS",
                 "--json", "--no-progress"] + args
        return self.run_tool([self.opts.bench_bin] + common + args, shown, timeout,
                             parse_json_output)

    def etcd_bench(self, endpoint, args, timeout):
        """Runs etcd's `benchmark` tool once (--tool etcd-benchmark); returns its report
        as oxcd-bench's JSON fields (or None) and the info dict."""
        # --precise: full precision (the default rounds latencies to 0.1 ms).
        common = ["--endpoints", endpoint, "--precise"] + client_tls_args()
        if AUTH:
            common += ["--user", AUTH_USER]
        shown = ["benchmark", "--precise", "--endpoints",
                 "ENDPOINT" if self.opts.members == 1 else "ENDPOINTS"] + args
        return self.run_tool([self.opts.etcd_benchmark_bin] + common + args, shown, timeout,
                             etcd_tool.parse)

    def run_tool(self, cmd, shown, timeout, parse):
        t0 = time.monotonic()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=clean_env())
        try:
            out, err = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        info = {
            "cpu_s": round(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime, 3),
            "argv": shown,
            "exit_code": proc.returncode,
            "wall_s": round(time.monotonic() - t0, 3),
            "timed_out": timed_out,
        }
        text = out.decode(errors="replace").strip()
        parsed = parse(text) if text else None
        if parsed is None or proc.returncode != 0 or timed_out:
            info["stderr_tail"] = err.decode(errors="replace")[-2000:]
            if parsed is None:
                info["stdout_tail"] = text[-1000:]
        return parsed, info

    def setup(self, load, cluster):
        setup = load["setup"]
        if setup is None:
            return None
        kind, arg = setup
        if kind == "key":
            r = self.etcdctl(cluster.endpoints(), ["put", arg, "x" * loadsmod.VAL_SIZE])
            if r is None or r.returncode != 0:
                raise RuntimeError("writing %s failed: %s" % (arg, r.stderr if r else "timeout"))
            return {"kind": "key", "key": arg}
        if kind == "prepopulate":
            n = self.opts.prepopulate if self.opts.prepopulate is not None else arg
            if n <= 0:
                return {"kind": "prepopulate", "keys": 0}
            args = ["--total", str(n), "--sequential-keys", "--key-space-size", str(arg),
                    "--key-size", str(loadsmod.KEY_SIZE), "--val-size", str(loadsmod.VAL_SIZE),
                    "--clients", "100", "--conns", "10", "put"]
            res, info = self.bench(cluster.endpoints(), args, timeout=600)
            if res is None or info["exit_code"] != 0:
                raise RuntimeError("pre-populating %d keys failed: %s" % (n, json.dumps(info)))
            return {"kind": "prepopulate", "keys": n, "argv": info["argv"],
                    "wall_s": info["wall_s"], "requests_per_sec": res.get("requests_per_sec"),
                    "errors": res.get("errors")}
        raise ValueError("unknown setup %r" % (setup,))

    def run_one(self, load, kind, rnd):
        binary = self.opts.etcd_bin if kind == "etcd" else self.opts.oxcd_bin
        n = self.opts.members
        rec = {"load": load["name"], "server": kind, "round": rnd, "ok": False,
               "server_bin": self.opts.shown_bins[kind]}
        workdir = tempfile.mkdtemp(prefix="oxcd-bench-%s-%s-r%d-" % (load["name"], kind, rnd))
        token = "oxcd-bench-%s-%s-r%d-%s" % (load["name"], kind, rnd,
                                             os.path.basename(workdir).rsplit("-", 1)[-1])
        cluster = Cluster(kind, binary, workdir, self.taken_ports, n, token)
        members = cluster.members
        if n > 1:
            # The raw JSON of a multi-member run: one entry per member (name, pid, client
            # address, leader or not, and its own RSS, CPU and data dir below); the run's
            # peak_rss_kb, server_cpu_s and data_dir_bytes are the sums over the members.
            rec["members"] = n
            rec["cluster_token"] = token
            rec["member_stats"] = [{"name": m.name, "endpoint": m.endpoint} for m in members]
        t0 = time.monotonic()
        try:
            cluster.start()
            rec["server_pid"] = members[0].proc.pid
            if n > 1:
                rec["server_pids"] = [m.proc.pid for m in members]
                for m, st in zip(members, rec["member_stats"]):
                    st["pid"] = m.proc.pid
            self.auth_on = False
            self.wait_ready(cluster)
            if AUTH:
                self.enable_auth(cluster)
            rec["start_s"] = round(time.monotonic() - t0, 3)
            leader = members[cluster.leader]
            if n > 1:
                rec["server_pid"] = leader.proc.pid
                rec["leader"] = leader.name
                rec["endpoints"] = cluster.endpoints()
                for i, st in enumerate(rec["member_stats"]):
                    st["leader_at_start"] = i == cluster.leader
            rec["setup"] = self.setup(load, cluster)
            if self.opts.tool == "etcd-benchmark":
                args = etcd_tool.args_for(load["name"], self.opts.total_scale)
                tool = self.etcd_bench
            else:
                args = ["--duration", self.opts.duration_str] + list(load["bench_args"])
                if load.get("server_pid"):
                    args += ["--server-pid", str(leader.proc.pid)]
                tool = self.bench
            cpu0, stat0 = [read_cpu_s(m.proc.pid) for m in members], cpu_stat()
            res, info = tool(cluster.endpoints(), args, timeout=self.opts.duration_s * 3 + 120)
            cpu1, stat1 = [read_cpu_s(m.proc.pid) for m in members], cpu_stat()
            rec["bench_run"] = info
            rec["bench"] = res
            if stat0 is not None and stat1 is not None:
                rec["machine_cpu_s"] = {k: round(stat1[k] - stat0[k], 3) for k in STAT_FIELDS}
            if None not in cpu0 and None not in cpu1:
                per = [c1 - c0 for c0, c1 in zip(cpu0, cpu1)]
                rec["server_cpu_s"] = round(sum(per), 3)
                if n > 1:
                    for st, c in zip(rec["member_stats"], per):
                        st["cpu_s"] = round(c, 3)
                if stat0 is not None and stat1 is not None:
                    # Process CPU time (user + system) that neither the server(s) nor
                    # oxcd-bench used during the timed run: other processes and kernel
                    # threads. Interrupt time (irq, softirq: e.g. loopback TCP) is left out:
                    # it is not charged to any process.
                    d = rec["machine_cpu_s"]
                    used = d["user"] + d["nice"] + d["system"] + d["steal"]
                    rec["other_cpu_s"] = round(
                        max(0.0, used - rec["server_cpu_s"] - info["cpu_s"]), 3)
            dead = cluster.dead()
            if dead:
                m = dead[0]
                rec["error"] = "server %sexited (code %s) during the load; log tail:\n%s" % (
                    "" if n == 1 else m.name + " ", m.proc.returncode, tail(m.log_path))
            else:
                rss = [read_status_kb(m.proc.pid, "VmHWM") for m in members]
                ddir = [du_bytes(m.data_dir) for m in members]
                rec["peak_rss_kb"] = None if None in rss else sum(rss)
                rec["data_dir_bytes"] = None if None in ddir else sum(ddir)
                if n > 1:
                    for st, kb, b in zip(rec["member_stats"], rss, ddir):
                        st["peak_rss_kb"] = kb
                        st["data_dir_bytes"] = b
                if res is None:
                    rec["error"] = "%s gave no result (exit %s)" % (self.opts.tool,
                                                                    info["exit_code"])
                elif info["exit_code"] != 0 or info["timed_out"]:
                    rec["error"] = "%s exit %s%s" % (self.opts.tool,
                        info["exit_code"], ", timed out" if info["timed_out"] else "")
                else:
                    rec["ok"] = True
        except Exception as e:  # noqa: BLE001 - one failed run must not end the benchmark
            rec["error"] = str(e)
        finally:
            if n > 1 and not cluster.dead():
                # Stop the current leader last (see Cluster.stop).
                now, _ = self.find_leader(cluster)
                if now is not None:
                    cluster.leader = now
            cluster.stop()
            rec["total_s"] = round(time.monotonic() - t0, 3)
            if not rec["ok"]:
                if n == 1:
                    rec["server_log_tail"] = tail(members[0].log_path)
                else:
                    rec["server_log_tail"] = "".join(
                        "==> %s <==\n%s" % (m.name, tail(m.log_path, 15)) for m in members)
            if self.opts.keep_tmp:
                rec["workdir"] = workdir
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        return rec


def shown_path(path):
    """A path as shown in the results: relative to the repository when inside it."""
    full = os.path.abspath(path)
    if full.startswith(REPO + os.sep):
        return os.path.relpath(full, REPO)
    return path


def server_version(kind, binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                             env=clean_env())
        lines = (out.stdout or out.stderr).strip().splitlines()
        text = lines[0].strip() if lines else ""
    except (OSError, subprocess.SubprocessError):
        text = ""
    if kind == "oxcd":
        try:
            rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
            dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain",
                                    "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            if rev:
                text += " (git %s%s)" % (rev, ", with uncommitted changes" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return text.strip()


def machine_info():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_kb": mem_kb,
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog=os.environ.get("OXCD_BENCH_PROG", "run.py"),
        description="Benchmark oxcd against the real etcd with oxcd-bench, A B A B..., and "
                    "write a Markdown table, an SVG chart and the raw JSON of every run.")
    ap.add_argument("--rounds", type=int, default=3, help="runs per load and server (default 3)")
    ap.add_argument("--duration", default=None,
                    help="length of every timed run, e.g. 10s (default 10s; 3s with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: --duration 3s and 1 round (unless given explicitly)")
    ap.add_argument("--loads", default=",".join(loadsmod.LOAD_NAMES),
                    help="comma-separated subset of: %s" % ",".join(loadsmod.LOAD_NAMES))
    ap.add_argument("--list-loads", action="store_true", help="print the loads and exit")
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "bench", "results.md"),
                    help="Markdown results (default docs/bench/results.md)")
    ap.add_argument("--raw-dir", default=None,
                    help="raw JSON of every run (default: raw/ beside --out); its *.json files "
                         "are replaced")
    ap.add_argument("--chart", default=None,
                    help="SVG chart (default: chart.svg beside --out)")
    ap.add_argument("--prepopulate", type=int, default=None,
                    help="keys written before mixed-90r (default: the whole key space, 100000)")
    ap.add_argument("--bench-bin", default=os.path.join(REPO, "target", "release", "oxcd-bench"))
    ap.add_argument("--oxcd-bin", default=os.path.join(REPO, "target", "release", "oxcd"))
    ap.add_argument("--etcd-bin", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--etcdctl-bin", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    ap.add_argument("--oxcd-label", default="oxcd",
                    help="name of the second server in the tables (for a noise check with etcd "
                         "on both sides: --oxcd-bin /usr/bin/etcd --oxcd-label etcd-b)")
    ap.add_argument("--members", type=int, default=1,
                    help="members per cluster (default 1): each run starts N members of the "
                         "same server on this machine and oxcd-bench spreads its connections "
                         "over all of them, leader first")
    ap.add_argument("--keep-tmp", action="store_true", help="keep every run's temp dir")
    ap.add_argument("--tls", action="store_true",
                    help="serve clients over TLS with client certificates (same CA and "
                         "certificates for both servers, made with openssl)")
    ap.add_argument("--auth", choices=("simple", "jwt"),
                    help="enable auth on both servers; oxcd-bench logs in as a user with "
                         "readwrite on every key and sends its token with every request")
    ap.add_argument("--no-build", action="store_true",
                    help="(bench-vs-etcd.sh) do not run cargo build")
    ap.add_argument("--tool", choices=("oxcd-bench", "etcd-benchmark"), default="oxcd-bench",
                    help="the load generator: oxcd-bench (default) or etcd's own `benchmark` "
                         "(etcd 3.4.23's tools/benchmark, built by "
                         "scripts/bench/etcd-benchmark.sh; a fixed number of requests per run)")
    ap.add_argument("--etcd-benchmark-bin", default=None,
                    help="etcd's benchmark binary (default: what scripts/bench/"
                         "etcd-benchmark.sh builds)")
    ap.add_argument("--total-scale", type=float, default=1.0,
                    help="with --tool etcd-benchmark: multiply each load's request count")
    ap.add_argument("--skip-apt", action="store_true",
                    help="(bench-vs-etcd.sh) do not install etcd with apt")
    opts = ap.parse_args(argv)

    if opts.list_loads:
        for l in loadsmod.STANDARD_LOADS:
            l = loadsmod.for_run(l, opts.quick)
            print("%-14s %s\n%14s oxcd-bench %s" % (
                l["name"], l["title"], "",
                " ".join(l["bench_args"] + (["--server-pid", "PID"] if l.get("server_pid")
                                            else []))))
        return 0

    names = [n.strip() for n in opts.loads.split(",") if n.strip()]
    unknown = [n for n in names if n not in loadsmod.ALL_NAMES]
    if unknown or not names:
        ap.error("unknown load(s) %s; known: %s" % (",".join(unknown),
                                                     ",".join(loadsmod.ALL_NAMES)))
    if not opts.auth and any(loadsmod.by_name(n).get("needs_auth") for n in names):
        ap.error("the authenticate load needs --auth simple or --auth jwt")
    if opts.quick:
        if opts.duration is None:
            opts.duration = "3s"
        if "--rounds" not in " ".join(sys.argv if argv is None else argv):
            opts.rounds = 1
    if opts.duration is None:
        opts.duration = "10s"
    opts.duration_s = parse_duration(opts.duration)
    opts.duration_str = fmt_duration(opts.duration_s)
    if opts.rounds < 1:
        ap.error("--rounds must be at least 1")
    if opts.members < 1:
        ap.error("--members must be at least 1")
    if opts.tool == "etcd-benchmark":
        other = [n for n in names if etcd_tool.args_for(n) is None]
        if other:
            ap.error("etcd's benchmark tool has no load %s; it runs %s" % (
                ",".join(other), ",".join(etcd_tool.SUPPORTED)))
        if opts.etcd_benchmark_bin is None:
            built = subprocess.run([os.path.join(REPO, "scripts", "bench", "etcd-benchmark.sh")],
                                   stdout=subprocess.PIPE, check=False)
            if built.returncode != 0:
                ap.error("scripts/bench/etcd-benchmark.sh failed")
            opts.etcd_benchmark_bin = built.stdout.decode().strip().splitlines()[-1]
    checked = ["bench_bin", "oxcd_bin", "etcd_bin", "etcdctl_bin"]
    if opts.tool == "etcd-benchmark":
        checked.append("etcd_benchmark_bin")
    for what in checked:
        path = getattr(opts, what)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            ap.error("--%s %s: no such executable" % (what.replace("_", "-"), path))
    out_dir = os.path.dirname(os.path.abspath(opts.out))
    raw_dir = opts.raw_dir or os.path.join(out_dir, "raw")
    chart = opts.chart or os.path.join(out_dir, "chart.svg")
    os.makedirs(raw_dir, exist_ok=True)
    for f in os.listdir(raw_dir):
        if f.endswith(".json"):
            os.remove(os.path.join(raw_dir, f))

    invoked = os.environ.get("OXCD_BENCH_INVOKED_AS")
    cmdline = shlex.join(([invoked] if invoked else ["python3", "scripts/bench/run.py"])
                         + (sys.argv[1:] if argv is None else list(argv)))
    selected = [loadsmod.for_run(loadsmod.by_name(n), opts.quick) for n in names]
    meta = {
        "format": 1,
        "command": cmdline,
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "loadavg_at_start": loadavg(),
        "config": {"rounds": opts.rounds, "duration": opts.duration_str,
                   "members": opts.members, "tls": opts.tls, "auth": opts.auth,
                   "tool": opts.tool,
                   "order": "for each load and round: etcd, then oxcd"},
        "servers": {
            "etcd": {"label": "etcd", "bin": shown_path(opts.etcd_bin),
                     "version": server_version("etcd", opts.etcd_bin)},
            "oxcd": {"label": opts.oxcd_label, "bin": shown_path(opts.oxcd_bin),
                     "version": server_version("oxcd", opts.oxcd_bin)},
        },
        "bench_bin": shown_path(opts.bench_bin if opts.tool == "oxcd-bench"
                                else opts.etcd_benchmark_bin),
        "loads": selected,
    }
    # Run copies of the binaries built in this tree: a concurrent `cargo build` must not
    # swap the server or the load generator halfway through the benchmark.
    bin_dir = tempfile.mkdtemp(prefix="oxcd-bench-bins-")
    try:
        if opts.tls:
            make_tls_files(bin_dir)
        if opts.auth:
            AUTH["mode"] = opts.auth
            AUTH["server_args"] = make_jwt_keys(bin_dir) if opts.auth == "jwt" else []
        for what in ("oxcd_bin", "bench_bin"):
            path = getattr(opts, what)
            if os.path.abspath(path).startswith(REPO + os.sep):
                os.mkdir(os.path.join(bin_dir, what))
                copy = os.path.join(bin_dir, what, os.path.basename(path))
                shutil.copy2(path, copy)
                setattr(opts, what, copy)
        meta["servers"]["oxcd"]["sha256"] = file_sha256(opts.oxcd_bin)[:16]
        return run_all(opts, meta, selected, raw_dir, chart)
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_all(opts, meta, selected, raw_dir, chart):
    opts.shown_bins = {s: meta["servers"][s]["bin"] for s in SERVERS}
    runner = Runner(opts)
    t_all = time.monotonic()
    n_runs = len(selected) * opts.rounds * 2
    i = 0
    for load in selected:
        for rnd in range(1, opts.rounds + 1):
            for kind in SERVERS:
                i += 1
                log("[%d/%d] %s round %d: %s ..." % (i, n_runs, load["name"], rnd,
                                                     meta["servers"][kind]["label"]))
                rec = runner.run_one(load, kind, rnd)
                path = os.path.join(raw_dir, "%s.r%d.%s.json" % (load["name"], rnd, kind))
                with open(path, "w") as f:
                    json.dump(rec, f, indent=1, sort_keys=True)
                    f.write("\n")
                if rec["ok"] and loadsmod.is_watch(load):
                    b = rec["bench"]
                    lat = b.get("latency_ms", {})
                    log("    %s watches created in %.2fs; %s puts, %s/%s events (%s missing); "
                        "latency p50 %.2f ms, p99 %.2f ms; server RSS after watch %s MiB, "
                        "peak %s MiB (%.1fs)" % (
                            "{:,}".format(b.get("watchers", 0)), b.get("create_seconds", 0),
                            b.get("puts"), b.get("events_received"), b.get("events_expected"),
                            b.get("events_missing"), lat.get("p50", 0), lat.get("p99", 0),
                            b.get("rss_after_watch_mib"), b.get("rss_peak_mib"),
                            rec["total_s"]))
                elif rec["ok"]:
                    b = rec["bench"]
                    grant = ""
                    if b.get("grant_seconds") is not None:
                        grant = "; %s leases granted in %.2fs, %s revoked" % (
                            "{:,}".format(b.get("leases", 0)), b["grant_seconds"],
                            "{:,}".format(b.get("leases_revoked", 0)))
                    log("    %.0f req/s, p99 %.2f ms, %s errors, peak RSS %.1f MiB, data %.1f "
                        "MiB (%.1fs)%s" % (
                            b.get("requests_per_sec", 0), b.get("latency_ms", {}).get("p99", 0),
                            b.get("errors"), (rec.get("peak_rss_kb") or 0) / 1024,
                            (rec.get("data_dir_bytes") or 0) / 1048576, rec["total_s"], grant))
                else:
                    log("    FAILED: %s" % rec.get("error", "?").splitlines()[0])
                    log("    (details in %s)" % path)
    meta["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    meta["wall_s"] = round(time.monotonic() - t_all, 1)
    with open(os.path.join(raw_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    return report.render(raw_dir, opts.out, chart, print_table=True)


if __name__ == "__main__":
    sys.exit(main())
