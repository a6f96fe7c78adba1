//! The MVCC writer: applies a batch of committed requests in one LMDB
//! transaction with the consistent index, and flushes LMDB now and then.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use prost::Message as _;

use crate::actors::auth::tokens::Tokens;
use crate::actors::protocol::{ApplyOutcome, ConfChangeItem, LeaseChange};
use crate::proto::etcdserverpb::InternalRaftRequest;
use crate::proto::mvccpb::Event;
use crate::storage::apply::membership::change_members;
use crate::storage::apply::{self, ApplyResponse};
use crate::storage::{quota, StorageError, StorageResult, Store};

/// LMDB runs without per-commit syncs (the WAL is the durable record); it is
/// flushed this often (unless `--backend-batch-interval` says otherwise), or
/// after `--snapshot-count` (or `--backend-batch-limit`) entries, so the WAL
/// and raft's in-memory log before that point can be released.
pub const DEFAULT_LMDB_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Applies batches to LMDB; used by the `MvccWriter` thread and, for small
/// batches that are not due to flush, inline by the applier. Clones share
/// the LMDB flush cadence. Only one batch is ever in flight (the applier
/// waits for each), so the two users never hold write transactions at once,
/// and a flush never overlaps a write.
#[derive(Clone)]
pub struct BatchWriter {
    store: Arc<Store>,
    /// Minted and revoked here, as Authenticate and user changes apply.
    tokens: Arc<Tokens>,
    cadence: Arc<Mutex<SyncCadence>>,
    /// `--quota-backend-bytes`, checked again at apply as etcd's
    /// quotaApplierV3 does (a member whose file is larger than the one
    /// that admitted the request still raises its own NOSPACE alarm).
    quota_bytes: u64,
    /// Told when a compaction commits, to delete what it left.
    purger: Option<Addr<super::Purger>>,
}

struct SyncCadence {
    every: Duration,
    last_sync: Instant,
    last_sync_index: u64,
    every_entries: u64,
}

impl SyncCadence {
    fn due(&self, index: u64) -> bool {
        self.last_sync.elapsed() >= self.every
            || index.saturating_sub(self.last_sync_index) >= self.every_entries
    }
}

impl BatchWriter {
    pub fn new(
        store: Arc<Store>,
        tokens: Arc<Tokens>,
        sync_every_entries: u64,
        quota_bytes: u64,
    ) -> Self {
        let cadence = SyncCadence {
            every: DEFAULT_LMDB_SYNC_INTERVAL,
            last_sync: Instant::now(),
            last_sync_index: store.consistent_index(),
            every_entries: sync_every_entries,
        };
        BatchWriter {
            store,
            tokens,
            cadence: Arc::new(Mutex::new(cadence)),
            quota_bytes,
            purger: None,
        }
    }

    /// Where committed compactions' purges go (none: they wait for
    /// `Store::finish_purge`).
    pub fn with_purger(mut self, purger: Addr<super::Purger>) -> Self {
        self.purger = Some(purger);
        self
    }

    /// etcd's `--backend-batch-interval`: LMDB is flushed at least this
    /// often while entries are applied.
    pub fn with_sync_interval(self, every: Duration) -> Self {
        if let Ok(mut cadence) = self.cadence.lock() {
            cadence.every = every;
        }
        self
    }

    /// Applies `batch` in one LMDB transaction, on the calling thread; never
    /// flushes.
    pub fn apply(&self, batch: ApplyBatch) -> StorageResult<BatchApplied> {
        let _span = tracing::debug_span!("mvcc.apply_batch", items = batch.items.len()).entered();
        // After a restart raft may hand back entries LMDB already holds.
        let already_applied = self.store.consistent_index();
        if batch.last_index <= already_applied {
            return Ok(BatchApplied::default());
        }
        // Disk blocks for what this batch may add, claimed before LMDB
        // writes through its map: a full disk fails here, changing nothing.
        self.store
            .claim_room(room_for(&batch, self.store.backend_size()))?;
        let mut txn = self.store.begin_batch()?;
        let mut outcomes = Vec::with_capacity(batch.items.len());
        // etcd checks the size per request; within one batch it barely moves.
        let size = self.store.backend_size();
        let mut all_events = Vec::new();
        let mut lease_changes = Vec::new();
        let mut conf_changes = Vec::new();
        let mut over_quota = false;
        let mut compacted = false;
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
            let fits = quota::fits(size, quota::cost(&item.request), self.quota_bytes);
            let result = apply::apply_request(&mut txn, &item.request, &*self.store).map(
                |(mut response, events)| {
                    all_events.extend(events);
                    super::op_counts::count_applied(&response);
                    super::auth_tokens::settle(
                        &self.tokens,
                        item.index,
                        &item.request,
                        &mut response,
                    );
                    response
                },
            );
            if result.is_ok() {
                lease_changes.extend(LeaseChange::of(&item.request));
                compacted |= item.request.compaction.is_some();
            }
            // As etcd: the write stays applied, its caller is told the
            // space is exceeded, and the member raises NOSPACE.
            let result = match result {
                Ok(_) if !fits => {
                    over_quota = true;
                    Err(StorageError::NoSpace)
                }
                other => other,
            };
            outcomes.push((id, result));
        }
        // Raised once: not while a NOSPACE alarm is already active.
        let over_quota =
            over_quota && !txn.alarm_active(crate::proto::etcdserverpb::AlarmType::Nospace);
        txn.commit(batch.last_index)?;
        if let (true, Some(purger)) = (compacted, &self.purger) {
            purger.do_send(super::Purge);
        }
        Ok(BatchApplied {
            outcomes,
            events: all_events,
            lease_changes,
            conf_changes,
            durable_index: None,
            over_quota,
        })
    }

    /// Whether a batch ending at `index` is due to flush LMDB after it: such
    /// a batch must go to the writer thread (`MvccWriter`), the only one
    /// that flushes.
    pub fn flush_due(&self, index: u64) -> bool {
        self.cadence().map(|c| c.due(index)).unwrap_or(true)
    }

    /// Flushes LMDB if due; the raft index now durable without the WAL.
    /// Called on the writer thread only, between batches, so no write
    /// transaction runs while the map is being flushed.
    fn flush_if_due(&self, index: u64) -> StorageResult<Option<u64>> {
        let mut cadence = self.cadence()?;
        if !cadence.due(index) {
            return Ok(None);
        }
        let started = Instant::now();
        self.store.sync()?;
        tracing::debug!(index, took = ?started.elapsed(), "LMDB flushed");
        cadence.last_sync = Instant::now();
        cadence.last_sync_index = index;
        Ok(Some(index))
    }

    fn cadence(&self) -> StorageResult<std::sync::MutexGuard<'_, SyncCadence>> {
        self.cadence
            .lock()
            .map_err(|_| StorageError::Corrupt("LMDB sync cadence lock poisoned".into()))
    }
}

/// Disk room a batch may need: twice its requests (LMDB copies the pages
/// it changes), and an eighth of the file for a compaction (it rewrites
/// many pages).
fn room_for(batch: &ApplyBatch, file_size: u64) -> u64 {
    let mut bytes: u64 = 0;
    let mut compacts = false;
    for item in &batch.items {
        bytes += item.request.encoded_len() as u64;
        compacts |= item.request.compaction.is_some();
    }
    2 * bytes + if compacts { file_size / 8 } else { 0 }
}

/// The thread for large batches, compactions and every LMDB flush, which
/// must not stall the system arbiter.
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
    /// A charged request was applied with the backend at or over its quota:
    /// this member should raise NOSPACE (if no NOSPACE alarm is active).
    pub over_quota: bool,
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
        let last_index = msg.last_index;
        let mut applied = self.writer.apply(msg)?;
        applied.durable_index = self.writer.flush_if_due(last_index)?;
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::{PutRequest, RequestHeader};
    use crate::storage::StoreOptions;

    fn put(index: u64) -> ApplyItem {
        ApplyItem {
            index,
            request: InternalRaftRequest {
                header: Some(RequestHeader {
                    id: index,
                    ..Default::default()
                }),
                put: Some(PutRequest {
                    key: format!("k{index}").into_bytes(),
                    value: b"v".to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            conf_change: None,
        }
    }

    #[test]
    fn only_the_writer_thread_flushes_and_only_when_due() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions { map_size: 64 << 20 };
        let store = Arc::new(Store::open(dir.path(), options).unwrap());
        let tokens = Arc::new(Tokens::simple(Duration::from_secs(300)));
        let writer = BatchWriter::new(store.clone(), tokens, 3, u64::MAX);

        // The inline path never flushes, even past the cadence.
        let batch = ApplyBatch {
            items: (1..=4).map(put).collect(),
            last_index: 4,
        };
        let applied = writer.apply(batch).unwrap();
        assert_eq!(applied.durable_index, None);
        assert_eq!(store.consistent_index(), 4);
        assert!(
            writer.flush_due(4),
            "4 entries since the last flush, cadence 3"
        );

        // The writer thread's handler flushes after applying.
        assert_eq!(writer.flush_if_due(4).unwrap(), Some(4));
        assert!(!writer.flush_due(5), "a flush restarts the cadence");
        assert_eq!(writer.flush_if_due(5).unwrap(), None);
    }
}
