//! The loads' watchers: streams over the whole prefix with prev_kv, progress_notify and
//! require-leader, a RequestProgress every so often, every response recorded. A stream
//! that fails is reopened on the next endpoint from the revision after the last one it
//! vouched for (its last event or progress notification), as Kubernetes' reflector does.

use crate::history::convert;
use crate::history::recorder::Recorder;
use crate::history::{prefix_end, WatchResponse, WatchStream};
use crate::loads::{Authed, WithToken};
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::{WatchCreateRequest, WatchProgressRequest, WatchRequest};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

/// How long the watchers may take, at the end, to vouch for the last revision.
const CATCH_UP: Duration = Duration::from_secs(10);
/// Pause before reopening a failed stream.
const REOPEN_AFTER: Duration = Duration::from_millis(100);

pub struct Watchers {
    /// 0 while the load runs; then the revision every watcher must reach before it stops.
    target: watch::Sender<i64>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Clone)]
struct Setup {
    recorder: Arc<Recorder>,
    channels: Vec<Channel>,
    key: String,
    end: String,
    progress_every: Duration,
}

impl Watchers {
    pub fn start(
        recorder: &Arc<Recorder>,
        channels: &[Channel],
        prefix: &str,
        count: u64,
        start_revision: i64,
        progress_every: Duration,
    ) -> Watchers {
        let (target, _) = watch::channel(0);
        let setup = Setup {
            recorder: Arc::clone(recorder),
            channels: channels.to_vec(),
            key: prefix.to_string(),
            end: prefix_end(prefix),
            progress_every,
        };
        let tasks = (0..count)
            .map(|w| {
                tokio::spawn(watcher(
                    setup.clone(),
                    w,
                    start_revision,
                    target.subscribe(),
                ))
            })
            .collect();
        Watchers {
            target,
            tasks: Mutex::new(tasks),
        }
    }

    /// Let every watcher catch up to `revision` (or give up after a while), then stop.
    pub async fn stop(&self, revision: i64) {
        self.target.send_replace(revision.max(1));
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn progress_request() -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
    }
}

async fn watcher(setup: Setup, w: u64, mut start: i64, mut target: watch::Receiver<i64>) {
    let mut lane = w as usize;
    let mut deadline: Option<Instant> = None;
    loop {
        let channel = setup.channels[lane % setup.channels.len()].clone();
        lane += 1;
        let end = one_stream(&setup, w, start, channel, &mut target, &mut deadline).await;
        let (vouched, canceled_at) = (end.vouched, end.compacted);
        setup.recorder.add_watch(end.record);
        // After a compaction cancel, go on from the oldest revision still kept.
        start = canceled_at.unwrap_or(vouched.map_or(start, |v| v + 1));
        let goal = *target.borrow();
        if goal > 0
            && (vouched.is_some_and(|v| v >= goal) || deadline.is_some_and(|d| Instant::now() >= d))
        {
            return;
        }
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// How a stream ended: its record, the last revision it vouched for, and the compaction
/// revision it was canceled at, if it was.
struct StreamEnd {
    record: WatchStream,
    vouched: Option<i64>,
    compacted: Option<i64>,
}

/// Run one stream until it fails or the watcher is done.
async fn one_stream(
    setup: &Setup,
    w: u64,
    start: i64,
    channel: Channel,
    target: &mut watch::Receiver<i64>,
    deadline: &mut Option<Instant>,
) -> StreamEnd {
    let recorder = &setup.recorder;
    let mut record = WatchStream {
        watcher: w,
        key: setup.key.clone(),
        end: setup.end.clone(),
        start_revision: start,
        prev_kv: true,
        progress_notify: true,
        opened: recorder.now(),
        responses: Vec::new(),
        ended: None,
    };
    let mut vouched = None;
    let mut compacted = None;
    macro_rules! end {
        () => {
            return StreamEnd {
                record,
                vouched,
                compacted,
            }
        };
    }
    let (tx, rx) = mpsc::channel(8);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: setup.key.clone().into_bytes(),
            range_end: setup.end.clone().into_bytes(),
            start_revision: start,
            progress_notify: true,
            prev_kv: true,
            ..Default::default()
        })),
    };
    if tx.send(create).await.is_err() {
        record.ended = Some("request channel closed".into());
        end!();
    }
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    // Kubernetes' apiserver asks every watch to fail when the member loses its leader.
    request.metadata_mut().insert(
        "hasleader",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    let mut client: WatchClient<Authed> = WatchClient::with_interceptor(channel, WithToken);
    let mut responses = match client.watch(request).await {
        Ok(r) => r.into_inner(),
        Err(s) => {
            record.ended = Some(format!("{:?}: {}", s.code(), s.message()));
            end!();
        }
    };
    let mut ticker = tokio::time::interval(setup.progress_every);
    loop {
        let goal = *target.borrow();
        if goal > 0 {
            let d = *deadline.get_or_insert_with(|| Instant::now() + CATCH_UP);
            if vouched.is_some_and(|v| v >= goal) || Instant::now() >= d {
                end!();
            }
        }
        tokio::select! {
            _ = ticker.tick() => {
                if tx.send(progress_request()).await.is_err() {
                    record.ended = Some("request channel closed".into());
                    end!();
                }
            }
            _ = target.changed() => {
                // Ask at once where the stream stands.
                let _ = tx.send(progress_request()).await;
            }
            message = responses.message() => match message {
                Ok(Some(r)) => {
                    let header = r.header.as_ref().map_or(0, |h| h.revision);
                    let response = WatchResponse {
                        at: recorder.now(),
                        revision: header,
                        created: r.created,
                        canceled: r.canceled,
                        compact_revision: r.compact_revision,
                        events: r.events.iter().map(convert::event).collect(),
                    };
                    if let Some(last) = response.events.last() {
                        vouched = Some(last.kv.mod_revision);
                    } else if response.is_progress() {
                        vouched = Some(vouched.map_or(header, |v: i64| v.max(header)));
                    }
                    let canceled = response.canceled;
                    if canceled && response.compact_revision > 0 {
                        compacted = Some(response.compact_revision);
                    }
                    if recorder.keeps() {
                        record.responses.push(response);
                    }
                    if canceled {
                        record.ended = Some(format!("canceled: {}", r.cancel_reason));
                        end!();
                    }
                }
                Ok(None) => {
                    record.ended = Some("stream closed by the server".into());
                    end!();
                }
                Err(s) => {
                    record.ended = Some(format!("{:?}: {}", s.code(), s.message()));
                    end!();
                }
            }
        }
    }
}
