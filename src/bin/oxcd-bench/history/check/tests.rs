//! The checker on small hand-built histories: a clean one passes (with the right counts), and
//! each planted fault is reported with its kind.

use super::check;
use super::violations::Violations;
use crate::history::{
    Compare, CompareTarget, Event, EventKind, History, Kv, Operation, Request, Response, Snapshot,
    WatchResponse, WatchStream,
};
use std::collections::BTreeMap;

/// A one-node key-value store that records a clean history: every call is one operation that
/// starts and ends before the next one starts.
struct Cluster {
    rev: i64,
    kvs: BTreeMap<String, Kv>,
    /// The state after every revision from the initial one on.
    past: BTreeMap<i64, BTreeMap<String, Kv>>,
    /// Events of every revision after the initial one, with prev_kv.
    log: Vec<(i64, Vec<Event>)>,
    clock: u64,
    next_lease: i64,
    history: History,
}

fn in_range(key: &str, end: &str, k: &str) -> bool {
    match end {
        "" => k == key,
        "\0" => k >= key,
        _ => k >= key && k < end,
    }
}

fn range_of(kvs: &BTreeMap<String, Kv>, request: &Request, header: i64) -> Response {
    let Request::Range {
        key,
        end,
        limit,
        keys_only,
        count_only,
        ..
    } = request
    else {
        panic!("not a range: {request:?}");
    };
    let all: Vec<&Kv> = kvs
        .values()
        .filter(|kv| in_range(key, end, &kv.key))
        .collect();
    let count = all.len() as i64;
    let mut kvs: Vec<Kv> = all.into_iter().cloned().collect();
    let mut more = false;
    if *limit > 0 && count > *limit {
        kvs.truncate(*limit as usize);
        more = true;
    }
    if *keys_only {
        kvs.iter_mut().for_each(|kv| kv.value.clear());
    }
    if *count_only {
        kvs.clear();
        more = false;
    }
    Response::Range {
        revision: header,
        kvs,
        count,
        more,
    }
}

fn set_revision(response: &mut Response, rev: i64) {
    match response {
        Response::Range { revision, .. }
        | Response::Put { revision }
        | Response::Delete { revision, .. }
        | Response::LeaseGrant { revision, .. }
        | Response::LeaseRevoke { revision }
        | Response::Compact { revision } => *revision = rev,
        Response::Txn {
            revision, results, ..
        } => {
            *revision = rev;
            results.iter_mut().for_each(|r| set_revision(r, rev));
        }
    }
}

impl Cluster {
    /// `initial` is written at revisions 2, 3, ... before the recording starts.
    fn new(initial: &[(&str, &str)]) -> Cluster {
        let mut kvs = BTreeMap::new();
        let mut rev = 1;
        for (key, value) in initial {
            rev += 1;
            let kv = Kv {
                key: key.to_string(),
                value: value.to_string(),
                create_revision: rev,
                mod_revision: rev,
                version: 1,
                lease: 0,
            };
            kvs.insert(key.to_string(), kv);
        }
        let history = History {
            load: "test".into(),
            prefix: "k/".into(),
            initial: Snapshot {
                revision: rev,
                kvs: kvs.values().cloned().collect(),
            },
            ..History::default()
        };
        Cluster {
            rev,
            past: BTreeMap::from([(rev, kvs.clone())]),
            kvs,
            log: Vec::new(),
            clock: 0,
            next_lease: 100,
            history,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1_000;
        self.clock
    }

    /// Record an operation with the given outcome; returns its index.
    fn record(
        &mut self,
        client: u64,
        request: Request,
        outcome: Result<Response, String>,
    ) -> usize {
        let invoke = self.tick();
        let complete = self.tick();
        self.history.operations.push(Operation {
            client,
            invoke,
            complete,
            request,
            outcome,
        });
        self.history.operations.len() - 1
    }

    /// Run a request and record its answer.
    fn op(&mut self, client: u64, request: Request) -> Response {
        let response = self.exec(&request);
        self.record(client, request, Ok(response.clone()));
        response
    }

    /// Record an answer without running anything (for planted faults).
    fn answer(&mut self, client: u64, request: Request, response: Response) {
        self.record(client, request, Ok(response));
    }

    /// Record a request that failed; `applied`: it took effect anyway.
    fn unknown(&mut self, client: u64, request: Request, applied: bool) {
        if applied {
            self.exec(&request);
        }
        self.record(client, request, Err("deadline exceeded".into()));
    }

    /// A revision the watches will never show.
    fn skip_revision(&mut self) {
        self.rev += 1;
        self.past.insert(self.rev, self.kvs.clone());
    }

    fn exec(&mut self, request: &Request) -> Response {
        let next = self.rev + 1;
        let mut events = Vec::new();
        let mut response = self.apply(request, next, &mut events);
        if !events.is_empty() {
            self.rev = next;
            self.log.push((next, events));
            self.past.insert(next, self.kvs.clone());
        }
        set_revision(&mut response, self.rev);
        response
    }

    fn holds(&self, c: &Compare) -> bool {
        let kv = self.kvs.get(&c.key);
        match &c.target {
            CompareTarget::ModRevision(n) => kv.map_or(0, |kv| kv.mod_revision) == *n,
            CompareTarget::CreateRevision(n) => kv.map_or(0, |kv| kv.create_revision) == *n,
            CompareTarget::Version(n) => kv.map_or(0, |kv| kv.version) == *n,
            CompareTarget::Value(v) => kv.is_some_and(|kv| &kv.value == v),
        }
    }

    fn delete(&mut self, key: &str, next: i64, events: &mut Vec<Event>) -> i64 {
        let Some(old) = self.kvs.remove(key) else {
            return 0;
        };
        events.push(Event {
            kind: EventKind::Delete,
            kv: Kv {
                key: key.into(),
                mod_revision: next,
                ..Kv::default()
            },
            prev_kv: Some(old),
        });
        1
    }

    fn apply(&mut self, request: &Request, next: i64, events: &mut Vec<Event>) -> Response {
        match request {
            Request::Range { revision, .. } if *revision > 0 => {
                range_of(&self.past[revision], request, 0)
            }
            Request::Range { .. } => range_of(&self.kvs, request, 0),
            Request::Put { key, value, lease } => {
                let old = self.kvs.get(key).cloned();
                let kv = Kv {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: old.as_ref().map_or(next, |o| o.create_revision),
                    mod_revision: next,
                    version: old.as_ref().map_or(1, |o| o.version + 1),
                    lease: *lease,
                };
                self.kvs.insert(key.clone(), kv.clone());
                events.push(Event {
                    kind: EventKind::Put,
                    kv,
                    prev_kv: old,
                });
                Response::Put { revision: 0 }
            }
            Request::Delete { key } => Response::Delete {
                revision: 0,
                deleted: self.delete(key, next, events),
            },
            Request::Txn {
                compares,
                success,
                failure,
            } => {
                let succeeded = compares.iter().all(|c| self.holds(c));
                let branch = if succeeded { success } else { failure };
                let results = branch.iter().map(|r| self.apply(r, next, events)).collect();
                Response::Txn {
                    revision: 0,
                    succeeded,
                    results,
                }
            }
            Request::LeaseGrant { .. } => {
                self.next_lease += 1;
                Response::LeaseGrant {
                    revision: 0,
                    id: self.next_lease,
                }
            }
            Request::LeaseRevoke { id } => {
                let keys: Vec<String> = self
                    .kvs
                    .values()
                    .filter(|kv| kv.lease == *id)
                    .map(|kv| kv.key.clone())
                    .collect();
                for key in keys {
                    self.delete(&key, next, events);
                }
                Response::LeaseRevoke { revision: 0 }
            }
            Request::Compact { .. } => Response::Compact { revision: 0 },
        }
    }

    /// What a range answers at a past revision (header = that revision).
    fn range_at(&self, rev: i64, request: &Request) -> Response {
        range_of(&self.past[&rev], request, rev)
    }

    /// A stream made from the log: created at revision `opened_at`, from `start` (0: right
    /// after `opened_at`), one response per revision.
    fn stream(
        &self,
        watcher: u64,
        (key, end): (&str, &str),
        opened_at: i64,
        start: i64,
        prev_kv: bool,
    ) -> WatchStream {
        let mut responses = vec![WatchResponse {
            at: opened_at as u64 * 1_000,
            revision: opened_at,
            created: true,
            ..WatchResponse::default()
        }];
        let first = if start > 0 { start } else { opened_at + 1 };
        for (rev, events) in self.log.iter().filter(|(rev, _)| *rev >= first) {
            let events: Vec<Event> = events
                .iter()
                .filter(|e| in_range(key, end, &e.kv.key))
                .map(|e| Event {
                    prev_kv: if prev_kv { e.prev_kv.clone() } else { None },
                    ..e.clone()
                })
                .collect();
            if !events.is_empty() {
                responses.push(WatchResponse {
                    at: *rev as u64 * 1_000,
                    revision: *rev,
                    events,
                    ..WatchResponse::default()
                });
            }
        }
        WatchStream {
            watcher,
            key: key.into(),
            end: end.into(),
            start_revision: start,
            prev_kv,
            progress_notify: prev_kv,
            opened: opened_at as u64 * 1_000,
            responses,
            ended: None,
        }
    }

    fn finish(mut self, watches: Vec<WatchStream>) -> History {
        self.history.watches = watches;
        self.history
    }
}

const PREFIX: (&str, &str) = ("k/", "k0");

fn put(key: &str, value: &str) -> Request {
    put_lease(key, value, 0)
}

fn put_lease(key: &str, value: &str, lease: i64) -> Request {
    Request::Put {
        key: key.into(),
        value: value.into(),
        lease,
    }
}

fn del(key: &str) -> Request {
    Request::Delete { key: key.into() }
}

fn range(key: &str, end: &str) -> Request {
    Request::Range {
        key: key.into(),
        end: end.into(),
        limit: 0,
        revision: 0,
        serializable: false,
        keys_only: false,
        count_only: false,
    }
}

fn get(key: &str) -> Request {
    range(key, "")
}

/// A range with its options changed by `f`.
fn range_with(key: &str, end: &str, f: impl FnOnce(&mut Request)) -> Request {
    let mut r = range(key, end);
    f(&mut r);
    r
}

fn cas(key: &str, mod_revision: i64, value: &str) -> Request {
    Request::Txn {
        compares: vec![Compare {
            key: key.into(),
            target: CompareTarget::ModRevision(mod_revision),
        }],
        success: vec![put(key, value)],
        failure: vec![get(key)],
    }
}

/// Find the response of `stream` that carries revision `rev`.
fn response_of(stream: &WatchStream, rev: i64) -> usize {
    stream
        .responses
        .iter()
        .position(|r| r.events.iter().any(|e| e.kv.mod_revision == rev))
        .unwrap_or_else(|| panic!("no response with revision {rev}"))
}

fn progress(rev: i64) -> WatchResponse {
    WatchResponse {
        at: rev as u64 * 1_000 + 500,
        revision: rev,
        ..WatchResponse::default()
    }
}

/// A run with every kind of request; returns the cluster before its watches are made.
///
/// Revisions: 3 initial (k/a, k/b), 4 put k/a, 5 put k/c, 6 CAS k/a, 7 delete k/b, 8 and 9
/// leased puts, 10 lease revoke (two deletes), 11 put k/d, 12 txn putting k/e and k/f.
fn workload() -> Cluster {
    let mut c = Cluster::new(&[("k/a", "a0"), ("k/b", "b0")]);
    c.op(1, put("k/a", "a1"));
    c.op(2, put("k/c", "c1"));
    c.op(1, cas("k/a", 4, "a2"));
    c.op(2, cas("k/a", 4, "a3"));
    c.op(3, del("k/b"));
    c.op(3, del("k/b"));
    let Response::LeaseGrant { id, .. } = c.op(1, Request::LeaseGrant { ttl: 60 }) else {
        panic!("no lease");
    };
    c.op(1, put_lease("k/l1", "l1", id));
    c.op(2, put_lease("k/l2", "l2", id));
    c.op(3, Request::LeaseRevoke { id });
    c.op(1, range_with("k/", "k0", |r| set_limit(r, 2)));
    c.op(2, range_with("k/", "k0", |r| set_flag(r, "count_only")));
    c.op(3, range_with("k/", "\0", |r| set_flag(r, "keys_only")));
    c.op(1, range_with("k/a", "k/d", |r| set_revision_field(r, 5)));
    c.op(4, range_with("k/", "k0", |r| set_flag(r, "serializable")));
    c.op(2, put("k/d", "d1"));
    c.op(
        1,
        Request::Txn {
            compares: Vec::new(),
            success: vec![put("k/e", "e1"), put("k/f", "f1")],
            failure: Vec::new(),
        },
    );
    // A serializable read of a lagging member: a real past state.
    let request = range_with("k/", "k0", |r| set_flag(r, "serializable"));
    let past = c.range_at(8, &request);
    c.answer(5, request, past);
    c.op(4, get("k/e"));
    c
}

fn set_limit(r: &mut Request, n: i64) {
    if let Request::Range { limit, .. } = r {
        *limit = n;
    }
}

fn set_revision_field(r: &mut Request, n: i64) {
    if let Request::Range { revision, .. } = r {
        *revision = n;
    }
}

fn set_flag(r: &mut Request, flag: &str) {
    if let Request::Range {
        serializable,
        keys_only,
        count_only,
        ..
    } = r
    {
        match flag {
            "serializable" => *serializable = true,
            "keys_only" => *keys_only = true,
            "count_only" => *count_only = true,
            _ => panic!("unknown flag {flag}"),
        }
    }
}

/// Watcher 1 from the start with prev_kv and a progress notification after revision 7;
/// watcher 2 resumed from revision 6 when the cluster was at revision 9.
fn watches(c: &Cluster) -> Vec<WatchStream> {
    let mut a = c.stream(1, PREFIX, 3, 0, true);
    let after_7 = response_of(&a, 7) + 1;
    a.responses.insert(after_7, progress(7));
    let b = c.stream(2, PREFIX, 9, 6, false);
    vec![a, b]
}

fn clean_history() -> History {
    let c = workload();
    let w = watches(&c);
    c.finish(w)
}

/// Check and require a violation of `kind`.
fn flagged(history: &History, kind: &str) -> Vec<String> {
    let report = check(history);
    assert!(
        report.violations.iter().any(|v| v.starts_with(kind)),
        "no {kind:?} in {:#?}",
        report.violations
    );
    report.violations
}

#[test]
fn clean_history_passes() {
    let history = clean_history();
    let report = check(&history);
    assert!(report.ok(), "{:#?}", report.violations);
    assert_eq!(report.operations, 19);
    assert_eq!(report.unknown, 0);
    assert_eq!(report.watch_streams, 2);
    // Watcher 1: revisions 4..=12 (11 events); watcher 2: 6..=12 (9 events).
    assert_eq!(report.watch_events, 20);
    assert_eq!(report.revisions, 12);
}

#[test]
fn stale_read() {
    let mut c = workload();
    let Response::Put { revision, .. } = c.op(1, put("k/a", "a9")) else {
        panic!("put");
    };
    // Invoked after the put returned, answered from before it.
    let old = c.range_at(revision - 1, &get("k/a"));
    c.answer(7, get("k/a"), old);
    let w = watches(&c);
    let violations = flagged(&c.finish(w), "stale read");
    assert_eq!(violations.len(), 1, "{violations:#?}");
}

#[test]
fn duplicated_watch_event() {
    let mut history = clean_history();
    let stream = &mut history.watches[0];
    let r = response_of(stream, 5);
    let event = stream.responses[r].events[0].clone();
    stream.responses[r].events.push(event);
    flagged(&history, "watch unique");
}

#[test]
fn watch_gap() {
    let mut history = clean_history();
    let stream = &mut history.watches[1];
    let r = response_of(stream, 7);
    stream.responses.remove(r);
    let violations = flagged(&history, "watch gap");
    assert!(violations[0].contains("revision 7"), "{violations:#?}");
}

#[test]
fn split_revision() {
    let mut history = clean_history();
    let stream = &mut history.watches[0];
    let r = response_of(stream, 12);
    let second = stream.responses[r].events.remove(1);
    let mut later = stream.responses[r].clone();
    later.events = vec![second];
    later.at += 1;
    stream.responses.insert(r + 1, later);
    let violations = flagged(&history, "watch atomic");
    assert_eq!(violations.len(), 1, "{violations:#?}");
}

#[test]
fn wrong_prev_kv() {
    let mut history = clean_history();
    let stream = &mut history.watches[0];
    let r = response_of(stream, 6);
    stream.responses[r].events[0].prev_kv = None;
    flagged(&history, "watch prev_kv");
}

#[test]
fn wrong_is_create() {
    let mut history = clean_history();
    let stream = &mut history.watches[1];
    let r = response_of(stream, 6);
    let kv = &mut stream.responses[r].events[0].kv;
    kv.create_revision = 6;
    kv.version = 1;
    flagged(&history, "watch is_create");
}

#[test]
fn event_outside_filter() {
    let c = workload();
    let mut narrow = c.stream(3, ("k/a", ""), 3, 0, false);
    let wide = c.stream(1, PREFIX, 3, 0, false);
    let stray = wide.responses[response_of(&wide, 11)].clone();
    narrow.responses.push(stray);
    let violations = flagged(&c.finish(vec![wide, narrow]), "watch filter");
    assert_eq!(violations.len(), 1, "{violations:#?}");
}

#[test]
fn event_after_progress_notification() {
    let mut history = clean_history();
    let stream = &mut history.watches[0];
    let r = response_of(stream, 8);
    stream.responses.insert(r, progress(9));
    flagged(&history, "watch bookmark");
}

#[test]
fn phantom_write() {
    let mut history = clean_history();
    let stream = &mut history.watches[0];
    stream.responses.push(WatchResponse {
        at: 13_000,
        revision: 13,
        events: vec![Event {
            kind: EventKind::Put,
            kv: Kv {
                key: "k/z".into(),
                value: "nobody sent this".into(),
                create_revision: 13,
                mod_revision: 13,
                version: 1,
                lease: 0,
            },
            prev_kv: None,
        }],
        ..WatchResponse::default()
    });
    let violations = flagged(&history, "phantom write");
    assert_eq!(violations.len(), 1, "{violations:#?}");
}

#[test]
fn lost_acknowledged_write() {
    let mut c = workload();
    c.skip_revision();
    let rev = c.rev;
    c.answer(1, put("k/lost", "lost"), Response::Put { revision: rev });
    c.op(2, put("k/after", "after"));
    let w = watches(&c);
    let history = c.finish(w);
    let violations = flagged(&history, "reference gap");
    assert!(violations.iter().any(|v| v.starts_with("lost write")));
}

#[test]
fn wrong_read_value() {
    let mut c = workload();
    let mut answer = c.exec(&get("k/a"));
    if let Response::Range { kvs, .. } = &mut answer {
        kvs[0].value = "bogus".into();
    }
    c.answer(5, get("k/a"), answer);
    let w = watches(&c);
    let violations = flagged(&c.finish(w), "wrong read");
    assert_eq!(violations.len(), 1, "{violations:#?}");
}

#[test]
fn unknown_outcomes_are_fine() {
    let mut c = workload();
    c.unknown(1, put("k/u1", "happened"), true);
    c.unknown(2, put("k/u2", "never happened"), false);
    // Failed before client 4's put was sent, but took effect after it.
    c.unknown(3, put("k/u3", "happened late"), false);
    c.op(4, put("k/x", "x1"));
    c.exec(&put("k/u3", "happened late"));
    c.op(4, get("k/u3"));
    let w = watches(&c);
    let report = check(&c.finish(w));
    assert!(report.ok(), "{:#?}", report.violations);
    assert_eq!(report.unknown, 3);
    assert_eq!(report.revisions, 15);
}

#[test]
fn watchers_disagree() {
    let mut history = clean_history();
    let stream = &mut history.watches[1];
    let r = response_of(stream, 11);
    stream.responses[r].events[0].kv.value = "d2".into();
    flagged(&history, "watchers disagree");
}

#[test]
fn wrong_txn_outcome() {
    let mut c = workload();
    // mod_revision(k/a) is 6 now, so this CAS must fail; it is answered as a success.
    let request = cas("k/a", 4, "a4");
    c.answer(
        2,
        request,
        Response::Txn {
            revision: c.rev,
            succeeded: true,
            results: vec![Response::Put { revision: c.rev }],
        },
    );
    let w = watches(&c);
    flagged(&c.finish(w), "wrong txn");
}

#[test]
fn serializable_reads_go_back() {
    let mut c = workload();
    let request = range_with("k/", "k0", |r| set_flag(r, "serializable"));
    c.op(6, request.clone());
    let older = c.range_at(7, &request);
    c.answer(6, request, older);
    let w = watches(&c);
    flagged(&c.finish(w), "sequential");
}

#[test]
fn duplicate_write() {
    let mut history = clean_history();
    let stream = &mut history.watches[0];
    let mut again = stream.responses[response_of(stream, 4)].clone();
    let kv = &mut again.events[0].kv;
    kv.mod_revision = 13;
    kv.version = 4;
    again.events[0].prev_kv = None;
    again.revision = 13;
    stream.responses.push(again);
    flagged(&history, "duplicate write");
}

#[test]
fn violations_are_capped() {
    let mut v = Violations::default();
    for i in 0..100 {
        v.push(format!("watch gap: {i}"));
    }
    v.push("stale read: one".into());
    let list = v.into_list();
    assert!(list.len() <= 51, "{}", list.len());
    assert!(list.iter().any(|l| l.starts_with("stale read")));
    let last = list.last().map(String::as_str).unwrap_or_default();
    assert!(last.contains("101 in all"), "{last}");
}

#[test]
fn state_counts_ranges_like_walking_them() {
    use super::keyrange::KeyRange;
    use super::state::State;
    let keys: Vec<String> = (0..40).map(|i| format!("k/{i:02}")).collect();
    let mut state = State::new(&[], keys.iter().map(String::as_str));
    let mut seed: u64 = 7;
    let ranges = [
        ("k/", "k0"),
        ("k/05", "k/17"),
        ("k/10", ""),
        ("k/33", "\0"),
        ("k/20", "k/10"),
        ("a", "k/03"),
    ];
    for step in 0..400 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = &keys[(seed >> 33) as usize % keys.len()];
        if seed.is_multiple_of(3) {
            state.delete(key);
        } else {
            state.put(Kv {
                key: key.clone(),
                value: format!("v{step}"),
                ..Kv::default()
            });
        }
        for (key, end) in ranges {
            let range = KeyRange::new(key, end);
            assert_eq!(state.count(range), state.range(range).count(), "{range}");
        }
    }
}

#[test]
fn an_unknown_txn_is_placed_by_its_puts_not_by_an_earlier_delete() {
    let mut c = workload();
    let Response::LeaseGrant { id, .. } = c.op(5, Request::LeaseGrant { ttl: 60 }) else {
        panic!("no lease")
    };
    c.op(5, put_lease("k/d", "d1", id));
    // The lease goes (its revoke's answer lost): k/d leaves with it.
    c.unknown(6, Request::LeaseRevoke { id }, true);
    c.op(5, put("k/d", "d2"));
    // A txn whose answer was lost: it put k/t and deleted k/d, in one revision.
    let txn = Request::Txn {
        compares: Vec::new(),
        success: vec![put("k/t", "t1"), del("k/d")],
        failure: Vec::new(),
    };
    c.unknown(7, txn, true);
    let w = watches(&c);
    let report = check(&c.finish(w));
    assert!(report.ok(), "{:#?}", report.violations);
}

#[test]
fn a_prev_kv_compacted_away_may_be_missing() {
    let mut history = clean_history();
    let stream = &mut history.watches[0];
    let r = response_of(stream, 6);
    stream.responses[r].events[0].prev_kv = None;
    // etcd: "if the previous KV is already compacted, nothing will be returned".
    history.operations.insert(
        0,
        Operation {
            client: 9,
            invoke: 0,
            complete: 1,
            request: Request::Compact { revision: 6 },
            outcome: Err("deadline exceeded".into()),
        },
    );
    let report = check(&history);
    assert!(report.ok(), "{:#?}", report.violations);
}

#[test]
fn keys_of_a_lease_leaving_together_are_the_lease_not_a_lost_delete() {
    let mut c = workload();
    let Response::LeaseGrant { id, .. } = c.op(5, Request::LeaseGrant { ttl: 60 }) else {
        panic!("no lease")
    };
    c.op(5, put_lease("k/la", "a1", id));
    c.op(5, put_lease("k/lb", "b1", id));
    // A delete of one of them whose answer was lost and that never happened ...
    c.unknown(6, del("k/la"), false);
    // ... then the lease goes (its revoke's answer lost too), with both keys.
    c.unknown(7, Request::LeaseRevoke { id }, true);
    let w = watches(&c);
    let report = check(&c.finish(w));
    assert!(report.ok(), "{:#?}", report.violations);
}
