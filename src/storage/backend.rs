//! The LMDB environment behind the MVCC store: a `kv` database keyed by
//! encoded revisions, a small `meta` database keyed by short strings, and a
//! `lease` database keyed by lease id.

use std::path::Path;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, MdbError, WithoutTls};

use super::error::{StorageError, StorageResult};

/// A read snapshot. Opened without thread-local storage, so it may move
/// between threads and several may be open on one thread.
pub type LmdbRead<'e> = heed::RoTxn<'e, WithoutTls>;
/// The single write transaction; LMDB wants it finished on its own thread.
pub type LmdbWrite<'e> = heed::RwTxn<'e>;

/// A write transaction that keeps its environment alive by itself, so a
/// `Store` can swap in a new environment (after a defragmentation) while
/// this one is still open on the old. Derefs to the LMDB write txn.
pub struct OwnedWrite {
    // Declared first: dropped (aborted) before the backend it borrows.
    txn: LmdbWrite<'static>,
    _backend: std::sync::Arc<Backend>,
}

impl OwnedWrite {
    pub fn commit(self) -> StorageResult<()> {
        let OwnedWrite { txn, _backend } = self;
        txn.commit()?;
        Ok(())
    }
}

impl std::ops::Deref for OwnedWrite {
    type Target = LmdbWrite<'static>;
    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

impl std::ops::DerefMut for OwnedWrite {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.txn
    }
}

/// Handle to one of the two databases (keys and values are raw bytes).
pub type RawDb = Database<'static, Bytes, Bytes>;

const KV_DB: &str = "kv";
const META_DB: &str = "meta";
const LEASE_DB: &str = "lease";
/// Room for many concurrent readers (gRPC ranges, watch catch-up, ...).
const MAX_READERS: u32 = 1024;
/// LMDB needs the map size to be a multiple of the OS page size; 64 KiB is
/// a multiple of every common page size.
const MAP_ALIGN: usize = 64 * 1024;
/// Disk blocks claimed past what the next write needs, so most batches
/// find their room already there.
const CLAIM_SLACK: u64 = 16 << 20;
/// LMDB's two meta pages, always in use.
const META_PAGES: u64 = 2;

/// The opened environment and its databases.
pub struct Backend {
    env: Env<WithoutTls>,
    /// The data file, for claiming disk blocks ahead of the map's writes
    /// (`None` for read-only copies).
    data_file: Option<std::fs::File>,
    /// Bytes of the data file known to have disk blocks.
    claimed: std::sync::atomic::AtomicU64,
    kv: RawDb,
    meta: RawDb,
    lease: RawDb,
    /// The data file's mapping, released after each flush (writable
    /// environments only; see `storage/mapped_pages.rs`).
    mapped: crate::storage::mapped_pages::MappedFile,
}

impl Backend {
    /// Opens (creating if needed) the environment in `dir`.
    pub fn open(dir: &Path, map_size: usize) -> StorageResult<Backend> {
        std::fs::create_dir_all(dir)?;
        // NO_SYNC only weakens durability against OS crashes; the WAL
        // provides durability and `sync()` flushes on demand. WRITE_MAP
        // commits by writing the map itself: no pwrite/lseek/writev per
        // commit. The data file is then as long as the map (sparse), so
        // sizes are taken from the last used page, not the file length.
        let env = open_env(dir, map_size, EnvFlags::NO_SYNC | EnvFlags::WRITE_MAP)?;
        let wtxn = env.write_txn()?;
        let opened = env.create_databases_and_commit(wtxn, |dbo, wtxn| {
            let kv = dbo.create_database::<Bytes, Bytes>(wtxn, Some(KV_DB))?;
            let meta = dbo.create_database::<Bytes, Bytes>(wtxn, Some(META_DB))?;
            let lease = dbo.create_database::<Bytes, Bytes>(wtxn, Some(LEASE_DB))?;
            Ok::<_, StorageError>(CommitOrAbort::<_, ()>::Commit((kv, meta, lease)))
        })?;
        let mut backend =
            Backend::with_databases(env, opened.commit(), "could not create databases")?;
        backend.data_file = Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("data.mdb"))?,
        );
        backend.mapped = crate::storage::mapped_pages::MappedFile::find(&dir.join("data.mdb"));
        if backend.mapped.is_empty() {
            tracing::debug!("LMDB's mapping not found; its pages stay in RSS");
        }
        Ok(backend)
    }

    /// Opens an existing environment (a snapshot copy) read-only, leaving
    /// its file exactly as it is.
    pub fn open_read_only(dir: &Path, map_size: usize) -> StorageResult<Backend> {
        let env = open_env(dir, map_size, EnvFlags::READ_ONLY)?;
        let rtxn = env.read_txn()?;
        let missing = |name: &str| StorageError::Corrupt(format!("no {name} database"));
        let opened = env.open_databases_and_commit(rtxn, |dbo, rtxn| {
            let kv = dbo.open_database::<Bytes, Bytes>(rtxn, Some(KV_DB))?;
            let meta = dbo.open_database::<Bytes, Bytes>(rtxn, Some(META_DB))?;
            let lease = dbo.open_database::<Bytes, Bytes>(rtxn, Some(LEASE_DB))?;
            let kv = kv.ok_or_else(|| missing(KV_DB))?;
            let meta = meta.ok_or_else(|| missing(META_DB))?;
            let lease = lease.ok_or_else(|| missing(LEASE_DB))?;
            Ok::<_, StorageError>(CommitOrAbort::<_, ()>::Commit((kv, meta, lease)))
        })?;
        Backend::with_databases(env, opened.commit(), "could not open databases")
    }

    fn with_databases(
        env: Env<WithoutTls>,
        databases: Option<(RawDb, RawDb, RawDb)>,
        failure: &str,
    ) -> StorageResult<Backend> {
        let Some((kv, meta, lease)) = databases else {
            return Err(StorageError::Corrupt(failure.into()));
        };
        Ok(Backend {
            env,
            data_file: None,
            claimed: std::sync::atomic::AtomicU64::new(0),
            kv,
            meta,
            lease,
            mapped: Default::default(),
        })
    }

    pub fn read_txn(&self) -> StorageResult<LmdbRead<'_>> {
        Ok(self.env.read_txn()?)
    }

    pub fn write_txn(&self) -> StorageResult<LmdbWrite<'_>> {
        Ok(self.env.write_txn()?)
    }

    /// A read snapshot that owns a handle on the environment.
    pub fn read_owned(&self) -> StorageResult<LmdbRead<'static>> {
        Ok(self.env.clone().static_read_txn()?)
    }

    /// A write transaction that holds `backend` alive (see [`OwnedWrite`]).
    pub fn write_owned(backend: &std::sync::Arc<Backend>) -> StorageResult<OwnedWrite> {
        let txn = backend.env.write_txn()?;
        // SAFETY: the txn borrows only `backend.env`, which lives inside the
        // Arc's heap allocation and so neither moves nor drops while the
        // `OwnedWrite` holds its clone of the Arc; the txn field is dropped
        // (or consumed by commit) before that clone.
        let txn: LmdbWrite<'static> = unsafe { std::mem::transmute(txn) };
        Ok(OwnedWrite {
            txn,
            _backend: backend.clone(),
        })
    }

    /// The revision-keyed records.
    pub fn kv(&self) -> RawDb {
        self.kv
    }

    /// Short records keyed by name (revisions, auth, members, alarms).
    pub fn meta_db(&self) -> RawDb {
        self.meta
    }

    /// Lease records, keyed by big-endian lease id.
    pub fn lease(&self) -> RawDb {
        self.lease
    }

    pub fn get_meta(&self, txn: &LmdbRead<'_>, key: &str) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.meta.get(txn, key.as_bytes())?.map(<[u8]>::to_vec))
    }

    /// Same as [`Backend::get_meta`] from inside the write transaction.
    pub fn get_meta_w(&self, txn: &LmdbWrite<'_>, key: &str) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.meta.get(txn, key.as_bytes())?.map(<[u8]>::to_vec))
    }

    pub fn put_meta(&self, txn: &mut LmdbWrite<'_>, key: &str, value: &[u8]) -> StorageResult<()> {
        Ok(self.meta.put(txn, key.as_bytes(), value)?)
    }

    /// etcd's backend Hash: a CRC-32C over every database in name order
    /// (its name, then each key and value), leaving out the `meta` keys in
    /// `ignored_meta` (values that may differ between members holding the
    /// same data, like the consistent index).
    pub fn hash(&self, txn: &LmdbRead<'_>, ignored_meta: &[&str]) -> StorageResult<u32> {
        let mut hash = 0u32;
        for (name, db) in [
            (KV_DB, self.kv),
            (LEASE_DB, self.lease),
            (META_DB, self.meta),
        ] {
            hash = crc32c::crc32c_append(hash, name.as_bytes());
            for item in db.iter(txn)? {
                let (key, value) = item?;
                if name == META_DB && ignored_meta.iter().any(|k| k.as_bytes() == key) {
                    continue;
                }
                hash = crc32c::crc32c_append(hash, key);
                hash = crc32c::crc32c_append(hash, value);
            }
        }
        Ok(hash)
    }

    /// Flushes everything committed so far to disk (the env runs NO_SYNC).
    pub fn sync(&self) -> StorageResult<()> {
        if crate::storage::fsync::enabled() {
            self.env.force_sync()?;
        }
        self.release_mapped_pages();
        Ok(())
    }

    /// Drops the map's pages from this process's RSS (they stay in the page
    /// cache); see `storage/mapped_pages.rs`.
    pub fn release_mapped_pages(&self) {
        self.mapped.release();
    }

    /// Writes a compacted copy of the whole environment to `path` (a new
    /// file), from one read snapshot; writers go on meanwhile.
    pub fn copy_compacted_to(&self, path: &Path) -> StorageResult<()> {
        let file = self
            .env
            .copy_to_path(path, heed::CompactionOption::Enabled)?;
        file.sync_all()?;
        Ok(())
    }

    /// Makes sure the data file has disk blocks for `extra` bytes past the
    /// last page used (and some slack), before a write txn may touch them.
    /// The environment writes through a shared map, where a page the file
    /// system cannot back is a SIGBUS; here, running out is an ENOSPC error
    /// ([`StorageError::is_no_space`]) and nothing has changed.
    pub fn claim_room(&self, extra: u64) -> StorageResult<()> {
        use std::sync::atomic::Ordering;
        let Some(file) = &self.data_file else {
            return Ok(());
        };
        let map = self.env.info().map_size as u64;
        let need = self.file_size().saturating_add(extra).min(map);
        if need <= self.claimed.load(Ordering::Acquire) {
            return Ok(());
        }
        let target = need.saturating_add(CLAIM_SLACK).min(map);
        match allocate(file, target) {
            Ok(()) => {
                self.claimed.fetch_max(target, Ordering::AcqRel);
                Ok(())
            }
            // File systems without fallocate: nothing to claim with.
            Err(err) if matches!(err.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) => {
                self.claimed.store(map, Ordering::Release);
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Bytes up to the last page ever used (without reading any tree).
    pub fn file_size(&self) -> u64 {
        let page = u64::from(self.env.unnamed_database_stat().page_size);
        (self.env.info().last_page_number as u64 + 1).saturating_mul(page)
    }

    /// (bytes up to the last page ever used, bytes held by live B-tree
    /// pages): what the data file would hold without WRITE_MAP's sparse
    /// tail, and what etcd reports as dbSize and dbSizeInUse.
    pub fn size(&self) -> StorageResult<(u64, u64)> {
        let txn = self.read_txn()?;
        let main = self.env.unnamed_database_stat();
        let page = u64::from(main.page_size);
        let file = (self.env.info().last_page_number as u64 + 1).saturating_mul(page);
        let mut pages = META_PAGES + tree_pages(&main);
        for db in [self.kv, self.meta, self.lease] {
            pages += tree_pages(&db.stat(&txn)?);
        }
        let in_use = pages.saturating_mul(page);
        Ok((file, in_use.min(file)))
    }
}

/// Gives `file` disk blocks for its first `len` bytes (`posix_fallocate`),
/// growing it if shorter; a full disk is ENOSPC here, not later.
pub(crate) fn allocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let len = libc::off_t::try_from(len).unwrap_or(libc::off_t::MAX);
    // SAFETY: a valid open descriptor; the call only allocates blocks.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        err => Err(std::io::Error::from_raw_os_error(err)),
    }
}

fn open_env(dir: &Path, map_size: usize, flags: EnvFlags) -> StorageResult<Env<WithoutTls>> {
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.map_size(align_map_size(map_size))
        .max_dbs(4)
        .max_readers(MAX_READERS);
    // SAFETY: the flags are among those documented above; NO_SYNC and
    // WRITE_MAP are safe for a file only this process maps.
    unsafe { opts.flags(flags) };
    // SAFETY: the data file is ours alone; nothing else maps or truncates it.
    Ok(unsafe { opts.open(dir) }?)
}

fn tree_pages(stat: &heed::DatabaseStat) -> u64 {
    (stat.branch_pages + stat.leaf_pages + stat.overflow_pages) as u64
}

fn align_map_size(size: usize) -> usize {
    size.max(MAP_ALIGN)
        .div_ceil(MAP_ALIGN)
        .saturating_mul(MAP_ALIGN)
}

impl StorageError {
    /// The LMDB map is full: the caller should report "database space exceeded".
    pub fn is_map_full(&self) -> bool {
        matches!(
            self,
            StorageError::Lmdb(heed::Error::Mdb(MdbError::MapFull))
        )
    }

    /// Every LMDB reader slot is taken.
    pub fn is_readers_full(&self) -> bool {
        matches!(
            self,
            StorageError::Lmdb(heed::Error::Mdb(MdbError::ReadersFull))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_size_is_aligned() {
        assert_eq!(align_map_size(0), MAP_ALIGN);
        assert_eq!(align_map_size(MAP_ALIGN + 1), 2 * MAP_ALIGN);
        assert_eq!(align_map_size(3 * MAP_ALIGN), 3 * MAP_ALIGN);
    }

    #[test]
    fn meta_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = Backend::open(dir.path(), 1 << 20).unwrap();
            let mut w = b.write_txn().unwrap();
            b.put_meta(&mut w, "k", b"v").unwrap();
            assert_eq!(b.get_meta_w(&w, "k").unwrap(), Some(b"v".to_vec()));
            w.commit().unwrap();
            b.sync().unwrap();
        }
        let b = Backend::open(dir.path(), 1 << 20).unwrap();
        let r = b.read_txn().unwrap();
        assert_eq!(b.get_meta(&r, "k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(b.get_meta(&r, "missing").unwrap(), None);
    }

    #[test]
    fn map_full_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(dir.path(), 256 * 1024).unwrap();
        let mut w = b.write_txn().unwrap();
        let value = vec![7u8; 4096];
        let mut err = None;
        for i in 0u32..1000 {
            if let Err(e) = b.kv().put(&mut w, &i.to_be_bytes(), &value) {
                err = Some(StorageError::from(e));
                break;
            }
        }
        let err = err.expect("a 256 KiB map cannot hold 4 MB");
        assert!(err.is_map_full(), "{err}");
        assert!(err.to_string().contains("MDB_MAP_FULL"), "{err}");
    }

    #[test]
    fn size_reports_file_and_use() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(dir.path(), 4 << 20).unwrap();
        let (file0, used0) = b.size().unwrap();
        assert!(used0 > 0 && used0 <= file0);
        let mut w = b.write_txn().unwrap();
        for i in 0u32..200 {
            b.kv().put(&mut w, &i.to_be_bytes(), &[1u8; 1000]).unwrap();
        }
        w.commit().unwrap();
        let (file1, used1) = b.size().unwrap();
        assert!(used1 >= used0 + 200 * 1000, "{used0} -> {used1}");
        assert!(file1 >= used1);
    }
}
