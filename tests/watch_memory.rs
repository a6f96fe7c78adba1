//! Stalled watchers and large values: 10 Watch streams that nobody reads
//! while a writer puts 1,500 values of 32 KiB, against the same writes with
//! no watchers. Were the backlog kept
//! in the server, each stalled stream would hold everything written (~10x
//! the data in all); instead each holds at most its outbox's byte budget
//! plus what HTTP/2 buffers, and the rest waits in LMDB history. Once the
//! clients read again, every stalled watcher gets every acknowledged
//! revision, in order.

use crate::common;

use std::time::Duration;

use common::{proc_status_kib, Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest, WatchResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::Streaming;

const STALLED: usize = 10;
const VALUE_BYTES: usize = 32 * 1024;
/// 47 MiB per watcher: 470 MiB over the stalled watchers if kept.
const PUTS: usize = 1500;
const WRITERS: usize = 4;
/// Stalled streams read back in full at the end (reading all ten only
/// repeats the same check at ten times the cost).
const DRAINED: usize = 3;

/// Bound on how much more the server's heap grows with the stalled streams
/// than without them, for the same writes: 10 x (1 MiB outbox budget +
/// HTTP/2 send buffer) is about 15 MiB. (The write path itself holds the
/// raft log's recent entries, about 1.4x the data written here, in both
/// runs.)
const MAX_EXTRA_GROWTH_KIB: u64 = 48 * 1024;

/// Server heap (RssAnon) before and at its peak while PUTS are written with
/// `stalled` watch streams open and unread; the streams, still unread, and
/// the acknowledged revisions.
struct Run {
    cluster: Cluster,
    growth_kib: u64,
    stalled: Vec<(mpsc::Sender<WatchRequest>, Streaming<WatchResponse>)>,
    acked: Vec<i64>,
}

async fn run(stalled_count: usize) -> Run {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let url = cluster.member(0).client_url();
    let pid = cluster.member(0).pid().expect("server pid");
    let kv = KvClient::connect(url.clone())
        .await
        .expect("connect kv")
        .max_encoding_message_size(1 << 20);

    // grpc-go's default 64 KiB stream window, so the transport soon stops
    // taking the stalled streams' data.
    let stalled_channel = Endpoint::from_shared(url)
        .expect("endpoint")
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(1 << 20)
        .connect()
        .await
        .expect("connect");
    let mut stalled = Vec::new();
    for _ in 0..stalled_count {
        let (requests, rx) = mpsc::channel(1);
        let create = WatchCreateRequest {
            key: "big/".into(),
            range_end: "big0".into(),
            start_revision: 2,
            ..Default::default()
        };
        let request = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        };
        requests.send(request).await.expect("queue create");
        let mut stream = WatchClient::new(stalled_channel.clone())
            .max_decoding_message_size(64 << 20)
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch")
            .into_inner();
        let created = stream.message().await.expect("created").expect("open");
        assert!(created.created);
        stalled.push((requests, stream));
    }

    let anon_before = proc_status_kib(pid, "RssAnon:");
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(proc_status_kib(pid, "RssAnon:"));
            tokio::select! {
                _ = &mut done_rx => return peak,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut kv = kv.clone();
        writers.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for n in (w..PUTS).step_by(WRITERS) {
                let put = PutRequest {
                    key: format!("big/{}", n % 10).into(),
                    value: vec![b'v'; VALUE_BYTES],
                    ..Default::default()
                };
                let resp = kv.put(put).await.expect("put").into_inner();
                revs.push(resp.header.expect("header").revision);
            }
            revs
        }));
    }
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.expect("writer"));
    }
    acked.sort_unstable();
    // Let the hub finish with the last batches before the last sample.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = done_tx.send(());
    let anon_peak = sampler.await.expect("sampler");
    Run {
        cluster,
        growth_kib: anon_peak.saturating_sub(anon_before),
        stalled,
        acked,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_streams_hold_bounded_memory_and_lose_nothing() {
    let baseline = run(0).await.growth_kib;
    let Run {
        cluster,
        growth_kib,
        mut stalled,
        acked,
    } = run(STALLED).await;
    let extra = growth_kib.saturating_sub(baseline);
    let written_kib = (PUTS * VALUE_BYTES / 1024) as u64;
    let unsynced = cluster
        .member(0)
        .log_tail(100_000)
        .matches("slow watcher unsynced")
        .count();
    eprintln!(
        "watch_memory: {PUTS} puts of {VALUE_BYTES} B ({written_kib} KiB per watcher); server \
         heap growth {baseline} KiB without watchers, {growth_kib} KiB with {STALLED} stalled \
         (+{extra} KiB); {unsynced} unsynced"
    );
    assert!(
        unsynced >= STALLED,
        "every stalled watcher should be unsynced"
    );
    assert!(
        extra <= MAX_EXTRA_GROWTH_KIB,
        "{STALLED} stalled watchers cost the server {extra} KiB of heap \
         (bound {MAX_EXTRA_GROWTH_KIB} KiB; unbounded would be ~{} KiB)",
        written_kib * STALLED as u64
    );

    // Reading again: everything arrives, from history, in order.
    for (i, (_requests, stream)) in stalled.iter_mut().take(DRAINED).enumerate() {
        let mut got = Vec::with_capacity(acked.len());
        while got.len() < acked.len() {
            let resp = tokio::time::timeout(Duration::from_secs(20), stream.message())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "stream {i}: {} of {} events in time",
                        got.len(),
                        acked.len()
                    )
                })
                .expect("stream ok")
                .expect("stream open");
            got.extend(
                resp.events
                    .iter()
                    .map(|e| e.kv.as_ref().expect("kv").mod_revision),
            );
        }
        assert_eq!(
            got, acked,
            "stalled watcher {i} got every revision in order"
        );
    }
}
