//! A partition: the leader of a 3-member oxcd cluster is cut off from the
//! other two (a fault-injecting proxy in front of every peer listener) while
//! clients write through every member. The isolated member acknowledges no
//! write it could not commit; the majority elects a leader and goes on; after
//! healing, every member holds the same data and no acknowledged write is
//! lost. Meanwhile a lease is kept alive through the majority, and a
//! keep-alive through the isolated member waits for a leader and answers
//! etcd's "no leader" at the request timeout.

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::grpc::keys_in;
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::{
    HashKvRequest, LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, StatusRequest,
};

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
    keys_in(&cluster.member(i).client_url(), "p/", "p0").await
}

/// Each member's HashKV at member 0's current revision (every member has
/// applied it: each just served a linearizable read).
async fn hashes_at_one_revision(cluster: &Cluster) -> Vec<u32> {
    let mut hashes = Vec::new();
    let mut revision = 0;
    for i in 0..3 {
        let mut maintenance = MaintenanceClient::connect(cluster.member(i).client_url())
            .await
            .expect("connect");
        let answer = maintenance
            .hash_kv(HashKvRequest { revision })
            .await
            .expect("hash kv")
            .into_inner();
        if i == 0 {
            revision = answer.header.map(|h| h.revision).unwrap_or_default();
        }
        hashes.push(answer.hash);
    }
    hashes
}

/// On the isolated member (which has lost its leader), a call carrying
/// etcd's require-leader metadata fails with "no leader".
async fn require_leader_calls_fail_on(cluster: &Cluster, isolated: usize) {
    let url = cluster.member(isolated).client_url();
    let mut kv = KvClient::connect(url.clone()).await.expect("connect");
    let started = Instant::now();
    loop {
        let mut put = tonic::Request::new(PutRequest {
            key: "needs-leader".into(),
            value: "v".into(),
            ..Default::default()
        });
        put.metadata_mut()
            .insert("hasleader", "true".parse().expect("ascii"));
        match tokio::time::timeout(REQUEST_TIMEOUT, kv.put(put)).await {
            Ok(Err(status)) if status.message() == "etcdserver: no leader" => break,
            _ => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "never 'no leader'"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A watch on `member` with etcd's require-leader metadata.
async fn require_leader_watch(
    cluster: &Cluster,
    member: usize,
) -> tonic::Streaming<oxcd::proto::etcdserverpb::WatchResponse> {
    use oxcd::proto::etcdserverpb::watch_client::WatchClient;
    use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
    use oxcd::proto::etcdserverpb::{WatchCreateRequest, WatchRequest};

    let mut watch = WatchClient::connect(cluster.member(member).client_url())
        .await
        .expect("connect");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: "p/".into(),
            range_end: "p0".into(),
            ..Default::default()
        })),
    };
    tx.send(create).await.expect("queue create");
    // The request side stays open as long as the stream lives.
    std::mem::forget(tx);
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request
        .metadata_mut()
        .insert("hasleader", "true".parse().expect("ascii"));
    watch.watch(request).await.expect("watch").into_inner()
}

/// The stream ends with "no leader" (after three election timeouts
/// without one, as etcd's monitor does).
async fn ends_with_no_leader(
    mut stream: tonic::Streaming<oxcd::proto::etcdserverpb::WatchResponse>,
) {
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(15), stream.message()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Err(status)) => break status,
            other => panic!("the watch was not ended with 'no leader': {other:?}"),
        }
    };
    assert_eq!(error.message(), "etcdserver: no leader");
}

/// One keep-alive of lease `id` through `url`: the TTL it was renewed to.
async fn keep_alive_once(url: String, id: i64) -> Result<i64, tonic::Status> {
    let mut leases = LeaseClient::connect(url).await.expect("connect");
    let request = futures::stream::iter([LeaseKeepAliveRequest { id }]);
    let mut responses = leases.lease_keep_alive(request).await?.into_inner();
    let renewed = responses.message().await?;
    Ok(renewed.expect("a keep-alive response").ttl)
}

/// oxcd's request timeout with the default election timeout (5 s + 2 x 1 s):
/// how long a follower looks for a leader before answering "no leader".
const SERVER_REQUEST_TIMEOUT: Duration = Duration::from_secs(7);

/// During the partition: through the majority the lease is renewed; through
/// the isolated member the keep-alive waits for a leader, then answers
/// "no leader" (as etcd's waitLeader does), not at once.
async fn keep_alives_during_partition(
    cluster: &Cluster,
    isolated: usize,
    majority: usize,
    id: i64,
) {
    let renewed = keep_alive_once(cluster.member(majority).client_url(), id).await;
    assert_eq!(renewed.ok(), Some(LEASE_TTL), "through the majority");
    let asked = Instant::now();
    let refused = keep_alive_once(cluster.member(isolated).client_url(), id)
        .await
        .expect_err("no keep-alive through the isolated member");
    assert_eq!(
        (refused.code(), refused.message()),
        (tonic::Code::Unavailable, "etcdserver: no leader")
    );
    let waited = asked.elapsed();
    assert!(
        waited >= SERVER_REQUEST_TIMEOUT - Duration::from_secs(2),
        "answered after {waited:?}, without waiting for a leader"
    );
}

const LEASE_TTL: i64 = 60;

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

    let doomed_watch = require_leader_watch(&cluster, leader).await;
    let mut leases = LeaseClient::connect(cluster.member(leader).client_url())
        .await
        .expect("connect");
    let grant = LeaseGrantRequest {
        ttl: LEASE_TTL,
        id: 0,
    };
    let lease = leases
        .lease_grant(grant)
        .await
        .expect("grant")
        .into_inner()
        .id;
    cluster.mesh().isolate(leader);
    *isolated_since.lock().expect("isolated") = Some((leader, Instant::now()));
    let majority: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = agreed_leader(&cluster, &majority, Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    let acked_before = record.lock().expect("record").acked.len();
    require_leader_calls_fail_on(&cluster, leader).await;
    ends_with_no_leader(doomed_watch).await;
    tokio::join!(
        tokio::time::sleep(Duration::from_secs(3)),
        keep_alives_during_partition(&cluster, leader, new_leader, lease),
    );
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
    // Byte for byte too: every member's HashKV at one revision agrees.
    let hashes = hashes_at_one_revision(&cluster).await;
    assert!(hashes.iter().all(|h| *h == hashes[0]), "HashKV: {hashes:?}");
    let held: BTreeSet<String> = reference.into_iter().collect();
    let lost: Vec<&String> = acked.difference(&held).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    eprintln!(
        "partition: {} writes acknowledged ({acked_during} by the majority during the partition)",
        acked.len()
    );
}
