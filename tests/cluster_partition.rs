//! A partition: the leader of a 3-member oxcd cluster is cut off from the
//! other two (a fault-injecting proxy in front of every peer listener) while
//! clients write through every member. The isolated member acknowledges no
//! write it could not commit; the majority elects a leader and goes on; after
//! healing, every member holds the same data and no acknowledged write is
//! lost.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::{PutRequest, RangeRequest, StatusRequest};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

async fn leader_seen_by(cluster: &Cluster, i: usize) -> Option<(u64, u64)> {
    let mut client = MaintenanceClient::connect(cluster.member(i).client_url())
        .await
        .ok()?;
    let status = tokio::time::timeout(REQUEST_TIMEOUT, client.status(StatusRequest {}))
        .await
        .ok()?
        .ok()?
        .into_inner();
    Some((status.leader, status.header?.member_id))
}

/// The member index every member in `members` agrees is the leader.
async fn agreed_leader(cluster: &Cluster, members: &[usize], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let mut seen = Vec::new();
        for &i in members {
            seen.push(leader_seen_by(cluster, i).await);
        }
        if let Some(Some((leader, _))) = seen.first() {
            let all_agree = seen.iter().all(|s| s.map(|(l, _)| l) == Some(*leader));
            let at = seen
                .iter()
                .position(|s| s.map(|(_, me)| me) == Some(*leader));
            if all_agree && *leader != 0 {
                if let Some(at) = at {
                    return members[at];
                }
            }
        }
        assert!(Instant::now() < deadline, "no agreed leader: {seen:x?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the writers saw: acknowledged keys, and acknowledgements from the
/// isolated member for writes it was sent after the isolation settled.
#[derive(Default)]
struct Record {
    acked: BTreeSet<String>,
    acked_by_isolated_after_cut: Vec<String>,
}

/// One writer through member `i`, until `stop`.
async fn writer(
    url: String,
    i: usize,
    record: Arc<Mutex<Record>>,
    isolated_since: Arc<Mutex<Option<(usize, Instant)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let Ok(mut kv) = KvClient::connect(url).await else {
        return;
    };
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let key = format!("p/{i}/{n:05}");
        n += 1;
        let sent = Instant::now();
        let put = PutRequest {
            key: key.clone().into(),
            value: "v".into(),
            ..Default::default()
        };
        let ok = matches!(
            tokio::time::timeout(REQUEST_TIMEOUT, kv.put(put)).await,
            Ok(Ok(_))
        );
        if !ok {
            continue;
        }
        let mut record = record.lock().expect("record");
        record.acked.insert(key.clone());
        // Sent to the isolated member a full second after the cut: the
        // minority must not have committed it.
        if let Some((member, since)) = *isolated_since.lock().expect("isolated") {
            if member == i && sent > since + Duration::from_secs(1) {
                record.acked_by_isolated_after_cut.push(key);
            }
        }
    }
}

async fn all_keys(cluster: &Cluster, i: usize) -> Vec<String> {
    let mut kv = KvClient::connect(cluster.member(i).client_url())
        .await
        .expect("connect");
    let request = RangeRequest {
        key: "p/".into(),
        range_end: "p0".into(),
        keys_only: true,
        ..Default::default()
    };
    let resp = kv.range(request).await.expect("range").into_inner();
    resp.kvs
        .into_iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_commits_nothing_and_the_healed_cluster_agrees() {
    let cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .peer_mesh(true)
        .start();
    let leader = agreed_leader(&cluster, &[0, 1, 2], Duration::from_secs(10)).await;

    let record = Arc::new(Mutex::new(Record::default()));
    let isolated_since = Arc::new(Mutex::new(None));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for i in 0..3 {
        for _ in 0..2 {
            writers.push(tokio::spawn(writer(
                cluster.member(i).client_url(),
                i,
                record.clone(),
                isolated_since.clone(),
                stop.clone(),
            )));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    cluster.mesh().isolate(leader);
    *isolated_since.lock().expect("isolated") = Some((leader, Instant::now()));
    let majority: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = agreed_leader(&cluster, &majority, Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    let acked_before = record.lock().expect("record").acked.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let acked_during = record.lock().expect("record").acked.len() - acked_before;

    cluster.mesh().heal();
    *isolated_since.lock().expect("isolated") = None;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    agreed_leader(&cluster, &[0, 1, 2], Duration::from_secs(10)).await;

    let (acked, acked_by_isolated) = {
        let record = record.lock().expect("record");
        (
            record.acked.clone(),
            record.acked_by_isolated_after_cut.clone(),
        )
    };
    assert!(
        acked_by_isolated.is_empty(),
        "the isolated member acknowledged writes: {acked_by_isolated:?}"
    );
    assert!(
        acked_during > 10,
        "the majority took writes ({acked_during})"
    );
    let reference = all_keys(&cluster, 0).await;
    for i in 1..3 {
        assert_eq!(all_keys(&cluster, i).await, reference, "member {i} differs");
    }
    let held: BTreeSet<String> = reference.into_iter().collect();
    let lost: Vec<&String> = acked.difference(&held).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    eprintln!(
        "partition: {} writes acknowledged ({acked_during} by the majority during the partition)",
        acked.len()
    );
}
