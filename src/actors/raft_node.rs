//! The raft node: owns raft-rs's `RawNode`. It ticks, takes proposals, runs
//! ReadIndex rounds, hands each `Ready`'s entries to the WAL writer and its
//! committed entries to the applier. It refuses proposals when committed runs
//! more than `MAX_APPLY_GAP` entries ahead of applied (etcd's back-pressure).

mod membership;
mod reads;
mod snapshots;

pub use membership::{HandOffLeadership, LearnerReady, ProposeConfChange, TransferLeader};
pub use reads::ReadIndex;
use reads::ReadIndexQueue;
pub use snapshots::Snapshots;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use raft::{RawNode, StateRole};

use super::applier::{Applier, ApplyEntries};
use super::peer_net::{PeerNet, SendRaft};
use super::protocol::{Applied, Durable, Refused};
use super::status::RaftStatusBoard;
use super::wal_writer::{Persist, PersistedHere, ReleaseTo, WalHandle};
use super::{ServerError, ServerResult};
use crate::storage::raft_store::RaftStore;

/// etcd's maxGapBetweenApplyAndCommitIndex.
pub const MAX_APPLY_GAP: u64 = 5000;
/// Entries kept in memory behind the durable point, for slow followers
/// (etcd's snapshot catch-up entries), unless `--snapshot-count` is smaller.
pub const CATCH_UP_ENTRIES: u64 = 5000;

pub struct RaftNode {
    raw: RawNode<RaftStore>,
    wal: WalHandle,
    applier: Addr<Applier>,
    /// None for a single-member cluster.
    peers: Option<Addr<PeerNet>>,
    board: Arc<RaftStatusBoard>,
    tick_interval: Duration,
    /// A Ready is being made durable; the next one waits so it can carry
    /// everything proposed meanwhile.
    persisting: bool,
    applied: u64,
    reads: ReadIndexQueue,
    snapshots: Snapshots,
    /// `--initial-election-tick-advance`: campaign at once as a lone voter;
    /// with peers, the election ticks skipped when the first peer message
    /// arrives (taken then).
    tick_advance: Option<usize>,
    /// Where proposals raft did not take are answered (the front end).
    refusals: Option<Recipient<Refused>>,
}

impl RaftNode {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        raw: RawNode<RaftStore>,
        wal: WalHandle,
        applier: Addr<Applier>,
        peers: Option<Addr<PeerNet>>,
        board: Arc<RaftStatusBoard>,
        tick_interval: Duration,
        applied: u64,
        snapshots: Snapshots,
    ) -> Self {
        RaftNode {
            raw,
            wal,
            applier,
            peers,
            board,
            tick_interval,
            persisting: false,
            applied,
            reads: ReadIndexQueue::default(),
            snapshots,
            tick_advance: None,
            refusals: None,
        }
    }

    /// Proposals raft does not take are answered through `refusals`.
    pub fn with_refusals(mut self, refusals: Recipient<Refused>) -> Self {
        self.refusals = Some(refusals);
        self
    }

    /// etcd's `--initial-election-tick-advance`: a member that just started
    /// need not wait out a whole election timeout. A lone voter campaigns at
    /// once; one with peers, once the first of them is heard from and no
    /// leader is known, skips all but two of its election ticks (as etcd
    /// fast-forwards them), so a live leader's heartbeat still comes first.
    pub fn with_initial_tick_advance(mut self, on: bool, election_ticks: usize) -> Self {
        self.tick_advance = on.then_some(election_ticks.saturating_sub(2));
        self
    }

    /// The first message from a peer: skip the election ticks (see
    /// `with_initial_tick_advance`).
    fn advance_ticks_once(&mut self) {
        let Some(ticks) = self.tick_advance.take() else {
            return;
        };
        let raft = &self.raw.raft;
        if raft.leader_id != raft::INVALID_ID || raft.state != StateRole::Follower {
            return;
        }
        tracing::info!(ticks, "a peer is reachable; fast-forwarding election ticks");
        for _ in 0..ticks {
            self.raw.tick();
        }
    }

    fn publish_status(&self) {
        let raft = &self.raw.raft;
        let (id, term, leader) = (raft.id, raft.term, raft.leader_id);
        let previous = self.board.publish_term_and_leader(term, leader);
        // etcd's raft words these so; operators grep for them.
        if leader != previous && leader != raft::INVALID_ID {
            tracing::info!("raft.node: {id:x} elected leader {leader:x} at term {term}");
        } else if leader != previous {
            tracing::info!("raft.node: {id:x} lost leader {previous:x} at term {term}");
        }
        self.board.publish_committed(raft.raft_log.committed);
    }

    /// Takes the next Ready (unless one is still being persisted) and routes
    /// its parts: committed entries to the applier, new entries + hard state
    /// to the WAL writer.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        self.start_read_round();
        self.build_snapshot_if_wanted(ctx);
        if self.persisting || !self.raw.has_ready() {
            return;
        }
        let mut ready = self.raw.ready();
        if !ready.snapshot().is_empty() {
            self.install_snapshot(ready, ctx);
            return;
        }
        let messages = ready.take_messages();
        // Sync on this thread only for one writer at a time: with more
        // proposals waiting, the WAL thread syncs while this one parses and
        // proposes the next batch (group commit). A leader's appends to
        // followers go out before its own sync and overlap it; the peer link
        // runs on this thread, so a Ready with messages is never synced here.
        let one_writer = crate::metrics::metrics().server.proposals_pending.get() <= 1;
        let may_sync_here = one_writer && messages.is_empty();
        self.send_to_peers(messages, ctx);
        let committed = ready.take_committed_entries();
        if !committed.is_empty() {
            self.applier.do_send(ApplyEntries { entries: committed });
        }
        for state in ready.take_read_states() {
            self.on_read_state(state.request_ctx, state.index);
        }
        let entries = ready.take_entries();
        let hard_state = ready.hs().cloned();
        // Only new entries or a new term/vote must be on disk before raft
        // goes on.
        let must_sync = ready.must_sync();
        let persisted_messages = ready.take_persisted_messages();
        {
            let store = self.raw.mut_store();
            let mut core = store.wl();
            if let Err(err) = core.append(&entries) {
                fatal(&format!("raft log append failed: {err}"));
            }
            if let Some(hs) = &hard_state {
                core.set_hardstate(hs.clone());
            }
        }
        let number = ready.number();
        self.raw.advance_append_async(ready);
        self.publish_status();

        if !must_sync {
            // Nothing raft needs on disk (no entries, same term and vote): a
            // commit-index-only hard state is not written at all; a restart
            // derives commit from what LMDB applied and raft re-commits the rest.
            self.raw.on_persist_ready(number);
            self.send_to_peers(persisted_messages, ctx);
            ctx.notify(Drive);
            return;
        }
        let mut persist = Persist {
            entries,
            hard_state,
        };
        if may_sync_here {
            match self.wal.persist_here(persist) {
                PersistedHere::Done => {
                    self.raw.on_persist_ready(number);
                    self.send_to_peers(persisted_messages, ctx);
                    self.publish_status();
                    self.drive(ctx);
                    return;
                }
                PersistedHere::NotHere(back) => persist = back,
                PersistedHere::Failed(err) => fatal(&format!("WAL write failed: {err}")),
            }
        }
        self.persisting = true;
        self.wal
            .thread
            .send(persist)
            .into_actor(self)
            .map(move |result, node, ctx| match result {
                Ok(Ok(())) => {
                    node.persisting = false;
                    node.raw.on_persist_ready(number);
                    node.send_to_peers(persisted_messages, ctx);
                    node.publish_status();
                    node.drive(ctx);
                }
                // Without a durable WAL no write may be acknowledged: stop.
                Ok(Err(err)) => fatal(&format!("WAL write failed: {err}")),
                Err(err) => fatal(&format!("WAL writer gone: {err}")),
            })
            .spawn(ctx);
    }

    fn send_to_peers(&self, messages: Vec<raft::eraftpb::Message>, ctx: &mut Context<Self>) {
        // Snapshots travel as files, on calls of their own.
        let snapshot = raft::eraftpb::MessageType::MsgSnapshot;
        let (snapshots, messages): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|m| m.get_msg_type() == snapshot);
        for message in snapshots {
            self.send_snapshot(message, ctx);
        }
        if messages.is_empty() {
            return;
        }
        match &self.peers {
            Some(peers) => peers.do_send(SendRaft { messages }),
            None => tracing::warn!(
                count = messages.len(),
                "raft messages dropped: a single-member cluster has no peers"
            ),
        }
    }
}

/// etcd's back-pressure: refuse new proposals while the applier is more than
/// `MAX_APPLY_GAP` entries behind the commit index.
fn check_apply_gap(committed: u64, applied: u64) -> ServerResult<()> {
    if committed > applied + MAX_APPLY_GAP {
        return Err(ServerError::TooManyRequests);
    }
    Ok(())
}

fn fatal(msg: &str) -> ! {
    tracing::error!("{msg}; exiting");
    std::process::exit(1);
}

impl Actor for RaftNode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
        // A lone voter need not wait out an election timeout to lead.
        let voters = self.raw.raft.prs().conf().voters().ids().len();
        let advance = self.tick_advance.is_some();
        if advance && voters == 1 && self.raw.raft.state != StateRole::Leader {
            if let Err(err) = self.raw.campaign() {
                tracing::warn!("campaign failed: {err}");
            }
        }
        ctx.run_interval(self.tick_interval, |node, ctx| {
            node.raw.tick();
            node.retry_stalled_read_round();
            node.drive(ctx);
        });
        self.drive(ctx);
    }
}

/// Internal: look for a new Ready.
#[derive(Message)]
#[rtype(result = "()")]
struct Drive;

impl Handler<Drive> for RaftNode {
    type Result = ();
    fn handle(&mut self, _: Drive, ctx: &mut Context<Self>) {
        self.drive(ctx);
    }
}

/// Raft messages from other members.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Step {
    pub messages: Vec<raft::eraftpb::Message>,
}

impl Handler<Step> for RaftNode {
    type Result = ();

    fn handle(&mut self, msg: Step, ctx: &mut Context<Self>) {
        for message in msg.messages {
            // Stale or misdirected messages are refused by raft; not fatal.
            if let Err(err) = self.raw.step(message) {
                tracing::debug!("raft step: {err}");
            }
        }
        self.advance_ticks_once();
        self.publish_status();
        self.drive(ctx);
    }
}

/// Propose an encoded InternalRaftRequest (request `id`); if raft does not
/// take it, the refusal goes to the front end's waiter for `id`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ProposeData {
    pub id: u64,
    pub data: Vec<u8>,
}

impl Handler<ProposeData> for RaftNode {
    type Result = ();

    fn handle(&mut self, msg: ProposeData, ctx: &mut Context<Self>) {
        let id = msg.id;
        if let Err(error) = self.propose(msg.data, ctx) {
            // etcd's `proposals_failed_total`: a proposal raft did not take.
            crate::metrics::metrics()
                .server
                .proposals_failed_total
                .inc();
            if let Some(refusals) = &self.refusals {
                refusals.do_send(Refused { id, error });
            }
        }
    }
}

impl RaftNode {
    fn propose(&mut self, data: Vec<u8>, ctx: &mut Context<Self>) -> ServerResult<()> {
        check_apply_gap(self.raw.raft.raft_log.committed, self.applied)?;
        if self.raw.raft.leader_id == raft::INVALID_ID {
            return Err(ServerError::NoLeader);
        }
        self.raw
            .propose(Vec::new(), data)
            .map_err(|err| match err {
                raft::Error::ProposalDropped => ServerError::NoLeader,
                other => {
                    tracing::warn!("proposal failed: {other}");
                    ServerError::Stopped
                }
            })?;
        self.drive(ctx);
        Ok(())
    }
}

impl Handler<Applied> for RaftNode {
    type Result = ();

    fn handle(&mut self, msg: Applied, ctx: &mut Context<Self>) {
        if msg.index <= self.applied {
            return;
        }
        self.applied = msg.index;
        self.raw.advance_apply_to(msg.index);
        self.board.publish_applied(msg.index);
        self.release_reads_up_to(msg.index);
        self.drive(ctx);
    }
}

impl Handler<Durable> for RaftNode {
    type Result = ();

    fn handle(&mut self, msg: Durable, _: &mut Context<Self>) {
        use raft::Storage as _;
        let store = self.raw.store().clone();
        // The WAL may drop everything LMDB holds; its cut point needs the term.
        let term = match store.term(msg.index) {
            Ok(term) => term,
            Err(err) => {
                // Not expected: the log keeps entries back to the applied index.
                tracing::warn!(
                    index = msg.index,
                    "WAL cut skipped: no term for the flushed index: {err}"
                );
                return;
            }
        };
        let mut meta = raft::eraftpb::SnapshotMetadata {
            index: msg.index,
            term,
            ..Default::default()
        };
        meta.set_conf_state(self.raw.raft.prs().conf().to_conf_state());
        self.wal.thread.do_send(ReleaseTo { meta });
        let count = self.snapshots.snapshot_count;
        let mut keep_from = msg.index.saturating_sub(CATCH_UP_ENTRIES.min(count));
        if self.raw.raft.state == StateRole::Leader {
            // A follower a little behind catches up faster from the log than
            // from a snapshot: keep it back to the slowest one, but never
            // more than --snapshot-count entries.
            let slowest = self
                .raw
                .raft
                .prs()
                .iter()
                .filter(|(id, _)| **id != self.raw.raft.id)
                .map(|(_, pr)| pr.matched + 1)
                .min()
                .unwrap_or(keep_from);
            let floor = msg.index.saturating_sub(count);
            keep_from = keep_from.min(slowest.max(floor));
        }
        if keep_from > store.first_index().unwrap_or(1) {
            if let Err(err) = store.wl().compact(keep_from) {
                tracing::warn!("raft log compaction to {keep_from} failed: {err}");
            }
        }
    }
}

/// Raft facts for Maintenance.Status.
#[derive(Message)]
#[rtype(result = "NodeStatus")]
pub struct GetNodeStatus;

#[derive(Debug, Clone, Copy, Default)]
pub struct NodeStatus {
    pub id: u64,
    pub term: u64,
    pub leader: u64,
    pub committed: u64,
    pub applied: u64,
    pub last_index: u64,
    pub is_leader: bool,
    pub is_learner: bool,
}

impl Handler<GetNodeStatus> for RaftNode {
    type Result = MessageResult<GetNodeStatus>;

    fn handle(&mut self, _: GetNodeStatus, _: &mut Context<Self>) -> Self::Result {
        let raft = &self.raw.raft;
        MessageResult(NodeStatus {
            id: raft.id,
            term: raft.term,
            leader: raft.leader_id,
            committed: raft.raft_log.committed,
            applied: self.applied,
            last_index: raft.raft_log.last_index(),
            is_leader: raft.state == StateRole::Leader,
            is_learner: raft.prs().conf().learners().contains(&raft.id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_are_refused_only_beyond_the_gap() {
        assert!(check_apply_gap(5000, 0).is_ok());
        assert!(check_apply_gap(15_000, 10_000).is_ok());
        assert!(matches!(
            check_apply_gap(5001, 0),
            Err(ServerError::TooManyRequests)
        ));
    }
}
