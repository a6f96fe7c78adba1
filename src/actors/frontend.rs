//! The front end: the request pipeline and the wait registry (etcd's
//! Register/Trigger). A write gets a request id and a registered waiter, passes
//! quota and auth, goes to raft, and completes when the applier triggers its
//! id, or fails after the request timeout. Reads pass auth, then (unless
//! serializable) a ReadIndex round, then a reader.

mod authenticate;
mod downgrade;

pub use authenticate::Authenticate;
pub use downgrade::Downgrade;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use actix::WeakAddr;
use prost::Message as _;
use tokio::sync::oneshot;

use std::rc::Rc;
use std::sync::Arc;

use super::auth::gate::{AuthGate, Identity};
use super::auth::{Access, Credentials, KeyAccess};
use super::mvcc_store::{MvccReader, RangeRead, ReadRange};
use super::protocol::{Refused, Trigger};
use super::quota::{Admit, Quota};
use super::raft_node::{ProposeConfChange, RaftNode, ReadIndex};
use super::range_budget::{BudgetHold, RangeBudget};
use super::{ServerError, ServerResult};
use crate::proto::etcdserverpb::{
    alarm_request::AlarmAction, request_op, AlarmRequest, AlarmType, CompactionRequest,
    DeleteRangeRequest, InternalRaftRequest, LeaseCheckpointRequest, LeaseGrantRequest,
    LeaseRevokeRequest, PutRequest, RangeRequest, RangeResponse, RequestHeader, TxnRequest,
};
use crate::proto::membershippb::ClusterMemberAttrSetRequest;
use crate::proto::oxcdpeer::conf_change_context::Change;
use crate::proto::oxcdpeer::ConfChangeContext;
use crate::storage::apply::membership::MemberChange;
use crate::storage::apply::ApplyResponse;

type Waiter = oneshot::Sender<ServerResult<ApplyResponse>>;

/// The requests that go through raft.
#[derive(Debug, Clone)]
pub enum WriteRequest {
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compaction(CompactionRequest),
    /// Id 0 gets a fresh one from the request id generator (as etcd does).
    LeaseGrant(LeaseGrantRequest),
    LeaseRevoke(LeaseRevokeRequest),
    LeaseCheckpoint(LeaseCheckpointRequest),
    /// A member's name and client URLs, published once it serves.
    MemberAttrs(ClusterMemberAttrSetRequest),
    /// An auth request: the raft entry with its one auth field set.
    Auth(Box<InternalRaftRequest>),
    /// Alarm get / activate / deactivate (etcd sends all three through raft).
    Alarm(AlarmRequest),
    /// A downgrade job enabled or cancelled.
    Downgrade(crate::proto::membershippb::DowngradeInfoSetRequest),
}

impl WriteRequest {
    /// etcd's raft entry payload: one optional field per request kind,
    /// and the caller (checked again when applied) in the header.
    fn into_internal(self, id: u64, caller: Option<Identity>) -> InternalRaftRequest {
        let (username, auth_revision) = caller.map_or((String::new(), 0), |c| (c.user, c.revision));
        let mut request = InternalRaftRequest {
            header: Some(RequestHeader {
                id,
                username,
                auth_revision,
            }),
            id,
            ..Default::default()
        };
        match self {
            WriteRequest::Put(r) => request.put = Some(r),
            WriteRequest::DeleteRange(r) => request.delete_range = Some(r),
            WriteRequest::Txn(r) => request.txn = Some(r),
            WriteRequest::Compaction(r) => request.compaction = Some(r),
            WriteRequest::LeaseGrant(r) => request.lease_grant = Some(r),
            WriteRequest::LeaseRevoke(r) => request.lease_revoke = Some(r),
            WriteRequest::LeaseCheckpoint(r) => request.lease_checkpoint = Some(r),
            WriteRequest::MemberAttrs(r) => request.cluster_member_attr_set = Some(r),
            WriteRequest::Alarm(r) => request.alarm = Some(r),
            WriteRequest::Downgrade(r) => request.downgrade_info_set = Some(r),
            WriteRequest::Auth(auth) => {
                return InternalRaftRequest {
                    header: request.header,
                    id,
                    ..*auth
                }
            }
        }
        request
    }

    /// What the request does, for a custom auth provider.
    fn access(&self) -> Access {
        Access {
            keys: self.key_access(),
            admin: self.is_admin_only(),
        }
    }

    /// Auth management (etcd's `needAdminPermission`); a user reading its
    /// own record is left to the provider's key-less check.
    fn is_admin_only(&self) -> bool {
        match self {
            WriteRequest::Auth(r) => r.authenticate.is_none() && r.auth_status.is_none(),
            _ => false,
        }
    }

    /// Every key range the request reads or writes.
    fn key_access(&self) -> Vec<KeyAccess> {
        match self {
            WriteRequest::Put(p) => vec![write_access(&p.key, &[])],
            WriteRequest::DeleteRange(d) => vec![write_access(&d.key, &d.range_end)],
            WriteRequest::Txn(t) => txn_access(t),
            WriteRequest::Compaction(_)
            | WriteRequest::LeaseGrant(_)
            | WriteRequest::LeaseRevoke(_)
            | WriteRequest::LeaseCheckpoint(_)
            | WriteRequest::MemberAttrs(_)
            | WriteRequest::Alarm(_)
            | WriteRequest::Downgrade(_)
            | WriteRequest::Auth(_) => Vec::new(),
        }
    }
}

/// The actors' addresses are shared through `Rc`: cloning an `Addr` allocates
/// (actix gives every sender its own park handle), and each request's future
/// needs them.
pub struct FrontEnd {
    raft: Rc<Addr<RaftNode>>,
    quota: Rc<Addr<Quota>>,
    gate: Arc<AuthGate>,
    readers: Rc<Addr<MvccReader>>,
    /// This actor, for a request's future to cancel its waiter on failure;
    /// weak so that it does not keep the actor alive. Set once started.
    me: Option<WeakAddr<FrontEnd>>,
    waiters: HashMap<u64, Waiter>,
    ids: RequestIds,
    request_timeout: Duration,
    member_id: u64,
    /// A NOSPACE alarm for this member is being proposed (one at a time).
    raising_nospace: bool,
    /// `--range-memory-budget` (none when 0).
    range_budget: Option<RangeBudget>,
}

impl FrontEnd {
    pub fn new(
        raft: Addr<RaftNode>,
        quota: Addr<Quota>,
        gate: Arc<AuthGate>,
        readers: Addr<MvccReader>,
        member_id: u64,
        request_timeout: Duration,
    ) -> Self {
        FrontEnd {
            raft: Rc::new(raft),
            quota: Rc::new(quota),
            gate,
            readers: Rc::new(readers),
            me: None,
            waiters: HashMap::new(),
            ids: RequestIds::new(member_id),
            request_timeout,
            member_id,
            raising_nospace: false,
            range_budget: None,
        }
    }

    /// Large ranges load only within `budget` (`--range-memory-budget`).
    pub fn with_range_budget(mut self, budget: Option<RangeBudget>) -> Self {
        self.range_budget = budget;
        self
    }
}

impl FrontEnd {
    /// etcd's own auth cannot be turned on while a custom provider decides
    /// (its checks would refuse every request the provider admitted).
    fn check_provider_rules(&self, body: &WriteRequest) -> ServerResult<()> {
        match body {
            WriteRequest::Auth(r) if r.auth_enable.is_some() && self.gate.has_provider() => {
                Err(ServerError::AuthByProvider)
            }
            _ => Ok(()),
        }
    }

    /// Proposals registered and not yet answered (`proposals_pending`).
    fn publish_pending(&self) {
        crate::metrics::metrics()
            .server
            .proposals_pending
            .set(self.waiters.len() as i64);
    }
}

impl Actor for FrontEnd {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
        self.me = Some(ctx.address().downgrade());
    }
}

/// Request ids unique across members and restarts: the member id's low 16
/// bits, then milliseconds since the epoch, then a counter (etcd's layout).
struct RequestIds {
    next: u64,
}

impl RequestIds {
    fn new(member_id: u64) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let prefix = (member_id & 0xffff) << 48;
        let time = (millis & 0xff_ffff_ffff) << 8;
        RequestIds {
            next: prefix | time,
        }
    }

    fn next(&mut self) -> u64 {
        self.next = self.next.wrapping_add(1);
        self.next
    }
}

/// A write (or compaction, or txn) to go through raft.
#[derive(Message)]
#[rtype(result = "ServerResult<ApplyResponse>")]
pub struct Propose {
    pub body: WriteRequest,
    pub credentials: Credentials,
}

impl Handler<Propose> for FrontEnd {
    type Result = ResponseFuture<ServerResult<ApplyResponse>>;

    fn handle(&mut self, msg: Propose, _: &mut Context<Self>) -> Self::Result {
        let id = self.ids.next();
        let mut body = msg.body;
        if let WriteRequest::LeaseGrant(grant) = &mut body {
            if grant.id == 0 {
                grant.id = (self.ids.next() & i64::MAX as u64) as i64;
            }
        }
        // Only a custom provider looks at the keys: no copies otherwise.
        let access = self.gate.has_provider().then(|| body.access());
        let caller = self
            .check_provider_rules(&body)
            .and_then(|()| self.gate.proposer(&msg.credentials));
        let caller = match caller {
            Ok(caller) => caller,
            Err(err) => return Box::pin(async move { Err(err) }),
        };
        let internal = body.into_internal(id, caller);
        let admit = Admit {
            id,
            cost: crate::storage::quota::cost(&internal),
            data: internal.encode_to_vec(),
        };
        let (tx, rx) = oneshot::channel();
        // Register before proposing so a fast apply cannot miss its waiter.
        self.waiters.insert(id, tx);
        self.publish_pending();
        let (me, timeout) = (self.me.clone(), self.request_timeout);
        let Some(access) = access else {
            // Quota, then raft, answer through the waiter: no reply to await.
            self.quota.do_send(admit);
            return Box::pin(cancel_on_failure(me, id, wait_applied(rx, timeout)));
        };
        let (quota, gate, credentials) = (self.quota.clone(), self.gate.clone(), msg.credentials);
        Box::pin(async move {
            let outcome = async {
                gate.authorize(&credentials, access).await?;
                quota.do_send(admit);
                wait_applied(rx, timeout).await
            };
            cancel_on_failure(me, id, outcome).await
        })
    }
}

impl Handler<Refused> for FrontEnd {
    type Result = ();

    fn handle(&mut self, msg: Refused, ctx: &mut Context<Self>) {
        let Some(waiter) = self.waiters.remove(&msg.id) else {
            return;
        };
        self.publish_pending();
        if !matches!(msg.error, ServerError::NoSpace) {
            let _ = waiter.send(Err(msg.error));
            return;
        }
        // As etcd's quota alarmer: the alarm is in raft before the caller
        // hears, so an `alarm list` after sees it.
        let raised = <Self as Handler<RaiseNoSpace>>::handle(self, RaiseNoSpace, ctx);
        ctx.spawn(actix::fut::wrap_future(async move {
            raised.await;
            let _ = waiter.send(Err(msg.error));
        }));
    }
}

/// Runs a proposal to its applied result; if it fails anywhere, the
/// waiter registered under `id` is dropped.
async fn cancel_on_failure<T>(
    me: Option<WeakAddr<FrontEnd>>,
    id: u64,
    proposal: impl std::future::Future<Output = ServerResult<T>>,
) -> ServerResult<T> {
    let outcome = proposal.await;
    if outcome.is_err() {
        if let Some(me) = me.as_ref().and_then(WeakAddr::upgrade) {
            me.do_send(Cancel { id });
        }
    }
    outcome
}

/// A membership change through raft (Cluster.MemberAdd and friends):
/// answered with the member list once it is applied here.
#[derive(Message)]
#[rtype(result = "ServerResult<Vec<crate::proto::etcdserverpb::Member>>")]
pub struct ProposeMemberChange {
    pub change: MemberChange,
    pub member: crate::proto::etcdserverpb::Member,
}

impl Handler<ProposeMemberChange> for FrontEnd {
    type Result = ResponseFuture<ServerResult<Vec<crate::proto::etcdserverpb::Member>>>;

    fn handle(&mut self, msg: ProposeMemberChange, _: &mut Context<Self>) -> Self::Result {
        use raft::eraftpb::{ConfChange, ConfChangeType};
        let id = self.ids.next();
        let (change, kind) = match msg.change {
            MemberChange::Add if msg.member.is_learner => {
                (ConfChangeType::AddLearnerNode, Change::Add)
            }
            MemberChange::Add => (ConfChangeType::AddNode, Change::Add),
            MemberChange::Remove => (ConfChangeType::RemoveNode, Change::Remove),
            MemberChange::Promote => (ConfChangeType::AddNode, Change::Promote),
            // Raft ignores re-adding a member as what it is: only the
            // member list changes.
            MemberChange::Update if msg.member.is_learner => {
                (ConfChangeType::AddLearnerNode, Change::Update)
            }
            MemberChange::Update => (ConfChangeType::AddNode, Change::Update),
        };
        let mut conf_change = ConfChange::default();
        conf_change.set_change_type(change);
        conf_change.set_node_id(msg.member.id);
        let context = ConfChangeContext {
            request_id: id,
            member: Some(msg.member),
            change: kind as i32,
        }
        .encode_to_vec();
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(id, tx);
        self.publish_pending();
        let (raft, me, timeout) = (self.raft.clone(), self.me.clone(), self.request_timeout);
        Box::pin(async move {
            let outcome = async {
                raft.send(ProposeConfChange {
                    change: conf_change,
                    context,
                })
                .await??;
                match wait_applied(rx, timeout).await? {
                    ApplyResponse::Members(members) => Ok(members),
                    _ => Err(ServerError::UnexpectedResponse("member change")),
                }
            };
            cancel_on_failure(me, id, outcome).await
        })
    }
}

/// The longest a large range waits for its share of the memory budget (a
/// client's own deadline, enforced by the gRPC server, ends it sooner):
/// lists of many megabytes take seconds each, and a queue of them is served
/// in turn rather than refused.
pub const RANGE_BUDGET_WAIT: Duration = Duration::from_secs(60);

/// A Range outside raft.
#[derive(Message)]
#[rtype(result = "ServerResult<Ranged>")]
pub struct Read {
    pub request: RangeRequest,
    pub credentials: Credentials,
}

/// A Range's answer, and its share of the range memory budget (held until
/// the answer has been sent).
pub struct Ranged {
    pub response: RangeResponse,
    pub hold: Option<BudgetHold>,
}

impl Handler<Read> for FrontEnd {
    type Result = ResponseFuture<ServerResult<Ranged>>;

    fn handle(&mut self, msg: Read, _: &mut Context<Self>) -> Self::Result {
        let (raft, readers) = (self.raft.clone(), self.readers.clone());
        let budget = self.range_budget.clone();
        let gate = self.gate.clone();
        let timeout = self.request_timeout;
        Box::pin(async move {
            let caller = gate.proposer(&msg.credentials)?;
            if gate.has_provider() {
                let access = Access {
                    keys: vec![read_access(&msg.request.key, &msg.request.range_end)],
                    admin: false,
                };
                gate.authorize(&msg.credentials, access).await?;
            }
            if !msg.request.serializable {
                match tokio::time::timeout(timeout, raft.send(ReadIndex)).await {
                    Ok(result) => result??,
                    Err(_) => return Err(ServerError::Timeout),
                }
            }
            // Checked after the read index, against the auth store as
            // applied up to it (as etcd's `doSerialize`).
            let (key, end) = (&msg.request.key, &msg.request.range_end);
            gate.check_read(caller.as_ref(), key, end)?;
            let ranged = read_within_budget(&readers, msg.request, budget).await?;
            gate.check_still_current(caller.as_ref())?;
            Ok(ranged)
        })
    }
}

/// Read, waiting (up to [`RANGE_BUDGET_WAIT`]) for the budget a large range
/// needs; etcd's "too many requests" when it does not come.
async fn read_within_budget(
    readers: &Addr<MvccReader>,
    mut request: RangeRequest,
    budget: Option<RangeBudget>,
) -> ServerResult<Ranged> {
    let mut held = None;
    loop {
        let read = ReadRange {
            request,
            budget: budget.clone(),
            held: held.take(),
        };
        match readers.send(read).await?? {
            RangeRead::Done(response, hold) => return Ok(Ranged { response, hold }),
            RangeRead::NeedsBudget { units, request: r } => {
                let Some(budget) = &budget else {
                    return Err(ServerError::TooManyRequests);
                };
                let metrics = &crate::metrics::metrics().mvcc;
                metrics.range_budget_waits_total.inc();
                match tokio::time::timeout(RANGE_BUDGET_WAIT, budget.hold(units)).await {
                    Ok(Some(hold)) => held = Some(hold),
                    _ => {
                        metrics.range_budget_refused_total.inc();
                        return Err(ServerError::TooManyRequests);
                    }
                }
                request = r;
            }
        }
    }
}

impl Handler<Trigger> for FrontEnd {
    type Result = ();

    fn handle(&mut self, msg: Trigger, ctx: &mut Context<Self>) {
        if msg.raise_nospace {
            ctx.address().do_send(RaiseNoSpace);
        }
        for (id, result) in msg.results {
            // Ids not registered here came from elsewhere or already timed out.
            if let Some(waiter) = self.waiters.remove(&id) {
                let _ = waiter.send(result.map_err(ServerError::from));
            }
        }
        self.publish_pending();
    }
}

/// This member's backend is over its quota: propose its NOSPACE alarm
/// (unless one is already on its way); answers once it is applied.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RaiseNoSpace;

impl Handler<RaiseNoSpace> for FrontEnd {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: RaiseNoSpace, ctx: &mut Context<Self>) -> Self::Result {
        if self.raising_nospace {
            return Box::pin(async {});
        }
        self.raising_nospace = true;
        tracing::warn!("message exceeded backend quota; raising alarm");
        let alarm = AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: self.member_id,
            alarm: AlarmType::Nospace as i32,
        };
        let proposed = <Self as Handler<Propose>>::handle(
            self,
            Propose {
                body: WriteRequest::Alarm(alarm),
                credentials: Credentials::internal(),
            },
            ctx,
        );
        let me = ctx.address();
        Box::pin(async move {
            if let Err(err) = proposed.await {
                tracing::warn!(%err, "raising the NOSPACE alarm failed");
            }
            me.do_send(NoSpaceRaised);
        })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct NoSpaceRaised;

impl Handler<NoSpaceRaised> for FrontEnd {
    type Result = ();

    fn handle(&mut self, _: NoSpaceRaised, _: &mut Context<Self>) {
        self.raising_nospace = false;
    }
}

/// Drop a waiter whose request failed or timed out.
#[derive(Message)]
#[rtype(result = "()")]
struct Cancel {
    id: u64,
}

impl Handler<Cancel> for FrontEnd {
    type Result = ();

    fn handle(&mut self, msg: Cancel, _: &mut Context<Self>) {
        self.waiters.remove(&msg.id);
        self.publish_pending();
    }
}

/// The Trigger side of Register/Trigger: the applied result, or a timeout.
async fn wait_applied(
    rx: oneshot::Receiver<ServerResult<ApplyResponse>>,
    timeout: Duration,
) -> ServerResult<ApplyResponse> {
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(proposal_failed(ServerError::Stopped)),
        Err(_) => Err(proposal_failed(ServerError::Timeout)),
    }
}

/// Counts a proposal raft did not take or did not apply in time (etcd's
/// `proposals_failed_total`; errors of the request itself are not failures).
fn proposal_failed(err: ServerError) -> ServerError {
    crate::metrics::metrics()
        .server
        .proposals_failed_total
        .inc();
    err
}

fn read_access(key: &[u8], range_end: &[u8]) -> KeyAccess {
    KeyAccess {
        key: key.to_vec(),
        range_end: range_end.to_vec(),
        write: false,
    }
}

fn write_access(key: &[u8], range_end: &[u8]) -> KeyAccess {
    KeyAccess {
        key: key.to_vec(),
        range_end: range_end.to_vec(),
        write: true,
    }
}

fn txn_access(txn: &TxnRequest) -> Vec<KeyAccess> {
    let mut access: Vec<KeyAccess> = txn
        .compare
        .iter()
        .map(|c| read_access(&c.key, &c.range_end))
        .collect();
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(r)) => {
                access.push(read_access(&r.key, &r.range_end))
            }
            Some(request_op::Request::RequestPut(p)) => access.push(write_access(&p.key, &[])),
            Some(request_op::Request::RequestDeleteRange(d)) => {
                access.push(write_access(&d.key, &d.range_end))
            }
            Some(request_op::Request::RequestTxn(t)) => access.extend(txn_access(t)),
            None => {}
        }
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_carry_the_member_prefix() {
        let mut ids = RequestIds::new(0xabcd_1234);
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert_eq!(a >> 48, 0x1234);
    }
}
