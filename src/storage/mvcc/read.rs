//! Read views: a fixed LMDB snapshot plus the revisions it was taken at.

use std::ops::Bound;
use std::sync::atomic::Ordering;

use crate::proto::mvccpb::{event::EventType, Event, KeyValue};
use std::sync::Arc;

use crate::storage::backend::{Backend, LmdbRead};
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::key_index::ByteBounds;
use crate::storage::revision::{main_prefix, Revision};

use super::range::{
    decode_kv, fetch, measure, plan, RangeOptions, RangePlan, RangeResult, RangeSource,
};
use super::Store;

/// A consistent read view. `Send`: it may move to another thread; any number
/// may be open at once, alongside a write batch.
pub struct ReadTxn<'s> {
    store: &'s Store,
    /// The environment this view reads (a defragmentation may have swapped
    /// the store's since); the txn holds it open.
    backend: Arc<Backend>,
    txn: LmdbRead<'static>,
    rev: i64,
    compacted: i64,
}

impl<'s> ReadTxn<'s> {
    pub(super) fn new(
        store: &'s Store,
        backend: Arc<Backend>,
        txn: LmdbRead<'static>,
        rev: i64,
        compacted: i64,
    ) -> Self {
        ReadTxn {
            store,
            backend,
            txn,
            rev,
            compacted,
        }
    }

    /// The compacted revision when this view was opened (0 if never).
    pub fn compacted_revision(&self) -> i64 {
        self.compacted.max(0)
    }

    /// The revision this view reads at.
    pub fn revision(&self) -> i64 {
        self.rev
    }

    pub(super) fn store(&self) -> &Store {
        self.store
    }

    pub(crate) fn lmdb(&self) -> &LmdbRead<'static> {
        &self.txn
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The compacted revision, -1 if never compacted.
    pub(super) fn raw_compacted_revision(&self) -> i64 {
        self.compacted
    }

    /// Every `kv` record (revision key, encoded KeyValue), in revision order.
    pub(super) fn kv_records(
        &self,
    ) -> StorageResult<heed::RoIter<'_, heed::types::Bytes, heed::types::Bytes>> {
        Ok(self.backend.kv().iter(&self.txn)?)
    }

    /// Every change with `from_rev <= main revision <= to_rev` (capped at
    /// this view's revision), in revision order: what a watcher catching up
    /// from `from_rev` needs. DELETE events carry key + mod_revision.
    /// `from_rev` below the compacted revision is `Compacted`, as in etcd.
    pub fn changes(&self, from_rev: i64, to_rev: i64) -> StorageResult<Vec<Event>> {
        Ok(self.changes_limited(from_rev, to_rev, usize::MAX)?.0)
    }

    /// `changes`, stopping at the first revision boundary after about
    /// `max_bytes` of keys and values; also returns the last revision the
    /// events cover completely (`to_rev`, capped, when nothing was cut).
    pub fn changes_limited(
        &self,
        from_rev: i64,
        to_rev: i64,
        max_bytes: usize,
    ) -> StorageResult<(Vec<Event>, i64)> {
        if from_rev < self.compacted {
            return Err(StorageError::Compacted);
        }
        let to = to_rev.min(self.rev);
        let from = from_rev.max(0);
        if from > to {
            return Ok((Vec::new(), to));
        }
        let (lo, hi) = (main_prefix(from), main_prefix(to.saturating_add(1)));
        let bounds: ByteBounds<'_> = (Bound::Included(&lo), Bound::Excluded(&hi));
        let mut events = Vec::new();
        let mut bytes = 0usize;
        for item in self.backend.kv().range(&self.txn, &bounds)? {
            let (key, value) = item?;
            let (rev, tombstone) = Revision::from_key(key)?;
            if bytes >= max_bytes && events.last().map(event_main_rev) != Some(rev.main) {
                return Ok((events, rev.main - 1));
            }
            bytes += value.len();
            let kv = decode_kv(value)?;
            events.push(if tombstone {
                Event {
                    r#type: EventType::Delete as i32,
                    kv: Some(KeyValue {
                        key: kv.key,
                        mod_revision: rev.main,
                        ..Default::default()
                    }),
                    prev_kv: None,
                }
            } else {
                Event {
                    r#type: EventType::Put as i32,
                    kv: Some(kv),
                    prev_kv: None,
                }
            });
        }
        Ok((events, to))
    }
}

impl ReadTxn<'_> {
    fn plan(&self, key: &[u8], end: &[u8], opts: RangeOptions) -> StorageResult<RangePlan> {
        let index = self.store.index_read();
        // A compaction committed after this view opened may already have
        // trimmed the index below our revision: refuse such reads, as etcd does.
        let compacted = self
            .compacted
            .max(self.store.compacted_rev.load(Ordering::SeqCst));
        plan(&index, key, end, opts, self.rev, compacted)
    }

    /// The bytes a range would load (records as stored), without loading it.
    pub fn range_bytes(&self, key: &[u8], end: &[u8], opts: RangeOptions) -> StorageResult<u64> {
        let planned = self.plan(key, end, opts)?;
        measure(self.backend.kv(), &self.txn, &planned)
    }
}

impl RangeSource for ReadTxn<'_> {
    fn range(&self, key: &[u8], end: &[u8], opts: RangeOptions) -> StorageResult<RangeResult> {
        let planned = self.plan(key, end, opts)?;
        // The snapshot still holds every revision the plan names.
        fetch(self.backend.kv(), &self.txn, planned)
    }

    fn rev(&self) -> i64 {
        self.rev
    }
}

fn event_main_rev(event: &Event) -> i64 {
    event
        .kv
        .as_ref()
        .map(|kv| kv.mod_revision)
        .unwrap_or_default()
}
