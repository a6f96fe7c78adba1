//! Operations: what each one is known to have done (its revision, whether it wrote), the
//! writes each one may have made, and the check of its answer against the replayed state.

use super::describe;
use super::sim::{branch_ops, View};
use super::state::State;
use super::violations::Violations;
use crate::history::{History, Kv, Operation, Request, Response};

/// What the checker knows of one operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpInfo {
    /// The revision it read or wrote: the header revision of an answer, or the revision the
    /// reference shows an unknown-outcome write at.
    pub rev: Option<i64>,
    /// It made revision `rev`.
    pub wrote: bool,
    /// It was answered.
    pub ok: bool,
    /// A serializable range: it may read a past state, so real time does not bind it.
    pub serializable: bool,
}

/// Whether a write inside a request happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The answer says it happened (a delete that deleted something).
    Done,
    /// The answer says it did not (a txn branch not taken, a delete that found nothing).
    NotDone,
    /// Outcome unknown.
    Maybe,
}

#[derive(Debug, Clone, Copy)]
pub enum Write<'h> {
    Put { value: &'h str, lease: i64 },
    Delete,
}

/// One put or delete inside an operation.
#[derive(Debug, Clone, Copy)]
pub struct Site<'h> {
    pub op: usize,
    pub key: &'h str,
    pub write: Write<'h>,
    pub fate: Fate,
}

pub fn classify(history: &History) -> Vec<OpInfo> {
    let sites = sites(history);
    let mut infos: Vec<OpInfo> = history
        .operations
        .iter()
        .map(|op| match &op.outcome {
            Ok(response) => OpInfo {
                rev: Some(response.revision()),
                wrote: false,
                ok: true,
                serializable: matches!(
                    op.request,
                    Request::Range {
                        serializable: true,
                        ..
                    }
                ),
            },
            Err(_) => OpInfo::default(),
        })
        .collect();
    for site in sites.iter().filter(|s| s.fate == Fate::Done) {
        if let Some(info) = infos.get_mut(site.op) {
            info.wrote = true;
        }
    }
    infos
}

/// Every put and delete of every operation, with what its answer says became of it.
pub fn sites(history: &History) -> Vec<Site<'_>> {
    let mut out = Vec::new();
    for (i, op) in history.operations.iter().enumerate() {
        match &op.outcome {
            Ok(response) => walk(i, &op.request, Some(response), Fate::Done, &mut out),
            Err(_) => walk(i, &op.request, None, Fate::Maybe, &mut out),
        }
    }
    out
}

/// `fate` is what became of `request` as a whole; `response` its answer when known.
fn walk<'h>(
    op: usize,
    request: &'h Request,
    response: Option<&'h Response>,
    fate: Fate,
    out: &mut Vec<Site<'h>>,
) {
    match request {
        Request::Put { key, value, lease } => {
            // An answer of the wrong shape tells nothing.
            let fate = match (fate, response) {
                (Fate::Done, Some(Response::Put { .. })) => Fate::Done,
                (Fate::Done, _) => Fate::Maybe,
                (f, _) => f,
            };
            out.push(Site {
                op,
                key,
                write: Write::Put {
                    value,
                    lease: *lease,
                },
                fate,
            });
        }
        Request::Delete { key } => {
            let fate = match (fate, response) {
                (Fate::Done, Some(Response::Delete { deleted, .. })) if *deleted > 0 => Fate::Done,
                (Fate::Done, Some(Response::Delete { .. })) => Fate::NotDone,
                (Fate::Done, _) => Fate::Maybe,
                (f, _) => f,
            };
            out.push(Site {
                op,
                key,
                write: Write::Delete,
                fate,
            });
        }
        Request::Txn {
            success, failure, ..
        } => match (fate, response) {
            (
                Fate::Done,
                Some(Response::Txn {
                    succeeded, results, ..
                }),
            ) => {
                let (taken, other) = if *succeeded {
                    (success, failure)
                } else {
                    (failure, success)
                };
                for (i, r) in branch_ops(taken).enumerate() {
                    // Missing results leave their request unknown; `check` reports the count.
                    let fate = if results.get(i).is_some() {
                        Fate::Done
                    } else {
                        Fate::Maybe
                    };
                    walk(op, r, results.get(i), fate, out);
                }
                for r in branch_ops(other) {
                    walk(op, r, None, Fate::NotDone, out);
                }
            }
            (f, _) => {
                let f = if f == Fate::Done { Fate::Maybe } else { f };
                for r in branch_ops(success).chain(branch_ops(failure)) {
                    walk(op, r, None, f, out);
                }
            }
        },
        Request::Range { .. }
        | Request::LeaseGrant { .. }
        | Request::LeaseRevoke { .. }
        | Request::Compact { .. } => {}
    }
}

/// A check that needs the state after revision `at`.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub at: i64,
    pub op: usize,
}

/// The state checks of the answered operations, sorted by the revision they need.
pub fn queries(history: &History, infos: &[OpInfo], v: &mut Violations) -> Vec<Query> {
    let mut queries = Vec::new();
    for (i, op) in history.operations.iter().enumerate() {
        let Ok(response) = &op.outcome else { continue };
        let header = response.revision();
        let wrote = infos.get(i).is_some_and(|info| info.wrote);
        let at = match &op.request {
            Request::Range { revision, .. } if *revision > header => {
                v.push(format!(
                    "wrong read: {} asked for revision {revision}, above its header revision {header}",
                    describe::op(op)
                ));
                continue;
            }
            Request::Range { revision, .. } if *revision > 0 => *revision,
            Request::Range { .. } | Request::LeaseRevoke { .. } => header,
            // A write is checked against the state it changed, a no-op against the state it saw.
            Request::Delete { .. } | Request::Txn { .. } if wrote => header - 1,
            Request::Delete { .. } | Request::Txn { .. } => header,
            // A put always writes and answers nothing to check; the rest answer nothing.
            Request::Put { .. } | Request::LeaseGrant { .. } | Request::Compact { .. } => continue,
        };
        queries.push(Query { at, op: i });
    }
    queries.sort_by_key(|q| q.at);
    queries
}

/// Check `op`'s answer against `state`, the state after revision `at`.
pub fn run_query(op: &Operation, at: i64, state: &State, v: &mut Violations) {
    let Ok(actual) = &op.outcome else { return };
    let header = actual.revision();
    if let Request::LeaseRevoke { id } = &op.request {
        // Once a lease is revoked no key can hold it.
        if let Some(key) = state.with_lease(*id).next() {
            v.push(format!(
                "lease revoke: {} answered at revision {header}, but {} still holds the lease then",
                describe::op(op),
                describe::text(key)
            ));
        }
        return;
    }
    let mut view = View::new(state, header);
    let Some(expected) = view.exec(&op.request) else {
        return;
    };
    let Some((kind, detail)) = diff(&expected, actual) else {
        return;
    };
    // A write is checked against the state before its revision, so say which one was used.
    let against = if at == header {
        String::new()
    } else {
        format!(" (checked against revision {at})")
    };
    let mut message = format!(
        "{kind}: {} answered at revision {header}{against}: {detail}",
        describe::op(op)
    );
    if let (Request::Txn { compares, .. }, Response::Txn { succeeded, .. }) = (&op.request, actual)
    {
        if matches!(expected, Response::Txn { succeeded: s, .. } if s != *succeeded) {
            let fresh = View::new(state, header);
            let found: Vec<String> = compares
                .iter()
                .map(|c| format!("{} is {}", describe::compare(c), fresh.actual(c)))
                .collect();
            message.push_str(&format!("; at revision {at}: {}", found.join(", ")));
        }
    }
    v.push(message);
}

fn response_name(r: &Response) -> &'static str {
    match r {
        Response::Range { .. } => "range",
        Response::Put { .. } => "put",
        Response::Delete { .. } => "delete",
        Response::Txn { .. } => "txn",
        Response::LeaseGrant { .. } => "lease grant",
        Response::LeaseRevoke { .. } => "lease revoke",
        Response::Compact { .. } => "compact",
    }
}

/// The first difference between the expected and the actual answer, as (kind, detail).
/// Revisions are left out: the header is checked by the caller's choice of state.
fn diff(expected: &Response, actual: &Response) -> Option<(&'static str, String)> {
    match (expected, actual) {
        (
            Response::Range {
                kvs: want,
                count: want_count,
                more: want_more,
                ..
            },
            Response::Range {
                kvs, count, more, ..
            },
        ) => {
            diff_range(want, *want_count, *want_more, kvs, *count, *more).map(|d| ("wrong read", d))
        }
        (Response::Put { .. }, Response::Put { .. }) => None,
        (Response::Delete { deleted: want, .. }, Response::Delete { deleted, .. }) => {
            (want != deleted).then(|| {
                (
                    "wrong delete",
                    format!("answered deleted={deleted}, the replay deletes {want}"),
                )
            })
        }
        (
            Response::Txn {
                succeeded: want,
                results: want_results,
                ..
            },
            Response::Txn {
                succeeded, results, ..
            },
        ) => {
            if want != succeeded {
                return Some((
                    "wrong txn",
                    format!("answered succeeded={succeeded}, but its compares are {want}"),
                ));
            }
            if want_results.len() != results.len() {
                return Some((
                    "wrong txn",
                    format!(
                        "answered {} results for a branch of {} requests",
                        results.len(),
                        want_results.len()
                    ),
                ));
            }
            want_results
                .iter()
                .zip(results)
                .enumerate()
                .find_map(|(i, (w, a))| {
                    diff(w, a).map(|(kind, d)| (kind, format!("result {}: {d}", i + 1)))
                })
        }
        _ => Some((
            "wrong response",
            format!(
                "a {} answer where a {} answer belongs",
                response_name(actual),
                response_name(expected)
            ),
        )),
    }
}

fn diff_range(
    want: &[Kv],
    want_count: i64,
    want_more: bool,
    kvs: &[Kv],
    count: i64,
    more: bool,
) -> Option<String> {
    for i in 0..want.len().max(kvs.len()) {
        match (kvs.get(i), want.get(i)) {
            (Some(got), Some(w)) if got != w => {
                return Some(format!(
                    "key {} is {}, the replay has {}",
                    i + 1,
                    describe::kv(got),
                    describe::kv(w)
                ));
            }
            (Some(got), None) => {
                return Some(format!(
                    "{} keys, the replay has {}; the first extra is {}",
                    kvs.len(),
                    want.len(),
                    describe::kv(got)
                ));
            }
            (None, Some(w)) => {
                return Some(format!(
                    "{} keys, the replay has {}; the first missing is {}",
                    kvs.len(),
                    want.len(),
                    describe::kv(w)
                ));
            }
            _ => {}
        }
    }
    if count != want_count {
        return Some(format!("count {count}, the replay has {want_count}"));
    }
    if more != want_more {
        return Some(format!("more={more}, the replay says more={want_more}"));
    }
    None
}
