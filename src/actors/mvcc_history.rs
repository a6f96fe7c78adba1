//! History reads for watchers, served by the MVCC reader pool so the watch
//! hub and the streams never wait on LMDB (or on an open write batch) on the
//! system arbiter.

use actix::prelude::*;

use super::mvcc_store::MvccReader;
use crate::proto::mvccpb::event::EventType;
use crate::proto::mvccpb::Event;
use crate::storage::{RangeOptions, RangeSource, StorageError, StorageResult};

/// What a catch-up read found.
#[derive(Debug)]
pub enum History {
    /// Every event of revisions `from..=through`, in revision order;
    /// `through` is below the asked `to` when the byte limit cut the read
    /// short (or the store is behind).
    Events { events: Vec<Event>, through: i64 },
    /// `from` is below this compacted revision: that history is gone.
    Compacted(i64),
}

/// The events of revisions `from..=to`, cut at a revision boundary after
/// about `max_bytes`.
#[derive(Message)]
#[rtype(result = "StorageResult<History>")]
pub struct ReadHistory {
    pub from: i64,
    pub to: i64,
    pub max_bytes: usize,
}

impl Handler<ReadHistory> for MvccReader {
    type Result = StorageResult<History>;

    fn handle(&mut self, msg: ReadHistory, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.history", from = msg.from, to = msg.to).entered();
        let view = self.store().read()?;
        match view.changes_limited(msg.from, msg.to, msg.max_bytes) {
            Ok((events, through)) => Ok(History::Events { events, through }),
            Err(StorageError::Compacted) => Ok(History::Compacted(view.compacted_revision())),
            Err(err) => Err(err),
        }
    }
}

/// Fills each event's prev_kv: the key as it was at `mod_revision - 1`.
#[derive(Message)]
#[rtype(result = "Vec<Event>")]
pub struct FillPrevKvs {
    pub events: Vec<Event>,
}

impl Handler<FillPrevKvs> for MvccReader {
    type Result = MessageResult<FillPrevKvs>;

    fn handle(&mut self, msg: FillPrevKvs, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.prev_kvs", events = msg.events.len()).entered();
        let mut events = msg.events;
        // As etcd: an unreadable previous version just leaves prev_kv empty.
        let Ok(view) = self.store().read() else {
            return MessageResult(events);
        };
        for event in &mut events {
            let Some(kv) = event.kv.as_ref() else {
                continue;
            };
            // A creation has no previous version (etcd skips these too).
            let created = event.r#type == EventType::Put as i32 && kv.version == 1;
            if created || kv.mod_revision <= 1 {
                continue;
            }
            let opts = RangeOptions {
                limit: 1,
                rev: kv.mod_revision - 1,
                count_only: false,
            };
            if let Ok(found) = view.range(&kv.key, &[], opts) {
                event.prev_kv = found.kvs.into_iter().next();
            }
        }
        MessageResult(events)
    }
}
