//! The raft node's membership messages: conf changes applied by the
//! applier, proposed by the front end, learner readiness for promotion, and
//! leadership transfer.

use actix::prelude::*;
use raft::StateRole;

use super::RaftNode;
use crate::actors::protocol::{ApplyConfChanges, UpdatePeers};
use crate::actors::{ServerError, ServerResult};
use crate::storage::apply::membership::MemberChange;

impl Handler<ApplyConfChanges> for RaftNode {
    type Result = ();

    fn handle(&mut self, msg: ApplyConfChanges, ctx: &mut Context<Self>) {
        for item in msg.changes {
            match self.raw.apply_conf_change(&item.change) {
                Ok(conf) => self.raw.mut_store().wl().set_conf_state(conf),
                Err(err) => tracing::warn!("conf change not applied: {err}"),
            }
            let id = item.member.id;
            tracing::info!(member = format!("{id:x}"), change = ?item.kind, "membership changed");
            if id == self.raw.raft.id {
                if item.kind == MemberChange::Remove {
                    tracing::warn!("this member was removed from the cluster; exiting");
                    std::process::exit(0);
                }
                continue;
            }
            if let Some(peers) = &self.peers {
                peers.do_send(UpdatePeers::of(&item));
            }
        }
        self.drive(ctx);
    }
}

/// Proposes a membership change (a raft conf change entry).
#[derive(Message)]
#[rtype(result = "ServerResult<()>")]
pub struct ProposeConfChange {
    pub change: raft::eraftpb::ConfChange,
    /// The encoded `oxcdpeer.ConfChangeContext`.
    pub context: Vec<u8>,
}

impl Handler<ProposeConfChange> for RaftNode {
    type Result = ServerResult<()>;

    fn handle(&mut self, msg: ProposeConfChange, ctx: &mut Context<Self>) -> Self::Result {
        if self.raw.raft.leader_id == raft::INVALID_ID {
            return Err(ServerError::NoLeader);
        }
        self.raw
            .propose_conf_change(msg.context, msg.change)
            .map_err(|err| match err {
                raft::Error::ProposalDropped => ServerError::NoLeader,
                other => {
                    tracing::warn!("conf change proposal failed: {other}");
                    ServerError::Stopped
                }
            })?;
        self.drive(ctx);
        Ok(())
    }
}

/// Whether a learner has caught up enough to be promoted (etcd: its match
/// index within 10% of the leader's). Only the leader knows; elsewhere the
/// answer is `NotLeader`.
#[derive(Message)]
#[rtype(result = "ServerResult<bool>")]
pub struct LearnerReady {
    pub id: u64,
}

impl Handler<LearnerReady> for RaftNode {
    type Result = ServerResult<bool>;

    fn handle(&mut self, msg: LearnerReady, _: &mut Context<Self>) -> Self::Result {
        let raft = &self.raw.raft;
        if raft.state != StateRole::Leader {
            return Err(ServerError::NotLeader);
        }
        let leader_match = raft.raft_log.last_index();
        let Some(progress) = raft.prs().get(msg.id) else {
            return Ok(false);
        };
        Ok(progress.matched as f64 >= leader_match as f64 * 0.9)
    }
}

/// Starts handing leadership to another voter (Maintenance.MoveLeader); the
/// caller watches for the new leader.
#[derive(Message)]
#[rtype(result = "ServerResult<()>")]
pub struct TransferLeader {
    pub to: u64,
}

impl Handler<TransferLeader> for RaftNode {
    type Result = ServerResult<()>;

    fn handle(&mut self, msg: TransferLeader, ctx: &mut Context<Self>) -> Self::Result {
        if self.raw.raft.state != StateRole::Leader {
            return Err(ServerError::NotLeader);
        }
        if !self.raw.raft.prs().conf().voters().contains(msg.to) {
            return Err(ServerError::BadLeaderTransferee);
        }
        self.raw.transfer_leader(msg.to);
        self.drive(ctx);
        Ok(())
    }
}

/// Before this member stops: if it leads a cluster of more than one voter,
/// hand leadership to the live voter whose log is furthest along (as etcd
/// does on stop), so the cluster does not wait an election timeout. Only a
/// voter heard from within the last election timeout counts (raft's
/// check-quorum activity): a transfer to a dead one would stall proposals
/// for an election timeout and help nothing. Answers the transferee, or
/// `None` when there is nothing to hand off.
#[derive(Message)]
#[rtype(result = "Option<u64>")]
pub struct HandOffLeadership;

impl Handler<HandOffLeadership> for RaftNode {
    type Result = Option<u64>;

    fn handle(&mut self, _: HandOffLeadership, ctx: &mut Context<Self>) -> Self::Result {
        let raft = &self.raw.raft;
        if raft.state != StateRole::Leader {
            return None;
        }
        let local = raft.id;
        let prs = raft.prs();
        let to = prs
            .conf()
            .voters()
            .ids()
            .iter()
            .filter(|id| *id != local)
            .filter_map(|id| prs.get(id).map(|p| (p, id)))
            .filter(|(p, _)| p.recent_active)
            .map(|(p, id)| (p.matched, id))
            .max()
            .map(|(_, id)| id)?;
        self.raw.transfer_leader(to);
        self.drive(ctx);
        Some(to)
    }
}
