//! Leases through a tonic client: expiry deleting every attached key in one
//! revision (and watchers seeing it), keep-alive streams, remaining TTLs
//! across a restart, a wave of 10,000 expiries under a writer, and the lock
//! recipe built from a txn and a lease.

use crate::common;

use std::time::{Duration, Instant};

use common::grpc::{kv, put, watch_range, WatchConn};
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::request_op::Request as Op;
use oxcd::proto::etcdserverpb::*;
use oxcd::proto::mvccpb::event::EventType;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

async fn leases(cluster: &Cluster) -> LeaseClient<Channel> {
    LeaseClient::connect(cluster.member(0).client_url())
        .await
        .expect("connect")
}

async fn grant(client: &mut LeaseClient<Channel>, ttl: i64) -> i64 {
    let request = LeaseGrantRequest { ttl, id: 0 };
    client
        .lease_grant(request)
        .await
        .expect("grant")
        .into_inner()
        .id
}

async fn time_to_live(client: &mut LeaseClient<Channel>, id: i64) -> LeaseTimeToLiveResponse {
    let request = LeaseTimeToLiveRequest { id, keys: true };
    client
        .lease_time_to_live(request)
        .await
        .expect("ttl")
        .into_inner()
}

fn put_op(key: &str, value: &str, lease: i64) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: key.into(),
            value: value.into(),
            lease,
            ..Default::default()
        })),
    }
}

async fn put_with_lease(
    kv: &mut oxcd::proto::etcdserverpb::kv_client::KvClient<Channel>,
    key: &str,
    lease: i64,
) {
    let request = PutRequest {
        key: key.into(),
        value: "v".into(),
        lease,
        ..Default::default()
    };
    kv.put(request).await.expect("put with lease");
}

async fn count(
    kv: &mut oxcd::proto::etcdserverpb::kv_client::KvClient<Channel>,
    prefix: &str,
) -> i64 {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let request = RangeRequest {
        key: prefix.into(),
        range_end: end,
        count_only: true,
        ..Default::default()
    };
    kv.range(request).await.expect("range").into_inner().count
}

#[tokio::test]
async fn expiry_deletes_every_attached_key_in_one_revision_and_watchers_see_it() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    let mut lease = leases(&cluster).await;
    let id = grant(&mut lease, 2).await;
    for i in 0..5 {
        put_with_lease(&mut kv, &format!("exp/{i}"), id).await;
    }
    put(&mut kv, "exp/keep", "no lease").await;
    let mut watch = WatchConn::open(&cluster).await;
    watch.create(watch_range("exp/", "exp0", 0)).await;
    assert!(watch.next().await.created);

    let granted = Instant::now();
    let resp = watch.next().await;
    let waited = granted.elapsed();
    assert_eq!(resp.events.len(), 5, "all five deletes in one response");
    let revs: Vec<i64> = resp
        .events
        .iter()
        .map(|e| {
            assert_eq!(e.r#type, EventType::Delete as i32);
            e.kv.as_ref().expect("kv").mod_revision
        })
        .collect();
    assert!(revs.iter().all(|r| *r == revs[0]), "one revision: {revs:?}");
    assert!(waited < Duration::from_secs(5), "expired after {waited:?}");
    assert_eq!(
        count(&mut kv, "exp/").await,
        1,
        "only the unleased key is left"
    );
    assert_eq!(time_to_live(&mut lease, id).await.ttl, -1);
}

#[tokio::test]
async fn keep_alive_holds_a_lease_past_several_ttls_until_the_stream_closes() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    let mut lease = leases(&cluster).await;
    let id = grant(&mut lease, 2).await;
    put_with_lease(&mut kv, "held", id).await;

    let (requests, rx) = mpsc::channel(4);
    let mut responses = lease
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .expect("keep-alive")
        .into_inner();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        requests
            .send(LeaseKeepAliveRequest { id })
            .await
            .expect("send");
        let resp = responses.message().await.expect("ok").expect("open");
        assert_eq!((resp.id, resp.ttl), (id, 2));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count(&mut kv, "held").await, 1, "alive after 3 TTLs");

    drop(requests);
    drop(responses);
    let closed = Instant::now();
    while count(&mut kv, "held").await == 1 {
        assert!(closed.elapsed() < Duration::from_secs(6), "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An unknown lease is answered with TTL 0.
    let (requests, rx) = mpsc::channel(1);
    requests
        .send(LeaseKeepAliveRequest { id })
        .await
        .expect("send");
    let mut responses = lease
        .lease_keep_alive(ReceiverStream::new(rx))
        .await
        .expect("keep-alive")
        .into_inner();
    let resp = responses.message().await.expect("ok").expect("open");
    assert_eq!((resp.id, resp.ttl), (id, 0));
}

#[tokio::test]
async fn a_lease_resumes_its_remaining_ttl_after_a_restart() {
    let mut cluster =
        Cluster::start_with_args(ServerKind::Oxcd, &["--lease-checkpoint-interval=1s"]);
    let mut kv = kv(&cluster).await;
    let mut lease = leases(&cluster).await;
    let id = grant(&mut lease, 30).await;
    put_with_lease(&mut kv, "survivor", id).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = time_to_live(&mut lease, id).await.ttl;
    assert!(before <= 25, "remaining before the restart: {before}");

    cluster.restart(0).expect("restart");
    let mut lease = leases(&cluster).await;
    let after = time_to_live(&mut lease, id).await;
    assert_eq!(after.granted_ttl, 30);
    assert!(
        after.ttl <= before + 1 && after.ttl > 15,
        "remaining after the restart: {} (before: {before})",
        after.ttl
    );
    assert_eq!(after.keys, vec![b"survivor".to_vec()]);
}

/// Latency percentile (0..=100) of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_leases_expiring_together_do_not_stall_writes() {
    const LEASES: usize = 10_000;
    const TTL: i64 = 20;
    let cluster = Cluster::start(ServerKind::Oxcd);
    let channel = Channel::from_shared(cluster.member(0).client_url())
        .expect("url")
        .connect()
        .await
        .expect("connect");

    // Grant with 64 in flight, then attach one key to each, 100 per txn.
    let granting = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..64 {
        let mut lease = LeaseClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in (worker..LEASES).step_by(64) {
                ids.push(grant(&mut lease, TTL).await);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.expect("granter"));
    }
    let mut kv_client = oxcd::proto::etcdserverpb::kv_client::KvClient::new(channel.clone());
    for (chunk_no, chunk) in ids.chunks(100).enumerate() {
        let success = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| put_op(&format!("wave/{chunk_no}/{i}"), "v", *id))
            .collect();
        let txn = TxnRequest {
            success,
            ..Default::default()
        };
        kv_client.txn(txn).await.expect("txn");
    }
    let setup = granting.elapsed();
    assert!(
        setup < Duration::from_secs(TTL as u64),
        "setup took {setup:?}"
    );

    // A writer puts one key at a time until every leased key is gone.
    let mut writer = kv_client.clone();
    let mut latencies: Vec<(Instant, Duration)> = Vec::new();
    let mut wave_start = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = Instant::now();
        put(&mut writer, "writer", "x").await;
        latencies.push((sent, sent.elapsed()));
        if latencies.len().is_multiple_of(20) {
            let left = count(&mut kv_client, "wave/").await;
            if left < LEASES as i64 && wave_start.is_none() {
                wave_start = Some(Instant::now());
            }
            if left == 0 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "leases still not all expired");
    }
    let wave_start = wave_start.expect("the wave was seen");
    let mut during: Vec<Duration> = latencies
        .iter()
        .filter(|(at, _)| *at >= wave_start)
        .map(|(_, d)| *d)
        .collect();
    during.sort_unstable();
    let mut quiet: Vec<Duration> = latencies
        .iter()
        .filter(|(at, _)| *at < wave_start)
        .map(|(_, d)| *d)
        .collect();
    quiet.sort_unstable();
    let (p50, p99, max) = (
        percentile(&during, 50.0),
        percentile(&during, 99.0),
        during.last().copied().unwrap_or_default(),
    );
    eprintln!(
        "lease wave: {LEASES} leases; setup {setup:?}; {} puts during the wave: p50 {p50:?}, \
         p99 {p99:?}, max {max:?}; before it ({} puts): p50 {:?}, p99 {:?}",
        during.len(),
        quiet.len(),
        percentile(&quiet, 50.0),
        percentile(&quiet, 99.0),
    );
    assert!(
        during.len() > 50,
        "the writer kept writing ({} puts)",
        during.len()
    );
    assert!(
        p99 < Duration::from_millis(500),
        "p99 put latency {p99:?} in the wave"
    );
}

#[tokio::test]
async fn a_lock_from_a_txn_and_a_lease_passes_to_the_next_owner_on_revoke() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    let mut lease = leases(&cluster).await;

    // The recipe: if the lock key was never created, take it with my lease;
    // else read who holds it.
    async fn try_lock(
        kv: &mut oxcd::proto::etcdserverpb::kv_client::KvClient<Channel>,
        me: &str,
        lease: i64,
    ) -> (bool, String) {
        let txn = TxnRequest {
            compare: vec![Compare {
                result: CompareResult::Equal as i32,
                target: CompareTarget::Create as i32,
                key: "lock".into(),
                target_union: Some(TargetUnion::CreateRevision(0)),
                ..Default::default()
            }],
            success: vec![put_op("lock", me, lease)],
            failure: vec![RequestOp {
                request: Some(Op::RequestRange(RangeRequest {
                    key: "lock".into(),
                    ..Default::default()
                })),
            }],
        };
        let resp = kv.txn(txn).await.expect("txn").into_inner();
        if resp.succeeded {
            return (true, me.to_string());
        }
        let holder = match resp.responses.first().and_then(|r| r.response.as_ref()) {
            Some(response_op::Response::ResponseRange(range)) => range
                .kvs
                .first()
                .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        (false, holder)
    }

    let a = grant(&mut lease, 30).await;
    let b = grant(&mut lease, 30).await;
    assert_eq!(try_lock(&mut kv, "A", a).await, (true, "A".into()));
    assert_eq!(try_lock(&mut kv, "B", b).await, (false, "A".into()));
    lease
        .lease_revoke(LeaseRevokeRequest { id: a })
        .await
        .expect("revoke");
    assert_eq!(try_lock(&mut kv, "B", b).await, (true, "B".into()));
    assert_eq!(
        time_to_live(&mut lease, b).await.keys,
        vec![b"lock".to_vec()]
    );
}

#[tokio::test]
async fn txn_compares_on_lease_see_the_real_lease() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut kv = kv(&cluster).await;
    let mut lease = leases(&cluster).await;
    let id = grant(&mut lease, 60).await;
    put_with_lease(&mut kv, "leased", id).await;
    let compare = |target_lease: i64| TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Lease as i32,
            key: "leased".into(),
            target_union: Some(TargetUnion::Lease(target_lease)),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert!(
        kv.txn(compare(id))
            .await
            .expect("txn")
            .into_inner()
            .succeeded
    );
    assert!(
        !kv.txn(compare(0))
            .await
            .expect("txn")
            .into_inner()
            .succeeded
    );
    lease
        .lease_revoke(LeaseRevokeRequest { id })
        .await
        .expect("revoke");
    // The key went with its lease: a compare on a missing key fails.
    assert!(
        !kv.txn(compare(id))
            .await
            .expect("txn")
            .into_inner()
            .succeeded
    );
}
