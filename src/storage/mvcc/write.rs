//! Write batches (one LMDB write txn, many etcd txns) and the txns in them.

use std::sync::RwLockWriteGuard;

use prost::Message;

use crate::proto::mvccpb::{event::EventType, Event, KeyValue};
use crate::proto::oxcdstore::{AlarmState, AuthState};
use std::sync::Arc;

use crate::storage::backend::{Backend, LmdbWrite, OwnedWrite};
use crate::storage::error::{StorageError, StorageResult};
use crate::storage::key_index::{IndexChange, TreeIndex};
use crate::storage::lease::{lease_key, LeaseRecord};
use crate::storage::revision::Revision;

use super::purge::PurgePlan;
use super::range::{fetch, plan, RangeOptions, RangeResult, RangeSource};
use super::{
    encode_i64, Store, META_COMPACTED_REV, META_CONSISTENT_INDEX, META_CURRENT_REV, NEVER_COMPACTED,
};

/// One LMDB write transaction. Holds the index write lock for its whole
/// life, so readers see either all of it (after commit) or none of it.
/// Dropping it without [`WriteBatch::commit`] rolls everything back.
pub struct WriteBatch<'s> {
    store: &'s Store,
    index: RwLockWriteGuard<'s, TreeIndex>,
    /// `None` only once commit has handed it to LMDB.
    txn: Option<OwnedWrite>,
    /// The environment `txn` writes (the store's, fixed while the index
    /// write lock is held).
    backend: Arc<Backend>,
    /// Index changes to revert, oldest first, if the batch is abandoned.
    undo: Vec<IndexChange>,
    /// Current revision as of the txns ended so far in this batch.
    rev: i64,
    compacted: i64,
    /// The index is compacted only once LMDB has committed the purge; until
    /// then it still answers correctly for every revision >= `compacted`.
    pending_compact: Option<i64>,
    /// The records the batch's compaction leaves to delete.
    pending_purge: Option<PurgePlan>,
    /// A write failed half-way: LMDB and the index may disagree, so the
    /// batch may only be dropped.
    failed: bool,
    /// The auth record as this batch changed it, published on commit.
    pending_auth: Option<AuthState>,
    /// The alarms as this batch changed them, published on commit.
    pending_alarms: Option<AlarmState>,
}

impl<'s> WriteBatch<'s> {
    pub(super) fn new(
        store: &'s Store,
        index: RwLockWriteGuard<'s, TreeIndex>,
        backend: Arc<Backend>,
        txn: OwnedWrite,
        rev: i64,
        compacted: i64,
    ) -> Self {
        WriteBatch {
            store,
            index,
            txn: Some(txn),
            backend,
            undo: Vec::new(),
            rev,
            compacted,
            pending_compact: None,
            pending_purge: None,
            failed: false,
            pending_auth: None,
            pending_alarms: None,
        }
    }

    /// The store this batch writes to.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// One etcd request = one txn = at most one new main revision.
    pub fn txn(&mut self) -> TxnWrite<'_, 's> {
        let begin_rev = self.rev;
        TxnWrite {
            batch: self,
            begin_rev,
            events: Vec::new(),
            ended: false,
        }
    }

    /// The batch's current revision (advanced by every changing txn ended).
    pub fn rev(&self) -> i64 {
        self.rev
    }

    /// The compacted revision as of this batch (0 if never).
    pub fn compacted_revision(&self) -> i64 {
        self.compacted.max(0)
    }

    fn txn_mut(&mut self) -> StorageResult<&mut LmdbWrite<'static>> {
        self.txn.as_deref_mut().ok_or_else(finished)
    }

    fn txn_ref(&self) -> StorageResult<&LmdbWrite<'static>> {
        self.txn.as_deref().ok_or_else(finished)
    }

    /// Compaction: records `rev` and compacts the index at commit; the LMDB
    /// records it no longer needs are deleted afterwards, in steps
    /// ([`Store::purge_step`]).
    pub fn compact(&mut self, rev: i64) -> StorageResult<()> {
        if rev > self.rev {
            return Err(StorageError::FutureRevision);
        }
        if rev <= self.compacted {
            return Err(StorageError::Compacted);
        }
        let keep = self.index.keep(rev);
        // Below the new compaction: a restart before the purge ends
        // purges again.
        let purged = self.store.purged_revision();
        self.put_meta(super::purge::META_PURGED_REV, &encode_i64(purged))?;
        self.compacted = rev;
        self.pending_compact = Some(rev);
        self.pending_purge = Some(PurgePlan::new(rev, keep));
        Ok(())
    }

    /// Creates or updates a lease record (LMDB and the lease table).
    pub fn put_lease(&mut self, id: i64, record: LeaseRecord) -> StorageResult<()> {
        let db = self.backend.lease();
        db.put(self.txn_mut()?, &lease_key(id), &record.encode())?;
        self.store.leases().insert(id, record);
        Ok(())
    }

    /// Removes a lease record; its keys stay, unattached (revoke deletes
    /// them first).
    pub fn delete_lease(&mut self, id: i64) -> StorageResult<()> {
        let db = self.backend.lease();
        db.delete(self.txn_mut()?, &lease_key(id))?;
        self.store.leases().remove(id);
        Ok(())
    }

    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> StorageResult<()> {
        let backend = &self.backend;
        let txn = self.txn.as_mut().ok_or_else(finished)?;
        // no index involved: LMDB alone keeps itself consistent on failure
        backend.put_meta(txn, key, value)
    }

    /// Records the auth record (in `meta`, and for readers once committed).
    pub fn put_auth(&mut self, state: AuthState) -> StorageResult<()> {
        self.put_meta(
            crate::storage::auth::AUTH_META_KEY,
            &crate::storage::auth::encode(&state),
        )?;
        self.pending_auth = Some(state);
        Ok(())
    }

    /// Whether auth is on, as of this batch's own changes.
    pub fn auth_enabled(&self) -> bool {
        match &self.pending_auth {
            Some(state) => state.enabled,
            None => self.store.auth_enabled(),
        }
    }

    /// Runs `f` on the auth record as of this batch's own changes.
    pub fn with_auth<T>(&self, f: impl FnOnce(&AuthState) -> T) -> T {
        match &self.pending_auth {
            Some(state) => f(state),
            None => self.store.with_auth(f),
        }
    }

    /// Records the alarm list (in `meta`, and for readers once committed).
    pub fn put_alarms(&mut self, state: AlarmState) -> StorageResult<()> {
        self.put_meta(
            crate::storage::alarms::ALARM_META_KEY,
            &crate::storage::alarms::encode(&state),
        )?;
        self.pending_alarms = Some(state);
        Ok(())
    }

    /// The alarms as of this batch's own changes.
    pub fn alarms(&self) -> AlarmState {
        match &self.pending_alarms {
            Some(state) => state.clone(),
            None => self.store.alarms(),
        }
    }

    /// Whether an alarm of `kind` is active as of this batch's own changes.
    pub fn alarm_active(&self, kind: crate::proto::etcdserverpb::AlarmType) -> bool {
        match &self.pending_alarms {
            Some(state) => crate::storage::alarms::any_of(state, kind),
            None => match kind {
                crate::proto::etcdserverpb::AlarmType::Nospace => self.store.nospace_alarm(),
                crate::proto::etcdserverpb::AlarmType::Corrupt => self.store.corrupt_alarm(),
                crate::proto::etcdserverpb::AlarmType::None => false,
            },
        }
    }

    /// Reads a meta value including this batch's own `put_meta` writes.
    pub fn get_meta(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        self.backend.get_meta_w(self.txn_ref()?, key)
    }

    /// Writes consistent_index (and current/compacted revision) in the same
    /// LMDB txn, then commits and makes the batch visible to readers.
    pub fn commit(mut self, consistent_index: u64) -> StorageResult<()> {
        if self.failed {
            return Err(StorageError::Corrupt(
                "write batch had a failed write; drop it instead of committing".into(),
            ));
        }
        let backend = &self.backend;
        let mut txn = self.txn.take().ok_or_else(finished)?;
        backend.put_meta(&mut txn, META_CURRENT_REV, &encode_i64(self.rev))?;
        if self.compacted != NEVER_COMPACTED {
            backend.put_meta(&mut txn, META_COMPACTED_REV, &encode_i64(self.compacted))?;
        }
        backend.put_meta(
            &mut txn,
            META_CONSISTENT_INDEX,
            &consistent_index.to_be_bytes(),
        )?;
        // on failure Drop rolls the index back; LMDB already aborted
        let started = std::time::Instant::now();
        fail::fail_point!("backend_before_commit", |arg| Err(
            crate::failpoints::io_fault(arg).into()
        ));
        txn.commit()?;
        fail::fail_point!("backend_after_commit", |arg| Err(
            crate::failpoints::io_fault(arg).into()
        ));
        crate::metrics::metrics()
            .disk
            .backend_commit_duration_seconds
            .observe(crate::metrics::seconds_since(started));
        self.undo.clear();
        if let Some(at) = self.pending_compact.take() {
            self.index.compact(at);
        }
        if let Some(plan) = self.pending_purge.take() {
            self.store.schedule_purge(plan);
        }
        self.store
            .publish(&self.index, self.rev, self.compacted, consistent_index);
        if let Some(state) = self.pending_auth.take() {
            self.store.publish_auth(state);
        }
        if let Some(state) = self.pending_alarms.take() {
            self.store.publish_alarms(state);
        }
        Ok(())
    }
}

impl Drop for WriteBatch<'_> {
    fn drop(&mut self) {
        // Abandoned (or failed) batch: LMDB aborts the txn when it drops;
        // the index must forget the same changes, newest first.
        for change in self.undo.iter().rev() {
            self.index.undo(change);
        }
    }
}

fn finished() -> StorageError {
    StorageError::Corrupt("write batch already committed".into())
}

/// What a txn did: its revision and its changes in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TxnOutcome {
    /// The store revision after the txn (unchanged if it changed nothing).
    pub rev: i64,
    pub events: Vec<Event>,
}

/// One etcd txn inside a batch. Its changes share main revision
/// `begin + 1`; it sees its own writes. Dropping it ends it like
/// [`TxnWrite::end`].
pub struct TxnWrite<'b, 's> {
    batch: &'b mut WriteBatch<'s>,
    begin_rev: i64,
    events: Vec<Event>,
    ended: bool,
}

impl TxnWrite<'_, '_> {
    fn next_rev(&self) -> Revision {
        Revision::new(self.begin_rev + 1, self.events.len() as i64)
    }

    /// Stores `value` under `key` with lease `lease` (0 = none).
    pub fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> StorageResult<()> {
        let done = self.put_inner(key, value, lease);
        self.batch.failed |= done.is_err();
        done
    }

    fn put_inner(&mut self, key: &[u8], value: &[u8], lease: i64) -> StorageResult<()> {
        let rev = self.next_rev();
        let (create_revision, version) = match self.batch.index.get(key, rev.main) {
            Some(at) => (at.created.main, at.version + 1),
            None => (rev.main, 1),
        };
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision,
            mod_revision: rev.main,
            version,
            value: value.to_vec(),
            lease,
        };
        let db = self.batch.backend.kv();
        db.put(
            self.batch.txn_mut()?,
            &rev.to_key(false),
            &kv.encode_to_vec(),
        )?;
        self.batch.index.put(key, rev)?;
        self.batch.undo.push(IndexChange::Put(key.to_vec()));
        self.events.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: None,
        });
        Ok(())
    }

    /// Deletes every live key in the range; returns how many. Tombstones
    /// are written only for keys that exist.
    pub fn delete_range(&mut self, key: &[u8], end: &[u8]) -> StorageResult<i64> {
        let keys = self.batch.index.keys(key, end, self.rev());
        for k in &keys {
            let done = self.delete_one(k);
            self.batch.failed |= done.is_err();
            done?;
        }
        Ok(keys.len() as i64)
    }

    fn delete_one(&mut self, key: &[u8]) -> StorageResult<()> {
        let rev = self.next_rev();
        // A tombstone holds only the key, as etcd's does (HashKV hashes the
        // stored bytes); readers take the revision from the record's key.
        let stored = KeyValue {
            key: key.to_vec(),
            ..Default::default()
        };
        let db = self.batch.backend.kv();
        db.put(
            self.batch.txn_mut()?,
            &rev.to_key(true),
            &stored.encode_to_vec(),
        )?;
        let kv = KeyValue {
            mod_revision: rev.main,
            ..stored
        };
        if !self.batch.index.tombstone(key, rev)? {
            return Err(StorageError::Corrupt(
                "tombstone on a key that is not live".into(),
            ));
        }
        self.batch.undo.push(IndexChange::Tombstone(key.to_vec()));
        self.events.push(Event {
            r#type: EventType::Delete as i32,
            kv: Some(kv),
            prev_kv: None,
        });
        Ok(())
    }

    /// Ends the txn: if it changed anything, the batch's main revision
    /// advances by one. Returns the events (in order) and the revision.
    pub fn end(mut self) -> TxnOutcome {
        self.finish();
        TxnOutcome {
            rev: self.batch.rev,
            events: std::mem::take(&mut self.events),
        }
    }

    fn finish(&mut self) {
        if !self.ended {
            self.ended = true;
            if !self.events.is_empty() {
                self.batch.rev = self.begin_rev + 1;
                self.batch.store.leases().track(&self.events);
            }
        }
    }
}

impl Drop for TxnWrite<'_, '_> {
    fn drop(&mut self) {
        // its records are already in the batch: the revision must move too
        self.finish();
    }
}

impl RangeSource for TxnWrite<'_, '_> {
    fn range(&self, key: &[u8], end: &[u8], opts: RangeOptions) -> StorageResult<RangeResult> {
        let planned = plan(
            &self.batch.index,
            key,
            end,
            opts,
            self.rev(),
            self.batch.compacted,
        )?;
        fetch(self.batch.backend.kv(), self.batch.txn_ref()?, planned)
    }

    fn rev(&self) -> i64 {
        if self.events.is_empty() {
            self.begin_rev
        } else {
            self.begin_rev + 1
        }
    }
}
