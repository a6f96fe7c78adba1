//! The WAL writer: appends raft entries and hard state to WAL segments and
//! makes them durable with one fdatasync per message. The raft node sends one
//! `Persist` per raft `Ready`, and keeps at most one in flight, so every
//! proposal that arrived during the previous sync shares the next one
//! (group commit).

use actix::{Actor, Handler, Message, SyncContext};
use raft::eraftpb::{Entry, HardState, SnapshotMetadata};

use std::sync::Arc;

use super::status::RaftStatusBoard;
use crate::storage::wal::Wal;
use crate::storage::StorageResult;

/// How long to wait before trying a write again on a full disk.
const NO_SPACE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

pub struct WalWriter {
    wal: Wal,
    board: Arc<RaftStatusBoard>,
}

impl WalWriter {
    pub fn new(wal: Wal, board: Arc<RaftStatusBoard>) -> Self {
        WalWriter { wal, board }
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
        loop {
            match self.wal.append(&msg.entries, msg.hard_state.as_ref()) {
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
        self.wal.sync()
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
        self.wal.compact_to(&msg.meta)
    }
}
