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
    /// MoveLeader to another member, again and again.
    MoveLeader,
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
            Fault::MoveLeader => "move leader every 400 ms",
        }
    }

    /// Faults between members need the peer proxies.
    pub fn needs_mesh(self) -> bool {
        matches!(self, Fault::BlackholeLeader | Fault::DelayPeers)
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
        Fault::MoveLeader => {
            move_leader_around(cluster, Instant::now() + Duration::from_secs(2)).await;
        }
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
        .start();
    let timing = Timing::from_env();
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
