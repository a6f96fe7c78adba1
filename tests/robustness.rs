//! Robustness: each traffic profile (`kubernetes`, `kv`) against oxcd with one fault per
//! run, every history checked for linearizability and the watch guarantees
//! (`common::robustness`; the checks are `oxcd-bench check-history`). The CI runs last
//! seconds each; `OXCD_ROBUSTNESS_SECONDS=60 CARGO_TARGET_DIR=target/robustness cargo test
//! --release --features failpoints --test integration robustness::` is the
//! long run (docs/testing.md).

use crate::common;

use common::robustness::{run, Fault, Victim};

/// With `OXCD_ROBUSTNESS_MATRIX=FILE`, each run's row (and the test that reproduces it)
/// is appended to FILE: the table in docs/testing.md.
fn record_row(row: &str) {
    use std::io::Write;
    let Ok(path) = std::env::var("OXCD_ROBUSTNESS_MATRIX") else {
        return;
    };
    let test = std::thread::current().name().unwrap_or("?").to_string();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{row} `{test}` |");
    }
}

async fn both_profiles(members: usize, fault: Fault) {
    let mut failures = Vec::new();
    for profile in ["kubernetes", "kv"] {
        let report = run(profile, members, fault).await;
        println!("{}", report.row());
        record_row(&report.row());
        assert!(
            report.operations > 100 && report.watch_events > 0,
            "too little traffic to check: {}",
            report.row()
        );
        if !report.violations.is_empty() {
            failures.push(format!(
                "{}\n  {}",
                report.row(),
                report.violations.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "violations:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_member_without_faults() {
    both_profiles(1, Fault::None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_member_killed() {
    both_profiles(1, Fault::KillAll).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_member_paused() {
    both_profiles(1, Fault::PauseLeader).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_members_without_faults() {
    both_profiles(3, Fault::None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_killed() {
    both_profiles(3, Fault::KillLeader).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_killed() {
    both_profiles(3, Fault::KillFollower).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn all_members_killed() {
    both_profiles(3, Fault::KillAll).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_paused_past_the_election_timeout() {
    both_profiles(3, Fault::PauseLeader).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_blackholed() {
    both_profiles(3, Fault::BlackholeLeader).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_delayed() {
    both_profiles(3, Fault::DelayPeers).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn peer_messages_dropped() {
    both_profiles(3, Fault::DropPeers).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_moved_repeatedly() {
    both_profiles(3, Fault::MoveLeader).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_removed_and_added_back() {
    both_profiles(3, Fault::ReplaceMember).await;
}

// Faults at failpoints: `cargo test --features failpoints` (the test command's build).

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn leader_crashes_around_the_wal_sync() {
    both_profiles(3, Fault::CrashAt("wal_before_sync", Victim::Leader)).await;
    both_profiles(3, Fault::CrashAt("wal_after_sync", Victim::Leader)).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn follower_crashes_around_the_lmdb_commit() {
    both_profiles(3, Fault::CrashAt("backend_before_commit", Victim::Follower)).await;
    both_profiles(3, Fault::CrashAt("backend_after_commit", Victim::Follower)).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn leader_crashes_around_the_lmdb_commit() {
    both_profiles(3, Fault::CrashAt("backend_before_commit", Victim::Leader)).await;
    both_profiles(3, Fault::CrashAt("backend_after_commit", Victim::Leader)).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn one_member_crashes_around_the_wal_sync_and_lmdb_commit() {
    both_profiles(1, Fault::CrashAt("wal_after_sync", Victim::Leader)).await;
    both_profiles(1, Fault::CrashAt("backend_after_commit", Victim::Leader)).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn slow_and_failing_fsync() {
    both_profiles(3, Fault::SlowFsync).await;
    both_profiles(3, Fault::FailingFsync).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn leader_disk_full() {
    both_profiles(3, Fault::DiskFull).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn follower_crashes_at_the_defrag_swap() {
    both_profiles(3, Fault::DefragCrash("defrag_before_swap")).await;
    both_profiles(3, Fault::DefragCrash("defrag_after_swap")).await;
}

#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn follower_crashes_installing_a_snapshot() {
    both_profiles(3, Fault::SnapshotInstallCrash("snapshot_before_install")).await;
    both_profiles(3, Fault::SnapshotInstallCrash("snapshot_after_install")).await;
}
