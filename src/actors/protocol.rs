//! What the applier publishes, and the data it carries: the messages that
//! travel back up the chain of actors.
//!
//! The rule (docs/architecture.md, "Messages"): commands go down the chain
//! (api -> front end -> raft node -> applier -> MVCC store; the lessor and
//! compactor propose through the front end), each sender holding its
//! receiver's `Addr`. Results and notifications go back up only as messages
//! defined here, sent to `Recipient`s wired at boot in `server.rs`, so no
//! actor imports one above it and the actor modules import each other one
//! way only. `scripts/check-layers.py` checks it.

use actix::prelude::*;

use super::ServerError;
use crate::proto::etcdserverpb::InternalRaftRequest;
use crate::proto::mvccpb::Event;
use crate::storage::apply::membership::MemberChange;
use crate::storage::apply::ApplyResponse;
use crate::storage::StorageError;

/// A committed raft conf change: the raft-level change, the member it is
/// about, and the request id of whoever proposed it.
#[derive(Clone, Debug)]
pub struct ConfChangeItem {
    pub change: raft::eraftpb::ConfChange,
    pub kind: MemberChange,
    pub member: crate::proto::etcdserverpb::Member,
    pub request_id: u64,
}

/// The outcome of one request, keyed by its request id.
pub type ApplyOutcome = (u64, Result<ApplyResponse, StorageError>);

/// A lease request that was applied, as the lessor needs to hear of it.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaseChange {
    Granted { id: i64, ttl: i64 },
    Revoked { id: i64 },
    Checkpointed { id: i64, remaining_ttl: i64 },
}

impl LeaseChange {
    pub(crate) fn of(request: &InternalRaftRequest) -> Vec<LeaseChange> {
        if let Some(grant) = &request.lease_grant {
            return vec![LeaseChange::Granted {
                id: grant.id,
                ttl: grant.ttl,
            }];
        }
        if let Some(revoke) = &request.lease_revoke {
            return vec![LeaseChange::Revoked { id: revoke.id }];
        }
        let Some(checkpoint) = &request.lease_checkpoint else {
            return Vec::new();
        };
        checkpoint
            .checkpoints
            .iter()
            .map(|cp| LeaseChange::Checkpointed {
                id: cp.id,
                remaining_ttl: cp.remaining_ttl,
            })
            .collect()
    }
}

/// From the applier: results of applied requests, by request id.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Trigger {
    pub results: Vec<ApplyOutcome>,
    /// The batch took this member's backend past its quota with no NOSPACE
    /// alarm active: the front end raises one (etcd's applier does).
    pub raise_nospace: bool,
}

/// From the quota actor or the raft node: a proposal refused before raft took
/// it (over a limit, no leader, too far behind); its waiter gets `error`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refused {
    pub id: u64,
    pub error: ServerError,
}

/// From the applier: lease requests applied, in log order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeasesApplied {
    pub changes: Vec<LeaseChange>,
}

/// From the applier: everything up to `index` is applied.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Applied {
    pub index: u64,
}

/// From the applier: LMDB is flushed up to `index`, so raft's in-memory log
/// and the WAL before it can go.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Durable {
    pub index: u64,
}

/// From the applier: membership changes now applied, in log order. Raft's
/// configuration follows them, and so does the peer network.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyConfChanges {
    pub changes: Vec<ConfChangeItem>,
}

/// One applied batch's events, in revision order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Notify {
    pub events: Vec<Event>,
}

/// A member joined (or moved to new peer URLs), or left.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub enum UpdatePeers {
    Set(u64, Vec<String>),
    Remove(u64),
}

impl UpdatePeers {
    /// What an applied membership change means for the member's address.
    pub fn of(item: &ConfChangeItem) -> UpdatePeers {
        match item.kind {
            MemberChange::Remove => UpdatePeers::Remove(item.member.id),
            _ => UpdatePeers::Set(item.member.id, item.member.peer_ur_ls.clone()),
        }
    }
}
