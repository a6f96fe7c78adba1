//! The storage layer's one error type. `api/` maps it to etcd's gRPC status.

/// Everything that can go wrong below the actors: LMDB, WAL files, and etcd's
/// MVCC/apply rules (compacted revision, missing lease, ...).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The requested revision was removed by compaction.
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    /// The requested revision is newer than the store's current revision.
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
    /// `ignore_value`/`ignore_lease` on a key that does not exist.
    #[error("key not found")]
    KeyNotFound,
    /// A put or revoke names a lease that does not exist.
    #[error("requested lease not found")]
    LeaseNotFound,
    /// A grant names an id already in use.
    #[error("lease already exists")]
    LeaseExists,
    /// A NOSPACE alarm is active, or the write would take the backend past
    /// its quota.
    #[error("mvcc: database space exceeded")]
    NoSpace,
    /// A CORRUPT alarm is active.
    #[error("corrupt cluster")]
    AlarmCorrupt,
    /// LMDB failed (map full, readers full, I/O, ...).
    #[error("lmdb: {0}")]
    Lmdb(#[from] heed::Error),
    /// A WAL or data file could not be read or written.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Stored bytes do not decode: a bug or a damaged file.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The applier was handed something it does not run (not a KV request,
    /// or a write inside a read-only txn): a bug in the caller.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A snapshot transfer out of order: a second one for an index still
    /// being received, or data for one that is not.
    #[error("snapshot transfer: {0}")]
    SnapshotTransfer(String),
    /// A WAL append would leave a hole or rewrite entries already cut off
    /// (a bug in the caller); nothing was written.
    #[error("wal: invalid append: {0}")]
    InvalidAppend(String),
    /// An etcd snapshot oxcd cannot take in as it is: not a bbolt file,
    /// cut short or damaged, an unknown bucket, a record that does not
    /// decode.
    #[error("{0}")]
    Snapshot(String),
    /// An auth change etcd refuses (unknown user, duplicate role, ...).
    #[error(transparent)]
    Auth(#[from] super::auth::AuthError),
    /// Another process holds the lock of this data or WAL dir.
    #[error(
        "{} is in use by another process{}; stop it, or give this one a dir of its own",
        .dir.display(),
        holder_text(*.holder)
    )]
    DirInUse {
        dir: std::path::PathBuf,
        holder: Option<u32>,
    },
}

impl StorageError {
    /// The file system is full (ENOSPC): nothing was changed, and the same
    /// write may succeed once space returns.
    pub fn is_no_space(&self) -> bool {
        let enospc = |e: &std::io::Error| {
            e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC)
        };
        match self {
            StorageError::Io(e) => enospc(e),
            StorageError::Lmdb(heed::Error::Io(e)) => enospc(e),
            StorageError::Lmdb(heed::Error::Mdb(heed::MdbError::Other(code))) => {
                *code == libc::ENOSPC
            }
            _ => false,
        }
    }
}

fn holder_text(holder: Option<u32>) -> String {
    holder
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default()
}

pub type StorageResult<T> = Result<T, StorageError>;
