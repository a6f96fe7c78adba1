//! The MVCC store actors. A batch of committed requests is applied in one
//! LMDB transaction together with the consistent index, by `BatchWriter`:
//! inline on the applier's thread for small batches (no thread hop on the
//! latency path), or on the dedicated `MvccWriter` thread for large batches
//! and compactions. LMDB write transactions commit on the thread that opened
//! them either way. `MvccReader`s run ranges on LMDB read transactions on a
//! small thread pool, in parallel with the writer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::proto::etcdserverpb::{InternalRaftRequest, RangeRequest, RangeResponse};
use crate::proto::mvccpb::Event;
use crate::storage::apply::membership::change_members;
use crate::storage::apply::{self, ApplyResponse};
use crate::storage::mvcc::KvHash;
use crate::storage::snapshot::{BuiltSnapshot, SnapshotDir};
use crate::storage::{StorageError, StorageResult, Store};

use super::protocol::{ApplyOutcome, ConfChangeItem, LeaseChange};

/// LMDB runs without per-commit syncs (the WAL is the durable record); it is
/// flushed this often, or after `--snapshot-count` entries, so the WAL and
/// raft's in-memory log before that point can be released.
const LMDB_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Applies batches to LMDB; used by the `MvccWriter` thread and, for small
/// batches, inline by the applier. Clones share the LMDB flush cadence.
/// Only one batch is ever in flight (the applier waits for each), so the two
/// users never hold write transactions at once.
#[derive(Clone)]
pub struct BatchWriter {
    store: Arc<Store>,
    cadence: Arc<Mutex<SyncCadence>>,
}

struct SyncCadence {
    last_sync: Instant,
    last_sync_index: u64,
    every_entries: u64,
}

impl SyncCadence {
    fn due(&self, index: u64) -> bool {
        self.last_sync.elapsed() >= LMDB_SYNC_INTERVAL
            || index.saturating_sub(self.last_sync_index) >= self.every_entries
    }
}

impl BatchWriter {
    pub fn new(store: Arc<Store>, sync_every_entries: u64) -> Self {
        let cadence = SyncCadence {
            last_sync: Instant::now(),
            last_sync_index: store.consistent_index(),
            every_entries: sync_every_entries,
        };
        BatchWriter {
            store,
            cadence: Arc::new(Mutex::new(cadence)),
        }
    }

    /// Applies `batch` in one LMDB transaction, on the calling thread.
    pub fn apply(&self, batch: ApplyBatch) -> StorageResult<BatchApplied> {
        let _span = tracing::debug_span!("mvcc.apply_batch", items = batch.items.len()).entered();
        // After a restart raft may hand back entries LMDB already holds.
        let already_applied = self.store.consistent_index();
        if batch.last_index <= already_applied {
            return Ok(BatchApplied::default());
        }
        let mut txn = self.store.begin_batch()?;
        let mut outcomes = Vec::with_capacity(batch.items.len());
        let mut all_events = Vec::new();
        let mut lease_changes = Vec::new();
        let mut conf_changes = Vec::new();
        for item in batch
            .items
            .iter()
            .filter(|item| item.index > already_applied)
        {
            if let Some(cc) = &item.conf_change {
                let result =
                    change_members(&mut txn, cc.kind, &cc.member).map(ApplyResponse::Members);
                outcomes.push((cc.request_id, result));
                conf_changes.push(cc.clone());
                continue;
            }
            let id = item
                .request
                .header
                .as_ref()
                .map(|h| h.id)
                .unwrap_or_default();
            let result = apply::apply_request(&mut txn, &item.request, &*self.store).map(
                |(response, events)| {
                    all_events.extend(events);
                    response
                },
            );
            if result.is_ok() {
                lease_changes.extend(LeaseChange::of(&item.request));
            }
            outcomes.push((id, result));
        }
        txn.commit(batch.last_index)?;
        Ok(BatchApplied {
            outcomes,
            events: all_events,
            lease_changes,
            conf_changes,
            durable_index: self.sync_if_due(batch.last_index)?,
        })
    }

    fn sync_if_due(&self, index: u64) -> StorageResult<Option<u64>> {
        let mut cadence = self
            .cadence
            .lock()
            .map_err(|_| StorageError::Corrupt("LMDB sync cadence lock poisoned".into()))?;
        if !cadence.due(index) {
            return Ok(None);
        }
        self.store.sync()?;
        cadence.last_sync = Instant::now();
        cadence.last_sync_index = index;
        Ok(Some(index))
    }
}

/// The thread for large batches and compactions, which must not stall the
/// system arbiter.
pub struct MvccWriter {
    writer: BatchWriter,
}

impl MvccWriter {
    pub fn new(writer: BatchWriter) -> Self {
        MvccWriter { writer }
    }
}

impl Actor for MvccWriter {
    type Context = SyncContext<Self>;
}

/// One committed request and its raft index.
pub struct ApplyItem {
    pub index: u64,
    pub request: InternalRaftRequest,
    /// Set for a raft conf change entry (then `request` is empty).
    pub conf_change: Option<ConfChangeItem>,
}

/// What one batch did.
#[derive(Default)]
pub struct BatchApplied {
    pub outcomes: Vec<ApplyOutcome>,
    /// Every change the batch made, in revision order (for watchers).
    pub events: Vec<Event>,
    /// Leases granted, revoked or checkpointed, in order (for the lessor).
    pub lease_changes: Vec<LeaseChange>,
    /// Membership changes, in order (for the raft node).
    pub conf_changes: Vec<ConfChangeItem>,
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
        self.writer.apply(msg)
    }
}

pub struct MvccReader {
    store: Arc<Store>,
}

impl MvccReader {
    pub fn new(store: Arc<Store>) -> Self {
        MvccReader { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
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

/// The member list as last applied (Cluster.MemberList).
#[derive(Message)]
#[rtype(result = "StorageResult<Vec<crate::proto::etcdserverpb::Member>>")]
pub struct GetMembers;

impl Handler<GetMembers> for MvccReader {
    type Result = StorageResult<Vec<crate::proto::etcdserverpb::Member>>;

    fn handle(&mut self, _: GetMembers, _: &mut Self::Context) -> Self::Result {
        use crate::storage::apply::membership::{decode_members, MEMBERSHIP_META_KEY};
        match self.store.get_meta(MEMBERSHIP_META_KEY)? {
            Some(bytes) => Ok(decode_members(&bytes)?.members),
            None => Ok(Vec::new()),
        }
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

/// Leader: copy LMDB into a raft snapshot file (on a reader thread: the copy
/// reads the whole file).
#[derive(Message)]
#[rtype(result = "StorageResult<BuiltSnapshot>")]
pub struct BuildSnapshot {
    pub dir: SnapshotDir,
}

impl Handler<BuildSnapshot> for MvccReader {
    type Result = StorageResult<BuiltSnapshot>;

    fn handle(&mut self, msg: BuildSnapshot, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::info_span!("mvcc.build_snapshot").entered();
        msg.dir.build(&self.store)
    }
}

/// Maintenance.HashKV: the hash of the key space up to `revision`.
#[derive(Message)]
#[rtype(result = "StorageResult<KvHash>")]
pub struct HashKv {
    pub revision: i64,
}

impl Handler<HashKv> for MvccReader {
    type Result = StorageResult<KvHash>;

    fn handle(&mut self, msg: HashKv, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("mvcc.hash_kv").entered();
        self.store.read()?.hash_kv(msg.revision)
    }
}
