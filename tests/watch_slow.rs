//! 1,000 watchers, 10 of which never read their stream, under a writer that
//! puts ~1 KiB values as fast as it can until the stalled streams must have
//! overflowed. The stalled watchers must not block the hub, the writer or
//! the other 990 watchers: every reading watcher gets every acknowledged
//! revision on its key set, in order and without gaps, no put waits on the
//! stalled streams, and the server's memory stays bounded (the stalled
//! streams' backlog stays in LMDB history, not in the server's buffers).

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{proc_status_kib, Cluster, ServerKind};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest, WatchResponse};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout_at;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;

/// Watchers in all, one per Watch stream.
const WATCHERS: usize = 1000;
/// Of those, the ones whose stream is never read.
const STALLED: usize = 10;
/// Tonic channels (HTTP/2 connections) the reading streams are spread over;
/// the stalled streams get one more of their own.
const CHANNELS: usize = 16;
/// Keys the writer cycles through; one reader in ten watches all of them,
/// the others one key each; the stalled watchers watch all of them.
const KEYS: usize = 10;
/// The writer stops once a reading watcher of all the keys has had this
/// many event responses (one per applied batch). Every stalled stream was
/// sent the same ones: twice its channel's 128 responses, more than the
/// channel and its 64 KiB HTTP/2 window hold, so each must have been
/// unsynced. Counted, not timed: a loaded machine makes fewer batches per
/// second (256 took 8.6 s alone, 18-19 s with both cores kept busy; a fixed
/// 8 s once gave 118 beside another test, and no stream was unsynced).
const RESPONSES_TO_OVERFLOW: usize = 256;
/// A bound on the writing, reached only if the responses stop coming.
const WRITE_AT_MOST: Duration = Duration::from_secs(90);
const VALUE_BYTES: usize = 1024;
/// Puts the writer keeps in flight. More makes bigger batches, not more of
/// them, and it is the number of responses that fills a stalled channel.
const WRITERS: usize = 4;
/// How long the readers may take to get everything once the writer stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Bound on the server's peak RSS (VmHWM), about twice what was measured:
/// 58-72 MiB over several debug runs, the same with or without the stalled
/// watchers (whose backlog on the server is their stream's channel of 128
/// responses; the rest waits in LMDB history).
const MAX_PEAK_RSS_KIB: u64 = 136 * 1024;

/// Bound on any one put's latency. A put waits for its commit, tens of
/// milliseconds here; one held up by the stalled streams (the applier or
/// the hub waiting on their full channels) would wait for ever.
const MAX_PUT_LATENCY: Duration = Duration::from_secs(5);

const PREFIX: &str = "slow/";
const PREFIX_END: &str = "slow0";

fn key(i: usize) -> String {
    format!("{PREFIX}k{i}")
}

/// What one watcher watches: all the keys or one of them.
#[derive(Clone, Copy, Debug)]
enum KeySet {
    All,
    One(usize),
}

impl KeySet {
    fn of(watcher: usize) -> KeySet {
        if watcher.is_multiple_of(10) {
            KeySet::All
        } else {
            KeySet::One(watcher % KEYS)
        }
    }

    fn contains(self, key_index: usize) -> bool {
        match self {
            KeySet::All => true,
            KeySet::One(k) => k == key_index,
        }
    }

    fn create(self, start_revision: i64) -> WatchRequest {
        let (key, range_end) = match self {
            KeySet::All => (PREFIX.to_string(), PREFIX_END.to_string()),
            KeySet::One(k) => (key(k), String::new()),
        };
        WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: key.into(),
                range_end: range_end.into(),
                start_revision,
                ..Default::default()
            })),
        }
    }

    /// The acknowledged revisions this set should see, in order.
    fn expected(self, acked: &[(i64, usize)]) -> Vec<i64> {
        acked
            .iter()
            .filter(|(_, k)| self.contains(*k))
            .map(|(rev, _)| *rev)
            .collect()
    }
}

/// The most event responses any one reader has had so far (how many batches
/// the writes came in, for a watcher of all the keys).
static MOST_RESPONSES: AtomicUsize = AtomicUsize::new(0);

/// The writer's acknowledged (revision, key index) pairs, once it is done.
type Acked = Option<Arc<Vec<(i64, usize)>>>;

/// Opens a stream, creates its watch, reports it created, then reads until
/// the last acknowledged revision of its key set, returning the revisions
/// seen (or what went wrong).
async fn reader(
    channel: Channel,
    set: KeySet,
    start_revision: i64,
    ready: mpsc::Sender<()>,
    mut acked: watch::Receiver<Acked>,
) -> Result<Vec<i64>, String> {
    let (requests, rx) = mpsc::channel(1);
    requests
        .send(set.create(start_revision))
        .await
        .map_err(|e| e.to_string())?;
    let mut stream: Streaming<WatchResponse> = WatchClient::new(channel)
        .watch(ReceiverStream::new(rx))
        .await
        .map_err(|e| format!("watch: {e}"))?
        .into_inner();
    let created = stream
        .message()
        .await
        .map_err(|e| format!("created: {e}"))?
        .ok_or("stream ended before created")?;
    if !created.created || created.canceled {
        return Err(format!("not created: {created:?}"));
    }
    ready.send(()).await.map_err(|e| e.to_string())?;

    let mut revs: Vec<i64> = Vec::new();
    let mut target: Option<i64> = None;
    let mut responses = 0;
    loop {
        if let (Some(target), Some(last)) = (target, revs.last()) {
            if *last >= target {
                break;
            }
        }
        tokio::select! {
            msg = stream.message() => {
                let resp = msg
                    .map_err(|e| format!("stream error: {e}"))?
                    .ok_or("stream ended")?;
                if resp.canceled {
                    return Err(format!("canceled: {resp:?}"));
                }
                responses += 1;
                MOST_RESPONSES.fetch_max(responses, Ordering::Relaxed);
                for event in resp.events {
                    let kv = event.kv.ok_or("event without kv")?;
                    let in_set = (0..KEYS).any(|k| key(k).as_bytes() == kv.key && set.contains(k));
                    if !in_set {
                        return Err(format!("event for a key outside the set: {:?}", kv.key));
                    }
                    revs.push(kv.mod_revision);
                }
            }
            changed = acked.changed(), if target.is_none() => {
                changed.map_err(|e| e.to_string())?;
                target = acked
                    .borrow()
                    .as_ref()
                    .map(|all| set.expected(all).last().copied().unwrap_or(0));
            }
        }
    }
    drop(requests);
    Ok(revs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_watchers_block_neither_the_writer_nor_the_other_watchers() {
    let began = Instant::now();
    let cluster = Cluster::start(ServerKind::Oxcd);
    let url = cluster.member(0).client_url();
    let pid = cluster.member(0).pid().expect("server pid");
    let mut kv = KvClient::connect(url.clone()).await.expect("connect kv");
    let setup = PutRequest {
        key: "setup".into(),
        value: "x".into(),
        ..Default::default()
    };
    let rev = kv.put(setup).await.expect("put").into_inner();
    // Every watch starts here, so none can miss a write however late it is
    // registered.
    let start_revision = rev.header.expect("header").revision + 1;

    // The stalled streams: created, then never polled. Their connection has
    // HTTP/2's default 64 KiB stream window (as grpc-go starts with), so the
    // transport soon stops taking their data and the backlog is the server's
    // to handle.
    let stalled_channel = Endpoint::from_shared(url.clone())
        .expect("endpoint")
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(1 << 20)
        .connect()
        .await
        .expect("connect stalled");
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let (requests, rx) = mpsc::channel(1);
        requests
            .send(KeySet::All.create(start_revision))
            .await
            .expect("queue create");
        let stream = WatchClient::new(stalled_channel.clone())
            .watch(ReceiverStream::new(rx))
            .await
            .expect("watch")
            .into_inner();
        stalled.push((requests, stream));
    }

    let mut channels = Vec::new();
    for _ in 0..CHANNELS {
        let channel = Endpoint::from_shared(url.clone())
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        channels.push(channel);
    }
    let readers_count = WATCHERS - STALLED;
    let (ready_tx, mut ready_rx) = mpsc::channel(WATCHERS);
    let (acked_tx, acked_rx) = watch::channel::<Acked>(None);
    let mut readers = Vec::new();
    for i in 0..readers_count {
        let set = KeySet::of(i);
        let task = tokio::spawn(reader(
            channels[i % CHANNELS].clone(),
            set,
            start_revision,
            ready_tx.clone(),
            acked_rx.clone(),
        ));
        readers.push((set, task));
    }
    drop(ready_tx);
    let ready_by = tokio::time::Instant::now() + Duration::from_secs(20);
    for n in 0..readers_count {
        timeout_at(ready_by, ready_rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {n} of {readers_count} watchers created in time"))
            .expect("a reader failed before its watch was created");
    }
    let setup_done = began.elapsed();

    // The writer: WRITERS puts in flight at a time on one connection (one at
    // a time is bound by the commit latency, not by the server's work).
    let write_start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut kv = kv.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let value = vec![b'v'; VALUE_BYTES];
            let mut acked = Vec::new();
            let mut slowest = Duration::ZERO;
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                let k = n % KEYS;
                n += 1;
                let put = PutRequest {
                    key: key(k).into(),
                    value: value.clone(),
                    ..Default::default()
                };
                let sent = Instant::now();
                let resp = tokio::time::timeout(MAX_PUT_LATENCY, kv.put(put))
                    .await
                    .map_err(|_| format!("a put waited over {MAX_PUT_LATENCY:?}"))?
                    .map_err(|e| format!("put: {e}"))?
                    .into_inner();
                slowest = slowest.max(sent.elapsed());
                let header = resp.header.ok_or("put response without a header")?;
                acked.push((header.revision, k));
            }
            Ok::<_, String>((acked, slowest))
        }));
    }
    while MOST_RESPONSES.load(Ordering::Relaxed) < RESPONSES_TO_OVERFLOW
        && write_start.elapsed() < WRITE_AT_MOST
        && !writers.iter().any(|w| w.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let wrote_for = write_start.elapsed();
    let mut acked = Vec::new();
    let mut slowest_put = Duration::ZERO;
    for writer in writers {
        let (some, slowest) = writer.await.expect("writer task").expect("writer");
        acked.extend(some);
        slowest_put = slowest_put.max(slowest);
    }
    let responses_while_writing = MOST_RESPONSES.load(Ordering::Relaxed);
    assert!(
        responses_while_writing >= RESPONSES_TO_OVERFLOW,
        "only {responses_while_writing} event responses reached a watcher of all the keys in \
         {wrote_for:?} (the writer stops at {RESPONSES_TO_OVERFLOW})"
    );
    acked.sort_unstable();
    let puts = acked.len();
    let written = Instant::now();
    let acked = Arc::new(acked);
    acked_tx.send(Some(acked.clone())).expect("publish acked");

    let drain_by = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let mut failures = Vec::new();
    for (i, (set, task)) in readers.into_iter().enumerate() {
        let expected = set.expected(&acked);
        match timeout_at(drain_by, task).await {
            Err(_) => failures.push(format!("watcher {i} ({set:?}): timed out")),
            Ok(Err(e)) => failures.push(format!("watcher {i} ({set:?}): task {e}")),
            Ok(Ok(Err(e))) => failures.push(format!("watcher {i} ({set:?}): {e}")),
            Ok(Ok(Ok(revs))) if revs != expected => {
                let at = revs
                    .iter()
                    .zip(&expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(revs.len().min(expected.len()));
                failures.push(format!(
                    "watcher {i} ({set:?}): {} revisions, expected {}; first difference at \
                     #{at}: got {:?}, expected {:?}",
                    revs.len(),
                    expected.len(),
                    revs.get(at),
                    expected.get(at)
                ));
            }
            Ok(Ok(Ok(_))) => {}
        }
    }
    let drained = written.elapsed();
    let peak_kib = proc_status_kib(pid, "VmHWM:");
    let log = cluster.member(0).log_tail(100_000);
    let unsynced = log.matches("slow watcher unsynced").count();
    let rss_kib = proc_status_kib(pid, "VmRSS:");
    eprintln!(
        "watch_slow: {STALLED} stalled, {readers_count} reading; setup {setup_done:?}; \
         {puts} puts in {wrote_for:?} (slowest {slowest_put:?}) in {} responses; drained in \
         {drained:?}; server VmHWM {peak_kib} KiB, VmRSS {rss_kib} KiB; {unsynced} unsynced; \
         total {:?}",
        MOST_RESPONSES.load(Ordering::Relaxed),
        began.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {readers_count} reading watchers failed, e.g.:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    // Each stalled watcher fills its stream's channel once and never syncs
    // again (readers that lag for a moment add to the count).
    assert!(
        unsynced >= STALLED,
        "the stalled watchers should have fallen behind ({unsynced} unsynced in the log)"
    );
    assert!(
        peak_kib <= MAX_PEAK_RSS_KIB,
        "server peak RSS {peak_kib} KiB over the bound {MAX_PEAK_RSS_KIB} KiB"
    );
    drop(stalled);
}
