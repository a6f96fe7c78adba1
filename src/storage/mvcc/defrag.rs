//! Defragmentation that never stops writes for the copy.
//!
//! LMDB reuses free pages but never shrinks its file, so etcd's backend
//! size (what `--quota-backend-bytes` limits) only falls when the file is
//! rewritten. etcd rewrites it while holding every write (seconds for a
//! large database). Here:
//!
//! 1. a compacted copy of the environment is written beside it from one
//!    read snapshot (`mdb_env_copy2` with compaction), writes going on;
//! 2. the copy catches up with what was committed meanwhile, in rounds,
//!    writes still going on: `kv` records are keyed by revision and never
//!    rewritten, so the new ones are those past the copy's last key, and
//!    the only removals are a compaction's (records at or below the
//!    compacted revision that the live file no longer has); `lease` and
//!    `meta` are small and mirrored whole;
//! 3. under the index write lock (no batch in flight, none can start) one
//!    last small round, an fsync of the copy, an atomic exchange of the two
//!    directories and the swap of the store's environment. Only this step
//!    holds writes, for the last round's few records and one fsync.
//!
//! Readers that opened before the swap finish on the old environment; its
//! file, unlinked, is freed when the last of them ends.
//!
//! Crash safety: `db/` always holds a complete environment, the old one
//! until the exchange and the fsynced copy after it. A leftover
//! `db.defrag-*` directory is an unfinished copy (or, after the exchange,
//! the old file) and goes at the next boot ([`recover_interrupted`]).

use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::{decode_i64, Store, META_COMPACTED_REV};
use crate::storage::backend::{Backend, LmdbRead, LmdbWrite, RawDb};
use crate::storage::key_index::ByteBounds;
use crate::storage::revision::main_prefix;
use crate::storage::StorageResult;

/// The copy's directories are named `db.defrag-<unique>` beside `db/`.
const WORK_PREFIX: &str = "db.defrag-";
/// Catch-up rounds run until one moves fewer records than this...
const SMALL_ROUND: usize = 1_000;
/// ...or this many have run (a write rate the copy cannot outrun).
const MAX_ROUNDS: u32 = 20;

/// Disk claimed beyond the live file's size for the copy's catch-up.
const CATCH_UP_RESERVE: u64 = 64 << 20;

/// What a defragmentation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefragReport {
    /// Backend size (bytes up to the last page used) before and after.
    pub size_before: u64,
    pub size_after: u64,
    /// Catch-up rounds while writes went on.
    pub rounds: u32,
    /// How long writes were held for the final round and the swap.
    pub paused: Duration,
}

impl Store {
    /// Rewrites the LMDB file compacted and swaps it in (see the module
    /// docs). The caller runs one at a time and off the request path.
    pub fn defragment(&self) -> StorageResult<DefragReport> {
        let _one_at_a_time = self
            .defragging
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let live = self.backend();
        let size_before = live.file_size();
        let work = work_dir(&self.dir);
        fs::create_dir_all(&work)?;
        let outcome = self.defragment_into(&live, &work);
        // After the exchange `work` holds the old file; otherwise a partial
        // copy. Either way it goes (readers still on the old file keep it
        // mapped until they end).
        if let Err(err) = fs::remove_dir_all(&work) {
            // The next boot removes it (`recover_interrupted`).
            tracing::warn!(dir = %work.display(), %err, "could not remove the defragmentation's work dir");
        }
        let (rounds, paused) = outcome?;
        Ok(DefragReport {
            size_before,
            size_after: self.backend().file_size(),
            rounds,
            paused,
        })
    }

    fn defragment_into(&self, live: &Arc<Backend>, work: &Path) -> StorageResult<(u32, Duration)> {
        let file = work.join("data.mdb");
        live.copy_compacted_to(&file)?;
        // The copy is written through a shared map: a page the file system
        // cannot back would be a SIGBUS, not an error. Claim the blocks the
        // catch-up may write now, while running out is still an error.
        let copied = fs::metadata(&file)?.len();
        reserve(&file, copied.saturating_add(CATCH_UP_RESERVE))?;
        let copy = Arc::new(Backend::open(work, self.options.map_size)?);
        let mut rounds = 0;
        loop {
            rounds += 1;
            let view = live.read_owned()?;
            let moved = catch_up(live, &view, &copy)?;
            if moved < SMALL_ROUND || rounds >= MAX_ROUNDS {
                break;
            }
        }
        copy.sync()?;
        let started = Instant::now();
        let _index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        // No batch is in flight and none can start: the live file is final.
        let view = live.read_owned()?;
        catch_up(live, &view, &copy)?;
        drop(view);
        copy.sync()?;
        exchange(work, &self.dir)?;
        *self.backend.write().unwrap_or_else(PoisonError::into_inner) = copy;
        self.refresh_size();
        Ok((rounds, started.elapsed()))
    }
}

/// Brings `copy` to the state `view` (a snapshot of `live`) shows; returns
/// how many records it changed.
fn catch_up(live: &Backend, view: &LmdbRead<'_>, copy: &Backend) -> StorageResult<usize> {
    copy.claim_room(CATCH_UP_RESERVE)?;
    let mut w = copy.write_txn()?;
    let mut moved = 0;
    // New revisions: everything past the copy's last record.
    let last = copy.kv().last(&w)?.map(|(key, _)| key.to_vec());
    let newer: ByteBounds<'_> = match &last {
        Some(key) => (Bound::Excluded(key.as_slice()), Bound::Unbounded),
        None => (Bound::Unbounded, Bound::Unbounded),
    };
    for item in live.kv().range(view, &newer)? {
        let (key, value) = item?;
        copy.kv().put(&mut w, key, value)?;
        moved += 1;
    }
    // A compaction since the copy's state: drop what it removed.
    let compacted = |v: Option<Vec<u8>>| -> StorageResult<i64> {
        v.map(|bytes| decode_i64(META_COMPACTED_REV, &bytes))
            .transpose()
            .map(|rev| rev.unwrap_or(-1))
    };
    let live_compacted = compacted(live.get_meta(view, META_COMPACTED_REV)?)?;
    let copy_compacted = compacted(copy.get_meta_w(&w, META_COMPACTED_REV)?)?;
    if live_compacted > copy_compacted {
        let upper = main_prefix(live_compacted.saturating_add(1));
        let purged: ByteBounds<'_> = (Bound::Unbounded, Bound::Excluded(upper.as_slice()));
        let mut doomed = Vec::new();
        for item in copy.kv().range(&w, &purged)? {
            let (key, _) = item?;
            if live.kv().get(view, key)?.is_none() {
                doomed.push(key.to_vec());
            }
        }
        for key in &doomed {
            copy.kv().delete(&mut w, key)?;
        }
        moved += doomed.len();
    }
    moved += mirror(live.lease(), view, copy.lease(), &mut w)?;
    moved += mirror(live.meta_db(), view, copy.meta_db(), &mut w)?;
    w.commit()?;
    Ok(moved)
}

/// Makes `dst` hold exactly what `src` holds; returns the records changed.
fn mirror(
    src: RawDb,
    view: &LmdbRead<'_>,
    dst: RawDb,
    w: &mut LmdbWrite<'_>,
) -> StorageResult<usize> {
    let mut changed = 0;
    for item in src.iter(view)? {
        let (key, value) = item?;
        if dst.get(w, key)? != Some(value) {
            dst.put(w, key, value)?;
            changed += 1;
        }
    }
    let mut gone = Vec::new();
    for item in dst.iter(w)? {
        let (key, _) = item?;
        if src.get(view, key)?.is_none() {
            gone.push(key.to_vec());
        }
    }
    for key in &gone {
        dst.delete(w, key)?;
    }
    Ok(changed + gone.len())
}

/// Allocates the file's blocks up to `len` bytes (ENOSPC is an error here).
fn reserve(file: &Path, len: u64) -> StorageResult<()> {
    let f = fs::OpenOptions::new().write(true).open(file)?;
    Ok(crate::storage::backend::allocate(&f, len)?)
}

/// A fresh work directory beside `db`.
fn work_dir(db: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    sibling(db, &format!("{WORK_PREFIX}{nanos}"))
}

fn sibling(db: &Path, name: &str) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join(name)
}

/// Swaps the two directories in one step (Linux `renameat2` with
/// `RENAME_EXCHANGE`), then makes the swap durable.
fn exchange(a: &Path, b: &Path) -> StorageResult<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (ca, cb) = (path(a)?, path(b)?);
    fail::fail_point!("defrag_before_swap", |arg| Err(
        crate::failpoints::io_fault(arg).into()
    ));
    // SAFETY: both are valid NUL-terminated paths; the call only renames.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if let Some(parent) = b.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    fail::fail_point!("defrag_after_swap", |arg| Err(crate::failpoints::io_fault(
        arg
    )
    .into()));
    Ok(())
}

/// At boot, before LMDB opens: removes what an interrupted defragmentation
/// left beside `db` (an unfinished copy, or the old file after the swap).
pub fn recover_interrupted(db: &Path) -> StorageResult<()> {
    let Some(parent) = db.parent() else {
        return Ok(());
    };
    let Ok(entries) = fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(WORK_PREFIX) {
            tracing::warn!(dir = %entry.path().display(), "removing what an interrupted defragmentation left");
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}
