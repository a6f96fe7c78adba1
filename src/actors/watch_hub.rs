//! The watch hub: every watcher of every Watch stream. The applier tells it
//! about each applied batch's events (`Notify`, in revision order); the
//! watcher index finds the synced watchers those events concern, and each
//! gets its share pushed into its stream's bounded channel. A watcher whose
//! channel is full, or that starts in the past, is unsynced: it catches up
//! from history read by the MVCC reader pool, in rounds of bounded size. The
//! hub never waits on a client or on LMDB.

mod index;
mod outbox;
#[cfg(test)]
mod tests;
mod watcher;

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

use index::WatcherIndex;
pub use outbox::Outgoing;
pub use outbox::{outbox, Outbox, OutboxReceiver, STREAM_BUFFER_BYTES, STREAM_CHANNEL_CAPACITY};
use outbox::{NotQueued, CATCH_UP_RESPONSE_BYTES};
use watcher::{chunk_by_revisions, event_rev, Watcher, MAX_REVS_PER_RESPONSE};
pub use watcher::{KeyRange, WatchSpec};

use crate::actors::mvcc_history::{History, ReadHistory};
use crate::actors::mvcc_store::MvccReader;
pub use crate::actors::protocol::Notify;
use crate::proto::etcdserverpb::{ResponseHeader, WatchResponse};
use crate::proto::mvccpb::Event;

/// How often unsynced watchers are caught up when a round made no progress.
pub const CATCH_UP_INTERVAL: Duration = Duration::from_millis(100);

/// Most revisions, and about the most bytes, one catch-up round reads,
/// whatever the number of watchers behind: the memory a round holds stays
/// bounded.
const CATCH_UP_REVS_PER_ROUND: i64 = 10_000;
const CATCH_UP_BYTES_PER_ROUND: usize = 4 << 20;

/// How often quiet synced watchers that asked for progress_notify get an
/// empty response with the current revision (etcd: progressReportInterval).
pub const PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// etcd's messages for refused watch creations.
pub const ERR_EMPTY_RANGE: &str = "mvcc: watcher range is empty";
pub const ERR_DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";

/// (stream, watch id).
type WatchKey = (u64, i64);

pub struct WatchHub {
    /// History for catch-up.
    readers: Addr<MvccReader>,
    /// The newest revision whose events the hub has been told about.
    current_rev: i64,
    watchers: HashMap<WatchKey, Watcher>,
    index: WatcherIndex,
    /// Per stream: the next automatic watch id to try.
    next_auto_id: HashMap<u64, i64>,
    progress_interval: Duration,
    /// A catch-up read is on its way back from the reader pool.
    round_in_flight: bool,
}

impl WatchHub {
    /// `current_rev`: the store's revision when the hub starts.
    pub fn new(current_rev: i64, readers: Addr<MvccReader>) -> Self {
        WatchHub {
            readers,
            current_rev,
            watchers: HashMap::new(),
            index: WatcherIndex::default(),
            next_auto_id: HashMap::new(),
            progress_interval: PROGRESS_NOTIFY_INTERVAL,
            round_in_flight: false,
        }
    }

    /// Another progress_notify period (`--experimental-watch-progress-notify-interval`).
    pub fn with_progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }

    fn add(&mut self, key: WatchKey, watcher: Watcher) {
        self.index.insert(key, &watcher.range);
        self.watchers.insert(key, watcher);
    }

    fn remove(&mut self, key: WatchKey) -> Option<Watcher> {
        let watcher = self.watchers.remove(&key)?;
        self.index.remove(key, &watcher.range);
        Some(watcher)
    }

    /// progress_notify: an empty response to each synced watcher that asked
    /// for it and got no events since the last tick. A full channel skips it.
    fn notify_progress(&mut self) {
        let rev = self.current_rev;
        for w in self.watchers.values_mut() {
            if w.progress_notify && w.active && w.synced && !w.sent_since_tick {
                let _ = w.tx.try_send(events_response(w, rev, Vec::new()));
            }
            w.sent_since_tick = false;
        }
    }

    fn header(rev: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            revision: rev,
            ..Default::default()
        })
    }

    /// Pushes live events to the synced watchers they concern; a full
    /// channel unsyncs the watcher, a closed one removes it.
    fn notify(&mut self, events: &[Event]) {
        let Some(last) = events.last() else {
            return;
        };
        let rev = event_rev(last).max(self.current_rev);
        let mut closed = Vec::new();
        for group in self.index.candidates(events) {
            for key in group.watchers {
                let Some(w) = self.watchers.get_mut(key).filter(|w| w.synced) else {
                    continue;
                };
                let picked: Vec<Event> = group
                    .events
                    .iter()
                    .map(|&at| &events[at])
                    .filter(|e| w.wants(e))
                    .cloned()
                    .collect();
                let Some(first_rev) = picked.first().map(event_rev) else {
                    continue;
                };
                match w.tx.try_send(events_response(w, rev, picked)) {
                    Ok(()) => w.sent_since_tick = true,
                    Err(NotQueued::Full) => {
                        tracing::info!(watch_id = w.id, rev = first_rev, "slow watcher unsynced");
                        w.synced = false;
                        w.next_rev = first_rev;
                    }
                    Err(NotQueued::Closed) => closed.push(*key),
                }
            }
        }
        self.current_rev = rev;
        for key in closed {
            self.remove(key);
        }
    }

    /// Starts a catch-up round unless one is running: one history read,
    /// from the lowest revision an unsynced watcher with room in its stream
    /// needs, of bounded length. Watchers whose streams are full wait: their
    /// history is not read again until the client drains some.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        if self.round_in_flight {
            return;
        }
        let to = self.current_rev;
        let mut from: Option<i64> = None;
        for w in self.watchers.values_mut().filter(|w| w.active && !w.synced) {
            // Starting in the future: nothing to replay, live events are filtered.
            if w.next_rev > to {
                w.synced = true;
                continue;
            }
            if w.tx.has_room() {
                from = Some(from.map_or(w.next_rev, |f| f.min(w.next_rev)));
            }
        }
        let Some(from) = from else {
            return;
        };
        let end = to.min(from.saturating_add(CATCH_UP_REVS_PER_ROUND - 1));
        tracing::trace!(from, end, "watch catch-up round");
        self.round_in_flight = true;
        let read = self.readers.send(ReadHistory {
            from,
            to: end,
            max_bytes: CATCH_UP_BYTES_PER_ROUND,
        });
        ctx.spawn(read.into_actor(self).map(move |result, hub, ctx| {
            hub.round_in_flight = false;
            let progressed = match result {
                Ok(Ok(History::Events { events, through })) => {
                    hub.deliver_history(from, through.min(end), events)
                }
                Ok(Ok(History::Compacted(compacted))) => hub.cancel_compacted(compacted),
                Ok(Err(err)) => {
                    tracing::warn!("watch catch-up read failed: {err}");
                    false
                }
                Err(err) => {
                    tracing::warn!("watch catch-up: reader pool unavailable: {err}");
                    false
                }
            };
            // More to read right away; otherwise the timer retries.
            if progressed {
                hub.catch_up(ctx);
            }
        }));
    }

    /// Sends each unsynced watcher whose next revision lies in `from..=end`
    /// its share of `events`; a watcher that reaches the hub's revision is
    /// synced. True when any watcher moved forward.
    fn deliver_history(&mut self, from: i64, end: i64, events: Vec<Event>) -> bool {
        let now = self.current_rev;
        let mut progressed = false;
        let mut closed = Vec::new();
        for (key, w) in self.watchers.iter_mut() {
            if !w.active || w.synced || w.next_rev < from || w.next_rev > end || !w.tx.has_room() {
                continue;
            }
            let picked: Vec<Event> = events.iter().filter(|e| w.wants(e)).cloned().collect();
            let mut sent_all = true;
            for chunk in chunk_by_revisions(picked, MAX_REVS_PER_RESPONSE, CATCH_UP_RESPONSE_BYTES)
            {
                let first_rev = chunk.first().map(event_rev).unwrap_or(end);
                let last_rev = chunk.last().map(event_rev).unwrap_or(end);
                match w.tx.try_send(events_response(w, now, chunk)) {
                    Ok(()) => {
                        w.next_rev = last_rev + 1;
                        w.sent_since_tick = true;
                        progressed = true;
                    }
                    Err(err) => {
                        if err == NotQueued::Closed {
                            closed.push(*key);
                        }
                        w.next_rev = first_rev;
                        sent_all = false;
                        break;
                    }
                }
            }
            if sent_all {
                progressed |= w.next_rev <= end;
                w.next_rev = end + 1;
                w.synced = w.next_rev > now;
            }
        }
        for key in closed {
            self.remove(key);
        }
        progressed
    }

    /// Cancels, with etcd's `compact_revision`, every unsynced watcher that
    /// needs history below `compacted`. True when any was cancelled.
    fn cancel_compacted(&mut self, compacted: i64) -> bool {
        let mut cancelled = Vec::new();
        for (key, w) in self.watchers.iter() {
            if !w.active || w.synced || w.next_rev >= compacted {
                continue;
            }
            // etcd's cancel carries no revision (its header has only the
            // cluster, member and term the API layer fills).
            let resp = WatchResponse {
                header: WatchHub::header(0),
                watch_id: w.id,
                canceled: true,
                compact_revision: compacted,
                ..Default::default()
            };
            // A full channel: try again on a later round.
            if w.tx.try_send(Outgoing::whole(resp)).is_ok() {
                cancelled.push(*key);
            }
        }
        let any = !cancelled.is_empty();
        for key in cancelled {
            self.remove(key);
        }
        any
    }

    fn drop_closed(&mut self) {
        let closed: Vec<WatchKey> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.tx.is_closed())
            .map(|(key, _)| *key)
            .collect();
        for key in closed {
            self.remove(key);
        }
    }

    fn pick_id(&mut self, stream: u64, wanted: i64) -> Option<i64> {
        if wanted != 0 {
            return (!self.watchers.contains_key(&(stream, wanted))).then_some(wanted);
        }
        let next = self.next_auto_id.entry(stream).or_insert(0);
        while self.watchers.contains_key(&(stream, *next)) {
            *next += 1;
        }
        let id = *next;
        *next += 1;
        Some(id)
    }
}

fn events_response(w: &Watcher, rev: i64, events: Vec<Event>) -> Outgoing {
    Outgoing {
        response: WatchResponse {
            header: WatchHub::header(rev),
            watch_id: w.id,
            events,
            ..Default::default()
        },
        fragment: w.fragment,
        prev_kv: w.prev_kv,
        bytes: 0,
    }
}

impl Actor for WatchHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
        ctx.run_interval(CATCH_UP_INTERVAL, |hub, ctx| {
            hub.drop_closed();
            hub.catch_up(ctx);
        });
        ctx.run_interval(self.progress_interval, |hub, _| hub.notify_progress());
    }
}

impl Handler<Notify> for WatchHub {
    type Result = ();

    fn handle(&mut self, msg: Notify, _: &mut Context<Self>) {
        self.notify(&msg.events);
    }
}

/// Registers a watcher (inactive until `ActivateWatch`, so the stream's
/// `created` response goes out first). `watch_id` 0 = pick one.
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), (&'static str, i64)>")]
pub struct CreateWatch {
    pub stream: u64,
    pub watch_id: i64,
    pub start_revision: i64,
    pub spec: WatchSpec,
}

impl Handler<CreateWatch> for WatchHub {
    type Result = Result<(i64, i64), (&'static str, i64)>;

    fn handle(&mut self, msg: CreateWatch, _: &mut Context<Self>) -> Self::Result {
        let rev = self.current_rev;
        let id = self
            .pick_id(msg.stream, msg.watch_id)
            .ok_or((ERR_DUPLICATE_ID, rev))?;
        let start = if msg.start_revision == 0 {
            rev + 1
        } else {
            msg.start_revision
        };
        let watcher = Watcher::new(id, msg.spec, start);
        self.add((msg.stream, id), watcher);
        Ok((id, rev))
    }
}

/// The `created` response was queued: start delivering.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ActivateWatch {
    pub stream: u64,
    pub id: i64,
}

impl Handler<ActivateWatch> for WatchHub {
    type Result = ();

    fn handle(&mut self, msg: ActivateWatch, ctx: &mut Context<Self>) {
        if let Some(w) = self.watchers.get_mut(&(msg.stream, msg.id)) {
            w.active = true;
            // From now on: live at once, without waiting for a round.
            w.synced = w.next_rev > self.current_rev;
            if !w.synced {
                self.catch_up(ctx);
            }
        }
    }
}

/// Removes a watcher; answers the current revision if it existed.
#[derive(Message)]
#[rtype(result = "Option<i64>")]
pub struct CancelWatch {
    pub stream: u64,
    pub id: i64,
}

impl Handler<CancelWatch> for WatchHub {
    type Result = Option<i64>;

    fn handle(&mut self, msg: CancelWatch, _: &mut Context<Self>) -> Option<i64> {
        self.remove((msg.stream, msg.id)).map(|_| self.current_rev)
    }
}

/// The revision the hub has caught up to (progress responses).
#[derive(Message)]
#[rtype(result = "i64")]
pub struct CurrentRevision;

impl Handler<CurrentRevision> for WatchHub {
    type Result = i64;

    fn handle(&mut self, _: CurrentRevision, _: &mut Context<Self>) -> i64 {
        self.current_rev
    }
}

/// A RequestProgress: once every watcher of `stream` is synced, the hub
/// queues the answer itself, with its revision, so that no event above that
/// revision can be queued ahead of it (etcd #15220: a progress answer with a
/// revision below events already sent breaks resumable watches).
#[derive(Message)]
#[rtype(result = "ProgressAnswer")]
pub struct StreamProgress {
    pub stream: u64,
    pub tx: Outbox,
    /// The answer, its header revision set by the hub.
    pub response: WatchResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub enum ProgressAnswer {
    Queued,
    /// A watcher is still catching up, or the stream's queue is full: ask again.
    NotYet,
    /// The stream is gone.
    Closed,
}

impl Handler<StreamProgress> for WatchHub {
    type Result = ProgressAnswer;

    fn handle(&mut self, msg: StreamProgress, _: &mut Context<Self>) -> ProgressAnswer {
        let behind = self
            .watchers
            .iter()
            .any(|((stream, _), w)| *stream == msg.stream && !(w.active && w.synced));
        if behind {
            return ProgressAnswer::NotYet;
        }
        let mut response = msg.response;
        response
            .header
            .get_or_insert_with(Default::default)
            .revision = self.current_rev;
        match msg.tx.try_send(Outgoing::whole(response)) {
            Ok(()) => ProgressAnswer::Queued,
            Err(NotQueued::Full) => ProgressAnswer::NotYet,
            Err(NotQueued::Closed) => ProgressAnswer::Closed,
        }
    }
}

/// A Watch stream ended: forget its watchers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseStream {
    pub stream: u64,
}

impl Handler<CloseStream> for WatchHub {
    type Result = ();

    fn handle(&mut self, msg: CloseStream, _: &mut Context<Self>) {
        let gone: Vec<WatchKey> = self
            .watchers
            .keys()
            .filter(|(stream, _)| *stream == msg.stream)
            .copied()
            .collect();
        for key in gone {
            self.remove(key);
        }
        self.next_auto_id.remove(&msg.stream);
    }
}
