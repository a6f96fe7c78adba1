//! `--max-wals` and `--max-snapshots`: by default oxcd deletes a WAL
//! segment once LMDB holds all of it and keeps only the newest snapshot file
//! (never more than etcd's limits); 0 keeps every one, as in etcd.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::grpc::{keys_in, put};
use common::status::{agreed_leader, member_index_of};
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;

fn files_ending(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .count()
        })
        .unwrap_or(0)
}

async fn kv_of(cluster: &Cluster, i: usize) -> KvClient<tonic::transport::Channel> {
    KvClient::connect(cluster.member(i).client_url())
        .await
        .expect("connect")
        .max_encoding_message_size(4 << 20)
}

/// WAL segment files of a lone member after 48 MiB of puts (16 MiB segments).
async fn wal_segments_after_large_puts(args: &[&str]) -> usize {
    let mut all = vec!["--snapshot-count=5"];
    all.extend_from_slice(args);
    let cluster = Cluster::start_with_args(ServerKind::Oxcd, &all);
    let mut kv = kv_of(&cluster, 0).await;
    let value = "x".repeat(1 << 20);
    for i in 0..48 {
        put(&mut kv, &format!("big/{i}"), &value).await;
    }
    // LMDB flushes at least every second; the WAL is cut after a flush.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    put(&mut kv, "last", "v").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    files_ending(&cluster.member(0).data_dir.join("member/wal"), ".wal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_wals_zero_keeps_every_segment() {
    let usual = wal_segments_after_large_puts(&[]).await;
    let kept = wal_segments_after_large_puts(&["--max-wals=0"]).await;
    assert!(usual <= 2, "{usual} segments kept by default");
    assert!(kept >= 3, "{kept} segments kept with --max-wals=0");
}

/// Snapshot files on the leader after a follower twice fell behind its log.
async fn leader_snapshots_after_two_catch_ups(args: &[&str]) -> usize {
    let mut all = vec!["--snapshot-count=100"];
    all.extend_from_slice(args);
    let mut cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .args(&all)
        .start();
    let leader_id = agreed_leader(&cluster, &[0, 1, 2], Duration::from_secs(10)).await;
    let leader = member_index_of(&cluster, leader_id).await;
    let behind = (leader + 1) % 3;
    let mut kv = kv_of(&cluster, leader).await;
    for round in 0..2 {
        cluster.kill9(behind);
        for i in 0..300 {
            put(&mut kv, &format!("r{round}/{i:03}"), "v").await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cluster.start_member(behind).expect("the follower restarts");
        let url = cluster.member(behind).client_url();
        let prefix = format!("r{round}/");
        let end = format!("r{}/", round + 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while keys_in(&url, &prefix, &end).await.len() < 300 {
            assert!(std::time::Instant::now() < deadline, "no catch-up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let snap = cluster.member(leader).data_dir.join("member/snap");
    let log = std::fs::read_to_string(&cluster.member(leader).log_path).unwrap_or_default();
    let built = log.matches("snapshot built for a member").count();
    assert!(built >= 2, "the leader built {built} snapshots");
    files_ending(&snap, ".mdb")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_snapshots_zero_keeps_every_snapshot_built() {
    let usual = leader_snapshots_after_two_catch_ups(&[]).await;
    let kept = leader_snapshots_after_two_catch_ups(&["--max-snapshots=0"]).await;
    assert_eq!(usual, 1, "only the newest snapshot by default");
    assert!(kept >= 2, "{kept} snapshot files with --max-snapshots=0");
}
