//! Quota, alarms and defragmentation as an operator meets them: members
//! filled to NOSPACE by concurrent writers lose no acknowledged write, stay
//! readable and deletable, and take writes again after compact + defrag +
//! disarm (one member and three); a defragmentation under a steady write
//! load fails no write, keeps every member's backend hash equal, and
//! survives kill -9 of every member right after.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::grpc::keys_in;
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::alarm_request::AlarmAction;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::*;
use tokio::sync::Mutex;
use tonic::transport::Channel;

const NOSPACE: &str = "etcdserver: mvcc: database space exceeded";

async fn kv_of(cluster: &Cluster, i: usize) -> KvClient<Channel> {
    KvClient::connect(cluster.member(i).client_url())
        .await
        .expect("connect")
}

async fn maintenance_of(cluster: &Cluster, i: usize) -> MaintenanceClient<Channel> {
    MaintenanceClient::connect(cluster.member(i).client_url())
        .await
        .expect("connect")
}

fn put_req(key: &str, value: &[u8]) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.to_vec(),
        ..Default::default()
    }
}

/// Every key under `prefix`, as member `i` sees it (linearizable).
async fn keys_on(cluster: &Cluster, i: usize, prefix: &str) -> BTreeSet<String> {
    let end = format!("{prefix}\u{7f}");
    keys_in(&cluster.member(i).client_url(), prefix, &end)
        .await
        .into_iter()
        .collect()
}

async fn alarms(cluster: &Cluster, i: usize) -> Vec<AlarmMember> {
    let request = AlarmRequest {
        action: AlarmAction::Get as i32,
        ..Default::default()
    };
    let mut m = maintenance_of(cluster, i).await;
    m.alarm(request)
        .await
        .expect("alarm get")
        .into_inner()
        .alarms
}

/// `writers` tasks spread over the members put distinct 1 KiB values until
/// every one of them has been refused with NOSPACE; the keys acknowledged.
async fn fill_until_nospace(cluster: &Cluster, writers: usize) -> BTreeSet<String> {
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut kv = kv_of(cluster, w % cluster.endpoints().len()).await;
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("fill/{w}/{n}");
                match kv.put(put_req(&key, &[b'v'; 1024])).await {
                    Ok(_) => {
                        acked.lock().await.insert(key);
                    }
                    Err(status) => {
                        assert_eq!(status.message(), NOSPACE, "{status:?}");
                        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
                        return;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let acked = acked.lock().await.clone();
    acked
}

/// The NOSPACE scenario on `members` members: fill, check, recover.
async fn nospace_round_trip(members: usize) {
    let quota = 2 * 1024 * 1024;
    let cluster = Cluster::builder(ServerKind::Oxcd)
        .members(members)
        .args(&[format!("--quota-backend-bytes={quota}")])
        .start();
    let acked = fill_until_nospace(&cluster, 8).await;
    assert!(
        acked.len() > 100,
        "only {} writes before NOSPACE",
        acked.len()
    );

    for i in 0..members {
        // No acknowledged write lost, on any member. (A write refused at
        // apply time is kept, as etcd keeps it, so more keys may be there.)
        let present = keys_on(&cluster, i, "fill/").await;
        let missing: Vec<_> = acked.difference(&present).collect();
        assert!(missing.is_empty(), "member {i} lost {missing:?}");
        let raised = alarms(&cluster, i).await;
        assert!(
            raised.iter().all(|a| a.alarm == AlarmType::Nospace as i32) && !raised.is_empty(),
            "member {i}: {raised:?}"
        );
        // Read-only: a small put is refused, a lease grant too.
        let mut kv = kv_of(&cluster, i).await;
        let refused = kv.put(put_req("small", b"x")).await.unwrap_err();
        assert_eq!(refused.message(), NOSPACE);
    }

    // Deletes and compaction work while the alarm is on.
    let mut kv = kv_of(&cluster, 0).await;
    let deleted = kv
        .delete_range(DeleteRangeRequest {
            key: "fill/".into(),
            range_end: "fill/\u{7f}".into(),
            ..Default::default()
        })
        .await
        .expect("delete under NOSPACE")
        .into_inner();
    assert!(deleted.deleted as usize >= acked.len());
    let revision = deleted.header.expect("header").revision;
    kv.compact(CompactionRequest {
        revision,
        physical: true,
    })
    .await
    .expect("compact under NOSPACE");

    let mut sizes = Vec::new();
    for i in 0..members {
        let mut m = maintenance_of(&cluster, i).await;
        let before = m.status(StatusRequest {}).await.unwrap().into_inner();
        assert!(
            before.errors.iter().any(|e| e.contains("alarm:NOSPACE")),
            "{:?}",
            before.errors
        );
        assert_eq!(before.db_size_quota, quota);
        m.defragment(DefragmentRequest {}).await.expect("defrag");
        let after = m.status(StatusRequest {}).await.unwrap().into_inner();
        assert!(
            after.db_size < before.db_size / 4,
            "member {i}: {} -> {}",
            before.db_size,
            after.db_size
        );
        sizes.push(after.db_size);
    }
    let mut m = maintenance_of(&cluster, members - 1).await;
    for alarm in alarms(&cluster, 0).await {
        m.alarm(AlarmRequest {
            action: AlarmAction::Deactivate as i32,
            member_id: alarm.member_id,
            alarm: alarm.alarm,
        })
        .await
        .expect("disarm");
    }
    for i in 0..members {
        assert!(alarms(&cluster, i).await.is_empty());
        let mut kv = kv_of(&cluster, i).await;
        kv.put(put_req(&format!("after/{i}"), b"x"))
            .await
            .unwrap_or_else(|e| panic!("member {i} still refuses writes: {e:?} (sizes {sizes:?})"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_fills_to_nospace_and_recovers() {
    nospace_round_trip(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_fill_to_nospace_and_recover() {
    nospace_round_trip(3).await;
}

/// History with free pages for a defrag: `rounds` writes of `keys` keys
/// (`seed/N`, values of `size` bytes), a last key, then a compaction.
async fn seed_and_compact(cluster: &Cluster, rounds: u8, keys: usize, size: usize) {
    let mut kv = kv_of(cluster, 0).await;
    for round in 0..rounds {
        for k in 0..keys {
            kv.put(put_req(&format!("seed/{k}"), &vec![round; size]))
                .await
                .expect("seed");
        }
    }
    let put = kv.put(put_req("seed/last", b"x")).await.expect("seed");
    let revision = put.into_inner().header.expect("header").revision;
    kv.compact(CompactionRequest {
        revision,
        physical: true,
    })
    .await
    .expect("compact");
}

/// Hash (the whole backend) of every member, once they agree on a revision.
async fn hashes(cluster: &Cluster) -> Vec<(u32, i64)> {
    let mut out = Vec::new();
    for i in 0..cluster.endpoints().len() {
        let mut m = maintenance_of(cluster, i).await;
        let h = m.hash(HashRequest {}).await.expect("hash").into_inner();
        out.push((h.hash, h.header.expect("header").revision));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defrag_under_writes_fails_nothing_and_survives_kill9() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    // Some history to defragment: overwritten values, then a compaction.
    seed_and_compact(&cluster, 4, 300, 2048).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut kv = kv_of(&cluster, w % 3).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let key = format!("live/{w}/{n}");
                kv.put(put_req(&key, b"during defrag"))
                    .await
                    .unwrap_or_else(|e| panic!("a write failed during defrag: {e:?}"));
                acked.push(key);
                n += 1;
            }
            acked
        }));
    }
    for i in 0..3 {
        let mut m = maintenance_of(&cluster, i).await;
        m.defragment(DefragmentRequest {}).await.expect("defrag");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acked = BTreeSet::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    assert!(!acked.is_empty());

    // Same data on every member: same backend hash at the same revision.
    let mut agreed = hashes(&cluster).await;
    for _ in 0..50 {
        if agreed.windows(2).all(|w| w[0] == w[1]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        agreed = hashes(&cluster).await;
    }
    assert!(agreed.windows(2).all(|w| w[0] == w[1]), "{agreed:?}");

    cluster.kill_all();
    cluster.restart_all().expect("restart after kill -9");
    for i in 0..3 {
        let present = keys_on(&cluster, i, "live/").await;
        let missing: Vec<_> = acked.difference(&present).collect();
        assert!(missing.is_empty(), "member {i} lost {missing:?}");
        assert_eq!(keys_on(&cluster, i, "seed/").await.len(), 301);
    }
    assert!(hashes(&cluster).await.windows(2).all(|w| w[0] == w[1]));
}

async fn downgrade(
    cluster: &Cluster,
    i: usize,
    action: oxcd::proto::etcdserverpb::downgrade_request::DowngradeAction,
    version: &str,
) -> Result<String, (tonic::Code, String)> {
    let mut m = maintenance_of(cluster, i).await;
    let request = DowngradeRequest {
        action: action as i32,
        version: version.into(),
    };
    match m.downgrade(request).await {
        Ok(resp) => {
            let resp = resp.into_inner();
            assert!(resp
                .header
                .is_some_and(|h| h.cluster_id != 0 && h.revision > 0));
            Ok(resp.version)
        }
        Err(status) => Err((status.code(), status.message().to_string())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downgrade_jobs_answer_as_etcd_3_5() {
    use oxcd::proto::etcdserverpb::downgrade_request::DowngradeAction::*;
    use tonic::Code::{FailedPrecondition, InvalidArgument};
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    let refused = |code, msg: &str| Err((code, format!("etcdserver: {msg}")));
    assert_eq!(
        downgrade(&cluster, 0, Validate, "3.4").await,
        Ok("3.5.0".into())
    );
    assert_eq!(
        downgrade(&cluster, 0, Validate, "3.4.9").await,
        Ok("3.5.0".into())
    );
    let wrong_format = refused(InvalidArgument, "wrong downgrade target version format");
    assert_eq!(downgrade(&cluster, 0, Validate, "v3.4").await, wrong_format);
    assert_eq!(downgrade(&cluster, 0, Enable, "3").await, wrong_format);
    let invalid = refused(InvalidArgument, "invalid downgrade target version");
    assert_eq!(downgrade(&cluster, 1, Validate, "3.3").await, invalid);
    assert_eq!(downgrade(&cluster, 1, Enable, "3.5").await, invalid);
    let no_job = refused(FailedPrecondition, "no inflight downgrade job");
    assert_eq!(downgrade(&cluster, 2, Cancel, "").await, no_job);

    assert_eq!(
        downgrade(&cluster, 0, Enable, "3.4").await,
        Ok("3.5.0".into())
    );
    let in_progress = refused(
        FailedPrecondition,
        "cluster has a downgrade job in progress",
    );
    assert_eq!(downgrade(&cluster, 1, Enable, "3.4").await, in_progress);
    assert_eq!(downgrade(&cluster, 2, Validate, "3.4").await, in_progress);
    // The job is raft state: it survives every member's kill -9.
    cluster.kill_all();
    cluster.restart_all().expect("restart");
    assert_eq!(downgrade(&cluster, 2, Validate, "3.4").await, in_progress);
    assert_eq!(downgrade(&cluster, 1, Cancel, "").await, Ok("3.5.0".into()));
    assert_eq!(downgrade(&cluster, 0, Cancel, "").await, no_job);
    assert_eq!(
        downgrade(&cluster, 0, Validate, "3.4").await,
        Ok("3.5.0".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_a_defrag_loses_nothing_and_the_data_opens() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(1).start();
    // About 60 MB with free pages, so a defrag takes a while to copy.
    seed_and_compact(&cluster, 2, 1500, 20_000).await;

    let mut acked = BTreeSet::new();
    for (round, delay_ms) in [5u64, 40, 120, 300].into_iter().enumerate() {
        let writer = {
            let mut kv = kv_of(&cluster, 0).await;
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0.. {
                    let key = format!("live/{round}/{n}");
                    if kv.put(put_req(&key, b"v")).await.is_err() {
                        break;
                    }
                    acked.push(key);
                }
                acked
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut m = maintenance_of(&cluster, 0).await;
        let defrag = tokio::spawn(async move { m.defragment(DefragmentRequest {}).await });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        cluster.kill9(0);
        let _ = defrag.await;
        acked.extend(writer.await.expect("writer"));
        cluster
            .start_member(0)
            .expect("the member opens its data again");
        let member_dir = cluster.member(0).data_dir.join("member");
        let leftovers: Vec<_> = std::fs::read_dir(&member_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("db.defrag-"))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: {leftovers:?}");
        let present = keys_on(&cluster, 0, "live/").await;
        let missing: Vec<_> = acked.difference(&present).collect();
        assert!(missing.is_empty(), "round {round}: lost {missing:?}");
        assert_eq!(
            keys_on(&cluster, 0, "seed/").await.len(),
            1501,
            "round {round}"
        );
    }
    // Defragmentations one after another, and two at once, still work.
    let (mut a, mut b) = (
        maintenance_of(&cluster, 0).await,
        maintenance_of(&cluster, 0).await,
    );
    let (ra, rb) = tokio::join!(
        a.defragment(DefragmentRequest {}),
        b.defragment(DefragmentRequest {})
    );
    ra.expect("first of two concurrent defrags");
    rb.expect("second of two concurrent defrags");
    assert_eq!(keys_on(&cluster, 0, "seed/").await.len(), 1501);
}
