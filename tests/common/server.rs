//! Starting oxcd or etcd (one member or a small cluster) on loopback ports with fresh data
//! dirs, waiting until they serve, kill -9 / restart, cleanup on drop.

use super::ctl::{self, etcdctl, CtlOutput, CTL_TIMEOUT};
use super::proxy::Mesh;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Which server implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Oxcd,
    Etcd,
}

impl ServerKind {
    pub fn binary(self) -> PathBuf {
        match self {
            ServerKind::Oxcd => oxcd_bin(),
            ServerKind::Etcd => etcd_bin(),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Oxcd => "oxcd",
            ServerKind::Etcd => "etcd",
        }
    }
}

/// The oxcd binary cargo built for this test run.
pub fn oxcd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oxcd"))
}

/// The reference etcd: `$ETCD_BIN`, else `/usr/bin/etcd`, else `etcd` on `$PATH`.
pub fn etcd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ETCD_BIN") {
        return PathBuf::from(p);
    }
    let default = Path::new("/usr/bin/etcd");
    if default.exists() {
        return default.to_path_buf();
    }
    ctl::find_in_path("etcd").unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"))
}

/// True when both etcd and etcdctl are installed.
pub fn etcd_available() -> bool {
    etcd_bin().is_file() && ctl::etcdctl_bin().is_file()
}

/// For tests that need the reference etcd (or etcdctl): returns true when it is installed.
/// Otherwise fails the test when `OXCD_REQUIRE_ETCD=1`, or prints a skip notice and returns
/// false.
pub fn require_etcd(test: &str) -> bool {
    if etcd_available() {
        return true;
    }
    let msg = format!(
        "etcd/etcdctl not found (etcd: {}, etcdctl: {}); install the Debian packages \
         etcd-server and etcd-client or set ETCD_BIN / ETCDCTL_BIN",
        etcd_bin().display(),
        ctl::etcdctl_bin().display()
    );
    if std::env::var("OXCD_REQUIRE_ETCD").as_deref() == Ok("1") {
        panic!("{test}: {msg} (OXCD_REQUIRE_ETCD=1)");
    }
    eprintln!("SKIPPED {test}: {msg}");
    false
}

/// etcdctl/etcd are always reachable here, so loopback only.
pub const HOST: &str = "127.0.0.1";

static PORTS_HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A currently free loopback TCP port, never the same twice in this process.
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind((HOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut guard = PORTS_HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

fn start_timeout() -> Duration {
    let ms = std::env::var("OXCD_TEST_START_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    Duration::from_millis(ms)
}

fn keep_dirs() -> bool {
    std::env::var("OXCD_TEST_KEEP").as_deref() == Ok("1")
}

/// One server process (a cluster member).
pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    /// Added at run time: started with `--initial-cluster-state=existing`.
    pub joins: bool,
    /// "http", or "https" for a cluster talking peer TLS.
    pub peer_scheme: &'static str,
    child: Option<Child>,
    starts: u32,
    /// Extra environment of the next starts (e.g. FAILPOINTS).
    env: Vec<(String, String)>,
    /// Extra flags of this member's next starts (after the cluster's).
    extra_args: Vec<String>,
    /// Lost for good: left out of the `--initial-cluster` of later joiners.
    pub gone: bool,
}

impl Member {
    /// `127.0.0.1:<client port>`, as etcdctl's `--endpoints` wants it.
    pub fn endpoint(&self) -> String {
        format!("{HOST}:{}", self.client_port)
    }
    pub fn client_url(&self) -> String {
        format!("http://{HOST}:{}", self.client_port)
    }
    pub fn peer_url(&self) -> String {
        format!("{}://{HOST}:{}", self.peer_scheme, self.peer_port)
    }
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
    /// The last `lines` lines of this member's stdout+stderr log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}

/// Read the last `lines` lines of a file (at most the last 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    kind: ServerKind,
    members: usize,
    args: Vec<String>,
    peer_mesh: bool,
    peer_scheme: &'static str,
    member_env: Vec<(usize, String, String)>,
}

impl ClusterBuilder {
    /// An environment variable for member `i` only (e.g. FAILPOINTS), from its first start.
    pub fn member_env(mut self, i: usize, key: &str, value: &str) -> Self {
        self.member_env
            .push((i, key.to_string(), value.to_string()));
        self
    }
    /// Number of members (default 1).
    pub fn members(mut self, n: usize) -> Self {
        assert!(n >= 1);
        self.members = n;
        self
    }
    /// Extra flags passed to every member, e.g. `--max-txn-ops=3`.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.args
            .extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }
    /// Route every member's peer traffic through a [`Mesh`] of proxies (one in front of each
    /// member's peer listener) so the test can partition members: [`Cluster::mesh`].
    /// Member `i` then listens on its real peer port but advertises (and is known in
    /// `--initial-cluster` as) the proxy's URL.
    pub fn peer_mesh(mut self, on: bool) -> Self {
        self.peer_mesh = on;
        self
    }
    /// Peer URLs with `https://` (give the members peer TLS flags with
    /// `args`). Not with a peer mesh.
    pub fn peer_tls(mut self) -> Self {
        self.peer_scheme = "https";
        self
    }
    /// Start every member and wait until each serves; panics (with log tails) on failure.
    pub fn start(self) -> Cluster {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }
    /// Start every member and wait until each serves.
    pub fn try_start(self) -> Result<Cluster, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("oxcd-test-{}-", self.kind.label()))
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let mut cluster = Cluster {
            kind: self.kind,
            args: self.args,
            members: Vec::new(),
            dir: Some(dir),
            use_mesh: self.peer_mesh,
            mesh: None,
            peer_scheme: self.peer_scheme,
        };
        let mut last_err = String::new();
        for attempt in 0..3 {
            cluster.allocate(self.members, attempt);
            for (i, k, v) in &self.member_env {
                cluster.members[*i].env.push((k.clone(), v.clone()));
            }
            for i in 0..cluster.members.len() {
                cluster.spawn(i)?;
            }
            match cluster.wait_all_ready() {
                Ok(()) => return Ok(cluster),
                Err(e) => {
                    let port_clash = cluster
                        .members
                        .iter()
                        .any(|m| m.log_tail(200).contains("address already in use"));
                    cluster.kill_all();
                    last_err = e;
                    if !port_clash {
                        break;
                    }
                }
            }
        }
        Err(last_err)
    }
}

/// One server or a cluster of servers of one kind, each member on its own loopback ports
/// and data dir inside one temp dir. Stopped (kill -9) on drop; if the thread is panicking
/// the members' log tails are printed.
pub struct Cluster {
    kind: ServerKind,
    args: Vec<String>,
    pub members: Vec<Member>,
    dir: Option<tempfile::TempDir>,
    use_mesh: bool,
    peer_scheme: &'static str,
    /// Declared after `dir` and dropped after `Drop::drop` killed the members.
    mesh: Option<Mesh>,
}

/// A single-member cluster.
pub type Server = Cluster;

impl Cluster {
    pub fn builder(kind: ServerKind) -> ClusterBuilder {
        ClusterBuilder {
            kind,
            members: 1,
            args: Vec::new(),
            peer_mesh: false,
            peer_scheme: "http",
            member_env: Vec::new(),
        }
    }
    /// One member, default flags.
    pub fn start(kind: ServerKind) -> Cluster {
        Self::builder(kind).start()
    }
    /// One member with extra flags.
    pub fn start_with_args<S: AsRef<str>>(kind: ServerKind, args: &[S]) -> Cluster {
        Self::builder(kind).args(args).start()
    }

    pub fn kind(&self) -> ServerKind {
        self.kind
    }
    /// The temp dir holding the data dirs and logs (also usable for scratch files).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }
    /// Endpoint (`127.0.0.1:port`) of member 0.
    pub fn endpoint(&self) -> String {
        self.members[0].endpoint()
    }
    /// Endpoints of all members.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.endpoint()).collect()
    }
    pub fn member(&self, i: usize) -> &Member {
        &self.members[i]
    }

    /// Run etcdctl against member 0.
    pub fn ctl<S: AsRef<OsStr>>(&self, args: &[S]) -> CtlOutput {
        etcdctl(&self.endpoint(), args, None, CTL_TIMEOUT)
    }
    /// Run etcdctl against member 0 with stdin.
    pub fn ctl_stdin<S: AsRef<OsStr>>(&self, args: &[S], stdin: &[u8]) -> CtlOutput {
        etcdctl(&self.endpoint(), args, Some(stdin), CTL_TIMEOUT)
    }

    fn allocate(&mut self, n: usize, attempt: u32) {
        let dir = self.dir().to_path_buf();
        self.members = (0..n)
            .map(|i| {
                let name = format!("n{}", i + 1);
                Member {
                    data_dir: if attempt == 0 {
                        dir.join(format!("{name}.data"))
                    } else {
                        dir.join(format!("{name}.data.{attempt}"))
                    },
                    log_path: dir.join(format!("{name}.log")),
                    name,
                    client_port: free_port(),
                    peer_port: free_port(),
                    joins: false,
                    peer_scheme: self.peer_scheme,
                    child: None,
                    starts: 0,
                    env: Vec::new(),
                    extra_args: Vec::new(),
                    gone: false,
                }
            })
            .collect();
        self.mesh = self.use_mesh.then(|| {
            let targets: Vec<SocketAddr> = self
                .members
                .iter()
                .map(|m| SocketAddr::from(([127, 0, 0, 1], m.peer_port)))
                .collect();
            Mesh::start(&targets)
        });
    }

    /// A new member `name` on fresh ports, to be added with MemberAdd (its
    /// `peer_url()`) and then started with `start_member`: it joins with
    /// `--initial-cluster-state=existing`. Its index. Not with a peer mesh.
    pub fn add_joiner(&mut self, name: &str) -> usize {
        assert!(
            self.mesh.is_none(),
            "add_joiner does not route through a mesh"
        );
        let dir = self.dir().to_path_buf();
        self.members.push(Member {
            data_dir: dir.join(format!("{name}.data")),
            log_path: dir.join(format!("{name}.log")),
            name: name.to_string(),
            client_port: free_port(),
            peer_port: free_port(),
            joins: true,
            peer_scheme: self.peer_scheme,
            child: None,
            starts: 0,
            env: Vec::new(),
            extra_args: Vec::new(),
            gone: false,
        });
        self.members.len() - 1
    }

    /// The peer proxies (only with `ClusterBuilder::peer_mesh(true)`; panics otherwise).
    pub fn mesh(&self) -> &Mesh {
        self.mesh
            .as_ref()
            .expect("Cluster::mesh needs ClusterBuilder::peer_mesh(true)")
    }

    /// The peer URL member `i` advertises and the others dial: its real peer URL, or its
    /// proxy's with `peer_mesh(true)`.
    pub fn advertised_peer_url(&self, i: usize) -> String {
        match &self.mesh {
            Some(mesh) => mesh.peer_url(i),
            None => self.members[i].peer_url(),
        }
    }

    /// `--initial-cluster` naming every member not [`Member::gone`].
    pub fn initial_cluster(&self) -> String {
        (0..self.members.len())
            .filter(|&i| !self.members[i].gone)
            .map(|i| format!("{}={}", self.members[i].name, self.advertised_peer_url(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The flags a member is started with (identical for etcd and oxcd).
    pub fn member_args(&self, i: usize) -> Vec<String> {
        let m = &self.members[i];
        let mut a = vec![
            format!("--name={}", m.name),
            format!("--data-dir={}", m.data_dir.display()),
            format!("--listen-client-urls={}", m.client_url()),
            format!("--advertise-client-urls={}", m.client_url()),
            format!("--listen-peer-urls={}", m.peer_url()),
            format!(
                "--initial-advertise-peer-urls={}",
                self.advertised_peer_url(i)
            ),
            format!("--initial-cluster={}", self.initial_cluster()),
        ];
        if m.joins {
            a.push("--initial-cluster-state=existing".to_string());
        }
        a.extend(self.args.iter().cloned());
        a.extend(m.extra_args.iter().cloned());
        a
    }

    /// Start member `i` (same ports, same data dir) without waiting for it to serve.
    pub fn spawn(&mut self, i: usize) -> Result<(), String> {
        let args = self.member_args(i);
        let bin = self.kind.binary();
        let m = &mut self.members[i];
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log_path)
            .map_err(|e| format!("open {}: {e}", m.log_path.display()))?;
        m.starts += 1;
        let _ = writeln!(
            log,
            "=== harness: start #{} of {} {} {}",
            m.starts,
            self.kind.label(),
            bin.display(),
            args.join(" ")
        );
        let mut cmd = Command::new(&bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(&k);
            }
        }
        cmd.envs(m.env.iter().map(|(k, v)| (k, v)));
        cmd.args(&args)
            .current_dir(self.dir.as_ref().unwrap().path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        if let Some(mesh) = &self.mesh {
            mesh.set_pid(i, Some(child.id()));
        }
        m.child = Some(child);
        Ok(())
    }

    /// Wait until member `i` answers `etcdctl get` (a gRPC Range), or fail with its log tail.
    pub fn wait_ready(&mut self, i: usize) -> Result<(), String> {
        let deadline = Instant::now() + start_timeout();
        let label = self.kind.label();
        let m = &mut self.members[i];
        loop {
            if !m.is_running() {
                let status = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                return Err(format!(
                    "{label} member {} exited during startup ({status:?}); log tail:\n{}",
                    m.name,
                    m.log_tail(40)
                ));
            }
            let out = etcdctl(
                &m.endpoint(),
                &[
                    "get",
                    "oxcd-harness-probe",
                    "--dial-timeout=1s",
                    "--command-timeout=2s",
                ],
                None,
                Duration::from_secs(5),
            );
            // With auth on, a refusal is an answer too: the member serves.
            let refused = ["user name is empty", "permission denied"]
                .iter()
                .any(|why| out.stderr_str().contains(why));
            if out.success() || refused {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{label} member {} did not serve within {:?}; last etcdctl error: {}\nlog tail:\n{}",
                    m.name,
                    start_timeout(),
                    out.stderr_str().trim(),
                    m.log_tail(40)
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_all_ready(&mut self) -> Result<(), String> {
        for i in 0..self.members.len() {
            self.wait_ready(i)?;
        }
        Ok(())
    }

    /// kill -9 member `i` (its data dir stays).
    pub fn kill9(&mut self, i: usize) {
        self.members[i].kill9();
        if let Some(mesh) = &self.mesh {
            mesh.set_pid(i, None);
        }
    }
    pub fn kill_all(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
    }
    /// Start member `i` again (same ports, same data dir) and wait until it serves.
    pub fn start_member(&mut self, i: usize) -> Result<(), String> {
        if self.members[i].is_running() {
            return Ok(());
        }
        self.spawn(i)?;
        self.wait_ready(i)
    }
    /// kill -9 member `i`, then start it again on the same ports with the same data.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        self.kill9(i);
        self.start_member(i)
    }
    /// The environment member `i` gets from its next start on (in addition to the
    /// test's), e.g. `[("FAILPOINTS", "wal_before_sync=return(crash)")]`; empty to clear.
    pub fn set_member_env(&mut self, i: usize, env: &[(&str, &str)]) {
        self.members[i].env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    /// Flags member `i` gets from its next start on, after the cluster's
    /// (e.g. `--force-new-cluster`); empty to clear.
    pub fn set_member_args(&mut self, i: usize, args: &[&str]) {
        self.members[i].extra_args = args.iter().map(|a| a.to_string()).collect();
    }
    /// Sends `signal` (as `kill` names it: "TERM", "INT", ...) to member `i`.
    pub fn signal(&self, i: usize, signal: &str) {
        let pid = self.members[i].pid().expect("member is not running");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid} failed");
    }
    /// Waits up to `limit` for member `i` to exit; its exit status, or `None`
    /// if it is still running (it is left running).
    pub fn wait_exit(&mut self, i: usize, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let m = &mut self.members[i];
        loop {
            let child = m.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                m.child = None;
                if let Some(mesh) = &self.mesh {
                    mesh.set_pid(i, None);
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
    /// kill -9 every member, then start them all again (concurrently) and wait.
    pub fn restart_all(&mut self) -> Result<(), String> {
        self.kill_all();
        for i in 0..self.members.len() {
            self.spawn(i)?;
        }
        self.wait_all_ready()
    }

    /// Log tails of every member, labelled.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut s = String::new();
        for m in &self.members {
            s.push_str(&format!(
                "----- {} {} log tail ({}) -----\n{}\n",
                self.kind.label(),
                m.name,
                m.log_path.display(),
                m.log_tail(lines)
            ));
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
        if thread::panicking() {
            eprintln!("{}", self.log_tails(30));
        }
        if keep_dirs() {
            if let Some(d) = self.dir.as_mut() {
                d.disable_cleanup(true);
                eprintln!("OXCD_TEST_KEEP=1: kept {}", d.path().display());
            }
        }
    }
}

/// A kB figure from /proc/<pid>/status (`field` includes its colon, e.g.
/// "VmHWM:"), for tests that bound a server's memory.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
