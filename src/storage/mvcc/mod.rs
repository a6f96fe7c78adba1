//! etcd's multi-version key-value store over LMDB.
//!
//! LMDB holds every revision of every key, keyed by revision; the in-memory
//! [`TreeIndex`] maps user keys to those revisions. The index sits behind an
//! `RwLock`: a [`WriteBatch`] holds it for writing from start to LMDB commit,
//! so a reader always pairs an index with the LMDB snapshot it describes.

mod defrag;
mod hash;
mod purge;
mod range;
mod read;
mod restore;
mod write;

#[cfg(test)]
mod defrag_tests;
#[cfg(test)]
mod tests;

use crate::proto::etcdserverpb::AlarmType;
use crate::proto::oxcdstore::{AlarmState, AuthState};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::alarms;
use super::backend::Backend;
use super::error::StorageResult;
use super::key_index::TreeIndex;
use super::lease::LeaseTable;

pub use defrag::{recover_interrupted, DefragReport};
pub use hash::KvHash;
pub use purge::{PurgePlan, PurgeStep};
pub use range::{RangeOptions, RangeResult, RangeSource};
pub use read::ReadTxn;
pub use write::{TxnOutcome, TxnWrite, WriteBatch};

/// Meta keys this module owns (8-byte big-endian values).
const META_CURRENT_REV: &str = "mvcc/current_rev";
const META_COMPACTED_REV: &str = "mvcc/compacted_rev";
const META_CONSISTENT_INDEX: &str = "mvcc/consistent_index";

/// Internal marker for "never compacted" (etcd's -1), so that compacting at
/// revision 0 on a fresh store succeeds like it does in etcd.
const NEVER_COMPACTED: i64 = -1;

/// How to open a [`Store`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// LMDB map size in bytes: the largest the data file may grow.
    pub map_size: usize,
}

/// The MVCC store. `Send + Sync`; share it as `Arc<Store>`.
pub struct Store {
    /// Swapped only by a defragmentation, under the index write lock.
    backend: RwLock<Arc<Backend>>,
    /// How the backend was opened (a defragmented copy opens the same way).
    options: StoreOptions,
    /// The environment's directory (`member/db`).
    dir: std::path::PathBuf,
    /// Held by a defragmentation from start to swap.
    defragging: Mutex<()>,
    /// The backend size as of the last commit (or swap): read per request
    /// by the quota checks without touching LMDB.
    size: AtomicU64,
    index: RwLock<TreeIndex>,
    /// Committed values, changed only while the index write lock is held.
    current_rev: AtomicI64,
    compacted_rev: AtomicI64,
    consistent_index: AtomicU64,
    /// Leases and their keys; changed only by write batches, in step with LMDB.
    leases: Mutex<LeaseTable>,
    /// The auth record as last committed (read on every applied request
    /// while auth is on); changed only by write batches.
    auth: RwLock<AuthState>,
    /// `auth.enabled`, read without the lock on every applied request.
    auth_on: AtomicBool,
    /// The active alarms as last committed; changed only by write batches.
    alarms: RwLock<AlarmState>,
    /// Whether a NOSPACE / CORRUPT alarm is active, read without the lock
    /// on every applied request.
    nospace_on: AtomicBool,
    corrupt_on: AtomicBool,
    /// The compaction whose records are still to delete (see `purge`).
    purge: Mutex<Option<PurgePlan>>,
    purge_pending: AtomicBool,
    /// The last compaction whose records are all deleted.
    purged: tokio::sync::watch::Sender<i64>,
}

impl Store {
    /// Opens (creating `dir` if needed) and rebuilds the key index from LMDB.
    pub fn open(dir: &Path, opts: StoreOptions) -> StorageResult<Store> {
        let backend = Backend::open(dir, opts.map_size)?;
        let opts = opts.clone();
        let restored = restore::restore(&backend)?;
        // Rebuilding the index read every page; they need not stay in RSS.
        backend.release_mapped_pages();
        let (auth, alarms) = {
            let txn = backend.read_txn()?;
            let auth = crate::storage::auth::decode(
                backend.get_meta(&txn, crate::storage::auth::AUTH_META_KEY)?,
            )?;
            let alarms = crate::storage::alarms::decode(
                backend.get_meta(&txn, crate::storage::alarms::ALARM_META_KEY)?,
            )?;
            (auth, alarms)
        };
        let store = Store {
            backend: RwLock::new(Arc::new(backend)),
            options: opts,
            dir: dir.to_path_buf(),
            defragging: Mutex::new(()),
            size: AtomicU64::new(0),
            index: RwLock::new(restored.index),
            current_rev: AtomicI64::new(restored.current_rev),
            compacted_rev: AtomicI64::new(restored.compacted_rev),
            consistent_index: AtomicU64::new(restored.consistent_index),
            leases: Mutex::new(restored.leases),
            auth_on: AtomicBool::new(auth.enabled),
            auth: RwLock::new(auth),
            nospace_on: AtomicBool::new(alarms::any_of(&alarms, AlarmType::Nospace)),
            corrupt_on: AtomicBool::new(alarms::any_of(&alarms, AlarmType::Corrupt)),
            alarms: RwLock::new(alarms),
            purge: Mutex::new(None),
            purge_pending: AtomicBool::new(false),
            purged: tokio::sync::watch::Sender::new(restored.purged_rev),
        };
        if restored.purged_rev < restored.compacted_rev {
            // A purge was cut short: the index is compacted, the records
            // are not all gone yet.
            let keep = store.index_read().keep(restored.compacted_rev);
            store.schedule_purge(PurgePlan::new(restored.compacted_rev, keep));
        }
        store.refresh_size();
        Ok(store)
    }

    /// The LMDB environment in use now.
    pub(crate) fn backend(&self) -> Arc<Backend> {
        self.backend
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The active alarms, as last committed.
    pub fn alarms(&self) -> AlarmState {
        self.alarms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a NOSPACE alarm is active (the cluster is read-only, as etcd's).
    pub fn nospace_alarm(&self) -> bool {
        self.nospace_on.load(Ordering::SeqCst)
    }

    /// Whether a CORRUPT alarm is active (KV requests are refused, as etcd's).
    pub fn corrupt_alarm(&self) -> bool {
        self.corrupt_on.load(Ordering::SeqCst)
    }

    /// Claims disk blocks for `extra` more bytes (see `Backend::claim_room`).
    pub fn claim_room(&self, extra: u64) -> StorageResult<()> {
        self.backend().claim_room(extra)
    }

    /// Bytes up to the last page LMDB ever used: etcd's backend size, what
    /// `--quota-backend-bytes` limits; as of the last commit (one atomic load).
    pub fn backend_size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Reads the backend size from LMDB again (after a commit or a swap).
    fn refresh_size(&self) {
        self.size
            .store(self.backend().file_size(), Ordering::Release);
    }

    /// Whether auth is on, as last committed.
    pub fn auth_enabled(&self) -> bool {
        self.auth_on.load(Ordering::SeqCst)
    }

    /// Runs `f` on the committed auth record.
    pub fn with_auth<T>(&self, f: impl FnOnce(&AuthState) -> T) -> T {
        f(&self.auth.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The lease table (hold the guard briefly: write batches need it too).
    pub fn leases(&self) -> MutexGuard<'_, LeaseTable> {
        // A panic while holding it cannot leave a half-made change behind:
        // every table operation completes or does nothing.
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The revision of the last committed change; 1 on a fresh store.
    pub fn current_revision(&self) -> i64 {
        self.current_rev.load(Ordering::SeqCst)
    }

    /// The last compaction revision; 0 when never compacted.
    pub fn compacted_revision(&self) -> i64 {
        self.compacted_rev.load(Ordering::SeqCst).max(0)
    }

    /// Raft index of the last applied entry (0 on a fresh store).
    pub fn consistent_index(&self) -> u64 {
        self.consistent_index.load(Ordering::SeqCst)
    }

    /// A compacted copy of the LMDB file at `path`, for a raft snapshot.
    pub fn copy_to(&self, path: &Path) -> StorageResult<()> {
        self.backend().copy_compacted_to(path)
    }

    /// Reads a value written by [`WriteBatch::put_meta`] (committed data only).
    pub fn get_meta(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        let backend = self.backend();
        let txn = backend.read_txn()?;
        backend.get_meta(&txn, key)
    }

    /// (data file bytes, bytes in use by live pages).
    pub fn db_size(&self) -> StorageResult<(u64, u64)> {
        self.backend().size()
    }

    /// Keys whose latest generation is live.
    pub fn live_keys(&self) -> usize {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .live_keys()
    }

    /// Forces committed data to disk (the env runs NO_SYNC; the WAL is the
    /// durable record until this is called).
    pub fn sync(&self) -> StorageResult<()> {
        if !crate::storage::fsync::enabled() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        self.backend().sync()?;
        crate::metrics::metrics()
            .disk
            .backend_flush_duration_seconds
            .observe(crate::metrics::seconds_since(started));
        Ok(())
    }

    /// A consistent read view at the current revision. Blocks only while a
    /// [`WriteBatch`] is open; never call it on a thread that holds one.
    pub fn read(&self) -> StorageResult<ReadTxn<'_>> {
        let index = self.index_read();
        // Under the read lock no batch is mid-way, so the revisions, the
        // index and the LMDB snapshot opened here all agree.
        let rev = self.current_rev.load(Ordering::SeqCst);
        let compacted = self.compacted_rev.load(Ordering::SeqCst);
        let backend = self.backend();
        let txn = backend.read_owned()?;
        drop(index);
        Ok(ReadTxn::new(self, backend, txn, rev, compacted))
    }

    /// Starts the one write batch (one LMDB write txn). Must be used, and
    /// committed or dropped, on the thread that began it.
    pub fn begin_batch(&self) -> StorageResult<WriteBatch<'_>> {
        let index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        // Read under the index write lock: no swap can come between.
        let backend = self.backend();
        let txn = Backend::write_owned(&backend)?;
        Ok(WriteBatch::new(
            self,
            index,
            backend,
            txn,
            self.current_rev.load(Ordering::SeqCst),
            self.compacted_rev.load(Ordering::SeqCst),
        ))
    }

    /// A poisoned lock only means a batch panicked; its Drop already rolled
    /// the index back, so the data is still good.
    fn index_read(&self) -> RwLockReadGuard<'_, TreeIndex> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes a committed batch; called with the index write lock held.
    fn publish_auth(&self, state: AuthState) {
        self.auth_on.store(state.enabled, Ordering::SeqCst);
        *self.auth.write().unwrap_or_else(PoisonError::into_inner) = state;
    }

    fn publish_alarms(&self, state: AlarmState) {
        self.nospace_on
            .store(alarms::any_of(&state, AlarmType::Nospace), Ordering::SeqCst);
        self.corrupt_on
            .store(alarms::any_of(&state, AlarmType::Corrupt), Ordering::SeqCst);
        *self.alarms.write().unwrap_or_else(PoisonError::into_inner) = state;
    }

    fn publish(&self, _index: &RwLockWriteGuard<'_, TreeIndex>, rev: i64, compacted: i64, ci: u64) {
        self.refresh_size();
        self.current_rev.store(rev, Ordering::SeqCst);
        self.compacted_rev.store(compacted, Ordering::SeqCst);
        self.consistent_index.store(ci, Ordering::SeqCst);
    }
}

/// The consistent index recorded in an LMDB environment that no `Store`
/// has open (a snapshot copy).
pub(crate) fn stored_consistent_index(
    backend: &Backend,
    txn: &super::backend::LmdbRead<'_>,
) -> StorageResult<u64> {
    Ok(backend
        .get_meta(txn, META_CONSISTENT_INDEX)?
        .map(|bytes| decode_i64(META_CONSISTENT_INDEX, &bytes))
        .transpose()?
        .map_or(0, |v| v as u64))
}

/// The last finished purge recorded in `txn` (`None`: every compaction
/// was purged in its own transaction).
pub(crate) fn stored_purged_revision(
    backend: &Backend,
    txn: &super::backend::LmdbRead<'_>,
) -> StorageResult<Option<i64>> {
    backend
        .get_meta(txn, purge::META_PURGED_REV)?
        .map(|bytes| decode_i64(purge::META_PURGED_REV, &bytes))
        .transpose()
}

/// The current and compacted revision of a store written record by record
/// (a restored snapshot), before it is first opened.
pub(crate) fn put_imported_revisions(
    backend: &Backend,
    txn: &mut crate::storage::backend::LmdbWrite<'_>,
    current: i64,
    compacted: i64,
) -> StorageResult<()> {
    backend.put_meta(txn, META_CURRENT_REV, &encode_i64(current))?;
    if compacted > 0 {
        backend.put_meta(txn, META_COMPACTED_REV, &encode_i64(compacted))?;
    }
    Ok(())
}

fn encode_i64(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

fn decode_i64(key: &str, bytes: &[u8]) -> StorageResult<i64> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| super::StorageError::Corrupt(format!("meta {key}: {} bytes", bytes.len())))?;
    Ok(i64::from_be_bytes(arr))
}
