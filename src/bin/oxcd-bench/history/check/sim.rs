//! What a request should have answered, computed on the replayed state: a view of the state
//! plus the writes a txn has made so far (a txn's later requests see its earlier writes).

use super::keyrange::KeyRange;
use super::state::State;
use crate::history::{Compare, CompareTarget, Kv, Request, Response};
use std::collections::BTreeMap;

pub struct View<'s> {
    state: &'s State,
    /// Writes of the request being simulated; `None` is a delete.
    overlay: BTreeMap<String, Option<Kv>>,
    /// The revision writes get (and answers carry).
    rev: i64,
}

/// The requests a txn branch really sends (the recorder drops the others).
pub fn branch_ops(branch: &[Request]) -> impl Iterator<Item = &Request> {
    branch.iter().filter(|r| {
        matches!(
            r,
            Request::Range { .. }
                | Request::Put { .. }
                | Request::Delete { .. }
                | Request::Txn { .. }
        )
    })
}

impl<'s> View<'s> {
    pub fn new(state: &'s State, rev: i64) -> View<'s> {
        View {
            state,
            overlay: BTreeMap::new(),
            rev,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Kv> {
        match self.overlay.get(key) {
            Some(written) => written.as_ref(),
            None => self.state.get(key),
        }
    }

    /// The keys in `range` in key order.
    fn range(&self, range: KeyRange<'_>) -> Vec<&Kv> {
        if self.overlay.is_empty() {
            return self.state.range(range).collect();
        }
        let mut merged: BTreeMap<&str, &Kv> = self
            .state
            .range(range)
            .map(|kv| (kv.key.as_str(), kv))
            .collect();
        for (key, written) in self.overlay.iter().filter(|(k, _)| range.contains(k)) {
            match written {
                Some(kv) => {
                    merged.insert(key.as_str(), kv);
                }
                None => {
                    merged.remove(key.as_str());
                }
            }
        }
        merged.into_values().collect()
    }

    pub fn holds(&self, c: &Compare) -> bool {
        let kv = self.get(&c.key);
        // A missing key has revisions and version 0 and no value.
        match &c.target {
            CompareTarget::ModRevision(n) => kv.map_or(0, |kv| kv.mod_revision) == *n,
            CompareTarget::CreateRevision(n) => kv.map_or(0, |kv| kv.create_revision) == *n,
            CompareTarget::Version(n) => kv.map_or(0, |kv| kv.version) == *n,
            CompareTarget::Value(v) => kv.is_some_and(|kv| &kv.value == v),
        }
    }

    /// What the key actually has for a compare's target, for messages.
    pub fn actual(&self, c: &Compare) -> String {
        let kv = self.get(&c.key);
        match &c.target {
            CompareTarget::ModRevision(_) => kv.map_or(0, |kv| kv.mod_revision).to_string(),
            CompareTarget::CreateRevision(_) => kv.map_or(0, |kv| kv.create_revision).to_string(),
            CompareTarget::Version(_) => kv.map_or(0, |kv| kv.version).to_string(),
            CompareTarget::Value(_) => kv.map_or_else(
                || "absent".to_string(),
                |kv| super::describe::text(&kv.value),
            ),
        }
    }

    /// The answer `request` should get here; `None` for requests that are not key-value
    /// requests (or a txn's range at another revision, which this view cannot answer).
    pub fn exec(&mut self, request: &Request) -> Option<Response> {
        match request {
            Request::Range {
                key,
                end,
                limit,
                keys_only,
                count_only,
                ..
            } => Some(self.range_answer(KeyRange::new(key, end), *limit, *keys_only, *count_only)),
            Request::Put { key, value, lease } => {
                let old = self.get(key);
                let kv = Kv {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: old.map_or(self.rev, |o| o.create_revision),
                    mod_revision: self.rev,
                    version: old.map_or(1, |o| o.version + 1),
                    lease: *lease,
                };
                self.overlay.insert(key.clone(), Some(kv));
                Some(Response::Put { revision: self.rev })
            }
            Request::Delete { key } => {
                let deleted = if self.get(key).is_some() {
                    self.overlay.insert(key.clone(), None);
                    1
                } else {
                    0
                };
                Some(Response::Delete {
                    revision: self.rev,
                    deleted,
                })
            }
            Request::Txn {
                compares,
                success,
                failure,
            } => {
                let succeeded = compares.iter().all(|c| self.holds(c));
                let branch = if succeeded { success } else { failure };
                let mut results = Vec::new();
                for r in branch_ops(branch) {
                    // A range at another revision reads a state this view does not have.
                    if matches!(r, Request::Range { revision, .. } if *revision > 0) {
                        return None;
                    }
                    results.push(self.exec(r)?);
                }
                Some(Response::Txn {
                    revision: self.rev,
                    succeeded,
                    results,
                })
            }
            Request::LeaseGrant { .. } | Request::LeaseRevoke { .. } | Request::Compact { .. } => {
                None
            }
        }
    }

    fn range_answer(
        &self,
        range: KeyRange<'_>,
        limit: i64,
        keys_only: bool,
        count_only: bool,
    ) -> Response {
        let take = if count_only {
            0
        } else if limit > 0 {
            usize::try_from(limit).unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        let answer = |kv: &Kv| {
            let mut kv = kv.clone();
            if keys_only {
                kv.value.clear();
            }
            kv
        };
        // Clone only what the answer holds; the state counts a range without walking it.
        let (count, kvs): (usize, Vec<Kv>) = if self.overlay.is_empty() {
            let kvs = self.state.range(range).take(take).map(answer).collect();
            (self.state.count(range), kvs)
        } else {
            let all = self.range(range);
            (all.len(), all.into_iter().take(take).map(answer).collect())
        };
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        if count_only {
            return Response::Range {
                revision: self.rev,
                kvs,
                count,
                more: false,
            };
        }
        Response::Range {
            revision: self.rev,
            kvs,
            count,
            more: limit > 0 && count > limit,
        }
    }
}
