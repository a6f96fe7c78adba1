//! The write-ahead log: raft entries and hard states, durable before anything
//! is acknowledged, replayed on start to rebuild raft's log.
//!
//! # Files
//!
//! The WAL directory holds segments named `{seq:016x}-{first_index:016x}.wal`
//! (16 hex digits each, so lexical order is log order). A segment is rolled
//! once it reaches [`WalOptions::segment_bytes`]; the old one is synced
//! before the new one is created, so only the last segment can have a torn
//! tail. There is no preallocation: a segment is exactly its records.
//!
//! # Records
//!
//! Every record is framed as (little-endian):
//!
//! ```text
//! [u32 payload len][u8 kind][u32 crc32(payload)][u32 crc32(previous 9 bytes)][payload]
//! ```
//!
//! Kinds and payloads:
//!
//! * `1` entry: an `eraftpb::Entry` protobuf. An index at or below the last
//!   one logged replaces the tail from there (raft overwrote a conflict).
//! * `2` hard state: an `eraftpb::HardState` protobuf; the last one wins.
//! * `3` cut: `[u8 reset]` + `eraftpb::SnapshotMetadata` protobuf. State up
//!   to `index` lives elsewhere. `reset = 0`: entries after the cut stay;
//!   `reset = 1`: the log did not hold the cut's index/term (a snapshot from
//!   the leader), so the whole tail is dropped and the log resumes after it.
//! * `4` segment header, always first in a segment: `[u8 version=1][u64 seq]
//!   [u64 first_index]` then the hard state and the cut in force when the
//!   segment was created, each as `[u8 present][u32 len][protobuf]`. It lets
//!   a segment replay on its own once older ones are deleted.
//!
//! Damage at the end of the last segment (a crash mid-write) is truncated
//! away on open; damage anywhere else is [`StorageError::Corrupt`].
//!
//! # Failures
//!
//! After any I/O error the `Wal` refuses further work: what reached the
//! disk is unknown (and a failed fsync cannot be retried safely), so the
//! caller must stop and reopen, which replays whatever is really there.
//!
//! [`StorageError::Corrupt`]: crate::storage::StorageError::Corrupt

mod record;
mod replay;
mod segment;
mod state;
mod terms;
mod writer;

#[cfg(test)]
mod tests;

use raft::eraftpb::{Entry, HardState, SnapshotMetadata};

pub use writer::Wal;

/// Tuning for [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is rolled once it holds at least this many bytes.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
        }
    }
}

/// What [`Wal::open`] found on disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WalContents {
    /// The last hard state written, if any.
    pub hard_state: Option<HardState>,
    /// Entries after the cut point, contiguous, overwrites resolved.
    pub entries: Vec<Entry>,
    /// Index/term (and conf state, as the caller gave it) of the last cut.
    pub snapshot: Option<SnapshotMetadata>,
}
