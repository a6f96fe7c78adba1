//! `--experimental-compaction-batch-limit`: a compaction deletes the
//! records it no longer needs in batches of at most that many, each its own
//! backend transaction with a pause after it (etcd's
//! `etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds` counts
//! them); a `physical` compaction is answered once they are gone. The same
//! scenario runs against etcd 3.4.23, which must count the same.

use crate::common;

use std::time::{Duration, Instant};

use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::CompactionRequest;

const PAUSES: &str = "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_count";
const DELETED: &str = "etcd_debugging_mvcc_db_compaction_keys_total";
const REVISIONS: usize = 1000;

fn metric(server: &Cluster, name: &str) -> f64 {
    let page = common::http::get(&server.endpoint(), "/metrics").body;
    common::http::sample(&common::http::parse_metrics(&page), name).unwrap_or(0.0)
}

/// (pauses, records deleted) of compacting 1000 revisions of one key with
/// the batch limit `limit` (`None`: etcd's default).
fn compact_1000_revisions(kind: ServerKind, limit: Option<&str>) -> (f64, f64) {
    let args: Vec<String> = limit
        .map(|l| format!("--experimental-compaction-batch-limit={l}"))
        .into_iter()
        .collect();
    let server = Cluster::start_with_args(kind, &args);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (pauses, deleted) = (metric(&server, PAUSES), metric(&server, DELETED));
    runtime.block_on(async {
        let mut kv = common::grpc::kv(&server).await;
        let mut rev = 0;
        for i in 0..REVISIONS {
            rev = common::grpc::put(&mut kv, "k", &i.to_string()).await;
        }
        kv.compact(CompactionRequest {
            revision: rev,
            physical: true,
        })
        .await
        .expect("compact");
    });
    // The counters move as the last batch ends; give them a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let expected_deleted = (REVISIONS - 1) as f64;
    while metric(&server, DELETED) - deleted < expected_deleted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        metric(&server, PAUSES) - pauses,
        metric(&server, DELETED) - deleted,
    )
}

fn batches_follow_the_limit(kind: ServerKind) {
    let label = kind.label();
    // 1000 records in batches of 100: ten full batches, each followed by a
    // pause, then an empty one that finishes.
    assert_eq!(
        compact_1000_revisions(kind, Some("100")),
        (10.0, 999.0),
        "{label}: limit 100"
    );
    // etcd's default 1000: one full batch, one pause.
    assert_eq!(
        compact_1000_revisions(kind, None),
        (1.0, 999.0),
        "{label}: default limit"
    );
}

#[test]
fn compaction_deletes_in_batches_of_the_limit() {
    batches_follow_the_limit(ServerKind::Oxcd);
}

#[test]
fn etcd_counts_the_same_batches() {
    if !common::require_etcd("etcd_counts_the_same_batches") {
        return;
    }
    batches_follow_the_limit(ServerKind::Etcd);
}

/// A purge cut short by kill -9 is finished by the next start, and the
/// compacted data reads the same throughout.
#[test]
fn a_purge_cut_short_by_a_kill_finishes_after_restart() {
    let mut server = Cluster::start_with_args(
        ServerKind::Oxcd,
        &["--experimental-compaction-batch-limit=1"],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rev = runtime.block_on(async {
        let mut kv = common::grpc::kv(&server).await;
        let mut rev = 0;
        for i in 0..400 {
            rev = common::grpc::put(&mut kv, &format!("k{}", i % 4), &i.to_string()).await;
        }
        kv.compact(CompactionRequest {
            revision: rev,
            physical: false,
        })
        .await
        .expect("compact");
        rev
    });
    // One record per batch and a 10ms pause: seconds of purging; cut it.
    std::thread::sleep(Duration::from_millis(300));
    let deleted = metric(&server, DELETED);
    assert!(deleted > 0.0 && deleted < 396.0, "{deleted} deleted so far");
    server.kill9(0);
    server.restart(0).expect("restart");
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = server.member(0).log_tail(200);
        if log.contains("finished scheduled compaction") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(log.contains("finished scheduled compaction"), "{log}");
    let out = server.ctl(&["get", "k", "--prefix", "-w", "json"]);
    assert!(out.success());
    let listed = out.stdout_str();
    assert!(listed.contains("\"count\":4"), "{listed}");
    let old = server.ctl(&["get", "k0", &format!("--rev={}", rev - 1)]);
    let refused = old.stderr_str();
    assert!(
        refused.contains("required revision has been compacted"),
        "{refused}"
    );
}
