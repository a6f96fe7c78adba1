//! `--max-concurrent-streams`: a client connection gets at most that many
//! gRPC streams at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, as etcd
//! sets it); a further call waits until one ends.

use crate::common;

use std::time::Duration;

use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::{watch_request, RangeRequest, WatchCreateRequest, WatchRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gets_at_most_max_concurrent_streams() {
    let cluster = Cluster::start_with_args(ServerKind::Oxcd, &["--max-concurrent-streams=2"]);
    let channel = tonic::transport::Endpoint::from_shared(cluster.member(0).client_url())
        .unwrap()
        .connect()
        .await
        .expect("connect");

    // Two watch streams hold both slots.
    let mut streams = Vec::new();
    for key in ["a", "b"] {
        let (tx, rx) = mpsc::channel(1);
        tx.send(WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: key.into(),
                    ..Default::default()
                },
            )),
        })
        .await
        .unwrap();
        let mut inbound = WatchClient::new(channel.clone())
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch")
            .into_inner();
        let created = inbound
            .message()
            .await
            .expect("created")
            .expect("a message");
        assert!(created.created);
        streams.push((tx, inbound));
    }

    // A third call on the same connection waits for a slot...
    let mut kv = KvClient::new(channel.clone());
    let range = RangeRequest {
        key: "a".into(),
        ..Default::default()
    };
    let waiting = tokio::spawn(async move { kv.range(range).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "a third stream was opened at once");

    // ... and gets one when a watch stream ends.
    drop(streams.pop());
    let answered = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the call ran once a stream ended")
        .unwrap();
    assert!(answered.is_ok(), "{answered:?}");

    // Without the flag (etcd's default) many streams share a connection.
    let unlimited = Cluster::start(ServerKind::Oxcd);
    let channel = tonic::transport::Endpoint::from_shared(unlimited.member(0).client_url())
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut open = Vec::new();
    for _ in 0..20 {
        let (tx, rx) = mpsc::channel::<WatchRequest>(1);
        let inbound = WatchClient::new(channel.clone())
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch");
        open.push((tx, inbound));
    }
    let mut kv = KvClient::new(channel);
    let quick = tokio::time::timeout(
        Duration::from_secs(5),
        kv.range(RangeRequest {
            key: "a".into(),
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(quick, Ok(Ok(_))), "{quick:?}");
}
