//! tonic clients for the integration tests: a KV client, put/delete that
//! return the revision, and one Watch stream driven request by request.

use std::time::Duration;

use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

use super::server::Cluster;

const MIB: usize = 1024 * 1024;

/// A KV client to member 0 that accepts messages up to 64 MiB.
pub async fn kv(cluster: &Cluster) -> KvClient<Channel> {
    KvClient::connect(cluster.member(0).client_url())
        .await
        .expect("connect")
        .max_decoding_message_size(64 * MIB)
        .max_encoding_message_size(64 * MIB)
}

/// Puts `key`; the revision of the put.
/// The keys in `[key, end)` as the member at `url` sees them (linearizable).
pub async fn keys_in(url: &str, key: &str, end: &str) -> Vec<String> {
    let mut kv = KvClient::connect(url.to_string()).await.expect("connect");
    let request = RangeRequest {
        key: key.into(),
        range_end: end.into(),
        keys_only: true,
        ..Default::default()
    };
    let resp = kv.range(request).await.expect("range").into_inner();
    resp.kvs
        .into_iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

pub async fn put(client: &mut KvClient<Channel>, key: &str, value: &str) -> i64 {
    let request = PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    };
    let response = client.put(request).await.expect("put").into_inner();
    response.header.expect("header").revision
}

/// Deletes `key`; the revision after the delete.
pub async fn delete(client: &mut KvClient<Channel>, key: &str) -> i64 {
    let request = DeleteRangeRequest {
        key: key.into(),
        ..Default::default()
    };
    let response = client.delete_range(request).await.expect("delete");
    response.into_inner().header.expect("header").revision
}

/// One Watch stream: requests are sent one by one, responses read in order.
pub struct WatchConn {
    requests: mpsc::Sender<WatchRequest>,
    responses: Streaming<WatchResponse>,
}

impl WatchConn {
    pub async fn open(cluster: &Cluster) -> WatchConn {
        let mut client = WatchClient::connect(cluster.member(0).client_url())
            .await
            .expect("connect")
            .max_decoding_message_size(64 * MIB);
        let (requests, rx) = mpsc::channel(16);
        let responses = client
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch")
            .into_inner();
        WatchConn {
            requests,
            responses,
        }
    }

    pub async fn send(&self, union: RequestUnion) {
        let request = WatchRequest {
            request_union: Some(union),
        };
        self.requests.send(request).await.expect("send");
    }

    pub async fn create(&self, create: WatchCreateRequest) {
        self.send(RequestUnion::CreateRequest(create)).await;
    }

    /// Another handle for sending requests while this one reads.
    pub fn requester(&self) -> mpsc::Sender<WatchRequest> {
        self.requests.clone()
    }

    /// Ends the request side (the client half-closes the stream).
    pub fn close_requests(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.requests, closed));
    }

    pub async fn progress(&self) {
        self.send(RequestUnion::ProgressRequest(WatchProgressRequest {}))
            .await;
    }

    /// What the stream yields next (a response, its end, or its error);
    /// panics after 10 s.
    pub async fn next_result(&mut self) -> Result<Option<WatchResponse>, tonic::Status> {
        tokio::time::timeout(Duration::from_secs(10), self.responses.message())
            .await
            .expect("stream item in time")
    }

    /// The next response; panics after 10 s or if the stream ends.
    pub async fn next(&mut self) -> WatchResponse {
        tokio::time::timeout(Duration::from_secs(10), self.responses.message())
            .await
            .expect("response in time")
            .expect("stream ok")
            .expect("stream open")
    }
}

/// A watch of `[key, end)` (`end` "" = the one key) with id `id` (0 = any).
pub fn watch_range(key: &str, end: &str, id: i64) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.into(),
        range_end: end.into(),
        watch_id: id,
        ..Default::default()
    }
}
