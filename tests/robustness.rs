//! Robustness: each traffic profile (`kubernetes`, `kv`) against oxcd with one fault per
//! run, every history checked for linearizability and the watch guarantees
//! (`common::robustness`; the checks are `oxcd-bench check-history`). The CI runs last
//! seconds each; `OXCD_ROBUSTNESS_SECONDS=60 cargo test --release --test robustness` is the
//! long run (docs/testing.md).

mod common;

use common::robustness::{run, Fault};

async fn both_profiles(members: usize, fault: Fault) {
    let mut failures = Vec::new();
    for profile in ["kubernetes", "kv"] {
        let report = run(profile, members, fault).await;
        println!("{}", report.row());
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
async fn leader_moved_repeatedly() {
    both_profiles(3, Fault::MoveLeader).await;
}
