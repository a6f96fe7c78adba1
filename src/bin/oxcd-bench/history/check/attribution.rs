//! Explaining the reference: every event must come from one operation (a put by the op that
//! sent that key and value, which the loads make unique; a delete by a delete of that key or
//! by the key's lease leaving), one revision must come from one operation, and every write
//! an answer acknowledged must be in the reference at its revision.

use super::describe;
use super::operations::{sites, Fate, OpInfo, Site, Write};
use super::reference::{RefEvent, RefRevision, Reference};
use super::state::State;
use super::violations::Violations;
use crate::history::{EventKind, History, Request};
use std::collections::HashMap;

/// Who made a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Op(usize),
    /// A lease leaving whose revoke is unknown (expiry or an unknown-outcome revoke).
    Lease(i64),
}

pub struct Attribution<'h> {
    sites: Vec<Site<'h>>,
    /// (key, value) to the put sites that send it.
    puts: HashMap<(&'h str, &'h str), Vec<usize>>,
    /// Key to the delete sites of it.
    deletes: HashMap<&'h str, Vec<usize>>,
    /// Lease to the answered revokes of it.
    revokes: HashMap<i64, Vec<usize>>,
    /// The revision of the event each site explained.
    used: Vec<Option<i64>>,
    /// Leases whose keys leave in the revision being explained.
    leaving: Vec<i64>,
    /// Operations that put something: their unique values alone place them, so
    /// a delete of theirs is never taken to explain an event elsewhere.
    putters: std::collections::HashSet<usize>,
}

impl<'h> Attribution<'h> {
    pub fn new(history: &'h History) -> Attribution<'h> {
        let sites = sites(history);
        let mut puts: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        let mut deletes: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, site) in sites.iter().enumerate() {
            match site.write {
                Write::Put { value, .. } => puts.entry((site.key, value)).or_default().push(i),
                Write::Delete => deletes.entry(site.key).or_default().push(i),
            }
        }
        let putters = sites
            .iter()
            .filter(|s| matches!(s.write, Write::Put { .. }))
            .map(|s| s.op)
            .collect();
        let mut revokes: HashMap<i64, Vec<usize>> = HashMap::new();
        for (i, op) in history.operations.iter().enumerate() {
            if let (Request::LeaseRevoke { id }, Ok(_)) = (&op.request, &op.outcome) {
                revokes.entry(*id).or_default().push(i);
            }
        }
        Attribution {
            putters,
            used: vec![None; sites.len()],
            sites,
            puts,
            deletes,
            revokes,
            leaving: Vec::new(),
        }
    }

    /// Explain the events of one revision. `state` is the state before it, when known (after
    /// a reference gap it is not, and deletes of possibly leased keys go unexplained).
    pub fn explain(
        &mut self,
        history: &History,
        revision: &RefRevision<'_>,
        state: Option<&State>,
        infos: &mut [OpInfo],
        v: &mut Violations,
    ) {
        let mut sources = Vec::new();
        self.leaving.clear();
        // Leases whose keys go two or more at once here: a lease leaving, not single deletes.
        let mut lease_deletes: HashMap<i64, usize> = HashMap::new();
        if let Some(st) = state {
            for e in revision
                .events
                .iter()
                .filter(|e| e.kind == EventKind::Delete)
            {
                if let Some(kv) = st.get(&e.kv.key).filter(|kv| kv.lease != 0) {
                    *lease_deletes.entry(kv.lease).or_default() += 1;
                }
            }
        }
        // Puts first: they identify unknown-outcome txns by value, which then explain deletes.
        let puts = revision.events.iter().filter(|e| e.kind == EventKind::Put);
        let deletes = revision
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Delete);
        for e in puts.chain(deletes) {
            let source = match e.kind {
                EventKind::Put => self.explain_put(history, revision.rev, e, infos, v),
                EventKind::Delete => {
                    self.explain_delete(revision.rev, e, state, &lease_deletes, infos, v)
                }
            };
            sources.extend(source);
        }
        sources.sort();
        sources.dedup();
        if let [first, second, ..] = sources[..] {
            v.push(format!(
                "shared revision: revision {} holds writes of {} and {}",
                revision.rev,
                source_text(history, first),
                source_text(history, second)
            ));
        }
        // A lease leaving takes all its keys at once.
        self.leaving.sort();
        self.leaving.dedup();
        if let Some(state) = state {
            for &lease in &self.leaving {
                let left_behind = state.with_lease(lease).find(|key| {
                    revision
                        .event(key)
                        .is_none_or(|e| e.kind != EventKind::Delete)
                });
                if let Some(key) = left_behind {
                    v.push(format!(
                        "lease partial: revision {} removes keys of lease {lease} but not {}, which holds it too",
                        revision.rev,
                        describe::text(key)
                    ));
                }
            }
        }
    }

    /// The first unused site in `candidates` that `pick` accepts.
    fn pick(&self, candidates: &[usize], pick: impl Fn(&Site<'h>) -> bool) -> Option<usize> {
        candidates.iter().copied().find(|&s| {
            self.used.get(s).is_some_and(Option::is_none) && self.sites.get(s).is_some_and(&pick)
        })
    }

    fn explain_put(
        &mut self,
        history: &History,
        rev: i64,
        e: &RefEvent<'_>,
        infos: &mut [OpInfo],
        v: &mut Violations,
    ) -> Option<Source> {
        let event = describe::event(e.kind, e.kv);
        let Some(candidates) = self.puts.get(&(e.kv.key.as_str(), e.kv.value.as_str())) else {
            v.push(format!(
                "phantom write: revision {rev} has {event}, which no operation sent (seen by watcher {})",
                e.watcher
            ));
            return None;
        };
        let candidates = candidates.clone();
        let at_rev = |s: &Site<'h>| infos.get(s.op).is_some_and(|i| i.rev == Some(rev));
        let here = self.pick(&candidates, |s| s.fate == Fate::Done && at_rev(s));
        let maybe = self.pick(&candidates, |s| s.fate == Fate::Maybe);
        // An acknowledged put at another revision: its own check reports it as lost.
        let elsewhere = self.pick(&candidates, |s| s.fate == Fate::Done);
        let Some(chosen) = here.or(maybe).or(elsewhere) else {
            let earlier = candidates
                .iter()
                .find_map(|&s| self.used.get(s).copied().flatten());
            let not_done = candidates
                .iter()
                .find_map(|&s| self.sites.get(s).filter(|s| s.fate == Fate::NotDone));
            if let Some(earlier) = earlier {
                v.push(format!(
                    "duplicate write: revision {rev} has {event}, already written at revision {earlier}"
                ));
            } else if let Some(site) = not_done {
                let op = describe_op(history, site.op);
                v.push(format!(
                    "phantom write: revision {rev} has {event}, but {op} answered that it did not write it"
                ));
            }
            return None;
        };
        let site = *self.sites.get(chosen)?;
        if let Some(used) = self.used.get_mut(chosen) {
            *used = Some(rev);
        }
        if let Write::Put { lease, .. } = site.write {
            if lease != e.kv.lease {
                v.push(format!(
                    "wrong write: revision {rev} has {event}, but {} sent lease {lease}",
                    describe_op(history, site.op)
                ));
            }
        }
        if Some(chosen) == elsewhere && here.is_none() && maybe.is_none() {
            return None;
        }
        if site.fate == Fate::Maybe {
            let info = infos.get_mut(site.op)?;
            match info.rev {
                None => {
                    // Found by its unique value: it happened, at this revision.
                    info.rev = Some(rev);
                    info.wrote = true;
                }
                Some(other) if other != rev => {
                    v.push(format!(
                        "split write: {} has writes at revisions {other} and {rev}",
                        describe_op(history, site.op)
                    ));
                }
                Some(_) => {}
            }
        }
        Some(Source::Op(site.op))
    }

    fn explain_delete(
        &mut self,
        rev: i64,
        e: &RefEvent<'_>,
        state: Option<&State>,
        lease_deletes: &HashMap<i64, usize>,
        infos: &mut [OpInfo],
        v: &mut Violations,
    ) -> Option<Source> {
        let key = e.kv.key.as_str();
        let candidates = self.deletes.get(key).cloned().unwrap_or_default();
        let at_rev = |op: usize| infos.get(op).is_some_and(|i| i.rev == Some(rev));
        if let Some(s) = self.pick(&candidates, |s| s.fate == Fate::Done && at_rev(s.op)) {
            return self.take(s, rev);
        }
        let lease = state
            .and_then(|st| st.get(key))
            .map(|kv| kv.lease)
            .filter(|l| *l != 0);
        if let Some(lease) = lease {
            let revoke = self
                .revokes
                .get(&lease)
                .and_then(|ops| ops.iter().copied().find(|&op| at_rev(op)));
            if let Some(op) = revoke {
                self.leaving.push(lease);
                if let Some(info) = infos.get_mut(op) {
                    info.wrote = true;
                }
                return Some(Source::Op(op));
            }
        }
        // Unknown deletes: one whose op is known to be at this revision first; then, when
        // several keys of one lease go at once, the lease left (a delete request of the
        // loads removes one key); then one whose revision is unknown (not one known to be
        // elsewhere).
        let maybe_here = self.pick(&candidates, |s| s.fate == Fate::Maybe && at_rev(s.op));
        if let Some(s) = maybe_here {
            return self.take(s, rev);
        }
        if let Some(lease) = lease.filter(|l| lease_deletes.get(l).is_some_and(|n| *n > 1)) {
            self.leaving.push(lease);
            return Some(Source::Lease(lease));
        }
        let maybe = self.pick(&candidates, |s| {
            s.fate == Fate::Maybe
                && !self.putters.contains(&s.op)
                && infos.get(s.op).is_some_and(|i| i.rev.is_none())
        });
        if let Some(s) = maybe {
            return self.take(s, rev);
        }
        if let Some(lease) = lease {
            self.leaving.push(lease);
            return Some(Source::Lease(lease));
        }
        // An acknowledged delete at another revision: its own check reports it as lost.
        if let Some(s) = self.pick(&candidates, |s| s.fate == Fate::Done) {
            self.take(s, rev);
            return None;
        }
        // Past a reference gap the key's lease is unknown, so an expiry cannot be ruled out.
        if state.is_some() {
            v.push(format!(
                "phantom write: revision {rev} deletes {}, which no operation deletes and no lease held (seen by watcher {})",
                describe::text(key),
                e.watcher
            ));
        }
        None
    }

    fn take(&mut self, site: usize, rev: i64) -> Option<Source> {
        if let Some(used) = self.used.get_mut(site) {
            *used = Some(rev);
        }
        self.sites.get(site).map(|s| Source::Op(s.op))
    }

    /// Every write an answer acknowledged must be in the reference at the answer's revision.
    pub fn check_acknowledged(
        &self,
        history: &History,
        reference: &Reference<'_>,
        infos: &[OpInfo],
        v: &mut Violations,
    ) {
        for (i, site) in self.sites.iter().enumerate() {
            if site.fate != Fate::Done {
                continue;
            }
            let Some(rev) = infos.get(site.op).and_then(|info| info.rev) else {
                continue;
            };
            if rev <= history.initial.revision {
                continue;
            }
            let Some(revision) = reference.at(rev) else {
                v.push(format!(
                    "lost write: {} was answered at revision {rev}, but no watch saw revision {rev}",
                    describe_op(history, site.op)
                ));
                continue;
            };
            let found = revision.event(site.key).is_some_and(|e| match site.write {
                Write::Put { value, .. } => e.kind == EventKind::Put && e.kv.value == value,
                Write::Delete => e.kind == EventKind::Delete,
            });
            if found {
                continue;
            }
            let what = match site.write {
                Write::Put { value, .. } => {
                    format!("put {}={}", describe::text(site.key), describe::text(value))
                }
                Write::Delete => format!("delete of {}", describe::text(site.key)),
            };
            let elsewhere = match self.used.get(i).copied().flatten() {
                Some(other) if other != rev => format!(" (it is at revision {other})"),
                _ => String::new(),
            };
            v.push(format!(
                "lost write: {} was answered at revision {rev}, but revision {rev} in the watches has no {what}{elsewhere}",
                describe_op(history, site.op)
            ));
        }
    }
}

fn describe_op(history: &History, op: usize) -> String {
    history
        .operations
        .get(op)
        .map_or_else(|| format!("operation {op}"), describe::op)
}

fn source_text(history: &History, source: Source) -> String {
    match source {
        Source::Op(op) => describe_op(history, op),
        Source::Lease(lease) => format!("lease {lease} leaving"),
    }
}
