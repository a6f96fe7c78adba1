//! The guarantees etcd documents for Watch, each checked while a concurrent
//! writer puts, deletes and commits multi-key txns: ordered, unique,
//! reliable, atomic, resumable and bookmarkable.

use crate::common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::grpc::{kv, watch_range, WatchConn};
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::request_op::Request as Op;
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::*;
use oxcd::proto::mvccpb::event::EventType;
use tonic::transport::Channel;

/// Writes issued by the concurrent writer.
const OPS: usize = 400;
/// The key the writer puts last: readers stop when they see it.
const STOP_KEY: &str = "g/stop";

/// One acknowledged write: its revision and the (key, is_put) events it made.
type Acked = BTreeMap<i64, Vec<(String, bool)>>;

/// Puts, deletes and 3-key txns on `g/0`..`g/6`, then `g/stop`; returns what
/// was acknowledged, by revision.
async fn write_load(mut client: KvClient<Channel>) -> Acked {
    let mut acked = Acked::new();
    for i in 0..OPS {
        let key = |n: usize| format!("g/{}", n % 7);
        match i % 5 {
            3 => {
                let request = DeleteRangeRequest {
                    key: key(i).into(),
                    ..Default::default()
                };
                let resp = client.delete_range(request).await.expect("delete");
                let resp = resp.into_inner();
                // Deleting a missing key makes no revision and no event.
                if resp.deleted > 0 {
                    let rev = resp.header.expect("header").revision;
                    acked.insert(rev, vec![(key(i), false)]);
                }
            }
            4 => {
                let keys = [key(i), key(i + 1), key(i + 2)];
                let success = keys
                    .iter()
                    .map(|k| RequestOp {
                        request: Some(Op::RequestPut(PutRequest {
                            key: k.clone().into(),
                            value: format!("txn{i}").into(),
                            ..Default::default()
                        })),
                    })
                    .collect();
                let request = TxnRequest {
                    success,
                    ..Default::default()
                };
                let resp = client.txn(request).await.expect("txn").into_inner();
                let rev = resp.header.expect("header").revision;
                acked.insert(rev, keys.iter().map(|k| (k.clone(), true)).collect());
            }
            _ => {
                let rev = put_rev(&mut client, &key(i), &format!("v{i}")).await;
                acked.insert(rev, vec![(key(i), true)]);
            }
        }
    }
    let rev = put_rev(&mut client, STOP_KEY, "end").await;
    acked.insert(rev, vec![(STOP_KEY.to_string(), true)]);
    acked
}

async fn put_rev(client: &mut KvClient<Channel>, key: &str, value: &str) -> i64 {
    let request = PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    };
    let resp = client.put(request).await.expect("put").into_inner();
    resp.header.expect("header").revision
}

/// Reads responses until the stop key's event (or `until`), keeping them all.
async fn read_until(watch: &mut WatchConn, until: impl Fn(i64) -> bool) -> Vec<WatchResponse> {
    let mut responses = Vec::new();
    loop {
        let resp = watch.next().await;
        let done = resp.events.iter().any(|e| {
            let kv = e.kv.as_ref().expect("kv");
            kv.key == STOP_KEY.as_bytes() || until(kv.mod_revision)
        });
        responses.push(resp);
        if done {
            return responses;
        }
    }
}

/// Every event as (revision, key, is_put), in arrival order.
fn events_of(responses: &[WatchResponse]) -> Vec<(i64, String, bool)> {
    responses
        .iter()
        .flat_map(|r| r.events.iter())
        .map(|e| {
            let kv = e.kv.as_ref().expect("kv");
            let key = String::from_utf8_lossy(&kv.key).into_owned();
            (kv.mod_revision, key, e.r#type == EventType::Put as i32)
        })
        .collect()
}

/// The events `acked` should produce, in revision order (a txn's events in
/// the order of its ops).
fn expected_events(acked: &Acked) -> Vec<(i64, String, bool)> {
    acked
        .iter()
        .flat_map(|(rev, events)| events.iter().map(|(k, put)| (*rev, k.clone(), *put)))
        .collect()
}

/// Starts a server, a watch on `g/` from revision 1 and the writer.
async fn watched_load() -> (Cluster, WatchConn, tokio::task::JoinHandle<Acked>) {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let client = kv(&cluster).await;
    let mut watch = WatchConn::open(&cluster).await;
    let mut create = watch_range("g/", "g0", 0);
    create.start_revision = 1;
    watch.create(create).await;
    assert!(watch.next().await.created);
    let writer = tokio::spawn(write_load(client));
    (cluster, watch, writer)
}

#[tokio::test]
async fn ordered_revisions_never_go_backwards() {
    let (_cluster, mut watch, writer) = watched_load().await;
    let responses = read_until(&mut watch, |_| false).await;
    writer.await.expect("writer");
    let revs: Vec<i64> = events_of(&responses).iter().map(|e| e.0).collect();
    assert!(
        revs.windows(2).all(|w| w[0] <= w[1]),
        "event revisions must never decrease"
    );
}

#[tokio::test]
async fn unique_no_event_is_delivered_twice() {
    let (_cluster, mut watch, writer) = watched_load().await;
    let responses = read_until(&mut watch, |_| false).await;
    writer.await.expect("writer");
    let events = events_of(&responses);
    let distinct: HashSet<(i64, String)> = events.iter().map(|e| (e.0, e.1.clone())).collect();
    assert_eq!(distinct.len(), events.len(), "a (revision, key) seen twice");
}

#[tokio::test]
async fn reliable_every_acknowledged_write_arrives_even_for_a_slow_reader() {
    let (_cluster, mut watch, writer) = watched_load().await;
    // Read slowly at first so the watcher falls behind and catches up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let responses = read_until(&mut watch, |_| false).await;
    let acked = writer.await.expect("writer");
    assert_eq!(
        events_of(&responses),
        expected_events(&acked),
        "exactly the acknowledged writes, in order, nothing missing"
    );
}

#[tokio::test]
async fn atomic_a_revision_is_never_split_across_responses() {
    let (_cluster, mut watch, writer) = watched_load().await;
    let responses = read_until(&mut watch, |_| false).await;
    let acked = writer.await.expect("writer");
    let mut seen_in: BTreeMap<i64, usize> = BTreeMap::new();
    for (at, resp) in responses.iter().enumerate() {
        for event in &resp.events {
            let rev = event.kv.as_ref().expect("kv").mod_revision;
            let first = *seen_in.entry(rev).or_insert(at);
            assert_eq!(first, at, "revision {rev} split across responses");
        }
    }
    let txns = acked.values().filter(|events| events.len() == 3).count();
    assert!(txns > 50, "the load must include multi-key txns ({txns})");
}

#[tokio::test]
async fn resumable_from_the_last_revision_plus_one() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let client = kv(&cluster).await;
    let mut first = WatchConn::open(&cluster).await;
    let mut create = watch_range("g/", "g0", 0);
    create.start_revision = 1;
    first.create(create.clone()).await;
    assert!(first.next().await.created);
    let writer = tokio::spawn(write_load(client));

    // Drop the first stream part-way through the load, resume on a new one.
    let before = read_until(&mut first, |rev| rev >= 100).await;
    drop(first);
    let last = events_of(&before).last().expect("events").0;
    let mut second = WatchConn::open(&cluster).await;
    create.start_revision = last + 1;
    second.create(create).await;
    assert!(second.next().await.created);
    let after = read_until(&mut second, |_| false).await;
    let acked = writer.await.expect("writer");

    let mut all = events_of(&before);
    all.extend(events_of(&after));
    assert_eq!(
        all,
        expected_events(&acked),
        "resumed without gap or repeat"
    );
}

#[tokio::test]
async fn bookmarkable_a_progress_revision_covers_every_earlier_event() {
    let (_cluster, mut watch, writer) = watched_load().await;
    let requests = watch.requester();
    let asker = tokio::spawn(async move {
        for _ in 0..40 {
            let progress = RequestUnion::ProgressRequest(WatchProgressRequest {});
            let request = WatchRequest {
                request_union: Some(progress),
            };
            if requests.send(request).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let responses = read_until(&mut watch, |_| false).await;
    asker.await.expect("asker");
    let acked = writer.await.expect("writer");

    let mut delivered: HashSet<i64> = HashSet::new();
    let mut bookmarks = 0;
    for resp in &responses {
        if resp.watch_id == -1 && resp.events.is_empty() {
            let rev = resp.header.as_ref().expect("header").revision;
            let missing: Vec<i64> = acked
                .keys()
                .filter(|r| **r <= rev && !delivered.contains(r))
                .copied()
                .collect();
            assert!(missing.is_empty(), "progress {rev} before {missing:?}");
            bookmarks += 1;
        }
        for event in &resp.events {
            delivered.insert(event.kv.as_ref().expect("kv").mod_revision);
        }
    }
    assert!(bookmarks > 3, "progress responses under load: {bookmarks}");
}
