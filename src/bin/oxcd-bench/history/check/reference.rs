//! The reference log: the events of every watch stream merged by revision, one event per
//! (revision, key). Nothing but the run writes under the prefix, so every revision after the
//! initial snapshot up to the highest one seen must have at least one event.

use super::describe;
use super::keyrange::KeyRange;
use super::violations::Violations;
use crate::history::{EventKind, History, Kv};

#[derive(Debug, Clone, Copy)]
pub struct RefEvent<'h> {
    pub kind: EventKind,
    pub kv: &'h Kv,
    /// The first watcher that reported it, for messages.
    pub watcher: u64,
}

#[derive(Debug)]
pub struct RefRevision<'h> {
    pub rev: i64,
    /// Sorted by key, one per key.
    pub events: Vec<RefEvent<'h>>,
}

impl<'h> RefRevision<'h> {
    pub fn event(&self, key: &str) -> Option<&RefEvent<'h>> {
        self.events
            .binary_search_by(|e| e.kv.key.as_str().cmp(key))
            .ok()
            .and_then(|i| self.events.get(i))
    }
}

#[derive(Debug)]
pub struct Reference<'h> {
    /// Sorted by revision; only revisions after the initial snapshot.
    pub revisions: Vec<RefRevision<'h>>,
    /// (key, index in `revisions`, index in its events), sorted by key then revision: the
    /// events of a narrow watch without walking every revision.
    by_key: Vec<(&'h str, usize, usize)>,
    /// Events in `revisions[..i]`: the cost of walking a window of revisions.
    before: Vec<usize>,
    /// The highest revision seen anywhere.
    pub max_revision: i64,
}

/// Same event as far as a watch can tell: a delete's kv carries only its key and revision.
pub fn same_event(kind: EventKind, kv: &Kv, other_kind: EventKind, other: &Kv) -> bool {
    kind == other_kind
        && match kind {
            EventKind::Put => kv == other,
            EventKind::Delete => kv.key == other.key && kv.mod_revision == other.mod_revision,
        }
}

impl<'h> Reference<'h> {
    pub fn build(history: &'h History, highest: i64, v: &mut Violations) -> Reference<'h> {
        let initial = history.initial.revision;
        let mut all: Vec<(i64, RefEvent<'h>)> = history
            .watches
            .iter()
            .flat_map(|s| {
                s.responses.iter().flat_map(move |r| {
                    r.events.iter().map(move |e| {
                        let event = RefEvent {
                            kind: e.kind,
                            kv: &e.kv,
                            watcher: s.watcher,
                        };
                        (e.kv.mod_revision, event)
                    })
                })
            })
            // Events up to the snapshot are in it already, and its state before them is unknown.
            .filter(|(rev, _)| *rev > initial)
            .collect();
        // Stable: for one (revision, key) the earliest stream's event comes first and wins.
        all.sort_by(|a, b| (a.0, &a.1.kv.key).cmp(&(b.0, &b.1.kv.key)));

        let mut revisions: Vec<RefRevision<'h>> = Vec::new();
        let mut i = 0;
        while let Some(&(rev, first)) = all.get(i) {
            let mut j = i + 1;
            let mut disagreed = false;
            while let Some(&(r, other)) = all.get(j) {
                if r != rev || other.kv.key != first.kv.key {
                    break;
                }
                if !disagreed && !same_event(first.kind, first.kv, other.kind, other.kv) {
                    disagreed = true;
                    v.push(format!(
                        "watchers disagree: revision {rev} key {}: watcher {} saw {}, watcher {} saw {}",
                        describe::text(&first.kv.key),
                        first.watcher,
                        describe::event(first.kind, first.kv),
                        other.watcher,
                        describe::event(other.kind, other.kv)
                    ));
                }
                j += 1;
            }
            match revisions.last_mut() {
                Some(last) if last.rev == rev => last.events.push(first),
                _ => revisions.push(RefRevision {
                    rev,
                    events: vec![first],
                }),
            }
            i = j;
        }

        let max_revision = revisions.last().map_or(highest, |r| r.rev.max(highest));
        report_gaps(initial, max_revision, &revisions, v);

        let mut by_key = Vec::new();
        let mut before = Vec::with_capacity(revisions.len() + 1);
        let mut count = 0;
        for (ri, revision) in revisions.iter().enumerate() {
            before.push(count);
            count += revision.events.len();
            for (ei, e) in revision.events.iter().enumerate() {
                by_key.push((e.kv.key.as_str(), ri, ei));
            }
        }
        before.push(count);
        by_key.sort();
        Reference {
            revisions,
            by_key,
            before,
            max_revision,
        }
    }

    /// Every key with an event (sorted, with repeats).
    pub fn keys(&self) -> impl Iterator<Item = &'h str> + '_ {
        self.by_key.iter().map(|e| e.0)
    }

    pub fn at(&self, rev: i64) -> Option<&RefRevision<'h>> {
        self.revisions
            .binary_search_by_key(&rev, |r| r.rev)
            .ok()
            .and_then(|i| self.revisions.get(i))
    }

    /// Calls `f` with every event under `range` with a revision in `[from, to]`.
    pub fn for_each_under(
        &self,
        range: KeyRange<'_>,
        from: i64,
        to: i64,
        mut f: impl FnMut(i64, &RefEvent<'h>),
    ) {
        let lo = self.revisions.partition_point(|r| r.rev < from);
        let hi = self.revisions.partition_point(|r| r.rev <= to).max(lo);
        let window_cost =
            self.before.get(hi).copied().unwrap_or(0) - self.before.get(lo).copied().unwrap_or(0);
        let (start, end) = range.slice_of(&self.by_key, |e| e.0);
        // Walk whichever is shorter: the keys' whole histories or the window's revisions.
        if end - start < window_cost {
            for &(_, ri, ei) in self.by_key.get(start..end).unwrap_or_default() {
                let Some(revision) = self.revisions.get(ri) else {
                    continue;
                };
                if (from..=to).contains(&revision.rev) {
                    if let Some(e) = revision.events.get(ei) {
                        f(revision.rev, e);
                    }
                }
            }
        } else {
            for revision in self.revisions.get(lo..hi).unwrap_or_default() {
                for e in revision.events.iter().filter(|e| range.contains(&e.kv.key)) {
                    f(revision.rev, e);
                }
            }
        }
    }
}

/// Revisions in `(initial, max]` that no watch reported.
fn report_gaps(initial: i64, max: i64, revisions: &[RefRevision<'_>], v: &mut Violations) {
    let mut gaps = Vec::new();
    let mut expected = initial + 1;
    for revision in revisions {
        if revision.rev > expected {
            gaps.push((expected, revision.rev - 1));
        }
        expected = revision.rev + 1;
    }
    if expected <= max {
        gaps.push((expected, max));
    }
    for (n, (from, to)) in gaps.into_iter().enumerate() {
        // After the first gap the state is unknown, so only the first one stops the replay.
        let note = if n == 0 {
            "; reads at or after it are not checked"
        } else {
            ""
        };
        if from == to {
            v.push(format!(
                "reference gap: revision {from} has no event in any watch{note}"
            ));
        } else {
            v.push(format!(
                "reference gap: revisions {from} to {to} ({} revisions) have no event in any watch{note}",
                to - from + 1
            ));
        }
    }
}
