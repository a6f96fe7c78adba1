//! Rebuilds raft's in-memory log (`MemStorage`) from what the WAL replayed.

use raft::eraftpb::{ConfState, Snapshot};
use raft::storage::MemStorage;

use crate::storage::wal::WalContents;
use crate::storage::{StorageError, StorageResult};

/// Builds a `MemStorage` holding the WAL's log: the cut point becomes a
/// metadata-only snapshot, then the entries, then the hard state.
///
/// The conf state is the cut's, or `initial_conf` when there is no cut (or
/// the cut was recorded without one). The commit index is clamped into
/// `[cut, last index]`: raft refuses a commit beyond the log it holds, and
/// the WAL may have been written ahead of or behind the entries.
pub fn restore(contents: WalContents, initial_conf: &ConfState) -> StorageResult<MemStorage> {
    let WalContents {
        hard_state,
        entries,
        snapshot,
    } = contents;
    let cut_index = snapshot.as_ref().map_or(0, |m| m.index);
    if let Some(first) = entries.first() {
        // MemStorage panics on a hole; report it as damage instead.
        if first.index != cut_index + 1 {
            return Err(corrupt(format!(
                "log starts at {} after a cut at {cut_index}",
                first.index
            )));
        }
    }
    if let Some(pair) = entries.windows(2).find(|p| p[1].index != p[0].index + 1) {
        return Err(corrupt(format!(
            "entries {} and {} are not consecutive",
            pair[0].index, pair[1].index
        )));
    }

    let storage = MemStorage::new();
    {
        let mut core = storage.wl();
        match snapshot {
            Some(mut meta) if meta.index > 0 => {
                if meta.get_conf_state() == &ConfState::default() {
                    meta.set_conf_state(initial_conf.clone());
                }
                let mut snap = Snapshot::default();
                snap.set_metadata(meta);
                core.apply_snapshot(snap)
                    .map_err(|e| corrupt(format!("apply cut point: {e}")))?;
            }
            _ => core.set_conf_state(initial_conf.clone()),
        }
        core.append(&entries)
            .map_err(|e| corrupt(format!("append entries: {e}")))?;
        if let Some(mut hs) = hard_state {
            let last = entries.last().map_or(cut_index, |e| e.index);
            hs.commit = hs.commit.clamp(cut_index, last);
            // The cut was committed at its term; a hard state from before
            // it cannot carry an older term or that term's vote.
            let floor = core.hard_state().term;
            if hs.term < floor {
                hs.term = floor;
                hs.vote = 0;
            }
            core.set_hardstate(hs);
        }
    }
    Ok(storage)
}

fn corrupt(what: String) -> StorageError {
    StorageError::Corrupt(format!("raft log: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::wal::{Wal, WalOptions};
    use raft::eraftpb::{Entry, HardState, SnapshotMetadata};
    use raft::{Config, RawNode, Storage};

    fn voters(ids: &[u64]) -> ConfState {
        ConfState {
            voters: ids.to_vec(),
            ..Default::default()
        }
    }

    fn ents(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
        range
            .map(|i| Entry {
                index: i,
                term,
                ..Default::default()
            })
            .collect()
    }

    fn hs(term: u64, vote: u64, commit: u64) -> HardState {
        HardState {
            term,
            vote,
            commit,
            ..Default::default()
        }
    }

    fn meta(index: u64, term: u64, conf: Option<ConfState>) -> SnapshotMetadata {
        SnapshotMetadata {
            index,
            term,
            conf_state: conf.into(),
            ..Default::default()
        }
    }

    #[test]
    fn empty_wal_gives_initial_conf_and_empty_log() {
        let s = restore(WalContents::default(), &voters(&[1, 2, 3])).unwrap();
        let state = s.initial_state().unwrap();
        assert_eq!(state.conf_state, voters(&[1, 2, 3]));
        assert_eq!(state.hard_state, HardState::default());
        assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (1, 0));
        assert_eq!(s.term(0).unwrap(), 0);
    }

    #[test]
    fn entries_and_hard_state_without_a_cut() {
        let mut entries = ents(1..=3, 1);
        entries.extend(ents(4..=5, 2));
        let contents = WalContents {
            hard_state: Some(hs(2, 1, 4)),
            entries,
            snapshot: None,
        };
        let s = restore(contents, &voters(&[1])).unwrap();
        assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (1, 5));
        assert_eq!(s.term(3).unwrap(), 1);
        assert_eq!(s.term(4).unwrap(), 2);
        let state = s.initial_state().unwrap();
        assert_eq!(state.hard_state, hs(2, 1, 4));
        assert_eq!(state.conf_state, voters(&[1]));
    }

    #[test]
    fn cut_becomes_the_snapshot_and_commit_is_clamped() {
        let contents = WalContents {
            hard_state: Some(hs(3, 2, 99)),
            entries: ents(11..=14, 3),
            snapshot: Some(meta(10, 2, Some(voters(&[1, 2, 3])))),
        };
        let s = restore(contents, &voters(&[7])).unwrap();
        assert_eq!(
            (s.first_index().unwrap(), s.last_index().unwrap()),
            (11, 14)
        );
        assert_eq!(s.term(10).unwrap(), 2);
        assert_eq!(s.term(12).unwrap(), 3);
        assert!(s.term(9).is_err(), "before the cut is compacted");
        let state = s.initial_state().unwrap();
        assert_eq!(state.conf_state, voters(&[1, 2, 3]));
        assert_eq!(state.hard_state, hs(3, 2, 14));
    }

    #[test]
    fn stale_hard_state_is_lifted_to_the_cut() {
        let contents = WalContents {
            hard_state: Some(hs(1, 1, 2)),
            entries: Vec::new(),
            snapshot: Some(meta(20, 4, None)),
        };
        let s = restore(contents, &voters(&[1])).unwrap();
        let state = s.initial_state().unwrap();
        assert_eq!(state.hard_state, hs(4, 0, 20));
        assert_eq!(
            state.conf_state,
            voters(&[1]),
            "cut without conf falls back"
        );
        assert_eq!(
            (s.first_index().unwrap(), s.last_index().unwrap()),
            (21, 20)
        );
        assert_eq!(s.term(20).unwrap(), 4);
    }

    #[test]
    fn holes_are_corrupt_not_panics() {
        let after_cut = WalContents {
            entries: ents(13..=14, 3),
            snapshot: Some(meta(10, 2, None)),
            ..Default::default()
        };
        assert!(matches!(
            restore(after_cut, &voters(&[1])),
            Err(StorageError::Corrupt(_))
        ));
        let mut holey = ents(1..=2, 1);
        holey.extend(ents(4..=4, 1));
        let inside = WalContents {
            entries: holey,
            ..Default::default()
        };
        assert!(matches!(
            restore(inside, &voters(&[1])),
            Err(StorageError::Corrupt(_))
        ));
    }

    fn logger() -> slog::Logger {
        slog::Logger::root(slog::Discard, slog::o!())
    }

    /// Persists and applies every ready the node has, like the raft actor.
    fn drive(node: &mut RawNode<MemStorage>, wal: &mut Wal, applied: &mut u64) {
        let store = node.store().clone();
        while node.has_ready() {
            let mut rd = node.ready();
            assert!(rd.snapshot().is_empty());
            wal.append(rd.entries(), rd.hs()).unwrap();
            wal.sync().unwrap();
            store.wl().append(rd.entries()).unwrap();
            if let Some(hs) = rd.hs() {
                store.wl().set_hardstate(hs.clone());
            }
            for e in rd.take_committed_entries() {
                *applied = e.index;
            }
            let mut light = node.advance(rd);
            if let Some(commit) = light.commit_index() {
                store.wl().mut_hard_state().commit = commit;
                let hs = store.rl().hard_state().clone();
                wal.append(&[], Some(&hs)).unwrap();
                wal.sync().unwrap();
            }
            for e in light.take_committed_entries() {
                *applied = e.index;
            }
            node.advance_apply();
        }
    }

    #[test]
    fn raw_node_restarts_where_the_wal_left_off() {
        let dir = tempfile::tempdir().unwrap();
        let conf = voters(&[1]);
        let logger = logger();
        let mut applied = 0;
        {
            let (mut wal, contents) = Wal::open(dir.path(), WalOptions::default()).unwrap();
            let store = restore(contents, &conf).unwrap();
            let cfg = Config {
                id: 1,
                ..Config::default()
            };
            let mut node = RawNode::new(&cfg, store, &logger).unwrap();
            node.campaign().unwrap();
            drive(&mut node, &mut wal, &mut applied);
            for i in 0..3u8 {
                node.propose(vec![], vec![i]).unwrap();
                drive(&mut node, &mut wal, &mut applied);
            }
            assert_eq!(node.raft.raft_log.last_index(), 4);
            assert_eq!(applied, 4);
            // The state machine has durably applied through 2.
            wal.compact_to(&meta(2, 1, Some(conf.clone()))).unwrap();
        }

        let (mut wal, contents) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(contents.entries.len(), 2);
        let store = restore(contents, &voters(&[9])).unwrap();
        assert_eq!(store.initial_state().unwrap().conf_state, conf);
        let cfg = Config {
            id: 1,
            applied,
            ..Config::default()
        };
        let mut node = RawNode::new(&cfg, store, &logger).unwrap();
        assert_eq!(node.raft.raft_log.first_index(), 3);
        assert_eq!(node.raft.raft_log.last_index(), 4);
        assert_eq!(node.raft.raft_log.committed, 4);
        assert_eq!(node.raft.raft_log.applied, 4);
        assert_eq!((node.raft.term, node.raft.vote), (1, 1));

        // It carries on from there: a new term, and new entries after 4.
        node.campaign().unwrap();
        drive(&mut node, &mut wal, &mut applied);
        assert_eq!(node.raft.term, 2);
        node.propose(vec![], b"after restart".to_vec()).unwrap();
        drive(&mut node, &mut wal, &mut applied);
        assert_eq!(node.raft.raft_log.last_index(), 6);
        assert_eq!(applied, 6);
        assert_eq!(wal.last_index(), 6);
    }
}
