//! Checking a recorded history against what etcd promises.
//!
//! The watches of the run, merged, are the reference log of what the cluster did (module
//! `reference`). Replaying it from the initial snapshot gives the state at every revision
//! (`state`, `replay`), against which every answer is compared (`operations`, `sim`). Every
//! event in it must come from exactly one request (`attribution`); answers must respect real
//! time (`realtime`); every watch stream must keep etcd's watch guarantees (`watches`).
//!
//! A history too large to hold twice is fine: the checker borrows the history and keeps one
//! state, moving it forward revision by revision while it answers the reads in revision
//! order.

mod attribution;
mod describe;
mod keyrange;
mod operations;
mod realtime;
mod reference;
mod replay;
mod sim;
mod state;
mod violations;
mod watches;

#[cfg(test)]
mod tests;

use super::History;
use serde::Serialize;

/// What `check` found.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub operations: usize,
    /// Operations whose outcome is unknown (they failed or timed out).
    pub unknown: usize,
    pub watch_streams: usize,
    pub watch_events: usize,
    /// The last revision seen in any answer or event.
    pub revisions: i64,
    /// One sentence per broken guarantee, kind first ("stale read: ..."); a long list is cut
    /// short and ends with a line counting the rest.
    pub violations: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Check a whole history.
pub fn check(history: &History) -> Report {
    let mut violations = violations::Violations::default();
    let mut ops = operations::classify(history);
    let reference =
        reference::Reference::build(history, highest_revision(history), &mut violations);
    let mut attribution = attribution::Attribution::new(history);
    replay::run(
        history,
        &reference,
        &mut ops,
        &mut attribution,
        &mut violations,
    );
    attribution.check_acknowledged(history, &reference, &ops, &mut violations);
    realtime::check(history, &ops, &mut violations);
    watches::check(history, &reference, &mut violations);
    Report {
        operations: history.operations.len(),
        unknown: history
            .operations
            .iter()
            .filter(|op| op.outcome.is_err())
            .count(),
        watch_streams: history.watches.len(),
        watch_events: history
            .watches
            .iter()
            .flat_map(|s| &s.responses)
            .map(|r| r.events.len())
            .sum(),
        revisions: reference.max_revision,
        violations: violations.into_list(),
    }
}

/// The highest revision any answer or watch response carries: every revision up to it
/// happened, so the reference must have it.
fn highest_revision(history: &History) -> i64 {
    let answers = history
        .operations
        .iter()
        .filter_map(|op| op.outcome.as_ref().ok())
        .map(|r| r.revision());
    let watched = history
        .watches
        .iter()
        .flat_map(|s| &s.responses)
        .flat_map(|r| {
            std::iter::once(r.revision).chain(r.events.iter().map(|e| e.kv.mod_revision))
        });
    answers
        .chain(watched)
        .fold(history.initial.revision, i64::max)
}
