//! The member list as the state machine keeps it: one record in LMDB's meta
//! database, written at bootstrap and changed only by applied raft entries
//! (each member publishing its name and client URLs once it serves).

use prost::Message as _;

use crate::proto::etcdserverpb::{Member, MemberListResponse};
use crate::proto::membershippb::ClusterMemberAttrSetRequest;
use crate::storage::{StorageError, StorageResult, Store, WriteBatch};

/// The meta key of the member list (an encoded `MemberListResponse` whose
/// header names this cluster and this member).
pub const MEMBERSHIP_META_KEY: &str = "membership";

pub fn decode_members(bytes: &[u8]) -> StorageResult<MemberListResponse> {
    MemberListResponse::decode(bytes)
        .map_err(|e| StorageError::Corrupt(format!("membership record: {e}")))
}

/// The member list as last applied (empty before bootstrap).
pub fn applied_members(store: &Store) -> StorageResult<Vec<Member>> {
    match store.get_meta(MEMBERSHIP_META_KEY)? {
        Some(bytes) => Ok(decode_members(&bytes)?.members),
        None => Ok(Vec::new()),
    }
}

/// A member's published name and client URLs. An unknown member is left
/// alone (it was removed after publishing, or belongs to no one).
pub fn set_member_attrs(
    batch: &mut WriteBatch<'_>,
    req: &ClusterMemberAttrSetRequest,
) -> StorageResult<()> {
    let Some(bytes) = batch.get_meta(MEMBERSHIP_META_KEY)? else {
        return Ok(());
    };
    let mut record = decode_members(&bytes)?;
    let Some(member) = record.members.iter_mut().find(|m| m.id == req.member_id) else {
        return Ok(());
    };
    let attrs = req.member_attributes.clone().unwrap_or_default();
    member.name = attrs.name;
    member.client_ur_ls = attrs.client_urls;
    batch.put_meta(MEMBERSHIP_META_KEY, &record.encode_to_vec())
}

/// A membership change as raft applied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// A new voter or learner (`Member::is_learner`).
    Add,
    Remove,
    /// A learner becomes a voter.
    Promote,
    /// New peer URLs for an existing member.
    Update,
}

/// Applies a membership change to the stored member list; returns the list
/// afterwards. Changes that no longer fit (a member already added, or gone)
/// leave the list as it is: raft may hand an entry back after a restart.
pub fn change_members(
    batch: &mut WriteBatch<'_>,
    change: MemberChange,
    member: &Member,
) -> StorageResult<Vec<Member>> {
    let Some(bytes) = batch.get_meta(MEMBERSHIP_META_KEY)? else {
        return Err(StorageError::Corrupt("no member list to change".into()));
    };
    let mut record = decode_members(&bytes)?;
    let existing = record.members.iter().position(|m| m.id == member.id);
    match (change, existing) {
        (MemberChange::Add, None) => record.members.push(Member {
            id: member.id,
            name: String::new(),
            peer_ur_ls: member.peer_ur_ls.clone(),
            client_ur_ls: Vec::new(),
            is_learner: member.is_learner,
        }),
        (MemberChange::Remove, Some(at)) => {
            record.members.remove(at);
        }
        (MemberChange::Promote, Some(at)) => record.members[at].is_learner = false,
        (MemberChange::Update, Some(at)) => {
            record.members[at].peer_ur_ls = member.peer_ur_ls.clone()
        }
        _ => {}
    }
    batch.put_meta(MEMBERSHIP_META_KEY, &record.encode_to_vec())?;
    Ok(record.members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::Member;
    use crate::proto::membershippb::Attributes;
    use crate::storage::apply::test_support::open_store;

    #[test]
    fn published_attributes_replace_the_members_name_and_urls() {
        let (_dir, store) = open_store();
        let record = MemberListResponse {
            members: vec![
                Member {
                    id: 1,
                    name: "a".into(),
                    ..Default::default()
                },
                Member {
                    id: 2,
                    name: "b".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut batch = store.begin_batch().expect("batch");
        batch
            .put_meta(MEMBERSHIP_META_KEY, &record.encode_to_vec())
            .expect("meta");
        let publish = |id: u64| ClusterMemberAttrSetRequest {
            member_id: id,
            member_attributes: Some(Attributes {
                name: "b".into(),
                client_urls: vec!["http://127.0.0.1:2379".into()],
            }),
        };
        set_member_attrs(&mut batch, &publish(2)).expect("publish");
        set_member_attrs(&mut batch, &publish(9)).expect("unknown member");
        batch.commit(1).expect("commit");
        let stored = store
            .get_meta(MEMBERSHIP_META_KEY)
            .expect("read")
            .expect("record");
        let members = decode_members(&stored).expect("decode").members;
        assert_eq!(members[1].client_ur_ls, vec!["http://127.0.0.1:2379"]);
        assert!(members[0].client_ur_ls.is_empty());
        assert_eq!(members.len(), 2);
    }
}
