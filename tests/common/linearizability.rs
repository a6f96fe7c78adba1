//! Linearizability of a recorded history of register operations.
//!
//! The model: a set of keys, each an independent register whose value is a string or
//! absent (`None`). Clients run [`Op::Put`], [`Op::Delete`], [`Op::Get`] and [`Op::Cas`]
//! (compare-and-swap: if the current value equals `expected` then set `new` and succeed,
//! else fail and change nothing; `expected: None` means "the key is absent", like etcd's
//! txn compare `create_revision == 0`).
//!
//! Recording: a [`Recorder`] is shared by the clients (cloning it is cheap). A client calls
//! [`Recorder::invoke`] just before it sends a request, and on the returned [`Pending`]
//! either [`Pending::ok`] (or `put_ok` / `get_ok` / `cas_ok`) with the answer, or
//! [`Pending::unknown`] when it got an error or a timeout. A `Pending` dropped without
//! either counts as unknown. [`Recorder::history`] returns the [`Operation`]s.
//!
//! An operation with an [`Outcome::Unknown`] outcome may have taken effect at any time
//! after its invocation (no upper bound, as in Jepsen/Knossos) or never. A `Get` with an
//! unknown outcome tells nothing and is ignored.
//!
//! Checking: [`check`] splits the history by key (linearizability is compositional, so a
//! history is linearizable iff every key's sub-history is) and runs the Wing & Gong /
//! Lowe search on each key: walk the events in time order, tentatively linearize a pending
//! operation whose effect is legal in the current register value, backtrack when an
//! operation returns before it was linearized; a cache of (set of linearized operations,
//! register value) cuts every configuration already explored. Unknown operations have no
//! return event, so they may stay unlinearized forever. To keep many of them from making
//! the search exponential (every subset of them could be linearized somewhere), the search
//! tries operations with a known outcome first and an unknown one only when no known one
//! fits, and the cache also cuts a configuration that differs from an explored one only by
//! more linearized unknown operations (the explored one can do everything it can).
//! Runs of unknown operations that the next known operation does not need are not
//! explored either (see `prune`). A test compares the result with a brute-force search on
//! thousands of small random histories.
//!
//! ```ignore
//! let rec = Recorder::new();
//! // in each client task (rec.clone() moved in):
//! let p = rec.invoke(client_id, Op::put("k1", "c1-17"));
//! match kv.put(req).await { Ok(_) => p.put_ok(), Err(_) => p.unknown() }
//! let p = rec.invoke(client_id, Op::get("k1"));
//! match kv.range(req).await { Ok(r) => p.get_ok(value_of(&r)), Err(_) => p.unknown() }
//! let p = rec.invoke(client_id, Op::cas("k1", Some("c1-17"), "c2-3"));
//! match kv.txn(req).await { Ok(r) => p.cas_ok(r.into_inner().succeeded), Err(_) => p.unknown() }
//! // after the workload:
//! if let Err(v) = check(&rec.history()) { panic!("{v}") }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Who ran an operation. Each client should run one operation at a time.
pub type ClientId = u64;

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Set the key to `value`.
    Put { key: String, value: String },
    /// Make the key absent.
    Delete { key: String },
    /// Read the key.
    Get { key: String },
    /// If the key's value is `expected` (`None`: the key is absent), set it to `new`.
    Cas {
        key: String,
        expected: Option<String>,
        new: String,
    },
}

impl Op {
    pub fn put(key: impl Into<String>, value: impl Into<String>) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn delete(key: impl Into<String>) -> Op {
        Op::Delete { key: key.into() }
    }

    pub fn get(key: impl Into<String>) -> Op {
        Op::Get { key: key.into() }
    }

    pub fn cas(key: impl Into<String>, expected: Option<&str>, new: impl Into<String>) -> Op {
        Op::Cas {
            key: key.into(),
            expected: expected.map(str::to_owned),
            new: new.into(),
        }
    }

    /// The key the operation is on.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } | Op::Get { key } | Op::Cas { key, .. } => key,
        }
    }
}

/// What a completed operation answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpResult {
    /// A `Put` or `Delete` succeeded.
    Written,
    /// A `Get` saw this value (`None`: absent).
    Read(Option<String>),
    /// A `Cas` succeeded (`true`) or its compare failed (`false`).
    Swapped(bool),
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The server answered.
    Ok(OpResult),
    /// Error or timeout: the operation may take effect at any time after its invocation,
    /// or never.
    Unknown,
}

/// One recorded operation. Times are monotonic nanoseconds (from [`Recorder`]: since the
/// recorder was created). `complete` is ignored when the outcome is unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operation {
    pub client: ClientId,
    pub op: Op,
    pub invoke: u64,
    pub complete: u64,
    pub outcome: Outcome,
}

impl Operation {
    pub fn new(client: ClientId, op: Op, invoke: u64, complete: u64, outcome: Outcome) -> Self {
        Operation {
            client,
            op,
            invoke,
            complete,
            outcome,
        }
    }
}

fn fmt_time(ns: u64) -> String {
    format!("{}.{:06}ms", ns / 1_000_000, ns % 1_000_000)
}

fn fmt_value(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "absent".to_owned(),
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match &self.op {
            Op::Put { key, value } => format!("put({key:?}, {value:?})"),
            Op::Delete { key } => format!("delete({key:?})"),
            Op::Get { key } => format!("get({key:?})"),
            Op::Cas { key, expected, new } => {
                format!("cas({key:?}, {} -> {new:?})", fmt_value(expected))
            }
        };
        let (end, result) = match &self.outcome {
            Outcome::Unknown => ("?".to_owned(), "unknown".to_owned()),
            Outcome::Ok(r) => (
                fmt_time(self.complete),
                match r {
                    OpResult::Written => "ok".to_owned(),
                    OpResult::Read(v) => fmt_value(v),
                    OpResult::Swapped(true) => "succeeded".to_owned(),
                    OpResult::Swapped(false) => "failed".to_owned(),
                },
            ),
        };
        write!(
            f,
            "client {} [{} .. {end}] {op} -> {result}",
            self.client,
            fmt_time(self.invoke)
        )
    }
}

// ---------------------------------------------------------------------------------------
// Recorder
// ---------------------------------------------------------------------------------------

/// Records operations from many clients (threads or tokio tasks). Clone it freely.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    ops: Arc<Mutex<Vec<Slot>>>,
}

struct Slot {
    client: ClientId,
    op: Op,
    invoke: u64,
    end: Option<(u64, Outcome)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            start: Instant::now(),
            ops: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Nanoseconds since the recorder was created.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `client` is about to send `op` (call it just before sending).
    pub fn invoke(&self, client: ClientId, op: Op) -> Pending {
        let mut ops = self.lock();
        let invoke = self.now();
        ops.push(Slot {
            client,
            op,
            invoke,
            end: None,
        });
        Pending {
            recorder: self.clone(),
            index: ops.len() - 1,
            done: false,
        }
    }

    fn finish(&self, index: usize, outcome: Outcome) {
        let mut ops = self.lock();
        let complete = self.now();
        ops[index].end = Some((complete, outcome));
    }

    /// Number of operations invoked so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The history so far, in invocation order. Operations still pending count as unknown.
    pub fn history(&self) -> Vec<Operation> {
        let ops = self.lock();
        ops.iter()
            .map(|s| {
                let (complete, outcome) = s.end.clone().unwrap_or((u64::MAX, Outcome::Unknown));
                Operation::new(s.client, s.op.clone(), s.invoke, complete, outcome)
            })
            .collect()
    }
}

/// An invoked operation waiting for its outcome. Dropping it records `Unknown`.
pub struct Pending {
    recorder: Recorder,
    index: usize,
    done: bool,
}

impl Pending {
    /// The server answered `result`.
    pub fn ok(mut self, result: OpResult) {
        self.done = true;
        self.recorder.finish(self.index, Outcome::Ok(result));
    }

    /// A `Put` or `Delete` succeeded.
    pub fn put_ok(self) {
        self.ok(OpResult::Written)
    }

    /// A `Get` saw `value`.
    pub fn get_ok(self, value: Option<String>) {
        self.ok(OpResult::Read(value))
    }

    /// A `Cas` answered: `succeeded` is the txn's `succeeded`.
    pub fn cas_ok(self, succeeded: bool) {
        self.ok(OpResult::Swapped(succeeded))
    }

    /// Error or timeout: the operation may or may not take effect.
    pub fn unknown(mut self) {
        self.done = true;
        self.recorder.finish(self.index, Outcome::Unknown);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            self.recorder.finish(self.index, Outcome::Unknown);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Violation
// ---------------------------------------------------------------------------------------

/// Why a check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// No linearization of the key's operations exists.
    NotLinearizable,
    /// The history itself is wrong (a result that does not fit its operation, an operation
    /// completing before it was invoked).
    Malformed,
    /// The search gave up after its step budget: neither proven nor refuted.
    SearchLimit,
}

/// A failed check. `Display` (and `Debug`, so `unwrap()` prints it) explains it.
#[derive(Clone)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The reported key: of the failing keys, the one with the fewest operations.
    pub key: String,
    /// Every key that failed, sorted.
    pub failing_keys: Vec<String>,
    /// The operations of the explanation (subset of the history).
    pub excerpt: Vec<Operation>,
    /// A human-readable explanation, several lines.
    pub explanation: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ViolationKind::NotLinearizable => "not linearizable",
            ViolationKind::Malformed => "malformed history",
            ViolationKind::SearchLimit => "linearizability search limit reached (inconclusive)",
        };
        write!(f, "{what}: key {:?}", self.key)?;
        if self.failing_keys.len() > 1 {
            write!(
                f,
                " ({} keys fail: {:?})",
                self.failing_keys.len(),
                self.failing_keys
            )?;
        }
        write!(f, "\n{}", self.explanation)
    }
}

impl fmt::Debug for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Violation {}

// ---------------------------------------------------------------------------------------
// Checker
// ---------------------------------------------------------------------------------------

/// Steps (search iterations) per key that [`check`] allows before giving up with
/// [`ViolationKind::SearchLimit`].
pub const DEFAULT_STEP_BUDGET: u64 = 10_000_000;

/// Checks that `history` is linearizable; see the module documentation.
pub fn check(history: &[Operation]) -> Result<(), Violation> {
    check_with_budget(history, DEFAULT_STEP_BUDGET)
}

/// [`check`] with another step budget per key.
pub fn check_with_budget(history: &[Operation], budget: u64) -> Result<(), Violation> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, o) in history.iter().enumerate() {
        by_key.entry(o.op.key()).or_default().push(i);
    }
    let mut failures: Vec<(usize, Violation)> = Vec::new();
    for (key, indices) in &by_key {
        if let Err(v) = check_key(history, key, indices, budget) {
            failures.push((indices.len(), v));
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let failing_keys: Vec<String> = failures.iter().map(|(_, v)| v.key.clone()).collect();
    // Malformed first, then the smallest key history (then the smallest key name).
    failures.sort_by(|(na, a), (nb, b)| {
        let ra = a.kind != ViolationKind::Malformed;
        let rb = b.kind != ViolationKind::Malformed;
        (ra, *na, &a.key).cmp(&(rb, *nb, &b.key))
    });
    let mut v = failures.swap_remove(0).1;
    v.failing_keys = failing_keys;
    Err(v)
}

/// A register value, interned: 0 is "absent".
type Val = u32;
const ABSENT: Val = 0;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Put (or Delete: the value ABSENT).
    Write(Val),
    /// Get that returned this value.
    Read(Val),
    /// Cas with a known (`Some`) or unknown result.
    Cas {
        expected: Val,
        new: Val,
        result: Option<bool>,
    },
}

/// The register's transition: the new value, or None when `kind` cannot happen in `state`.
/// A Cas of unknown outcome is only applied when it succeeds: failing changes nothing, which
/// is the same as not happening at all.
fn step(state: Val, kind: Kind) -> Option<Val> {
    match kind {
        Kind::Write(v) => Some(v),
        Kind::Read(v) => (v == state).then_some(state),
        Kind::Cas {
            expected,
            new,
            result: Some(true) | None,
        } => (state == expected).then_some(new),
        Kind::Cas {
            expected,
            result: Some(false),
            ..
        } => (state != expected).then_some(state),
    }
}

/// No run of unknown-outcome operations: see [`prune`].
const NO_BASE: Val = Val::MAX;

/// Cuts linearizations with a useless run of unknown-outcome operations.
///
/// An unknown operation may also never happen and has no deadline, so any linearization can
/// be rewritten until each run of consecutive unknown operations (starting from the value
/// `base`) is needed by the known operation right after it: if that one is also legal on
/// `base`, the run moves after it or goes (it only reads the value or overwrites it); a
/// blind write (Put, Delete) in a run makes what came before it in the run useless. So the
/// search needs only these, and the exploring stays exact because `base` is part of the
/// cached configuration. Given the value `state`, the current run's `base` (or NO_BASE) and
/// the next operation: None when it is cut, else the base after it.
fn prune(state: Val, base: Val, kind: Kind, unknown: bool) -> Option<Val> {
    match (unknown, base == NO_BASE) {
        (false, true) => Some(NO_BASE),
        (false, false) => step(base, kind).is_none().then_some(NO_BASE),
        (true, true) => Some(state),
        (true, false) => (!matches!(kind, Kind::Write(_))).then_some(base),
    }
}

struct KeyOp {
    /// Index in the whole history.
    orig: usize,
    kind: Kind,
    invoke: u64,
    /// None: unknown outcome (returns at infinity).
    complete: Option<u64>,
}

/// A small, fast, non-cryptographic hasher (FxHash-like) for the search cache.
#[derive(Default)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Records the configuration (`key`: the known-outcome operations linearized and the value;
/// `unknown`: the unknown-outcome operations linearized) unless it is dominated by one
/// explored before: same key and a subset of its unknown operations. Such a configuration
/// can do all that this one can (an unknown operation may also never happen), so this one
/// needs no exploring: false. Configurations explored earlier either failed or are
/// ancestors of this one in the search, which explore the same continuations themselves.
fn remember(
    cache: &mut FastMap<Box<[u64]>, Vec<Box<[u64]>>>,
    key: &[u64],
    unknown: &[u64],
) -> bool {
    let subset = |a: &[u64], b: &[u64]| a.iter().zip(b).all(|(x, y)| x & !y == 0);
    match cache.get_mut(key) {
        None => {
            cache.insert(key.into(), vec![unknown.into()]);
        }
        Some(seen) => {
            if seen.iter().any(|s| subset(s, unknown)) {
                return false;
            }
            // Keep only the minimal sets.
            seen.retain(|s| !subset(unknown, s));
            seen.push(unknown.into());
        }
    }
    true
}

const NONE: usize = usize::MAX;

struct Entry {
    /// Index into the key's ops.
    op: usize,
    call: bool,
    /// For a call entry: its return entry, or NONE (unknown outcome).
    ret: usize,
}

fn malformed(key: &str, o: &Operation, why: &str) -> Violation {
    Violation {
        kind: ViolationKind::Malformed,
        key: key.to_owned(),
        failing_keys: vec![key.to_owned()],
        excerpt: vec![o.clone()],
        explanation: format!("{why}:\n    {o}"),
    }
}

fn check_key<'a>(
    history: &'a [Operation],
    key: &str,
    indices: &[usize],
    budget: u64,
) -> Result<(), Violation> {
    // Intern the values and translate the operations.
    let mut values: HashMap<&'a str, Val> = HashMap::new();
    let mut intern = |s: Option<&'a str>| -> Val {
        match s {
            None => ABSENT,
            Some(s) => {
                let next = values.len() as Val + 1;
                *values.entry(s).or_insert(next)
            }
        }
    };
    let mut ops: Vec<KeyOp> = Vec::with_capacity(indices.len());
    for &i in indices {
        let o = &history[i];
        let result = match &o.outcome {
            Outcome::Ok(r) => {
                if o.complete < o.invoke {
                    return Err(malformed(
                        key,
                        o,
                        "operation completes before its invocation",
                    ));
                }
                Some(r)
            }
            Outcome::Unknown => None,
        };
        let kind = match (&o.op, result) {
            (Op::Get { .. }, None) => continue, // tells nothing
            (Op::Get { .. }, Some(OpResult::Read(v))) => Kind::Read(intern(v.as_deref())),
            (Op::Put { value, .. }, None | Some(OpResult::Written)) => {
                Kind::Write(intern(Some(value)))
            }
            (Op::Delete { .. }, None | Some(OpResult::Written)) => Kind::Write(ABSENT),
            (Op::Cas { expected, new, .. }, None) => Kind::Cas {
                expected: intern(expected.as_deref()),
                new: intern(Some(new)),
                result: None,
            },
            (Op::Cas { expected, new, .. }, Some(OpResult::Swapped(b))) => Kind::Cas {
                expected: intern(expected.as_deref()),
                new: intern(Some(new)),
                result: Some(*b),
            },
            _ => return Err(malformed(key, o, "result does not fit the operation")),
        };
        ops.push(KeyOp {
            orig: i,
            kind,
            invoke: o.invoke,
            complete: result.map(|_| o.complete),
        });
    }
    let mut names: Vec<Option<String>> = vec![None; values.len() + 1];
    for (s, v) in &values {
        names[*v as usize] = Some((*s).to_owned());
    }

    // Two doubly linked lists of entries sharing `next` / `prev`:
    // - the main list, from `MAIN` to `main_tail`: the calls and returns of the operations
    //   with a known outcome in time order (at equal times calls first: such operations
    //   overlap);
    // - the unknown list, from `unk_head` to `unk_tail`: the calls of the operations with an
    //   unknown outcome, which never return, by invocation time.
    const MAIN: usize = 0;
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
    let mut unknown_calls: Vec<(u64, usize)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        match o.complete {
            Some(c) => {
                events.push((o.invoke, false, i));
                events.push((c, true, i));
            }
            None => unknown_calls.push((o.invoke, i)),
        }
    }
    events.sort();
    unknown_calls.sort();
    let sentinel = || Entry {
        op: NONE,
        call: false,
        ret: NONE,
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(events.len() + unknown_calls.len() + 4);
    entries.push(sentinel());
    let mut call_of = vec![NONE; ops.len()];
    for &(_, is_ret, op) in &events {
        let e = entries.len();
        entries.push(Entry {
            op,
            call: !is_ret,
            ret: NONE,
        });
        if is_ret {
            entries[call_of[op]].ret = e;
        } else {
            call_of[op] = e;
        }
    }
    let main_tail = entries.len();
    entries.push(sentinel());
    let unk_head = entries.len();
    entries.push(sentinel());
    for &(_, op) in &unknown_calls {
        entries.push(Entry {
            op,
            call: true,
            ret: NONE,
        });
    }
    let unk_tail = entries.len();
    entries.push(sentinel());
    let mut next: Vec<usize> = (1..=entries.len()).collect();
    let mut prev: Vec<usize> = (0..entries.len()).map(|i| i.wrapping_sub(1)).collect();
    next[main_tail] = NONE;
    prev[unk_head] = NONE;
    next[unk_tail] = NONE;

    fn unlink(next: &mut [usize], prev: &mut [usize], e: usize) {
        next[prev[e]] = next[e];
        prev[next[e]] = prev[e];
    }
    fn relink(next: &mut [usize], prev: &mut [usize], e: usize) {
        next[prev[e]] = e;
        prev[next[e]] = e;
    }

    // The configurations explored so far. A configuration is the set of linearized
    // operations with a known outcome, the value, and the set of linearized unknown ones;
    // the cache key holds the first two (the value as the last word), the list the third.
    let words = ops.len().div_ceil(64).max(1);
    let mut known_lin: Vec<u64> = vec![0; words + 2];
    let mut unknown_lin: Vec<u64> = vec![0; words];
    let mut cache: FastMap<Box<[u64]>, Vec<Box<[u64]>>> = FastMap::default();
    let mut configs: usize = 0;
    /// A linearized operation: its call entry, and the search position to go on from when
    /// it is taken back.
    struct Frame {
        entry: usize,
        state: Val,
        /// The first return in the main list when it was linearized from the unknown list;
        /// NONE when it came from the main list.
        stuck_at: usize,
        base: Val,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut state: Val = ABSENT;
    // The value before the current run of linearized unknown-outcome operations: NO_BASE
    // when the last one linearized had a known outcome. See `prune`.
    let mut base: Val = NO_BASE;
    known_lin[words] = state as u64;
    known_lin[words + 1] = base as u64;
    // The deepest point: linearized ops (in order), the value then, the op that got stuck.
    let mut best: Option<(Vec<usize>, Val, usize)> = None;
    let mut steps: u64 = 0;
    // The search tries the known-outcome calls before the first return of the main list;
    // when none fits (it reaches that return, `stuck_at`), the unknown-outcome calls invoked
    // before that return; when none fits either, it backtracks.
    let mut entry = next[MAIN];
    let mut stuck_at = NONE;
    loop {
        steps += 1;
        if steps > budget {
            return Err(Violation {
                kind: ViolationKind::SearchLimit,
                key: key.to_owned(),
                failing_keys: vec![key.to_owned()],
                excerpt: Vec::new(),
                explanation: format!(
                    "gave up after {budget} search steps on {} operations ({} configurations \
                     cached, longest linearizable prefix found: {} operations, now at {}); \
                     raise the budget with check_with_budget or shorten the history",
                    ops.len(),
                    configs,
                    best.as_ref().map_or(0, |b| b.0.len()),
                    stack.len(),
                ),
            });
        }
        if entry == main_tail {
            // No return left: every operation with a known outcome is linearized (only
            // unknown ones can remain, and they may never happen).
            return Ok(());
        }
        let en = &entries[entry];
        if stuck_at == NONE && !en.call {
            // No known-outcome operation fits before this return: try the unknown ones.
            stuck_at = entry;
            entry = next[unk_head];
            continue;
        }
        let candidate = if stuck_at == NONE {
            true
        } else {
            // Unknown calls invoked after the stuck return cannot come before it.
            entry != unk_tail && ops[en.op].invoke <= ops[entries[stuck_at].op].complete.unwrap()
        };
        if !candidate {
            // Nothing fits: backtrack.
            let stuck = entries[stuck_at].op;
            if best.as_ref().is_none_or(|(b, _, _)| stack.len() > b.len()) {
                let lin = stack.iter().map(|f| entries[f.entry].op).collect();
                best = Some((lin, state, stuck));
            }
            let Some(f) = stack.pop() else { break };
            state = f.state;
            base = f.base;
            known_lin[words] = state as u64;
            known_lin[words + 1] = base as u64;
            let op = entries[f.entry].op;
            let set = if ops[op].complete.is_none() {
                &mut unknown_lin[..]
            } else {
                &mut known_lin[..words]
            };
            set[op / 64] &= !(1 << (op % 64));
            if entries[f.entry].ret != NONE {
                relink(&mut next, &mut prev, entries[f.entry].ret);
            }
            relink(&mut next, &mut prev, f.entry);
            entry = next[f.entry];
            stuck_at = f.stuck_at;
            continue;
        }
        let op = en.op;
        let unknown = ops[op].complete.is_none();
        if let Some((new_state, new_base)) = step(state, ops[op].kind)
            .and_then(|n| Some((n, prune(state, base, ops[op].kind, unknown)?)))
        {
            let set = if unknown {
                &mut unknown_lin[..]
            } else {
                &mut known_lin[..words]
            };
            set[op / 64] |= 1 << (op % 64);
            known_lin[words] = new_state as u64;
            known_lin[words + 1] = new_base as u64;
            if remember(&mut cache, &known_lin, &unknown_lin) {
                configs += 1;
                stack.push(Frame {
                    entry,
                    state,
                    stuck_at,
                    base,
                });
                state = new_state;
                base = new_base;
                unlink(&mut next, &mut prev, entry);
                if en.ret != NONE {
                    unlink(&mut next, &mut prev, en.ret);
                }
                entry = next[MAIN];
                stuck_at = NONE;
                continue;
            }
            let set = if unknown {
                &mut unknown_lin[..]
            } else {
                &mut known_lin[..words]
            };
            set[op / 64] &= !(1 << (op % 64));
            known_lin[words] = state as u64;
            known_lin[words + 1] = base as u64;
        }
        entry = next[entry];
    }

    // Not linearizable: explain with the deepest partial linearization.
    let (lin, value, stuck) = best.expect("a failed search met a return");
    let value = &names[value as usize];
    let stuck_op = &ops[stuck];
    let stuck_end = stuck_op.complete.unwrap_or(u64::MAX);
    let known = ops.iter().filter(|o| o.complete.is_some()).count();
    let mut text = format!(
        "{} operations on this key ({known} with a known outcome). The longest linearizable \
         prefix found has {} operations",
        ops.len(),
        lin.len()
    );
    let mut excerpt = Vec::new();
    const TAIL: usize = 6;
    if lin.is_empty() {
        text.push_str(".\n");
    } else {
        text.push_str(&format!(
            "; its last {}:\n",
            if lin.len() > TAIL { TAIL } else { lin.len() }
        ));
        for &i in &lin[lin.len().saturating_sub(TAIL)..] {
            let o = &history[ops[i].orig];
            text.push_str(&format!("    {o}\n"));
            excerpt.push(o.clone());
        }
    }
    let so = &history[stuck_op.orig];
    text.push_str(&format!(
        "after it the value is {}, and this operation cannot be linearized before it \
         completes:\n    {so}\n",
        fmt_value(value)
    ));
    excerpt.push(so.clone());
    let in_lin: HashSet<usize> = lin.iter().copied().collect();
    let mut others: Vec<usize> = (0..ops.len())
        .filter(|&i| i != stuck && !in_lin.contains(&i) && ops[i].invoke <= stuck_end)
        .collect();
    others.sort_by_key(|&i| (ops[i].invoke, i));
    if !others.is_empty() {
        const MAX: usize = 10;
        text.push_str(&format!(
            "the other operations not linearized and invoked before it completed ({}{}):\n",
            others.len(),
            if others.len() > MAX {
                format!(", first {MAX} shown")
            } else {
                String::new()
            }
        ));
        for &i in others.iter().take(MAX) {
            let o = &history[ops[i].orig];
            text.push_str(&format!("    {o}\n"));
            excerpt.push(o.clone());
        }
    }
    Err(Violation {
        kind: ViolationKind::NotLinearizable,
        key: key.to_owned(),
        failing_keys: vec![key.to_owned()],
        excerpt,
        explanation: text,
    })
}
