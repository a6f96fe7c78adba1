//! The lessor: when each lease expires. It learns of grants, revokes and
//! checkpoints from the applier, renews leases on keep-alive, and answers
//! TTL questions. Only the leader's lessor is primary: it keeps the
//! deadlines, decides expiry and carries it out by proposing revokes through
//! raft, so every member deletes the same keys at the same revision. A
//! follower's lessor forwards keep-alives and TTL questions to the leader.
//! On becoming leader a lessor restarts every deadline from the lease's
//! checkpointed remaining TTL (or its whole TTL). Remaining TTLs are
//! checkpointed through raft now and then, so a restart or a new leader
//! resumes each lease where it was rather than granting it a fresh TTL.

mod forward;
mod timers;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::frontend::{FrontEnd, Propose, WriteRequest};
use super::protocol::{LeaseChange, LeasesApplied, UpdatePeers};
use super::status::RaftStatusBoard;
use super::ServerError;
use crate::actors::auth::Credentials;
use crate::proto::etcdserverpb::{LeaseCheckpoint, LeaseCheckpointRequest, LeaseRevokeRequest};
use crate::storage::Store;
pub use forward::ForwardTimes;
use forward::{LeaderLink, Route, RouteToLeader};
use timers::LeaseTimers;

/// How often expiry is checked (etcd: the lessor's run loop period).
const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Most revokes proposed per check: a wave of expiries is spread out so it
/// never floods raft and stalls writes (etcd: leaseRevokeRate, 1000/s).
const MAX_REVOKES_PER_CHECK: usize = 500;

/// Most leases per checkpoint proposal (etcd: maxLeaseCheckpointBatchSize).
const MAX_CHECKPOINTS_PER_PROPOSAL: usize = 1000;

/// etcd's default period between checkpoints of remaining TTLs.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5 * 60);

pub struct Lessor {
    store: Arc<Store>,
    frontend: Addr<FrontEnd>,
    timers: LeaseTimers,
    /// Revokes proposed and not yet applied (or failed).
    revoking: HashSet<i64>,
    checkpoint_interval: Duration,
    board: Arc<RaftStatusBoard>,
    local_id: u64,
    /// This member leads and its deadlines are authoritative.
    primary: bool,
    leader: LeaderLink,
    forward_times: ForwardTimes,
}

/// Who else a lessor needs: raft's view of the leader, and the members'
/// peer URLs at boot for forwarding to it (later changes arrive as
/// `UpdatePeers` from the applier).
pub struct LessorPeers {
    pub board: Arc<RaftStatusBoard>,
    pub local_id: u64,
    pub peer_urls: Vec<(u64, Vec<String>)>,
    pub forward_times: ForwardTimes,
}

impl Lessor {
    /// Every lease in the store, each expiring after its checkpointed
    /// remaining TTL (or its whole TTL) from now.
    pub fn new(
        store: Arc<Store>,
        frontend: Addr<FrontEnd>,
        checkpoint_interval: Duration,
        peers: LessorPeers,
    ) -> Self {
        let now = Instant::now();
        let mut timers = LeaseTimers::default();
        for (id, record) in store.leases().all() {
            timers.restore(id, record.ttl, record.remaining_ttl, now);
        }
        Lessor {
            store,
            frontend,
            timers,
            revoking: HashSet::new(),
            checkpoint_interval,
            board: peers.board,
            local_id: peers.local_id,
            primary: false,
            leader: LeaderLink::new(peers.peer_urls),
            forward_times: peers.forward_times,
        }
    }

    /// Reads the applied member list from the store, for a leader this
    /// lessor has not been told of yet.
    fn reload_members(&mut self) {
        match crate::storage::apply::membership::applied_members(&self.store) {
            Ok(members) => {
                for member in members {
                    self.leader
                        .update(UpdatePeers::Set(member.id, member.peer_ur_ls));
                }
            }
            Err(err) => tracing::warn!("reading the member list: {err}"),
        }
    }

    /// Follows raft's leadership: a lessor that just became primary
    /// restarts every deadline (the old leader's are unknown here).
    fn refresh_primary(&mut self) {
        let leads = self.board.read().leader == self.local_id;
        if leads && !self.primary {
            tracing::info!(leases = self.store.leases().len(), "lessor promoted");
            self.timers.promote(Instant::now());
            self.revoking.clear();
        }
        self.primary = leads;
    }

    fn applied(&mut self, change: LeaseChange) {
        let now = Instant::now();
        match change {
            LeaseChange::Granted { id, ttl } => self.timers.grant(id, ttl, now),
            LeaseChange::Revoked { id } => {
                self.timers.remove(id);
                self.revoking.remove(&id);
            }
            LeaseChange::Checkpointed { id, remaining_ttl } => {
                self.timers.checkpointed(id, remaining_ttl)
            }
        }
    }

    /// Proposes a revoke for each expired lease (at most a bounded number).
    fn revoke_expired(&mut self, ctx: &mut Context<Self>) {
        self.refresh_primary();
        if !self.primary {
            return;
        }
        let now = Instant::now();
        let revoking = &self.revoking;
        let expired = self
            .timers
            .expired(now, MAX_REVOKES_PER_CHECK, |id| !revoking.contains(&id));
        if expired.is_empty() {
            return;
        }
        tracing::debug!(count = expired.len(), "proposing revokes of expired leases");
        for id in expired {
            self.revoking.insert(id);
            let propose =
                self.frontend
                    .send(internal(WriteRequest::LeaseRevoke(LeaseRevokeRequest {
                        id,
                    })));
            ctx.spawn(propose.into_actor(self).map(move |result, lessor, _| {
                let result = result.unwrap_or(Err(ServerError::Stopped));
                match result {
                    Ok(_) | Err(ServerError::LeaseNotFound) => {}
                    Err(err) => {
                        // Try again on a later check.
                        tracing::warn!(lease = id, "revoking an expired lease failed: {err}");
                        lessor.revoking.remove(&id);
                        lessor.timers.expire_now(id, Instant::now());
                    }
                }
            }));
        }
    }

    /// Proposes the remaining TTL of every lease that has used some.
    fn checkpoint(&mut self) {
        self.refresh_primary();
        if !self.primary {
            return;
        }
        let due = self.timers.checkpoints_due(Instant::now());
        for chunk in due.chunks(MAX_CHECKPOINTS_PER_PROPOSAL) {
            self.propose_checkpoints(chunk);
        }
    }

    fn propose_checkpoints(&self, checkpoints: &[(i64, i64)]) {
        let checkpoints = checkpoints
            .iter()
            .map(|&(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
            .collect();
        // Fire and forget: a lost checkpoint only means an older one counts.
        self.frontend
            .do_send(internal(WriteRequest::LeaseCheckpoint(
                LeaseCheckpointRequest { checkpoints },
            )));
    }
}

/// A request the server makes of itself.
fn internal(body: WriteRequest) -> Propose {
    Propose {
        body,
        credentials: Credentials::internal(),
    }
}

impl Actor for Lessor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
        ctx.run_interval(EXPIRY_CHECK_INTERVAL, |lessor, ctx| {
            lessor.revoke_expired(ctx)
        });
        ctx.run_interval(self.checkpoint_interval, |lessor, _| lessor.checkpoint());
    }
}

impl Handler<LeasesApplied> for Lessor {
    type Result = ();

    fn handle(&mut self, msg: LeasesApplied, _: &mut Context<Self>) {
        for change in msg.changes {
            self.applied(change);
        }
    }
}

/// Renews a lease: (its TTL, or 0 when it does not exist or has expired;
/// the store's revision for the response header). On a follower it is
/// forwarded to the leader, unless it was forwarded already.
#[derive(Message, Clone)]
#[rtype(result = "Result<(i64, i64), ServerError>")]
pub struct KeepAlive {
    pub id: i64,
    pub forwarded: bool,
}

impl Handler<KeepAlive> for Lessor {
    type Result = ResponseFuture<Result<(i64, i64), ServerError>>;

    fn handle(&mut self, msg: KeepAlive, ctx: &mut Context<Self>) -> Self::Result {
        self.refresh_primary();
        if !self.primary {
            if msg.forwarded {
                return Box::pin(async { Err(ServerError::NoLeader) });
            }
            let forwarded = forward::keep_alive(ctx.address(), self.forward_times, msg.id);
            return Box::pin(forwarded);
        }
        let revision = self.store.current_revision();
        let Some(renewed) = self.timers.renew(msg.id, Instant::now()) else {
            return Box::pin(async move { Ok((0, revision)) });
        };
        // A checkpointed remaining TTL would shorten the lease after a
        // restart: record that the whole TTL counts again.
        if renewed.clear_checkpoint {
            self.propose_checkpoints(&[(msg.id, 0)]);
        }
        Box::pin(async move { Ok((renewed.ttl, revision)) })
    }
}

/// A lease's granted TTL, remaining TTL and (when asked) keys (`None` when
/// it does not exist), and the store's revision for the response header.
/// On a follower it is forwarded to the leader, unless it was already.
#[derive(Message, Clone)]
#[rtype(result = "Result<(Option<LeaseStatus>, i64), ServerError>")]
pub struct TimeToLive {
    pub id: i64,
    pub keys: bool,
    pub forwarded: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeaseStatus {
    pub granted_ttl: i64,
    /// Whole seconds left (truncated, as etcd reports them).
    pub remaining_ttl: i64,
    pub keys: Vec<Vec<u8>>,
}

impl Handler<TimeToLive> for Lessor {
    type Result = ResponseFuture<Result<(Option<LeaseStatus>, i64), ServerError>>;

    fn handle(&mut self, msg: TimeToLive, ctx: &mut Context<Self>) -> Self::Result {
        self.refresh_primary();
        if !self.primary {
            if msg.forwarded {
                return Box::pin(async { Err(ServerError::NoLeader) });
            }
            let times = self.forward_times;
            let forwarded = forward::time_to_live(ctx.address(), times, msg.id, msg.keys);
            return Box::pin(forwarded);
        }
        let revision = self.store.current_revision();
        let status =
            self.timers
                .status(msg.id, Instant::now())
                .map(|(granted_ttl, remaining_ttl)| LeaseStatus {
                    granted_ttl,
                    remaining_ttl,
                    keys: if msg.keys {
                        self.store.leases().keys(msg.id)
                    } else {
                        Vec::new()
                    },
                });
        Box::pin(async move { Ok((status, revision)) })
    }
}

/// Every lease id, soonest expiry first (as etcd lists them), and the
/// store's revision.
#[derive(Message)]
#[rtype(result = "(Vec<i64>, i64)")]
pub struct ListLeases;

impl Handler<ListLeases> for Lessor {
    type Result = MessageResult<ListLeases>;

    fn handle(&mut self, _: ListLeases, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.timers.ids_by_expiry(), self.store.current_revision()))
    }
}

/// From the applier: a member joined, moved to new peer URLs, or left.
impl Handler<UpdatePeers> for Lessor {
    type Result = ();

    fn handle(&mut self, msg: UpdatePeers, _: &mut Context<Self>) {
        self.leader.update(msg);
    }
}

impl Handler<RouteToLeader> for Lessor {
    type Result = MessageResult<RouteToLeader>;

    fn handle(&mut self, _: RouteToLeader, _: &mut Context<Self>) -> Self::Result {
        self.refresh_primary();
        if self.primary {
            return MessageResult(Route::Local);
        }
        let leader = self.board.read().leader;
        if leader == 0 {
            return MessageResult(Route::Unknown);
        }
        if !self.leader.knows(leader) {
            self.reload_members();
        }
        MessageResult(match self.leader.clients(leader) {
            Some(clients) => Route::Leader(clients),
            None => Route::Unknown,
        })
    }
}
