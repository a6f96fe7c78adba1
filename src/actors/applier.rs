//! The applier: takes committed raft entries in order, decodes them, and has
//! the MVCC store apply everything that queued up in ONE write transaction.
//! Then it triggers each waiting request with its result and tells the raft
//! node how far it has applied.

use actix::prelude::*;
use prost::Message as _;
use raft::eraftpb::{Entry, EntryType};

use super::frontend::{FrontEnd, Trigger};
use super::mvcc_store::{ApplyBatch, ApplyItem, MvccWriter};
use super::raft_node::{Applied, Durable, RaftNode};
use crate::proto::etcdserverpb::InternalRaftRequest;

pub struct Applier {
    mvcc: Addr<MvccWriter>,
    frontend: Addr<FrontEnd>,
    raft: Addr<RaftNode>,
    queue: Vec<Entry>,
    /// A batch is being applied; entries arriving meanwhile form the next one.
    busy: bool,
}

impl Applier {
    pub fn new(mvcc: Addr<MvccWriter>, frontend: Addr<FrontEnd>, raft: Addr<RaftNode>) -> Self {
        Applier {
            mvcc,
            frontend,
            raft,
            queue: Vec::new(),
            busy: false,
        }
    }

    fn apply_queued(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.queue.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.queue);
        let last_index = entries.last().map(Entry::get_index).unwrap_or_default();
        let items = entries.iter().filter_map(decode_entry).collect();
        self.busy = true;
        let _span =
            tracing::debug_span!("apply.batch", entries = entries.len(), last_index).entered();
        self.mvcc
            .send(ApplyBatch { items, last_index })
            .into_actor(self)
            .map(move |result, applier, ctx| {
                match result {
                    Ok(Ok(applied)) => {
                        applier.frontend.do_send(Trigger {
                            results: applied.outcomes,
                        });
                        applier.raft.do_send(Applied { index: last_index });
                        if let Some(index) = applied.durable_index {
                            applier.raft.do_send(Durable { index });
                        }
                    }
                    // A batch that cannot be applied leaves the state machine
                    // behind the log: stop rather than serve stale data.
                    Ok(Err(err)) => fatal(&format!("apply failed at index {last_index}: {err}")),
                    Err(err) => fatal(&format!("MVCC store gone: {err}")),
                }
                applier.busy = false;
                applier.apply_queued(ctx);
            })
            .spawn(ctx);
    }
}

fn fatal(msg: &str) -> ! {
    tracing::error!("{msg}; exiting");
    std::process::exit(1);
}

/// Empty entries (a new leader's no-op) and conf changes carry no request.
fn decode_entry(entry: &Entry) -> Option<ApplyItem> {
    if entry.get_entry_type() != EntryType::EntryNormal || entry.get_data().is_empty() {
        return None;
    }
    match InternalRaftRequest::decode(entry.get_data()) {
        Ok(request) => Some(ApplyItem {
            index: entry.get_index(),
            request,
        }),
        Err(err) => fatal(&format!(
            "undecodable entry at index {}: {err}",
            entry.get_index()
        )),
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
