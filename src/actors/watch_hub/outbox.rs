//! A Watch stream's outgoing queue, bounded twice: in responses (etcd's
//! 128) and in bytes, so a client that stops reading holds at most
//! `STREAM_BUFFER_BYTES` of events in the server however large the values;
//! beyond that its watchers are unsynced and wait in LMDB history.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::Stream;
use tokio::sync::mpsc::{self, Receiver, Sender};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use crate::proto::etcdserverpb::WatchResponse;

/// One response on its way to a Watch stream. The stream does the rest of
/// the work, off the hub: `prev_kv` fills each event's previous version,
/// `fragment` splits a response too large for one message.
#[derive(Debug)]
pub struct Outgoing {
    pub response: WatchResponse,
    pub fragment: bool,
    pub prev_kv: bool,
    /// What it counts against the stream's byte budget (set by the outbox).
    pub bytes: usize,
}

impl Outgoing {
    pub fn whole(response: WatchResponse) -> Outgoing {
        Outgoing {
            response,
            fragment: false,
            prev_kv: false,
            bytes: 0,
        }
    }
}

/// Responses a stream may have queued before its watchers count as slow
/// (etcd: chanBufLen).
pub const STREAM_CHANNEL_CAPACITY: usize = 128;

/// Event bytes a stream may have queued before its watchers count as slow.
/// A response that finds the queue empty is always taken, whatever its size.
pub const STREAM_BUFFER_BYTES: usize = 1 << 20;

/// About the most event bytes one catch-up response carries: a stream with
/// room (under half its budget) always takes at least two.
pub const CATCH_UP_RESPONSE_BYTES: usize = STREAM_BUFFER_BYTES / 4;

/// Why an events response was not queued.
#[derive(Debug, PartialEq)]
pub enum NotQueued {
    /// Over the response count or the byte budget: the watcher is slow.
    Full,
    /// The stream is gone.
    Closed,
}

/// The sending half, shared by the stream's session and the hub.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: Sender<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The receiving half: the stream's responses, in order.
pub struct OutboxReceiver {
    rx: Receiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
}

pub fn outbox(capacity: usize, max_bytes: usize) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::channel(capacity);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let outbox = Outbox {
        tx,
        queued_bytes: queued_bytes.clone(),
        max_bytes,
    };
    (outbox, OutboxReceiver { rx, queued_bytes })
}

impl Outbox {
    /// Queues `out` unless the stream is full in responses or in bytes
    /// (`Full`: the caller unsyncs the watcher and retries from history).
    pub fn try_send(&self, mut out: Outgoing) -> Result<(), NotQueued> {
        out.bytes = event_bytes(&out.response, out.prev_kv);
        let queued = self.queued_bytes.load(Ordering::Acquire);
        if queued > 0 && queued + out.bytes > self.max_bytes {
            return Err(NotQueued::Full);
        }
        let bytes = out.bytes;
        self.tx.try_send(out).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => NotQueued::Full,
            mpsc::error::TrySendError::Closed(_) => NotQueued::Closed,
        })?;
        self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        Ok(())
    }

    /// Queues a control response (created, canceled, progress), waiting for
    /// a free slot; these carry no events, so the byte budget is not theirs.
    pub async fn send(&self, out: Outgoing) -> Result<(), ()> {
        self.tx.send(out).await.map_err(drop)
    }

    /// Whether catch-up responses should be offered now: a free slot and
    /// under half the byte budget used.
    pub fn has_room(&self) -> bool {
        self.tx.capacity() > 0 && self.queued_bytes.load(Ordering::Acquire) < self.max_bytes / 2
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the stream's receiving side is gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

impl OutboxReceiver {
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let out = self.rx.recv().await?;
        self.queued_bytes.fetch_sub(out.bytes, Ordering::AcqRel);
        Some(out)
    }

    /// A queued response, if any (tests).
    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<Outgoing> {
        let out = self.rx.try_recv().ok()?;
        self.queued_bytes.fetch_sub(out.bytes, Ordering::AcqRel);
        Some(out)
    }

    pub fn into_stream(self) -> impl Stream<Item = Outgoing> + Send {
        let queued_bytes = self.queued_bytes;
        ReceiverStream::new(self.rx).map(move |out: Outgoing| {
            queued_bytes.fetch_sub(out.bytes, Ordering::AcqRel);
            out
        })
    }
}

/// What the response's events will weigh on the wire, roughly; a previous
/// version still to be filled in is counted as big as the new one.
fn event_bytes(response: &WatchResponse, prev_kv_to_come: bool) -> usize {
    let per_kv = |kv: &crate::proto::mvccpb::KeyValue| kv.key.len() + kv.value.len() + 32;
    let one = |e: &crate::proto::mvccpb::Event| {
        let kv = e.kv.as_ref().map(per_kv).unwrap_or(16);
        let prev = match (&e.prev_kv, prev_kv_to_come) {
            (Some(prev), _) => per_kv(prev),
            (None, true) => kv,
            (None, false) => 0,
        };
        kv + prev
    };
    response.events.iter().map(one).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mvccpb::{Event, KeyValue};

    fn response(value_bytes: usize) -> Outgoing {
        let event = Event {
            kv: Some(KeyValue {
                key: b"k".to_vec(),
                value: vec![b'v'; value_bytes],
                ..Default::default()
            }),
            ..Default::default()
        };
        Outgoing {
            response: WatchResponse {
                events: vec![event],
                ..Default::default()
            },
            ..Outgoing::whole(WatchResponse::default())
        }
    }

    #[tokio::test]
    async fn bytes_bound_the_queue_and_free_up_as_responses_leave() {
        let (tx, mut rx) = outbox(100, 1000);
        assert!(
            tx.try_send(response(2000)).is_ok(),
            "an empty queue takes anything"
        );
        assert!(tx.try_send(response(10)) == Err(NotQueued::Full));
        rx.recv().await.expect("first");
        assert!(tx.try_send(response(400)).is_ok());
        assert!(tx.try_send(response(400)).is_ok());
        assert!(tx.try_send(response(400)) == Err(NotQueued::Full));
        rx.recv().await.expect("second");
        assert!(tx.try_send(response(400)).is_ok());
    }

    #[tokio::test]
    async fn the_response_count_still_bounds_small_responses() {
        let (tx, _rx) = outbox(2, 1 << 20);
        assert!(tx.try_send(response(1)).is_ok());
        assert!(tx.try_send(response(1)).is_ok());
        assert!(tx.try_send(response(1)) == Err(NotQueued::Full));
    }
}
