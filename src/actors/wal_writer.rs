//! The WAL writer: appends raft entries and hard state to WAL segments and
//! makes them durable with one fdatasync per message. The raft node sends one
//! `Persist` per raft `Ready`, and keeps at most one in flight, so every
//! proposal that arrived during the previous sync shares the next one
//! (group commit). With one writer at a time (a Ready of one entry, no other
//! proposal waiting) the raft node writes and syncs it itself
//! (`WalHandle::persist_here`): handing it to this thread and back costs two
//! thread wake-ups, about as much as the fdatasync.

use actix::{Actor, Addr, Handler, Message, SyncContext};
use raft::eraftpb::{Entry, HardState, SnapshotMetadata};

use std::sync::{Arc, Mutex, MutexGuard};

use super::status::RaftStatusBoard;
use crate::storage::wal::Wal;
use crate::storage::{StorageError, StorageResult};

/// How long to wait before trying a write again on a full disk.
const NO_SPACE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Readys with at most this many entries are written on the raft node's
/// thread. Under load Readys carry many entries and go to the WAL thread,
/// so parsing and proposing go on during the sync.
const PERSIST_HERE_MAX_ENTRIES: usize = 1;

/// The one WAL, shared by the WAL thread and the raft node. The raft node
/// has at most one Persist in flight, so only a `ReleaseTo` (once per raft
/// snapshot) can make the other side wait.
type SharedWal = Arc<Mutex<Wal>>;

/// The WAL, unless a thread panicked while writing it: then its state is
/// unknown and nothing more may be acknowledged (the callers stop the member).
fn lock(wal: &SharedWal) -> StorageResult<MutexGuard<'_, Wal>> {
    wal.lock()
        .map_err(|_| StorageError::Corrupt("WAL writer panicked during a write".into()))
}

pub struct WalWriter {
    wal: SharedWal,
    board: Arc<RaftStatusBoard>,
}

impl WalWriter {
    fn new(wal: SharedWal, board: Arc<RaftStatusBoard>) -> Self {
        WalWriter { wal, board }
    }
}

/// The raft node's way to the WAL: the WAL thread, or the WAL itself for a
/// small Ready.
pub struct WalHandle {
    pub thread: Addr<WalWriter>,
    wal: SharedWal,
}

/// What `persist_here` did.
pub enum PersistedHere {
    /// Durable.
    Done,
    /// Not attempted, or the disk is full: send it to the WAL thread, which
    /// waits for space.
    NotHere(Persist),
    Failed(StorageError),
}

impl WalHandle {
    /// Starts the WAL thread over `wal`.
    pub fn start(wal: Wal, board: Arc<RaftStatusBoard>) -> Self {
        let wal: SharedWal = Arc::new(Mutex::new(wal));
        let for_thread = wal.clone();
        // SyncArbiter asks its factory once per thread; there is one thread.
        let thread =
            actix::SyncArbiter::start(1, move || WalWriter::new(for_thread.clone(), board.clone()));
        WalHandle { thread, wal }
    }

    /// Writes and syncs `persist` on the caller's thread when it is small.
    pub fn persist_here(&self, persist: Persist) -> PersistedHere {
        if persist.entries.len() > PERSIST_HERE_MAX_ENTRIES {
            return PersistedHere::NotHere(persist);
        }
        let _span = tracing::debug_span!("wal.persist_here").entered();
        let mut wal = match lock(&self.wal) {
            Ok(wal) => wal,
            Err(err) => return PersistedHere::Failed(err),
        };
        match wal.append(&persist.entries, persist.hard_state.as_ref()) {
            Err(err) if err.is_no_space() => return PersistedHere::NotHere(persist),
            Err(err) => return PersistedHere::Failed(err),
            Ok(()) => {}
        }
        match wal.sync() {
            Ok(()) => PersistedHere::Done,
            Err(err) => PersistedHere::Failed(err),
        }
    }
}

impl Actor for WalWriter {
    type Context = SyncContext<Self>;
}

/// Log `entries` then `hard_state`, and fdatasync before replying.
#[derive(Message)]
#[rtype(result = "StorageResult<()>")]
pub struct Persist {
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
}

impl Handler<Persist> for WalWriter {
    type Result = StorageResult<()>;

    fn handle(&mut self, msg: Persist, _: &mut Self::Context) -> Self::Result {
        let _span = tracing::debug_span!("wal.persist", entries = msg.entries.len()).entered();
        // A full disk refuses an append before writing anything: wait for
        // space (raft waits for this reply; nothing is acknowledged) rather
        // than stop the member.
        let mut wal = lock(&self.wal)?;
        loop {
            match wal.append(&msg.entries, msg.hard_state.as_ref()) {
                Err(err) if err.is_no_space() => {
                    self.board.set_disk_full(true, "WAL");
                    std::thread::sleep(NO_SPACE_RETRY);
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        self.board.set_disk_full(false, "WAL");
        wal.sync()
    }
}

/// Everything up to `meta.index` is durable in LMDB: old segments may go.
#[derive(Message)]
#[rtype(result = "StorageResult<()>")]
pub struct ReleaseTo {
    pub meta: SnapshotMetadata,
}

impl Handler<ReleaseTo> for WalWriter {
    type Result = StorageResult<()>;

    fn handle(&mut self, msg: ReleaseTo, _: &mut Self::Context) -> Self::Result {
        lock(&self.wal)?.compact_to(&msg.meta)
    }
}
