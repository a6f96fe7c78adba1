//! The applier: takes committed raft entries in order, decodes them, and has
//! the MVCC store apply everything that queued up in ONE write transaction.
//! Then it publishes what the batch did (`ApplyListeners`): each waiting
//! request's result, events for watchers, lease and membership changes, and
//! how far it has applied. It knows its listeners only as `Recipient`s of
//! the messages in `protocol`, so it imports no actor above it.

use std::sync::Arc;

use actix::prelude::*;
use prost::Message as _;
use raft::eraftpb::{Entry, EntryType};

use super::mvcc_store::{ApplyBatch, ApplyItem, BatchApplied, BatchWriter, MvccWriter};
use super::protocol::{
    Applied, ApplyConfChanges, ConfChangeItem, Durable, LeasesApplied, Notify, Trigger, UpdatePeers,
};
use super::status::RaftStatusBoard;
use crate::proto::etcdserverpb::InternalRaftRequest;
use crate::proto::oxcdpeer::conf_change_context::Change;
use crate::proto::oxcdpeer::ConfChangeContext;
use crate::storage::apply::membership::MemberChange;
use crate::storage::StorageResult;

/// Batches up to this many requests, without compactions, are applied inline
/// unless LMDB is due to be flushed after them: a quiet server's writes then
/// skip two thread hops; busy servers' large batches, and every flush, go to
/// the writer thread and keep this thread free.
const INLINE_APPLY_MAX_ITEMS: usize = 8;

/// Who hears what each batch did (wired at boot).
pub struct ApplyListeners {
    /// The front end: results for the requests waiting on them.
    pub waiters: Recipient<Trigger>,
    /// The watch hub: the batch's events.
    pub watchers: Recipient<Notify>,
    /// The lessor: leases granted, revoked, checkpointed.
    pub leases: Recipient<LeasesApplied>,
    /// The lessor: members' peer URLs, for forwarding to the leader.
    pub member_urls: Recipient<UpdatePeers>,
    /// The raft node: membership changes, the applied index, the durable point.
    pub conf_changes: Recipient<ApplyConfChanges>,
    pub applied: Recipient<Applied>,
    pub durable: Recipient<Durable>,
}

/// How long to wait before applying again after LMDB found no disk space.
const NO_SPACE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

pub struct Applier {
    inline: BatchWriter,
    mvcc: Addr<MvccWriter>,
    listeners: ApplyListeners,
    board: Arc<RaftStatusBoard>,
    queue: Vec<Entry>,
    /// A batch is being applied, or a retry after a full disk is scheduled;
    /// entries arriving meanwhile wait in the queue.
    busy: bool,
    /// `--experimental-warning-apply-duration`.
    slow_apply: std::time::Duration,
}

impl Applier {
    pub fn new(
        inline: BatchWriter,
        mvcc: Addr<MvccWriter>,
        listeners: ApplyListeners,
        board: Arc<RaftStatusBoard>,
    ) -> Self {
        Applier {
            inline,
            mvcc,
            listeners,
            board,
            queue: Vec::new(),
            busy: false,
            slow_apply: DEFAULT_SLOW_APPLY,
        }
    }

    /// etcd's `--experimental-warning-apply-duration`.
    pub fn with_slow_apply_warning(mut self, after: std::time::Duration) -> Self {
        self.slow_apply = after;
        self
    }

    /// A batch found no disk space and changed nothing: its entries go back
    /// to the head of the queue and are tried again shortly.
    fn retry_later(&mut self, entries: Vec<Entry>, ctx: &mut Context<Self>) {
        self.board.set_disk_full(true, "backend (LMDB)");
        self.queue.splice(0..0, entries);
        self.busy = true;
        ctx.run_later(NO_SPACE_RETRY, |applier, ctx| {
            applier.busy = false;
            applier.apply_queued(ctx);
        });
    }

    fn apply_queued(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.queue.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.queue);
        let last_index = entries.last().map(Entry::get_index).unwrap_or_default();
        // Sized up front: an item is about 1.5 KB, and growing the vector
        // from a filter's zero size hint copied them over and over.
        let mut items: Vec<ApplyItem> = Vec::with_capacity(entries.len());
        items.extend(entries.iter().filter_map(decode_entry));
        let _span =
            tracing::debug_span!("apply.batch", entries = entries.len(), last_index).entered();
        let batch = ApplyBatch { items, last_index };
        let (started, slow) = (std::time::Instant::now(), self.slow_apply);
        if is_small(&batch) && !self.inline.flush_due(last_index) {
            let result = self.inline.apply(batch);
            if matches!(&result, Err(err) if err.is_no_space()) {
                return self.retry_later(entries, ctx);
            }
            note_slow_apply(started, last_index, slow);
            self.finish(last_index, result);
            return self.apply_queued(ctx);
        }
        self.busy = true;
        self.mvcc
            .send(batch)
            .into_actor(self)
            .map(move |result, applier, ctx| {
                let result = result.unwrap_or_else(|err| fatal(&format!("MVCC store gone: {err}")));
                if matches!(&result, Err(err) if err.is_no_space()) {
                    return applier.retry_later(entries, ctx);
                }
                note_slow_apply(started, last_index, slow);
                applier.finish(last_index, result);
                applier.busy = false;
                applier.apply_queued(ctx);
            })
            .spawn(ctx);
    }

    /// Hands the results on: waiters, the raft node's applied index, and the
    /// durable point for log release.
    fn finish(&self, last_index: u64, result: StorageResult<BatchApplied>) {
        match result {
            Ok(applied) => {
                self.board.set_disk_full(false, "backend (LMDB)");
                // Batches are finished one at a time, in log order, so the
                // hub sees revisions in order.
                if !applied.events.is_empty() {
                    self.listeners.watchers.do_send(Notify {
                        events: applied.events,
                    });
                }
                // Before the waiters hear: a client's next keep-alive or
                // TTL request must find the lease it was just granted.
                if !applied.lease_changes.is_empty() {
                    self.listeners.leases.do_send(LeasesApplied {
                        changes: applied.lease_changes,
                    });
                }
                // Raft learns of membership changes before it hears the
                // entries are applied.
                if !applied.conf_changes.is_empty() {
                    // Lease forwarding follows the members' addresses.
                    for item in &applied.conf_changes {
                        self.listeners.member_urls.do_send(UpdatePeers::of(item));
                    }
                    self.listeners.conf_changes.do_send(ApplyConfChanges {
                        changes: applied.conf_changes,
                    });
                }
                self.listeners.waiters.do_send(Trigger {
                    results: applied.outcomes,
                    raise_nospace: applied.over_quota,
                });
                self.listeners
                    .applied
                    .do_send(Applied { index: last_index });
                if let Some(index) = applied.durable_index {
                    self.listeners.durable.do_send(Durable { index });
                }
            }
            // A batch that cannot be applied leaves the state machine behind
            // the log: stop rather than serve stale data.
            Err(err) => fatal(&format!("apply failed at index {last_index}: {err}")),
        }
    }
}

/// etcd warns about (and counts) an apply slower than its
/// `--experimental-warning-apply-duration`, 100 ms by default. oxcd applies
/// in batches, so a slow batch counts once.
const DEFAULT_SLOW_APPLY: std::time::Duration = std::time::Duration::from_millis(100);

fn note_slow_apply(started: std::time::Instant, last_index: u64, slow: std::time::Duration) {
    let took = started.elapsed();
    if took > slow {
        crate::metrics::metrics().server.slow_apply_total.inc();
        // etcd's message and field names, which operators grep for.
        tracing::warn!(
            took = ?took,
            "expected-duration" = ?slow,
            last_index,
            "apply request took too long"
        );
    }
}

fn is_small(batch: &ApplyBatch) -> bool {
    batch.items.len() <= INLINE_APPLY_MAX_ITEMS
        && batch
            .items
            .iter()
            .all(|item| item.request.compaction.is_none())
}

fn fatal(msg: &str) -> ! {
    tracing::error!("{msg}; exiting");
    std::process::exit(1);
}

/// Empty entries (a new leader's no-op) carry no request; conf changes
/// carry a membership change.
fn decode_entry(entry: &Entry) -> Option<ApplyItem> {
    if entry.get_entry_type() == EntryType::EntryConfChange {
        return Some(ApplyItem {
            index: entry.get_index(),
            request: InternalRaftRequest::default(),
            conf_change: Some(decode_conf_change(entry)),
        });
    }
    if entry.get_entry_type() != EntryType::EntryNormal || entry.get_data().is_empty() {
        return None;
    }
    match InternalRaftRequest::decode(entry.get_data()) {
        Ok(request) => Some(ApplyItem {
            index: entry.get_index(),
            request,
            conf_change: None,
        }),
        Err(err) => fatal(&format!(
            "undecodable entry at index {}: {err}",
            entry.get_index()
        )),
    }
}

fn decode_conf_change(entry: &Entry) -> ConfChangeItem {
    use protobuf::Message as _;
    let index = entry.get_index();
    let change = raft::eraftpb::ConfChange::parse_from_bytes(entry.get_data())
        .unwrap_or_else(|err| fatal(&format!("undecodable conf change at index {index}: {err}")));
    let context = ConfChangeContext::decode(entry.get_context()).unwrap_or_else(|err| {
        fatal(&format!(
            "undecodable conf change context at {index}: {err}"
        ))
    });
    let kind = match context.change() {
        Change::Add => MemberChange::Add,
        Change::Remove => MemberChange::Remove,
        Change::Promote => MemberChange::Promote,
        Change::Update => MemberChange::Update,
    };
    ConfChangeItem {
        change,
        kind,
        member: context.member.unwrap_or_default(),
        request_id: context.request_id,
    }
}

impl Actor for Applier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
    }
}

/// Committed entries, in log order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyEntries {
    pub entries: Vec<Entry>,
}

impl Handler<ApplyEntries> for Applier {
    type Result = ();

    fn handle(&mut self, msg: ApplyEntries, ctx: &mut Context<Self>) {
        self.queue.extend(msg.entries);
        self.apply_queued(ctx);
    }
}
