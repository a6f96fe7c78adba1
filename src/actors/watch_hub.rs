//! The watch hub: every watcher of every Watch stream. The applier tells it
//! about each applied batch's events (`Notify`, in revision order); synced
//! watchers get the ones they match pushed into their stream's bounded
//! channel. A watcher whose channel is full, or that starts in the past, is
//! unsynced and catches up from the store's history on a timer; the hub never
//! waits on a client.

#[cfg(test)]
mod tests;
mod watcher;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::mpsc::error::TrySendError;

use watcher::{chunk_by_revisions, event_rev, Watcher, MAX_REVS_PER_RESPONSE};
pub use watcher::{KeyRange, Outgoing, WatchSpec};

use crate::proto::etcdserverpb::{ResponseHeader, WatchResponse};
use crate::proto::mvccpb::Event;
use crate::storage::{RangeOptions, RangeSource, ReadTxn, StorageError, Store};

/// How often unsynced watchers are caught up.
pub const CATCH_UP_INTERVAL: Duration = Duration::from_millis(100);

/// How often quiet synced watchers that asked for progress_notify get an
/// empty response with the current revision (etcd: progressReportInterval).
pub const PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// etcd's messages for refused watch creations.
pub const ERR_EMPTY_RANGE: &str = "mvcc: watcher range is empty";
pub const ERR_DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";

type WatchKey = (u64, i64);

pub struct WatchHub {
    /// Read views only: history for catch-up and prev_kv.
    store: Arc<Store>,
    /// The newest revision whose events the hub has been told about.
    current_rev: i64,
    watchers: HashMap<WatchKey, Watcher>,
    /// Per stream: the next automatic watch id to try.
    next_auto_id: HashMap<u64, i64>,
    progress_interval: Duration,
}

impl WatchHub {
    pub fn new(store: Arc<Store>) -> Self {
        let current_rev = store.current_revision();
        WatchHub {
            store,
            current_rev,
            watchers: HashMap::new(),
            next_auto_id: HashMap::new(),
            progress_interval: PROGRESS_NOTIFY_INTERVAL,
        }
    }

    /// Another progress_notify period (tests).
    pub fn with_progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
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

    /// Pushes live events to synced watchers; a full channel unsyncs.
    fn notify(&mut self, events: &[Event]) {
        let Some(last) = events.last() else {
            return;
        };
        let rev = event_rev(last).max(self.current_rev);
        let mut view = None;
        for w in self.watchers.values_mut().filter(|w| w.synced) {
            let picked: Vec<Event> = events.iter().filter(|e| w.wants(e)).cloned().collect();
            if picked.is_empty() {
                w.next_rev = w.next_rev.max(rev + 1);
                continue;
            }
            let first_rev = picked.first().map(event_rev).unwrap_or(rev);
            let picked = with_prev_kvs(&self.store, &mut view, w.prev_kv, picked);
            match w.tx.try_send(events_response(w, rev, picked)) {
                Ok(()) => {
                    w.next_rev = w.next_rev.max(rev + 1);
                    w.sent_since_tick = true;
                }
                Err(_) => {
                    tracing::info!(watch_id = w.id, rev = first_rev, "slow watcher unsynced");
                    w.synced = false;
                    w.next_rev = first_rev;
                }
            }
        }
        drop(view);
        self.current_rev = rev;
        self.drop_closed();
    }

    /// Sends unsynced watchers what they missed, from the store's history.
    fn catch_up(&mut self) {
        if !self.watchers.values().any(|w| w.active && !w.synced) {
            return;
        }
        let store = self.store.clone();
        let view = match store.read() {
            Ok(view) => view,
            Err(err) => {
                tracing::warn!("watch catch-up: cannot open a read view: {err}");
                return;
            }
        };
        let to = self.current_rev.min(view.rev());
        let mut cancelled = Vec::new();
        for (key, w) in self.watchers.iter_mut() {
            if !w.active || w.synced {
                continue;
            }
            if catch_up_one(&store, &view, w, to) == CatchUp::Compacted {
                cancelled.push(*key);
            }
        }
        for key in cancelled {
            self.watchers.remove(&key);
        }
        self.drop_closed();
    }

    fn drop_closed(&mut self) {
        self.watchers.retain(|_, w| !w.tx.is_closed());
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

#[derive(PartialEq)]
enum CatchUp {
    Sent,
    Behind,
    Compacted,
}

fn catch_up_one(store: &Store, view: &ReadTxn<'_>, w: &mut Watcher, to: i64) -> CatchUp {
    // Starting in the future: nothing to replay, live events are filtered.
    if w.next_rev > to {
        w.synced = true;
        return CatchUp::Sent;
    }
    let events = match view.changes(w.next_rev, to) {
        Ok(events) => events,
        Err(StorageError::Compacted) => {
            let resp = WatchResponse {
                header: WatchHub::header(to),
                watch_id: w.id,
                canceled: true,
                compact_revision: view.compacted_revision(),
                ..Default::default()
            };
            // A full channel: try again on the next round.
            return match w.tx.try_send(Outgoing::whole(resp)) {
                Ok(()) => CatchUp::Compacted,
                Err(_) => CatchUp::Behind,
            };
        }
        Err(err) => {
            tracing::warn!(watch_id = w.id, "watch catch-up failed: {err}");
            return CatchUp::Behind;
        }
    };
    let picked: Vec<Event> = events.into_iter().filter(|e| w.wants(e)).collect();
    let mut prev_view = None;
    for chunk in chunk_by_revisions(picked, MAX_REVS_PER_RESPONSE) {
        let first_rev = chunk.first().map(event_rev).unwrap_or(to);
        let last_rev = chunk.last().map(event_rev).unwrap_or(to);
        let chunk = with_prev_kvs(store, &mut prev_view, w.prev_kv, chunk);
        match w.tx.try_send(events_response(w, to, chunk)) {
            Ok(()) => {
                w.next_rev = last_rev + 1;
                w.sent_since_tick = true;
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => {
                w.next_rev = first_rev;
                return CatchUp::Behind;
            }
        }
    }
    w.next_rev = to + 1;
    w.synced = true;
    CatchUp::Sent
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
    }
}

/// Fills each event's prev_kv (the key at `mod_revision - 1`) when asked.
fn with_prev_kvs<'s>(
    store: &'s Store,
    view: &mut Option<ReadTxn<'s>>,
    wanted: bool,
    mut events: Vec<Event>,
) -> Vec<Event> {
    if !wanted {
        return events;
    }
    if view.is_none() {
        *view = store.read().ok();
    }
    let Some(view) = view.as_ref() else {
        return events;
    };
    for event in &mut events {
        let Some(kv) = event.kv.as_ref() else {
            continue;
        };
        let rev = kv.mod_revision - 1;
        if rev <= 0 {
            continue;
        }
        let opts = RangeOptions {
            limit: 1,
            rev,
            count_only: false,
        };
        // As etcd: an unreadable previous version just leaves prev_kv empty.
        if let Ok(found) = view.range(&kv.key, &[], opts) {
            event.prev_kv = found.kvs.into_iter().next();
        }
    }
    events
}

impl Actor for WatchHub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
        ctx.run_interval(CATCH_UP_INTERVAL, |hub, _| hub.catch_up());
        ctx.run_interval(self.progress_interval, |hub, _| hub.notify_progress());
    }
}

/// One applied batch's events, in revision order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Notify {
    pub events: Vec<Event>,
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
        self.watchers.insert((msg.stream, id), watcher);
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

    fn handle(&mut self, msg: ActivateWatch, _: &mut Context<Self>) {
        if let Some(w) = self.watchers.get_mut(&(msg.stream, msg.id)) {
            w.active = true;
            self.catch_up();
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
        self.watchers
            .remove(&(msg.stream, msg.id))
            .map(|_| self.current_rev)
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

/// The hub's revision if every watcher of `stream` is synced (so the client
/// has been sent everything up to it), else `None`.
#[derive(Message)]
#[rtype(result = "Option<i64>")]
pub struct StreamProgress {
    pub stream: u64,
}

impl Handler<StreamProgress> for WatchHub {
    type Result = Option<i64>;

    fn handle(&mut self, msg: StreamProgress, _: &mut Context<Self>) -> Option<i64> {
        let behind = self
            .watchers
            .iter()
            .any(|((stream, _), w)| *stream == msg.stream && !(w.active && w.synced));
        (!behind).then_some(self.current_rev)
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
        self.watchers.retain(|(stream, _), _| *stream != msg.stream);
        self.next_auto_id.remove(&msg.stream);
    }
}
