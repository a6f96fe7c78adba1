//! Real time. An operation that returned before another was invoked must have a revision no
//! higher than it (lower, if the later one wrote). Serializable ranges are out of that, but
//! a client's own answers must never go back in revision (sequential consistency).
//!
//! Both checks are one sweep over the operations by invocation time, with the operations
//! that completed before it folded into a running maximum: O(n log n).

use super::describe;
use super::operations::OpInfo;
use super::violations::Violations;
use crate::history::{History, Operation};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    invoke: u64,
    /// `None` for an unknown outcome: it may take effect any time after its invocation.
    complete: Option<u64>,
    rev: i64,
    wrote: bool,
    serializable: bool,
}

pub fn check(history: &History, infos: &[OpInfo], v: &mut Violations) {
    let entries: Vec<Entry> = history
        .operations
        .iter()
        .zip(infos)
        .enumerate()
        .filter_map(|(i, (op, info))| {
            Some(Entry {
                op: i,
                invoke: op.invoke,
                complete: info.ok.then_some(op.complete),
                rev: info.rev?,
                wrote: info.wrote,
                serializable: info.serializable,
            })
        })
        .collect();

    let linearizable: Vec<Entry> = entries
        .iter()
        .filter(|e| !e.serializable)
        .copied()
        .collect();
    sweep(&linearizable, |b, before, _| {
        let Some(a) = before else { return };
        if a.rev > b.rev || (b.wrote && a.rev == b.rev) {
            v.push(message(history, b, a, false));
        }
    });

    // Per client, for the clients that made serializable reads; only pairs with one in them,
    // the linearizable pairs are checked above.
    let mut by_client: BTreeMap<u64, Vec<Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.complete.is_some()) {
        if let Some(op) = history.operations.get(e.op) {
            by_client.entry(op.client).or_default().push(*e);
        }
    }
    for client in by_client.values() {
        if !client.iter().any(|e| e.serializable) {
            continue;
        }
        sweep(client, |b, before, serializable_before| {
            let a = if b.serializable {
                before
            } else {
                serializable_before
            };
            let Some(a) = a else { return };
            if a.rev > b.rev || (b.wrote && a.rev == b.rev) {
                v.push(message(history, b, a, true));
            }
        });
    }
}

/// Calls `f(b, a, s)` for every entry `b` in invocation order, with `a` the entry of highest
/// revision that completed before `b` was invoked and `s` the same among serializable ones.
fn sweep(entries: &[Entry], mut f: impl FnMut(&Entry, Option<&Entry>, Option<&Entry>)) {
    let mut by_invoke: Vec<&Entry> = entries.iter().collect();
    by_invoke.sort_by_key(|e| e.invoke);
    let mut by_complete: Vec<(u64, &Entry)> = entries
        .iter()
        .filter_map(|e| Some((e.complete?, e)))
        .collect();
    by_complete.sort_by_key(|(complete, _)| *complete);
    let mut done = by_complete.iter().peekable();
    let mut best: Option<&Entry> = None;
    let mut best_serializable: Option<&Entry> = None;
    for b in by_invoke {
        while let Some((_, a)) = done.next_if(|(complete, _)| *complete < b.invoke) {
            if best.is_none_or(|m| a.rev > m.rev) {
                best = Some(a);
            }
            if a.serializable && best_serializable.is_none_or(|m| a.rev > m.rev) {
                best_serializable = Some(a);
            }
        }
        f(b, best, best_serializable);
    }
}

/// `own`: `a` is `b`'s client's own earlier operation (the per-client check).
fn message(history: &History, b: &Entry, a: &Entry, own: bool) -> String {
    let name = |e: &Entry| {
        history
            .operations
            .get(e.op)
            .map_or_else(|| format!("operation {}", e.op), describe::op)
    };
    let a_op: Option<&Operation> = history.operations.get(a.op);
    let a_name = match a_op {
        Some(op) if own => format!("its own {}", describe::request(&op.request)),
        _ => name(a),
    };
    let (kind, verb) = match (own, b.wrote) {
        (true, _) => ("sequential", if b.wrote { "wrote" } else { "read" }),
        (false, true) => ("stale write", "wrote"),
        (false, false) => ("stale read", "read"),
    };
    let unknown = if b.complete.is_none() {
        " (outcome unknown; the watches show it)"
    } else {
        ""
    };
    // `describe::op` has the times already; the client's own op is named without them.
    let when = match a.complete {
        Some(t) if own => format!(" at {}", describe::time(t)),
        _ => String::new(),
    };
    format!(
        "{kind}: {} {verb} revision {}{unknown}, but {a_name} had already returned revision {}{when}",
        name(b),
        b.rev,
        a.rev
    )
}
