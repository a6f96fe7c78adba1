//! Compaction's second half: deleting the LMDB records the compacted
//! revision no longer needs. A Compaction request only records the revision
//! and compacts the key index (reads at or above it are answered from then
//! on); the records go afterwards in steps of a bounded number of records,
//! each its own LMDB transaction, so a compaction of millions of revisions
//! never holds writes up for long (etcd's
//! `--experimental-compaction-batch-limit`).
//!
//! `mvcc/purged_rev` records the last compaction whose purge finished; a
//! store that opens with it below the compacted revision purges again (a
//! crash or a snapshot taken half-way), as etcd resumes a scheduled
//! compaction.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use crate::storage::backend::Backend;
use crate::storage::error::StorageResult;
use crate::storage::key_index::ByteBounds;
use crate::storage::revision::{main_prefix, Revision};

use super::{encode_i64, Store};

/// The revision of the last finished purge.
pub(super) const META_PURGED_REV: &str = "mvcc/purged_rev";

/// What a compaction at `rev` leaves to delete.
#[derive(Debug)]
pub struct PurgePlan {
    rev: i64,
    /// The records at or below `rev` that stay.
    keep: HashSet<Revision>,
    /// The first record not examined yet.
    next: Vec<u8>,
}

impl PurgePlan {
    pub(super) fn new(rev: i64, keep: HashSet<Revision>) -> Self {
        PurgePlan {
            rev,
            keep,
            next: Vec::new(),
        }
    }
}

/// What one purge step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeStep {
    /// The compaction being purged.
    pub rev: i64,
    pub deleted: usize,
    /// The purge of `rev` is complete.
    pub finished: bool,
}

impl Store {
    /// Hands a committed compaction's purge over (replacing an unfinished
    /// one: a later compaction deletes a superset). Called with the index
    /// write lock held.
    pub(super) fn schedule_purge(&self, plan: PurgePlan) {
        *self.purge.lock().unwrap_or_else(PoisonError::into_inner) = Some(plan);
        self.purge_pending.store(true, Ordering::SeqCst);
    }

    /// Whether a compaction still has records to delete.
    pub fn purge_pending(&self) -> bool {
        self.purge_pending.load(Ordering::SeqCst)
    }

    /// The last compaction whose records are all gone (-1: none).
    pub fn purged_revision(&self) -> i64 {
        *self.purged.borrow()
    }

    /// Follows [`Store::purged_revision`] (etcd's `physical` compaction
    /// waits on it).
    pub fn watch_purged(&self) -> tokio::sync::watch::Receiver<i64> {
        self.purged.subscribe()
    }

    /// Deletes what the scheduled compaction no longer needs among the next
    /// `limit` records, in one LMDB transaction; `None` when nothing is
    /// scheduled.
    pub fn purge_step(&self, limit: usize) -> StorageResult<Option<PurgeStep>> {
        // No step during a defragmentation: its catch-up rounds copy new
        // records and a compaction's removals, not a purge half-done
        // (the purge goes on in the new file after the swap).
        let _defrag = self
            .defragging
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The index write lock keeps batches out while the step writes.
        let _index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let mut slot = self.purge.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(plan) = slot.as_mut() else {
            return Ok(None);
        };
        let backend = self.backend();
        let mut txn = Backend::write_owned(&backend)?;
        let db = backend.kv();
        let upper = main_prefix(plan.rev.saturating_add(1));
        // LMDB refuses an empty key as a bound.
        let from = match plan.next.as_slice() {
            [] => Bound::Unbounded,
            next => Bound::Included(next),
        };
        let bounds: ByteBounds<'_> = (from, Bound::Excluded(&upper));
        let mut examined = 0;
        let mut last = None;
        let mut doomed = Vec::new();
        for item in db.range(&txn, &bounds)?.take(limit.max(1)) {
            let (key, _) = item?;
            let (r, _) = Revision::from_key(key)?;
            examined += 1;
            if !plan.keep.contains(&r) {
                doomed.push(key.to_vec());
            }
            last = Some(key.to_vec());
        }
        for key in &doomed {
            db.delete(&mut txn, key)?;
        }
        let finished = examined < limit.max(1);
        if finished {
            backend.put_meta(&mut txn, META_PURGED_REV, &encode_i64(plan.rev))?;
        }
        txn.commit()?;
        let step = PurgeStep {
            rev: plan.rev,
            deleted: doomed.len(),
            finished,
        };
        match last {
            Some(mut key) if !finished => {
                // The smallest key after the last one examined.
                key.push(0);
                plan.next = key;
            }
            _ => {
                *slot = None;
                self.purge_pending.store(false, Ordering::SeqCst);
                self.purged.send_replace(step.rev);
            }
        }
        self.refresh_size();
        Ok(Some(step))
    }

    /// Runs the scheduled purge to its end without pausing (tests, and a
    /// restored snapshot before it is served).
    pub fn finish_purge(&self) -> StorageResult<()> {
        while self.purge_step(10_000)?.is_some_and(|step| !step.finished) {}
        Ok(())
    }
}
