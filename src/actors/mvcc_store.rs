//! The MVCC store actors. `MvccWriter` runs on one dedicated thread (LMDB
//! write transactions must commit on the thread that opened them) and applies
//! a whole batch of committed requests in one transaction, together with the
//! consistent index. `MvccReader`s run ranges on LMDB read transactions on a
//! small thread pool, in parallel with the writer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::proto::etcdserverpb::{InternalRaftRequest, RangeRequest, RangeResponse};
use crate::storage::apply::{self, ApplyResponse, NoLeases};
use crate::storage::{StorageError, StorageResult, Store};

/// LMDB runs without per-commit syncs (the WAL is the durable record); it is
/// flushed this often, or after `--snapshot-count` entries, so the WAL and
/// raft's in-memory log before that point can be released.
const LMDB_SYNC_INTERVAL: Duration = Duration::from_secs(1);

pub struct MvccWriter {
    store: Arc<Store>,
    last_sync: Instant,
    last_sync_index: u64,
    sync_every_entries: u64,
}

impl MvccWriter {
    pub fn new(store: Arc<Store>, sync_every_entries: u64) -> Self {
        let last_sync_index = store.consistent_index();
        MvccWriter {
            store,
            last_sync: Instant::now(),
            last_sync_index,
            sync_every_entries,
        }
    }

    fn sync_due(&self, index: u64) -> bool {
        self.last_sync.elapsed() >= LMDB_SYNC_INTERVAL
            || index.saturating_sub(self.last_sync_index) >= self.sync_every_entries
    }
}

impl Actor for MvccWriter {
    type Context = SyncContext<Self>;
}

/// One committed request and its raft index.
pub struct ApplyItem {
    pub index: u64,
    pub request: InternalRaftRequest,
}

/// The outcome of one request, keyed by its request id.
pub type ApplyOutcome = (u64, Result<ApplyResponse, StorageError>);

/// What one batch did.
pub struct BatchApplied {
    pub outcomes: Vec<ApplyOutcome>,
    /// Set when LMDB was flushed to disk: everything up to this raft index is
    /// durable without the WAL.
    pub durable_index: Option<u64>,
}

/// Apply `items` and record `last_index` as the consistent index, atomically.
#[derive(Message)]
#[rtype(result = "StorageResult<BatchApplied>")]
pub struct ApplyBatch {
    pub items: Vec<ApplyItem>,
    pub last_index: u64,
}

impl Handler<ApplyBatch> for MvccWriter {
    type Result = StorageResult<BatchApplied>;

    fn handle(&mut self, msg: ApplyBatch, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.apply_batch", items = msg.items.len()).entered();
        // After a restart raft may hand back entries LMDB already holds.
        let already_applied = self.store.consistent_index();
        if msg.last_index <= already_applied {
            return Ok(BatchApplied {
                outcomes: Vec::new(),
                durable_index: None,
            });
        }
        let mut batch = self.store.begin_batch()?;
        let mut outcomes = Vec::with_capacity(msg.items.len());
        for item in msg.items.iter().filter(|item| item.index > already_applied) {
            let id = item
                .request
                .header
                .as_ref()
                .map(|h| h.id)
                .unwrap_or_default();
            let result = apply::apply_request(&mut batch, &item.request, &NoLeases)
                .map(|(response, _events)| response);
            outcomes.push((id, result));
        }
        batch.commit(msg.last_index)?;
        let mut durable_index = None;
        if self.sync_due(msg.last_index) {
            self.store.sync()?;
            self.last_sync = Instant::now();
            self.last_sync_index = msg.last_index;
            durable_index = Some(msg.last_index);
        }
        Ok(BatchApplied {
            outcomes,
            durable_index,
        })
    }
}

pub struct MvccReader {
    store: Arc<Store>,
}

impl MvccReader {
    pub fn new(store: Arc<Store>) -> Self {
        MvccReader { store }
    }
}

impl Actor for MvccReader {
    type Context = SyncContext<Self>;
}

/// A Range served from the local store (after ReadIndex when linearizable).
#[derive(Message)]
#[rtype(result = "StorageResult<RangeResponse>")]
pub struct ReadRange {
    pub request: RangeRequest,
}

impl Handler<ReadRange> for MvccReader {
    type Result = StorageResult<RangeResponse>;

    fn handle(&mut self, msg: ReadRange, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.range").entered();
        let view = self.store.read()?;
        apply::range(&view, &msg.request)
    }
}

/// Backend figures for Maintenance.Status.
#[derive(Message)]
#[rtype(result = "StorageResult<BackendStatus>")]
pub struct GetBackendStatus;

#[derive(Debug, Clone, Copy, Default)]
pub struct BackendStatus {
    pub db_size: u64,
    pub db_size_in_use: u64,
    pub revision: i64,
}

impl Handler<GetBackendStatus> for MvccReader {
    type Result = StorageResult<BackendStatus>;

    fn handle(&mut self, _: GetBackendStatus, _: &mut Self::Context) -> Self::Result {
        let (db_size, db_size_in_use) = self.store.db_size()?;
        Ok(BackendStatus {
            db_size,
            db_size_in_use,
            revision: self.store.current_revision(),
        })
    }
}
