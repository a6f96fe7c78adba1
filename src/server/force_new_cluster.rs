//! `--force-new-cluster`: disaster recovery after a cluster lost quorum for
//! good. A member restarted with it becomes a one-member cluster holding its
//! data: entries the old cluster never committed are dropped, and the log
//! gets committed conf changes removing every other member, so the removal
//! goes through the applier like any membership change (the member list in
//! LMDB, raft's voters and the peer network all follow). New members then
//! join as usual. A fresh data dir ignores the flag, as etcd does.

use std::collections::BTreeSet;

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};

use super::BootError;
use crate::membership::Membership;
use crate::proto::etcdserverpb::Member;
use crate::proto::oxcdpeer::conf_change_context::Change;
use crate::proto::oxcdpeer::ConfChangeContext;
use crate::storage::wal::{Wal, WalContents};

/// Rewrites the log of a member restarted with `--force-new-cluster` (see
/// the module doc); `applied` is LMDB's consistent index. The new entries
/// and hard state are synced before this returns. Returns what raft should
/// start from.
pub(super) fn force_new_cluster(
    wal: &mut Wal,
    contents: WalContents,
    membership: &Membership,
    applied: u64,
) -> Result<WalContents, BootError> {
    let fresh =
        contents.hard_state.is_none() && contents.entries.is_empty() && contents.snapshot.is_none();
    if fresh {
        tracing::info!("--force-new-cluster on a new data dir: nothing to recover");
        return Ok(contents);
    }
    let WalContents {
        hard_state,
        mut entries,
        snapshot,
    } = contents;
    let mut hard_state = hard_state.unwrap_or_default();
    let cut = snapshot.as_ref().map_or(0, |m| m.index);
    let last = entries.last().map_or(cut, |e| e.index);
    // LMDB may be ahead of the last persisted commit index (see
    // `reconcile_commit`): what it applied was committed.
    let commit = hard_state.commit.max(applied).clamp(cut, last);
    let dropped = entries.iter().filter(|e| e.index > commit).count();
    entries.retain(|e| e.index <= commit);

    let members = members_at_commit(membership, &entries, applied)?;
    let local = membership.local_id;
    let mut changes: Vec<(ConfChangeType, Change, Member)> = members
        .iter()
        .filter(|id| **id != local)
        .map(|&id| {
            let member = Member {
                id,
                ..Default::default()
            };
            (ConfChangeType::RemoveNode, Change::Remove, member)
        })
        .collect();
    if !members.contains(&local) {
        let me = membership
            .members
            .iter()
            .find(|m| m.id == local)
            .map(Member::from)
            .unwrap_or(Member {
                id: local,
                ..Default::default()
            });
        changes.push((ConfChangeType::AddNode, Change::Add, me));
    }
    if changes.is_empty() && dropped == 0 {
        tracing::info!("--force-new-cluster: already a one-member cluster");
        return Ok(WalContents {
            hard_state: Some(hard_state),
            entries,
            snapshot,
        });
    }

    let term = hard_state.term;
    let appended: Vec<Entry> = changes
        .into_iter()
        .zip(commit + 1..)
        .map(|((change_type, change, member), index)| {
            conf_change_entry(index, term, change_type, change, member)
        })
        .collect::<Result<_, _>>()?;
    hard_state.commit = commit + appended.len() as u64;
    // Written at `commit + 1`, the first entry replaces the uncommitted tail
    // in the WAL as well.
    wal.append(&appended, Some(&hard_state))?;
    wal.sync()?;
    tracing::warn!(
        member = format!("{local:x}"),
        removed = appended.len(),
        dropped_uncommitted = dropped,
        commit = hard_state.commit,
        "--force-new-cluster: forcing a one-member cluster from this member's data"
    );
    entries.extend(appended);
    Ok(WalContents {
        hard_state: Some(hard_state),
        entries,
        snapshot,
    })
}

/// Voters and learners once every committed entry is applied: the applied
/// member list, changed by the committed conf changes LMDB has not applied.
fn members_at_commit(
    membership: &Membership,
    committed: &[Entry],
    applied: u64,
) -> Result<BTreeSet<u64>, BootError> {
    let mut members: BTreeSet<u64> = membership.members.iter().map(|m| m.id).collect();
    let pending = committed
        .iter()
        .filter(|e| e.index > applied && e.get_entry_type() == EntryType::EntryConfChange);
    for entry in pending {
        let change = ConfChange::parse_from_bytes(entry.get_data()).map_err(|e| {
            BootError::Invalid(format!("conf change at index {}: {e}", entry.index))
        })?;
        match change.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                members.insert(change.node_id)
            }
            ConfChangeType::RemoveNode => members.remove(&change.node_id),
        };
    }
    Ok(members)
}

fn conf_change_entry(
    index: u64,
    term: u64,
    change_type: ConfChangeType,
    change: Change,
    member: Member,
) -> Result<Entry, BootError> {
    let mut conf_change = ConfChange::default();
    conf_change.set_change_type(change_type);
    conf_change.node_id = member.id;
    let data = conf_change
        .write_to_bytes()
        .map_err(|e| BootError::Invalid(format!("encode conf change: {e}")))?;
    let context = ConfChangeContext {
        // No client waits for these.
        request_id: 0,
        member: Some(member),
        change: change as i32,
    };
    let mut entry = Entry::default();
    entry.set_entry_type(EntryType::EntryConfChange);
    entry.index = index;
    entry.term = term;
    entry.data = data.into();
    entry.context = context.encode_to_vec().into();
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::Member as ClusterMember;
    use crate::storage::wal::WalOptions;
    use raft::eraftpb::HardState;

    fn membership(ids: &[u64], local: u64) -> Membership {
        Membership {
            cluster_id: 7,
            local_id: local,
            members: ids
                .iter()
                .map(|&id| ClusterMember {
                    id,
                    name: format!("m{id}"),
                    peer_urls: vec![format!("http://127.0.0.1:{id}")],
                    client_urls: Vec::new(),
                    is_learner: false,
                })
                .collect(),
        }
    }

    fn normal(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![1, 2, 3].into(),
            ..Default::default()
        }
    }

    fn add_node(index: u64, id: u64) -> Entry {
        let mut change = ConfChange::default();
        change.set_change_type(ConfChangeType::AddLearnerNode);
        change.node_id = id;
        let mut entry = Entry {
            index,
            term: 2,
            data: change.write_to_bytes().unwrap().into(),
            ..Default::default()
        };
        entry.set_entry_type(EntryType::EntryConfChange);
        entry
    }

    fn wal_with(entries: &[Entry], commit: u64) -> (tempfile::TempDir, Wal, WalContents) {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions {
            segment_bytes: 1 << 20,
        };
        let (mut wal, _) = Wal::open(dir.path(), opts).unwrap();
        let hs = HardState {
            term: 2,
            vote: 1,
            commit,
            ..Default::default()
        };
        wal.append(entries, Some(&hs)).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (wal, contents) = Wal::open(dir.path(), opts).unwrap();
        (dir, wal, contents)
    }

    fn removed(entries: &[Entry]) -> Vec<(u64, Change)> {
        entries
            .iter()
            .filter(|e| e.get_entry_type() == EntryType::EntryConfChange && !e.context.is_empty())
            .map(|e| {
                let cc = ConfChange::parse_from_bytes(&e.data).unwrap();
                let ctx = ConfChangeContext::decode(&e.context[..]).unwrap();
                assert_eq!(ctx.member.as_ref().map(|m| m.id), Some(cc.node_id));
                (cc.node_id, ctx.change())
            })
            .collect()
    }

    #[test]
    fn the_others_are_removed_after_the_commit_and_the_uncommitted_tail_goes() {
        let log: Vec<Entry> = (1..=5).map(|i| normal(i, 2)).collect();
        let (dir, mut wal, contents) = wal_with(&log, 3);
        let out = force_new_cluster(&mut wal, contents, &membership(&[1, 2, 3], 1), 2).unwrap();
        let indexes: Vec<u64> = out.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            out.entries[3].get_entry_type(),
            EntryType::EntryConfChange,
            "entry 4 is a conf change now"
        );
        assert_eq!(
            removed(&out.entries),
            vec![(2, Change::Remove), (3, Change::Remove)]
        );
        assert_eq!(out.hard_state.as_ref().unwrap().commit, 5);
        drop(wal);
        // What raft starts from is what the WAL replays.
        let (_, replayed) = Wal::open(
            dir.path(),
            WalOptions {
                segment_bytes: 1 << 20,
            },
        )
        .unwrap();
        assert_eq!(replayed, out);
    }

    #[test]
    fn a_member_added_by_an_unapplied_committed_entry_is_removed_too() {
        let log = vec![normal(1, 2), add_node(2, 9), normal(3, 2)];
        let (_dir, mut wal, contents) = wal_with(&log, 3);
        let out = force_new_cluster(&mut wal, contents, &membership(&[1, 2], 1), 1).unwrap();
        assert_eq!(
            removed(&out.entries),
            vec![(2, Change::Remove), (9, Change::Remove)]
        );
    }

    #[test]
    fn applied_entries_beyond_the_stored_commit_are_kept() {
        let log: Vec<Entry> = (1..=4).map(|i| normal(i, 2)).collect();
        let (_dir, mut wal, contents) = wal_with(&log, 2);
        let out = force_new_cluster(&mut wal, contents, &membership(&[1, 2], 1), 4).unwrap();
        assert_eq!(out.entries.len(), 5);
        assert_eq!(out.entries[4].index, 5);
        assert_eq!(out.hard_state.unwrap().commit, 5);
    }

    #[test]
    fn a_lone_member_and_a_new_dir_are_left_alone() {
        let log: Vec<Entry> = (1..=3).map(|i| normal(i, 2)).collect();
        let (_dir, mut wal, contents) = wal_with(&log, 3);
        let out = force_new_cluster(&mut wal, contents.clone(), &membership(&[1], 1), 3).unwrap();
        assert_eq!(out, contents);

        let empty = tempfile::tempdir().unwrap();
        let (mut wal, contents) = Wal::open(empty.path(), WalOptions::default()).unwrap();
        let out =
            force_new_cluster(&mut wal, contents.clone(), &membership(&[1, 2], 1), 0).unwrap();
        assert_eq!(out, contents);
    }
}
