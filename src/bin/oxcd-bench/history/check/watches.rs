//! Watch guarantees, per stream: ordered, unique, atomic, bookmarkable, reliable (no gap up to
//! what the stream vouched for), resumable, filtered; and, against the replayed state (called
//! by the replay), is_create and prev_kv.

use super::describe;
use super::keyrange::KeyRange;
use super::reference::Reference;
use super::state::State;
use super::violations::Violations;
use crate::history::{Event, EventKind, History, WatchResponse, WatchStream};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Gaps reported one by one per stream; the rest are summed up in one line.
const GAPS_PER_STREAM: usize = 5;

pub fn check(history: &History, reference: &Reference<'_>, v: &mut Violations) {
    for stream in &history.watches {
        check_stream(stream, reference, history.initial.revision, v);
    }
}

fn check_stream(stream: &WatchStream, reference: &Reference<'_>, initial: i64, v: &mut Violations) {
    let w = stream.watcher;
    let range = KeyRange::new(&stream.key, &stream.end);
    // The first revision the stream owes: the asked one, or the one after its creation.
    let from = if stream.start_revision > 0 {
        stream.start_revision
    } else {
        match stream
            .responses
            .iter()
            .find(|r| r.created)
            .or(stream.responses.first())
        {
            Some(r) => r.revision + 1,
            None => return,
        }
    };
    let mut seen: HashSet<(i64, &str)> = HashSet::new();
    // Revision to the response that carried it, for atomicity.
    let mut carried_by: HashMap<i64, usize> = HashMap::new();
    let mut split: HashSet<i64> = HashSet::new();
    let mut highest_event = 0;
    let mut first_event = None;
    let mut progress = 0;
    for (ri, response) in stream.responses.iter().enumerate() {
        let at = describe::time(response.at);
        if response.is_progress() {
            if highest_event > response.revision {
                v.push(format!(
                    "watch bookmark: watcher {w}'s progress notification at revision {} ({at}) came after an event at revision {highest_event}",
                    response.revision
                ));
            }
            progress = progress.max(response.revision);
            continue;
        }
        let earlier = highest_event;
        let mut previous = None;
        for e in &response.events {
            let rev = e.kv.mod_revision;
            let key = e.kv.key.as_str();
            let what = describe::event(e.kind, &e.kv);
            first_event.get_or_insert(rev);
            if !range.contains(key) {
                v.push(format!(
                    "watch filter: watcher {w} watching {range} got {what} at revision {rev} ({at})"
                ));
            }
            if rev < from {
                v.push(format!(
                    "watch resume: watcher {w} owes events from revision {from} on, but got {what} at revision {rev} ({at})"
                ));
            }
            if let Some(p) = previous.filter(|p| rev < *p) {
                v.push(format!(
                    "watch order: watcher {w} got {what} at revision {rev} after revision {p} in the same response ({at})"
                ));
            } else if rev < earlier {
                v.push(format!(
                    "watch order: watcher {w} got {what} at revision {rev} ({at}) after revision {earlier} in an earlier response"
                ));
            }
            previous = Some(rev);
            if rev <= progress {
                v.push(format!(
                    "watch bookmark: watcher {w} got {what} at revision {rev} ({at}) after a progress notification at revision {progress}"
                ));
            }
            highest_event = highest_event.max(rev);
            if !seen.insert((rev, key)) {
                v.push(format!(
                    "watch unique: watcher {w} got {what} at revision {rev} twice (again at {at})"
                ));
                continue;
            }
            match carried_by.entry(rev) {
                Entry::Vacant(slot) => {
                    slot.insert(ri);
                }
                Entry::Occupied(first) if *first.get() != ri && split.insert(rev) => {
                    let first_at = stream
                        .responses
                        .get(*first.get())
                        .map_or_else(String::new, |r| describe::time(r.at));
                    v.push(format!(
                        "watch atomic: watcher {w} got revision {rev} split across responses ({first_at} and {at}), {what} in the later one"
                    ));
                }
                Entry::Occupied(_) => {}
            }
        }
    }

    // Reliable: every event under the range in [from, to] is in the stream.
    let to = highest_event.max(progress);
    let mut missed = 0;
    let mut missed_revisions = (i64::MAX, 0);
    reference.for_each_under(range, from.max(initial + 1), to, |rev, e| {
        if seen.contains(&(rev, e.kv.key.as_str())) {
            return;
        }
        missed += 1;
        if missed > GAPS_PER_STREAM {
            missed_revisions = (missed_revisions.0.min(rev), missed_revisions.1.max(rev));
            return;
        }
        // A resumed stream that skipped the start of its history: etcd's "resumable".
        let resumed = match first_event {
            Some(first) if stream.start_revision > 0 && rev < first => format!(
                " (resumed from revision {}, first event at revision {first})",
                stream.start_revision
            ),
            _ => String::new(),
        };
        v.push(format!(
            "watch gap: watcher {w} watching {range} missed revision {rev} key {}: {}{resumed} (stream opened {}, vouched up to revision {to})",
            describe::text(&e.kv.key),
            describe::event(e.kind, e.kv),
            describe::time(stream.opened)
        ));
    });
    if missed > GAPS_PER_STREAM {
        v.push(format!(
            "watch gap: watcher {w} watching {range} missed {} more events (revisions {} to {})",
            missed - GAPS_PER_STREAM,
            missed_revisions.0,
            missed_revisions.1
        ));
    }
}

/// Checks of one event of `stream` at revision `rev` that need `state`, the state before it.
pub fn check_against_state(
    stream: &WatchStream,
    response: &WatchResponse,
    e: &Event,
    rev: i64,
    state: &State,
    compacted: i64,
    v: &mut Violations,
) {
    let w = stream.watcher;
    let at = describe::time(response.at);
    let key = e.kv.key.as_str();
    let before = state.get(key);
    if e.kind == EventKind::Put {
        let creates = e.kv.create_revision == e.kv.mod_revision;
        let first_version = e.kv.version == 1;
        // A creation must look like one in both fields, an update in neither.
        let wrong = if before.is_none() {
            !(creates && first_version)
        } else {
            creates || first_version
        };
        if wrong {
            let was = match before {
                None => "was absent".to_string(),
                Some(kv) => format!("existed as {}", describe::kv(kv)),
            };
            v.push(format!(
                "watch is_create: watcher {w} got {} at revision {rev} ({at}), but {} {was} before it",
                describe::event(e.kind, &e.kv),
                describe::text(key)
            ));
        }
    }
    // etcd's rule: "if the previous KV is already compacted, nothing will be returned";
    // a compaction to `rev` or later, asked before the event arrived, may have removed it.
    let prev_compacted = e.prev_kv.is_none() && compacted >= rev;
    if stream.prev_kv && e.prev_kv.as_ref() != before && !prev_compacted {
        v.push(format!(
            "watch prev_kv: watcher {w} got {} at revision {rev} ({at}) with prev_kv {}, but before it the key held {}",
            describe::event(e.kind, &e.kv),
            describe::maybe_kv(e.prev_kv.as_ref()),
            describe::maybe_kv(before)
        ));
    }
}
