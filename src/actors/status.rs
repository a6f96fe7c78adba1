//! A read-only board of raft progress, written only by the raft node actor.
//!
//! Response headers need the current raft term on every reply, and the
//! applied-index gap check needs committed/applied; reading atomics here saves
//! a mailbox round trip per request for facts that are only ever published.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct RaftStatusBoard {
    term: AtomicU64,
    leader: AtomicU64,
    committed: AtomicU64,
    applied: AtomicU64,
    /// The WAL or LMDB could not get disk space (ENOSPC); writes wait and
    /// new ones are refused with NOSPACE until a retry succeeds.
    disk_full: std::sync::atomic::AtomicBool,
}

/// One consistent-enough reading of the board.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RaftStatus {
    pub term: u64,
    pub leader: u64,
    pub committed: u64,
    pub applied: u64,
}

impl RaftStatusBoard {
    pub fn read(&self) -> RaftStatus {
        RaftStatus {
            term: self.term.load(Ordering::Acquire),
            leader: self.leader.load(Ordering::Acquire),
            committed: self.committed.load(Ordering::Acquire),
            applied: self.applied.load(Ordering::Acquire),
        }
    }

    pub fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::Acquire)
    }

    /// Records whether the last disk write had the space it needed; logs
    /// the change.
    pub(crate) fn set_disk_full(&self, full: bool, what: &str) {
        if self.disk_full.swap(full, Ordering::AcqRel) != full {
            if full {
                tracing::error!(
                    "no space left on device for the {what}; writes wait and new ones are refused until space returns"
                );
            } else {
                tracing::warn!("disk space is back for the {what}; writes go on");
            }
        }
    }

    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Acquire)
    }

    /// Publishes raft's term and leader; answers the leader published before.
    pub(crate) fn publish_term_and_leader(&self, term: u64, leader: u64) -> u64 {
        self.term.store(term, Ordering::Release);
        let previous = self.leader.swap(leader, Ordering::AcqRel);
        // As etcd counts them: a move to a different, known leader.
        if leader != 0 && leader != previous {
            crate::metrics::metrics()
                .server
                .leader_changes_seen_total
                .inc();
        }
        previous
    }

    pub(crate) fn publish_committed(&self, committed: u64) {
        self.committed.fetch_max(committed, Ordering::AcqRel);
    }

    pub(crate) fn publish_applied(&self, applied: u64) {
        self.applied.fetch_max(applied, Ordering::AcqRel);
    }
}
