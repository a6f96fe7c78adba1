//! raft-rs's storage for the raft node: the in-memory log (`MemStorage`)
//! and the snapshot a leader offers members its log no longer reaches.
//!
//! raft asks for a snapshot synchronously, but building one copies LMDB, so
//! the first ask only records that one is wanted and answers "temporarily
//! unavailable"; the raft node builds it off-thread and offers it, and raft
//! picks it up on its next attempt (the next heartbeat response).

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use raft::eraftpb::{Entry, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage};

#[derive(Clone)]
pub struct RaftStore {
    log: MemStorage,
    offer: Arc<Mutex<Option<Snapshot>>>,
    /// Checked on every raft drive, so kept out of the lock.
    wanted: Arc<AtomicBool>,
}

impl RaftStore {
    pub fn new(log: MemStorage) -> RaftStore {
        RaftStore {
            log,
            offer: Arc::default(),
            wanted: Arc::default(),
        }
    }

    /// Whether raft asked for a snapshot it could not have; clears the ask.
    pub fn take_snapshot_wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed) && self.wanted.swap(false, Ordering::AcqRel)
    }

    /// The snapshot to hand raft from now on (metadata only: the data is a
    /// file the peer network streams). Asks made while it was being built
    /// are answered by it.
    pub fn offer_snapshot(&self, snapshot: Snapshot) {
        *self.offer() = Some(snapshot);
        self.wanted.store(false, Ordering::Release);
    }

    fn offer(&self) -> std::sync::MutexGuard<'_, Option<Snapshot>> {
        self.offer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Deref for RaftStore {
    type Target = MemStorage;

    fn deref(&self) -> &MemStorage {
        &self.log
    }
}

impl Storage for RaftStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.log.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.log.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.log.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.log.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.log.last_index()
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let first = self.log.first_index()?;
        if let Some(snapshot) = &*self.offer() {
            let meta = snapshot.get_metadata();
            // The receiver goes on from index + 1, which the log must hold,
            // and refuses a snapshot whose members do not include it (one
            // built before it was added, for a member added earlier).
            if meta.index >= request_index
                && meta.index + 1 >= first
                && names(meta.get_conf_state(), to)
            {
                return Ok(snapshot.clone());
            }
        }
        self.wanted.store(true, Ordering::Release);
        Err(raft::Error::Store(
            raft::StorageError::SnapshotTemporarilyUnavailable,
        ))
    }
}

/// Whether `id` is a voter or learner in `conf` (either side of a joint
/// configuration).
fn names(conf: &raft::eraftpb::ConfState, id: u64) -> bool {
    [
        &conf.voters,
        &conf.learners,
        &conf.voters_outgoing,
        &conf.learners_next,
    ]
    .iter()
    .any(|ids| ids.contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::SnapshotMetadata;

    fn log_from(first: u64, last: u64) -> MemStorage {
        let log = MemStorage::new();
        let entries: Vec<Entry> = (1..=last)
            .map(|index| Entry {
                index,
                term: 1,
                ..Default::default()
            })
            .collect();
        log.wl().append(&entries).unwrap();
        log.wl().mut_hard_state().commit = last;
        log.wl().compact(first).unwrap();
        log
    }

    /// A snapshot whose members are 1, 2 (voters) and 3 (a learner).
    fn snapshot_at(index: u64) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let mut meta = SnapshotMetadata {
            index,
            term: 1,
            ..Default::default()
        };
        meta.mut_conf_state().voters = vec![1, 2];
        meta.mut_conf_state().learners = vec![3];
        snapshot.set_metadata(meta);
        snapshot
    }

    fn unavailable(result: raft::Result<Snapshot>) -> bool {
        matches!(
            result,
            Err(raft::Error::Store(
                raft::StorageError::SnapshotTemporarilyUnavailable
            ))
        )
    }

    #[test]
    fn first_ask_records_the_want_then_the_offer_is_served() {
        let store = RaftStore::new(log_from(50, 100));
        assert!(!store.take_snapshot_wanted());
        assert!(unavailable(store.snapshot(0, 2)));
        assert!(store.take_snapshot_wanted());
        assert!(!store.take_snapshot_wanted(), "the ask is taken once");

        assert!(
            unavailable(store.snapshot(0, 2)),
            "asked again while building"
        );
        store.offer_snapshot(snapshot_at(80));
        assert!(!store.take_snapshot_wanted(), "the offer answers that ask");
        let served = store.snapshot(0, 2).unwrap();
        assert_eq!(served.get_metadata().index, 80);
        assert!(!store.take_snapshot_wanted());
    }

    #[test]
    fn an_offer_the_log_has_moved_past_is_not_served() {
        let store = RaftStore::new(log_from(90, 100));
        store.offer_snapshot(snapshot_at(80));
        assert!(unavailable(store.snapshot(0, 2)), "81 is compacted away");
        assert!(store.take_snapshot_wanted());
        assert!(unavailable(store.snapshot(95, 2)));
    }

    #[test]
    fn an_offer_made_before_the_receiver_was_added_is_not_served() {
        let store = RaftStore::new(log_from(50, 100));
        store.offer_snapshot(snapshot_at(80));
        assert_eq!(store.snapshot(0, 3).unwrap().get_metadata().index, 80);
        assert!(unavailable(store.snapshot(0, 4)), "4 joined after it");
        assert!(store.take_snapshot_wanted(), "a newer one is built");
    }

    #[test]
    fn log_reads_go_to_the_memory_log() {
        let store = RaftStore::new(log_from(50, 100));
        assert_eq!(store.first_index().unwrap(), 50);
        assert_eq!(store.last_index().unwrap(), 100);
        assert_eq!(store.term(60).unwrap(), 1);
    }
}
