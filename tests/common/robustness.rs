//! The robustness harness: one traffic profile (`oxcd-bench kubernetes|kv --record`) against
//! a cluster while one fault is injected, then `oxcd-bench check-history` on the recorded
//! history (linearizability and the watch guarantees). docs/testing.md has the matrix.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::MoveLeaderRequest;
use serde_json::Value;

use super::server::Cluster;
use super::status::{agreed_leader, member_index_of, status_of};

/// One failure per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// kill -9 the leader, start it again a second later.
    KillLeader,
    KillFollower,
    /// kill -9 every member, then start them all again.
    KillAll,
    /// SIGSTOP the leader for twice the election timeout, then SIGCONT.
    PauseLeader,
    /// Cut the leader off from the other members (peer traffic blackholed), then heal.
    BlackholeLeader,
    /// 60 ms added to every peer message, both ways.
    DelayPeers,
    /// 2% of the chunks between members dropped (each drop ends its connection).
    DropPeers,
    /// MoveLeader to another member, again and again.
    MoveLeader,
    /// A follower removed (MemberRemove), its data wiped, and added back (MemberAdd with
    /// the same peer URL, started with `--initial-cluster-state=existing`).
    ReplaceMember,
    /// A failpoint armed on a member (`--features failpoints`): it dies there (SIGKILL at
    /// that instruction) and is started again.
    CrashAt(&'static str, Victim),
    /// The leader's WAL fdatasync takes 300 ms more, for 2 s.
    SlowFsync,
    /// A follower's WAL fdatasync fails (EIO): it exits, as etcd does, and is started again.
    FailingFsync,
    /// The leader's disk is full for a while: WAL appends and LMDB commits fail with ENOSPC
    /// 20 times each (the member waits and retries), then succeed again.
    DiskFull,
    /// A follower defragments and dies at the directory swap (before or after it).
    DefragCrash(&'static str),
    /// A follower is down while the cluster writes 80 entries past its log
    /// (`--snapshot-count=20`), comes back armed to die while staging the snapshot it is
    /// sent, then starts clean.
    SnapshotInstallCrash(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    Leader,
    Follower,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::KillLeader => "kill -9 leader",
            Fault::KillFollower => "kill -9 follower",
            Fault::KillAll => "kill -9 all members",
            Fault::PauseLeader => "SIGSTOP leader 2 s",
            Fault::BlackholeLeader => "blackhole leader's peer traffic",
            Fault::DelayPeers => "60 ms peer delay",
            Fault::DropPeers => "2% of peer messages dropped",
            Fault::MoveLeader => "move leader every 400 ms",
            Fault::ReplaceMember => "follower removed, wiped, added back",
            Fault::CrashAt("wal_before_sync", Victim::Leader) => "crash leader before WAL sync",
            Fault::CrashAt("wal_after_sync", Victim::Leader) => "crash leader after WAL sync",
            Fault::CrashAt("backend_before_commit", Victim::Leader) => {
                "crash leader before LMDB commit"
            }
            Fault::CrashAt("backend_after_commit", Victim::Leader) => {
                "crash leader after LMDB commit"
            }
            Fault::CrashAt("wal_before_sync", _) => "crash follower before WAL sync",
            Fault::CrashAt("wal_after_sync", _) => "crash follower after WAL sync",
            Fault::CrashAt("backend_before_commit", _) => "crash follower before LMDB commit",
            Fault::CrashAt("backend_after_commit", _) => "crash follower after LMDB commit",
            Fault::CrashAt(..) => "crash at a failpoint",
            Fault::SlowFsync => "leader's fsync 300 ms slower",
            Fault::FailingFsync => "follower's fsync fails (EIO)",
            Fault::DiskFull => "leader's disk full (ENOSPC x20)",
            Fault::DefragCrash("defrag_before_swap") => "crash follower before defrag swap",
            Fault::DefragCrash(_) => "crash follower after defrag swap",
            Fault::SnapshotInstallCrash("snapshot_before_install") => {
                "crash follower before snapshot install"
            }
            Fault::SnapshotInstallCrash(_) => "crash follower after snapshot install",
        }
    }

    /// Faults at failpoints need a build with `--features failpoints`.
    pub fn needs_failpoints(self) -> bool {
        matches!(
            self,
            Fault::CrashAt(..)
                | Fault::SlowFsync
                | Fault::FailingFsync
                | Fault::DiskFull
                | Fault::DefragCrash(_)
                | Fault::SnapshotInstallCrash(_)
        )
    }

    /// Extra member flags the fault needs.
    fn member_args(self) -> &'static [&'static str] {
        match self {
            // Small, so a few dozen writes behind are enough to need a snapshot.
            Fault::SnapshotInstallCrash(_) => &["--snapshot-count=20"],
            _ => &[],
        }
    }

    /// The least traffic the fault needs: the snapshot crash waits for the others to
    /// write 80 entries after the kill, which a slow machine's 5 s do not always hold.
    fn min_traffic(self) -> Duration {
        match self {
            Fault::SnapshotInstallCrash(_) => Duration::from_secs(12),
            _ => Duration::ZERO,
        }
    }

    /// Faults between members need the peer proxies.
    pub fn needs_mesh(self) -> bool {
        matches!(
            self,
            Fault::BlackholeLeader | Fault::DelayPeers | Fault::DropPeers
        )
    }
}

/// What one run checked.
#[derive(Debug)]
pub struct RunReport {
    pub profile: String,
    pub members: usize,
    pub fault: Fault,
    pub operations: u64,
    pub unknown: u64,
    pub watch_events: u64,
    pub revisions: i64,
    pub violations: Vec<String>,
}

impl RunReport {
    /// One row of docs/testing.md's matrix.
    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {} ({} unknown) | {} | {} | {} |",
            self.profile,
            self.members,
            self.fault.name(),
            self.operations,
            self.unknown,
            self.watch_events,
            self.revisions,
            self.violations.len()
        )
    }
}

/// How long the traffic runs, and when the fault starts (from the traffic's start).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub traffic: Duration,
    pub fault_at: Duration,
}

impl Timing {
    /// The CI run: seconds. `OXCD_ROBUSTNESS_SECONDS` makes it longer.
    pub fn from_env() -> Timing {
        let secs = std::env::var("OXCD_ROBUSTNESS_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(5)
            .max(3);
        Timing {
            traffic: Duration::from_secs(secs),
            fault_at: Duration::from_millis(1500),
        }
    }
}

fn bench_bin() -> &'static str {
    env!("CARGO_BIN_EXE_oxcd-bench")
}

fn start_traffic(cluster: &Cluster, profile: &str, record: &Path, timing: Timing) -> Child {
    let endpoints = cluster.endpoints().join(",");
    let conns = cluster.members.len().max(2).to_string();
    Command::new(bench_bin())
        .args([
            profile,
            "--endpoints",
            &endpoints,
            "--conns",
            &conns,
            "--clients",
            "8",
            "--duration",
            &format!("{}ms", timing.traffic.as_millis()),
            "--request-timeout",
            "3s",
            "--compact-every",
            "1s",
            "--lease-ttl",
            "5",
            "--no-progress",
            "--json",
            "--record",
        ])
        .arg(record)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run oxcd-bench")
}

async fn leader_index(cluster: &Cluster) -> usize {
    let members: Vec<usize> = (0..cluster.members.len()).collect();
    let id = agreed_leader(cluster, &members, Duration::from_secs(20)).await;
    member_index_of(cluster, id).await
}

async fn move_leader_around(cluster: &Cluster, until: Instant) {
    let mut moves = 0;
    while Instant::now() < until {
        let leader = leader_index(cluster).await;
        let target = (leader + 1) % cluster.members.len();
        let target_id = status_of(cluster, target)
            .await
            .and_then(|s| s.header)
            .map(|h| h.member_id);
        if let (Some(target_id), Ok(mut m)) = (
            target_id,
            MaintenanceClient::connect(cluster.member(leader).client_url()).await,
        ) {
            if m.move_leader(MoveLeaderRequest { target_id }).await.is_ok() {
                moves += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(moves > 0, "no MoveLeader succeeded");
}

/// Arm failpoint `name` with `action` on member `i` (`PUT /failpoints/NAME`).
fn arm(cluster: &Cluster, i: usize, name: &str, action: &str) {
    let url = format!("{}/failpoints/{name}", cluster.member(i).client_url());
    let out = Command::new("curl")
        .args(["-sS", "-f", "-X", "PUT", "--data", action, &url])
        .output()
        .expect("run curl");
    // A crash armed on a busy member can fire before the answer is written:
    // curl then sees the connection close (52: empty reply, 56: reset). The
    // crash itself is checked by the caller.
    let crashed_first =
        action == "return(crash)" && matches!(out.status.code(), Some(52) | Some(56));
    assert!(
        out.status.success() || crashed_first,
        "arming {name} on member {i}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait for member `i` to die (a crash at a failpoint), then start it again clean.
fn await_crash_and_restart(cluster: &mut Cluster, i: usize, what: &str) {
    let exited = cluster.wait_exit(i, Duration::from_secs(20));
    assert!(
        exited.is_some(),
        "member {i} did not die at {what}\n{}",
        cluster.log_tails(20)
    );
    cluster.set_member_env(i, &[]);
    cluster.start_member(i).expect("restart after the crash");
}

async fn victim(cluster: &Cluster, who: Victim) -> usize {
    let leader = leader_index(cluster).await;
    match who {
        Victim::Leader => leader,
        Victim::Follower => (leader + 1) % cluster.members.len(),
    }
}

async fn defragment(cluster: &Cluster, i: usize) {
    use oxcd::proto::etcdserverpb::DefragmentRequest;
    if let Ok(mut m) = MaintenanceClient::connect(cluster.member(i).client_url()).await {
        // The member dies during the call: no answer is expected.
        let _ =
            tokio::time::timeout(Duration::from_secs(10), m.defragment(DefragmentRequest {})).await;
    }
}

/// Remove a follower, wipe it, add it back under the same name and peer URL.
async fn replace_member(cluster: &mut Cluster) {
    use oxcd::proto::etcdserverpb::cluster_client::ClusterClient;
    use oxcd::proto::etcdserverpb::{MemberAddRequest, MemberRemoveRequest};
    let leader = leader_index(cluster).await;
    let i = (leader + 1) % cluster.members.len();
    let id = status_of(cluster, i)
        .await
        .and_then(|s| s.header)
        .map(|h| h.member_id)
        .expect("the follower's id");
    let mut admin = ClusterClient::connect(cluster.member(leader).client_url())
        .await
        .expect("connect to the leader");
    // etcd's rule, which oxcd keeps: no removal until the members left have been
    // connected for a while ("unhealthy cluster" before that).
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(e) = admin.member_remove(MemberRemoveRequest { id }).await {
        assert!(Instant::now() < deadline, "MemberRemove: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.kill9(i);
    let data_dir = cluster.member(i).data_dir.clone();
    std::fs::remove_dir_all(&data_dir).expect("wipe the removed member");
    let peer_url = cluster.advertised_peer_url(i);
    // A removal just applied may still be settling: retry the add briefly.
    let mut added = false;
    for _ in 0..50 {
        let request = MemberAddRequest {
            peer_ur_ls: vec![peer_url.clone()],
            is_learner: false,
        };
        if admin.member_add(request).await.is_ok() {
            added = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(added, "MemberAdd of {peer_url} never succeeded");
    cluster.members[i].joins = true;
    cluster
        .start_member(i)
        .expect("start the member added back");
}

/// Inject `fault` (the traffic is already running) and undo it.
async fn inject(cluster: &mut Cluster, fault: Fault) {
    let n = cluster.members.len();
    match fault {
        Fault::None => {}
        Fault::KillLeader | Fault::KillFollower => {
            let leader = leader_index(cluster).await;
            let victim = if fault == Fault::KillLeader {
                leader
            } else {
                (leader + 1) % n
            };
            cluster.kill9(victim);
            tokio::time::sleep(Duration::from_secs(1)).await;
            cluster.start_member(victim).expect("restart");
        }
        Fault::KillAll => {
            cluster.kill_all();
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.restart_all().expect("restart all");
        }
        Fault::PauseLeader => {
            let leader = leader_index(cluster).await;
            cluster.signal(leader, "STOP");
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.signal(leader, "CONT");
        }
        Fault::BlackholeLeader => {
            let leader = leader_index(cluster).await;
            cluster.mesh().isolate(leader);
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.mesh().heal();
        }
        Fault::DelayPeers => {
            for j in 0..n {
                cluster.mesh().proxy(j).set_delay(Duration::from_millis(60));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            for j in 0..n {
                cluster.mesh().proxy(j).set_delay(Duration::ZERO);
            }
        }
        Fault::DropPeers => {
            for j in 0..n {
                cluster.mesh().proxy(j).set_drop(20);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            for j in 0..n {
                cluster.mesh().proxy(j).set_drop(0);
            }
            let dropped: u64 = (0..n)
                .map(|j| cluster.mesh().proxy(j).stats().dropped)
                .sum();
            assert!(dropped > 0, "no peer message was dropped");
        }
        Fault::MoveLeader => {
            move_leader_around(cluster, Instant::now() + Duration::from_secs(2)).await;
        }
        Fault::ReplaceMember => replace_member(cluster).await,
        Fault::CrashAt(point, who) => {
            let i = victim(cluster, who).await;
            arm(cluster, i, point, "return(crash)");
            await_crash_and_restart(cluster, i, point);
        }
        Fault::SlowFsync => {
            let i = victim(cluster, Victim::Leader).await;
            arm(cluster, i, "wal_before_sync", "sleep(300)");
            tokio::time::sleep(Duration::from_secs(2)).await;
            arm(cluster, i, "wal_before_sync", "off");
        }
        Fault::FailingFsync => {
            let i = victim(cluster, Victim::Follower).await;
            arm(cluster, i, "wal_before_sync", "return(eio)");
            await_crash_and_restart(cluster, i, "a failing fsync");
        }
        Fault::DiskFull => {
            let i = victim(cluster, Victim::Leader).await;
            arm(cluster, i, "wal_before_append", "20*return(enospc)");
            arm(cluster, i, "backend_before_commit", "20*return(enospc)");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Fault::DefragCrash(point) => {
            let i = victim(cluster, Victim::Follower).await;
            arm(cluster, i, point, "return(crash)");
            defragment(cluster, i).await;
            await_crash_and_restart(cluster, i, point);
        }
        Fault::SnapshotInstallCrash(point) => {
            let i = victim(cluster, Victim::Follower).await;
            cluster.kill9(i);
            // The follower needs a snapshot only once the others' logs no longer reach
            // back to it: count entries, not seconds (a slow machine writes fewer).
            let others: Vec<usize> = (0..cluster.members.len()).filter(|&m| m != i).collect();
            let behind_from = highest_applied(cluster, &others).await;
            await_index(cluster, &others, behind_from + SNAPSHOT_GAP_ENTRIES).await;
            let action = format!("{point}=return(crash)");
            cluster.set_member_env(i, &[("FAILPOINTS", action.as_str())]);
            cluster.spawn(i).expect("start the follower armed");
            await_crash_and_restart(cluster, i, point);
        }
    }
}

/// Entries the others write past a stopped follower, with `--snapshot-count=20`:
/// a snapshot at least 20 entries past it, and room for the compaction that follows.
const SNAPSHOT_GAP_ENTRIES: u64 = 80;

/// The highest applied index any of `members` reports.
async fn highest_applied(cluster: &Cluster, members: &[usize]) -> u64 {
    let mut highest = 0;
    for &m in members {
        if let Some(status) = status_of(cluster, m).await {
            highest = highest.max(status.raft_applied_index);
        }
    }
    highest
}

/// Wait (while the traffic lasts: [`Fault::min_traffic`]) until one of `members` has
/// applied `index`.
async fn await_index(cluster: &Cluster, members: &[usize], index: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let applied = highest_applied(cluster, members).await;
        if applied >= index {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the traffic reached applied index {applied}, not {index}\n{}",
            cluster.log_tails(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn number(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(0)
}

/// Run `profile` on `members` oxcd members with `fault`, check the history, and return
/// what was checked (the caller asserts there are no violations).
pub async fn run(profile: &str, members: usize, fault: Fault) -> RunReport {
    let mut cluster = Cluster::builder(super::ServerKind::Oxcd)
        .members(members)
        .peer_mesh(fault.needs_mesh())
        .args(fault.member_args())
        .start();
    let mut timing = Timing::from_env();
    timing.traffic = timing.traffic.max(fault.min_traffic());
    let record = cluster.dir().join(format!("{profile}.history.json"));
    let started = Instant::now();
    let mut traffic = start_traffic(&cluster, profile, &record, timing);
    tokio::time::sleep(timing.fault_at).await;
    inject(&mut cluster, fault).await;
    let deadline = started + timing.traffic + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = traffic.try_wait().expect("wait for oxcd-bench") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "oxcd-bench {profile} did not finish\n{}",
            cluster.log_tails(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = traffic.wait_with_output().expect("oxcd-bench output");
    assert!(
        status.success(),
        "oxcd-bench {profile} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        cluster.log_tails(30)
    );
    check(profile, members, fault, &record)
}

/// `oxcd-bench check-history --json FILE`, parsed.
pub fn check(profile: &str, members: usize, fault: Fault, record: &Path) -> RunReport {
    let out = Command::new(bench_bin())
        .args(["check-history", "--json"])
        .arg(record)
        .output()
        .expect("run oxcd-bench check-history");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "check-history printed no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    RunReport {
        profile: profile.to_string(),
        members,
        fault,
        operations: number(&report, "operations"),
        unknown: number(&report, "unknown"),
        watch_events: number(&report, "watch_events"),
        revisions: report["revisions"].as_i64().unwrap_or(0),
        violations: report["violations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default(),
    }
}
