//! Linearizable reads through the raft node: ReadIndex rounds, batched so
//! that every read arriving while a round is in flight joins the next one,
//! and released once the applier reaches each round's index.

use std::collections::BTreeMap;

use actix::prelude::*;
use raft::StateRole;
use tokio::sync::oneshot;

use super::RaftNode;
use crate::actors::{ServerError, ServerResult};

/// Linearizable reads, batched: every read that arrives while a ReadIndex
/// round is in flight joins the next round.
#[derive(Default)]
pub(super) struct ReadIndexQueue {
    next_round: u64,
    waiting_for_round: Vec<oneshot::Sender<ServerResult<()>>>,
    in_flight: Option<(u64, Vec<oneshot::Sender<ServerResult<()>>>)>,
    /// Ticks since the in-flight round was (re)issued: raft drops a read
    /// request it cannot serve (e.g. across a leader change), so it is
    /// asked again after an election timeout.
    in_flight_ticks: usize,
    /// read index -> readers that may go once applied reaches it.
    waiting_for_apply: BTreeMap<u64, Vec<oneshot::Sender<ServerResult<()>>>>,
}

impl RaftNode {
    /// A leader that has not yet committed an entry of its own term cannot
    /// know the read point (raft-rs silently drops the request then).
    fn can_serve_read_index(&self) -> bool {
        let raft = &self.raw.raft;
        raft.state != StateRole::Leader || raft.commit_to_current_term()
    }

    pub(super) fn start_read_round(&mut self) {
        if self.reads.in_flight.is_some()
            || self.reads.waiting_for_round.is_empty()
            || !self.can_serve_read_index()
        {
            return;
        }
        self.reads.next_round += 1;
        let round = self.reads.next_round;
        let waiters = std::mem::take(&mut self.reads.waiting_for_round);
        self.reads.in_flight = Some((round, waiters));
        self.reads.in_flight_ticks = 0;
        self.raw.read_index(round.to_be_bytes().to_vec());
    }

    /// Re-asks raft for a round that got no answer within an election timeout.
    pub(super) fn retry_stalled_read_round(&mut self) {
        let Some((round, _)) = &self.reads.in_flight else {
            return;
        };
        let round = *round;
        self.reads.in_flight_ticks += 1;
        if self.reads.in_flight_ticks >= self.raw.raft.election_timeout()
            && self.can_serve_read_index()
        {
            self.reads.in_flight_ticks = 0;
            self.raw.read_index(round.to_be_bytes().to_vec());
        }
    }

    pub(super) fn on_read_state(&mut self, request_ctx: Vec<u8>, index: u64) {
        let Some((round, _)) = &self.reads.in_flight else {
            return;
        };
        if request_ctx != round.to_be_bytes() {
            return;
        }
        let Some((_, waiters)) = self.reads.in_flight.take() else {
            return;
        };
        if index <= self.applied {
            waiters.into_iter().for_each(|tx| {
                let _ = tx.send(Ok(()));
            });
        } else {
            self.reads
                .waiting_for_apply
                .entry(index)
                .or_default()
                .extend(waiters);
        }
        self.start_read_round();
    }

    pub(super) fn release_reads_up_to(&mut self, applied: u64) {
        let later = self.reads.waiting_for_apply.split_off(&(applied + 1));
        let ready = std::mem::replace(&mut self.reads.waiting_for_apply, later);
        for tx in ready.into_values().flatten() {
            let _ = tx.send(Ok(()));
        }
    }
}

/// Resolves once this member has applied everything committed when the read
/// arrived (a linearizable read point).
#[derive(Message)]
#[rtype(result = "ServerResult<()>")]
pub struct ReadIndex;

impl Handler<ReadIndex> for RaftNode {
    type Result = ResponseFuture<ServerResult<()>>;

    fn handle(&mut self, _: ReadIndex, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.reads.waiting_for_round.push(tx);
        self.start_read_round();
        self.drive(ctx);
        Box::pin(async move { rx.await.map_err(|_| ServerError::Stopped)? })
    }
}
