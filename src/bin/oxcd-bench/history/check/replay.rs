//! The replay: one state moved from the initial snapshot through the reference revision by
//! revision. Before each revision it checks what needs the state before it (the watch events
//! of that revision, the attribution of its deletes); after it, the answers that read it.
//! Answers are visited sorted by the revision they need, so no past state is kept.

use super::attribution::Attribution;
use super::describe;
use super::operations::{queries, run_query, OpInfo};
use super::reference::{RefRevision, Reference};
use super::state::State;
use super::violations::Violations;
use super::watches;
use crate::history::{EventKind, History};

pub fn run<'h>(
    history: &'h History,
    reference: &Reference<'h>,
    infos: &mut [OpInfo],
    attribution: &mut Attribution<'h>,
    v: &mut Violations,
) {
    let initial = history.initial.revision;
    let queries = queries(history, infos, v);
    let events = watch_events(history);
    let compactions = Compactions::of(history);
    let mut next_query = queries.partition_point(|q| q.at < initial);
    let mut next_event = 0;
    // `None` once a revision is missing: the state after it is unknown.
    let universe = history
        .initial
        .kvs
        .iter()
        .map(|kv| kv.key.as_str())
        .chain(reference.keys());
    let mut state = Some(State::new(&history.initial.kvs, universe));
    let run_queries = |state: &State, at: i64, next: &mut usize, v: &mut Violations| {
        while let Some(q) = queries.get(*next).filter(|q| q.at <= at) {
            if q.at == at {
                if let Some(op) = history.operations.get(q.op) {
                    run_query(op, at, state, v);
                }
            }
            *next += 1;
        }
    };
    if let Some(st) = &state {
        run_queries(st, initial, &mut next_query, v);
    }
    let mut expected = initial + 1;
    for revision in &reference.revisions {
        if revision.rev != expected {
            state = None;
        }
        expected = revision.rev + 1;
        while events.get(next_event).is_some_and(|e| e.0 < revision.rev) {
            next_event += 1;
        }
        while let Some(&(rev, s, r, e)) = events.get(next_event).filter(|e| e.0 == revision.rev) {
            if let (Some(st), Some(stream)) = (&state, history.watches.get(s)) {
                if let Some(response) = stream.responses.get(r) {
                    if let Some(event) = response.events.get(e) {
                        let compacted = compactions.asked_before(response.at);
                        watches::check_against_state(
                            stream, response, event, rev, st, compacted, v,
                        );
                    }
                }
            }
            next_event += 1;
        }
        attribution.explain(history, revision, state.as_ref(), infos, v);
        if let Some(st) = &mut state {
            apply(revision, st, v);
            run_queries(st, revision.rev, &mut next_query, v);
        }
    }
}

/// The compactions asked for (whatever their outcome: an unknown one may have run), by
/// the time they were sent, with the highest revision asked so far.
struct Compactions(Vec<(u64, i64)>);

impl Compactions {
    fn of(history: &History) -> Compactions {
        let mut asked: Vec<(u64, i64)> = history
            .operations
            .iter()
            .filter_map(|op| match op.request {
                crate::history::Request::Compact { revision } => Some((op.invoke, revision)),
                _ => None,
            })
            .collect();
        asked.sort();
        let mut highest = 0;
        for (_, rev) in &mut asked {
            highest = highest.max(*rev);
            *rev = highest;
        }
        Compactions(asked)
    }

    /// The highest revision a compaction sent before `time` asked for (0: none).
    fn asked_before(&self, time: u64) -> i64 {
        let n = self.0.partition_point(|(t, _)| *t < time);
        n.checked_sub(1)
            .and_then(|i| self.0.get(i))
            .map_or(0, |(_, rev)| *rev)
    }
}

/// (revision, stream, response, event) of every watch event after the snapshot, by revision.
fn watch_events(history: &History) -> Vec<(i64, usize, usize, usize)> {
    let mut all = Vec::new();
    for (s, stream) in history.watches.iter().enumerate() {
        for (r, response) in stream.responses.iter().enumerate() {
            for (e, event) in response.events.iter().enumerate() {
                if event.kv.mod_revision > history.initial.revision {
                    all.push((event.kv.mod_revision, s, r, e));
                }
            }
        }
    }
    all.sort_unstable();
    all
}

/// Apply one revision, checking each event is consistent with the state before it.
fn apply(revision: &RefRevision<'_>, state: &mut State, v: &mut Violations) {
    let rev = revision.rev;
    for e in &revision.events {
        let key = &e.kv.key;
        match e.kind {
            EventKind::Put => {
                let old = state.get(key);
                let (create, version) =
                    old.map_or((rev, 1), |o| (o.create_revision, o.version + 1));
                if e.kv.create_revision != create || e.kv.version != version {
                    let before = old.map_or_else(
                        || "was absent".to_string(),
                        |o| {
                            format!(
                                "had create_revision {}, version {}",
                                o.create_revision, o.version
                            )
                        },
                    );
                    v.push(format!(
                        "inconsistent event: revision {rev} has {}, but before it {} {before}, so it needs create_revision {create}, version {version} (seen by watcher {})",
                        describe::event(e.kind, e.kv),
                        describe::text(key),
                        e.watcher
                    ));
                }
                state.put(e.kv.clone());
            }
            EventKind::Delete => {
                if state.delete(key).is_none() {
                    v.push(format!(
                        "inconsistent event: revision {rev} deletes {}, which did not exist (seen by watcher {})",
                        describe::text(key),
                        e.watcher
                    ));
                }
            }
        }
    }
}
