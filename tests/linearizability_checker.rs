//! The linearizability checker of `tests/common/linearizability.rs`: hand-written good and
//! bad histories, the recorder, and large random histories (valid ones made by simulating a
//! real register, and invalid ones made by corrupting one read).

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::linearizability::{
    check, check_with_budget, ClientId, Op, OpResult, Operation, Outcome, Recorder, ViolationKind,
};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn put(c: ClientId, k: &str, v: &str, t0: u64, t1: u64) -> Operation {
    Operation::new(c, Op::put(k, v), t0, t1, Outcome::Ok(OpResult::Written))
}

fn put_unknown(c: ClientId, k: &str, v: &str, t0: u64, t1: u64) -> Operation {
    Operation::new(c, Op::put(k, v), t0, t1, Outcome::Unknown)
}

fn del(c: ClientId, k: &str, t0: u64, t1: u64) -> Operation {
    Operation::new(c, Op::delete(k), t0, t1, Outcome::Ok(OpResult::Written))
}

fn get(c: ClientId, k: &str, v: Option<&str>, t0: u64, t1: u64) -> Operation {
    let r = OpResult::Read(v.map(str::to_owned));
    Operation::new(c, Op::get(k), t0, t1, Outcome::Ok(r))
}

fn get_unknown(c: ClientId, k: &str, t0: u64, t1: u64) -> Operation {
    Operation::new(c, Op::get(k), t0, t1, Outcome::Unknown)
}

fn cas(
    c: ClientId,
    k: &str,
    exp: Option<&str>,
    new: &str,
    ok: bool,
    t0: u64,
    t1: u64,
) -> Operation {
    let r = OpResult::Swapped(ok);
    Operation::new(c, Op::cas(k, exp, new), t0, t1, Outcome::Ok(r))
}

fn cas_unknown(c: ClientId, k: &str, exp: Option<&str>, new: &str, t0: u64, t1: u64) -> Operation {
    Operation::new(c, Op::cas(k, exp, new), t0, t1, Outcome::Unknown)
}

#[track_caller]
fn assert_ok(h: &[Operation]) {
    if let Err(v) = check(h) {
        panic!("expected linearizable, got: {v}");
    }
}

#[track_caller]
fn assert_bad(h: &[Operation], key: &str) {
    match check(h) {
        Ok(()) => panic!("expected a violation on {key:?}, got linearizable: {h:#?}"),
        Err(v) => {
            assert_eq!(v.kind, ViolationKind::NotLinearizable, "{v}");
            assert_eq!(v.key, key, "{v}");
            assert!(!v.excerpt.is_empty(), "{v}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Known-good histories
// ---------------------------------------------------------------------------------------

#[test]
fn empty_history_is_linearizable() {
    assert_ok(&[]);
}

#[test]
fn sequential_history() {
    assert_ok(&[
        get(1, "k", None, 0, 1),
        cas(1, "k", Some("x"), "y", false, 2, 3),
        cas(1, "k", None, "a", true, 4, 5),
        get(2, "k", Some("a"), 6, 7),
        cas(2, "k", None, "b", false, 8, 9),
        put(1, "k", "b", 10, 11),
        cas(2, "k", Some("b"), "c", true, 12, 13),
        get(1, "k", Some("c"), 14, 15),
        del(2, "k", 16, 17),
        get(1, "k", None, 18, 19),
        cas(1, "k", None, "d", true, 20, 21),
        get(1, "k", Some("d"), 22, 23),
    ]);
}

#[test]
fn concurrent_puts_in_either_order() {
    for winner in ["a", "b"] {
        assert_ok(&[
            put(1, "k", "a", 0, 10),
            put(2, "k", "b", 5, 15),
            get(3, "k", Some(winner), 20, 25),
            get(1, "k", Some(winner), 30, 35),
        ]);
    }
}

#[test]
fn get_concurrent_with_put_sees_old_or_new() {
    for seen in [None, Some("a")] {
        assert_ok(&[
            put(1, "k", "a", 0, 100),
            get(2, "k", seen, 10, 20),
            get(2, "k", Some("a"), 110, 120),
        ]);
    }
    // Two readers during one put may disagree, as long as each is consistent in time.
    assert_ok(&[
        put(1, "k", "a", 0, 100),
        get(2, "k", Some("a"), 10, 30),
        get(3, "k", None, 20, 40),
    ]);
}

#[test]
fn order_different_from_invocation_order() {
    // b is invoked after a but must be linearized before it; the search must try it.
    assert_ok(&[
        put(1, "k", "a", 0, 100),
        put(2, "k", "b", 10, 20),
        get(3, "k", Some("b"), 21, 25),
        get(3, "k", Some("a"), 110, 120),
    ]);
    // Three concurrent writes, read in a chain that fixes their order c, a, b.
    assert_ok(&[
        put(1, "k", "a", 0, 100),
        put(2, "k", "b", 0, 100),
        put(3, "k", "c", 0, 100),
        get(4, "k", Some("c"), 1, 2),
        get(4, "k", Some("a"), 3, 4),
        get(4, "k", Some("b"), 5, 6),
        get(4, "k", Some("b"), 200, 201),
    ]);
}

#[test]
fn concurrent_cas_one_wins() {
    for (first_wins, value) in [(true, "x"), (false, "y")] {
        assert_ok(&[
            put(1, "k", "v0", 0, 1),
            cas(2, "k", Some("v0"), "x", first_wins, 10, 30),
            cas(3, "k", Some("v0"), "y", !first_wins, 15, 25),
            get(1, "k", Some(value), 40, 41),
        ]);
    }
    // Both creating from absent: one wins.
    assert_ok(&[
        cas(1, "k", None, "x", false, 0, 10),
        cas(2, "k", None, "y", true, 2, 8),
        get(3, "k", Some("y"), 11, 12),
    ]);
}

#[test]
fn unknown_put_that_took_effect() {
    assert_ok(&[
        put(1, "k", "a", 0, 1),
        put_unknown(2, "k", "b", 2, 3),
        get(1, "k", Some("b"), 100, 101),
    ]);
}

#[test]
fn unknown_put_that_did_not_take_effect() {
    assert_ok(&[
        put(1, "k", "a", 0, 1),
        put_unknown(2, "k", "b", 2, 3),
        get(1, "k", Some("a"), 100, 101),
        get(1, "k", Some("a"), 200, 201),
    ]);
}

#[test]
fn unknown_put_may_take_effect_long_after_the_error() {
    // The client saw the error at 20, two reads later still see a, then b appears.
    assert_ok(&[
        put(1, "k", "a", 0, 1),
        put_unknown(2, "k", "b", 10, 20),
        get(1, "k", Some("a"), 30, 31),
        put(2, "k", "c", 40, 41),
        get(1, "k", Some("c"), 50, 51),
        get(1, "k", Some("b"), 60, 61),
    ]);
}

#[test]
fn unknown_cas_and_unknown_get() {
    // The unknown cas succeeded (later read sees y), the unknown get is ignored.
    assert_ok(&[
        put(1, "k", "x", 0, 1),
        cas_unknown(2, "k", Some("x"), "y", 2, 3),
        get_unknown(3, "k", 2, 3),
        get(1, "k", Some("y"), 10, 11),
    ]);
    // The unknown cas did not happen.
    assert_ok(&[
        put(1, "k", "x", 0, 1),
        cas_unknown(2, "k", Some("x"), "y", 2, 3),
        get(1, "k", Some("x"), 10, 11),
    ]);
}

#[test]
fn independent_keys() {
    // Per key each is fine; the interleaving across keys does not matter.
    assert_ok(&[
        put(1, "a", "1", 0, 10),
        put(2, "b", "1", 0, 10),
        get(1, "a", Some("1"), 11, 12),
        get(2, "b", None, 5, 6),
        put(1, "b", "2", 20, 21),
        get(2, "a", Some("1"), 22, 23),
        get(2, "b", Some("2"), 22, 23),
    ]);
}

// ---------------------------------------------------------------------------------------
// Known-bad histories
// ---------------------------------------------------------------------------------------

#[test]
fn stale_read_after_completed_put() {
    assert_bad(&[put(1, "k", "a", 0, 10), get(2, "k", None, 20, 30)], "k");
}

#[test]
fn read_of_a_value_never_written() {
    assert_bad(
        &[
            put(1, "k", "a", 0, 10),
            put(2, "k", "b", 0, 10),
            get(3, "k", Some("c"), 5, 30),
        ],
        "k",
    );
}

#[test]
fn two_cas_from_the_same_value_both_succeed() {
    assert_bad(
        &[
            put(1, "k", "v0", 0, 1),
            cas(2, "k", Some("v0"), "x", true, 10, 30),
            cas(3, "k", Some("v0"), "y", true, 15, 25),
        ],
        "k",
    );
    // The same from absent (two creators).
    assert_bad(
        &[
            cas(2, "k", None, "x", true, 10, 30),
            cas(3, "k", None, "y", true, 15, 25),
        ],
        "k",
    );
}

#[test]
fn read_goes_back_in_time() {
    // The put is still running, but once a reader saw "a", later readers must too.
    assert_bad(
        &[
            put(1, "k", "a", 0, 100),
            get(2, "k", Some("a"), 10, 20),
            get(3, "k", None, 30, 40),
        ],
        "k",
    );
    // The same with two completed writes and one reader.
    assert_bad(
        &[
            put(1, "k", "a", 0, 1),
            put(1, "k", "b", 2, 50),
            get(2, "k", Some("b"), 10, 20),
            get(2, "k", Some("a"), 30, 40),
        ],
        "k",
    );
}

#[test]
fn lost_write() {
    assert_bad(
        &[
            put(1, "k", "a", 0, 1),
            put(2, "k", "b", 2, 3),
            get(3, "k", Some("a"), 4, 5),
        ],
        "k",
    );
}

#[test]
fn cas_failing_when_it_must_succeed() {
    assert_bad(
        &[
            put(1, "k", "a", 0, 1),
            cas(2, "k", Some("a"), "b", false, 2, 3),
        ],
        "k",
    );
    // And a cas succeeding when it must fail.
    assert_bad(
        &[put(1, "k", "a", 0, 1), cas(2, "k", None, "b", true, 2, 3)],
        "k",
    );
}

#[test]
fn unknown_put_cannot_explain_an_earlier_read() {
    assert_bad(
        &[get(1, "k", Some("x"), 0, 1), put_unknown(2, "k", "x", 5, 6)],
        "k",
    );
}

#[test]
fn unknown_put_takes_effect_at_most_once() {
    assert_bad(
        &[
            put_unknown(1, "k", "x", 0, 1),
            get(2, "k", Some("x"), 10, 11),
            put(2, "k", "y", 12, 13),
            get(2, "k", Some("x"), 14, 15),
        ],
        "k",
    );
}

#[test]
fn violation_names_the_smallest_failing_key_and_explains() {
    let h = [
        // "big" fails, with many ops.
        put(1, "big", "a", 0, 1),
        get(1, "big", Some("a"), 2, 3),
        put(1, "big", "b", 4, 5),
        get(1, "big", Some("b"), 6, 7),
        put(1, "big", "c", 8, 9),
        get(2, "big", Some("b"), 10, 11),
        // "small" fails, with two ops.
        put(3, "small", "a", 0, 10),
        get(3, "small", None, 20, 30),
        // "ok" is fine.
        put(4, "ok", "z", 0, 1),
    ];
    let v = check(&h).unwrap_err();
    assert_eq!(v.kind, ViolationKind::NotLinearizable);
    assert_eq!(v.key, "small");
    assert_eq!(v.failing_keys, vec!["big".to_owned(), "small".to_owned()]);
    let text = v.to_string();
    assert!(text.contains("key \"small\""), "{text}");
    assert!(text.contains("get(\"small\") -> absent"), "{text}");
    assert!(text.contains("the value is \"a\""), "{text}");
    assert_eq!(v.excerpt.len(), 2, "{text}");
    // Debug prints the same explanation, so `check(..).unwrap()` is readable.
    assert_eq!(format!("{v:?}"), text);
}

#[test]
fn malformed_histories_are_reported() {
    let wrong_result = Operation::new(1, Op::get("k"), 0, 1, Outcome::Ok(OpResult::Swapped(true)));
    let v = check(&[wrong_result]).unwrap_err();
    assert_eq!(v.kind, ViolationKind::Malformed, "{v}");
    let backwards = put(1, "k", "a", 10, 5);
    let v = check(&[backwards]).unwrap_err();
    assert_eq!(v.kind, ViolationKind::Malformed, "{v}");
}

#[test]
fn search_budget_is_reported_as_inconclusive() {
    let h = random_history(7, 5, 1, 400, 0.05);
    assert_ok(&h);
    let v = check_with_budget(&h, 50).unwrap_err();
    assert_eq!(v.kind, ViolationKind::SearchLimit, "{v}");
}

// ---------------------------------------------------------------------------------------
// Recorder
// ---------------------------------------------------------------------------------------

#[test]
fn recorder_from_threads() {
    let rec = Recorder::new();
    let register = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<String, String>::new()));
    let threads: Vec<_> = (0..4u64)
        .map(|client| {
            let rec = rec.clone();
            let register = register.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let key = format!("k{}", i % 3);
                    let value = format!("c{client}-{i}");
                    let p = rec.invoke(client, Op::put(&key, &value));
                    register.lock().unwrap().insert(key.clone(), value.clone());
                    p.put_ok();
                    let p = rec.invoke(client, Op::get(&key));
                    let seen = register.lock().unwrap().get(&key).cloned();
                    p.get_ok(seen);
                    let p = rec.invoke(client, Op::cas(&key, Some(&value), format!("{value}'")));
                    let ok = {
                        let mut r = register.lock().unwrap();
                        let ok = r.get(&key) == Some(&value);
                        if ok {
                            r.insert(key.clone(), format!("{value}'"));
                        }
                        ok
                    };
                    p.cas_ok(ok);
                    // An error: it happened (i even) or not, then a dropped handle.
                    let p = rec.invoke(client, Op::put(&key, format!("{value}?")));
                    if i % 2 == 0 {
                        register
                            .lock()
                            .unwrap()
                            .insert(key.clone(), format!("{value}?"));
                    }
                    p.unknown();
                    let p = rec.invoke(client, Op::get(&key));
                    drop(p);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let h = rec.history();
    assert_eq!(h.len(), 4 * 50 * 5);
    assert_eq!(rec.len(), h.len());
    let unknown = h.iter().filter(|o| o.outcome == Outcome::Unknown).count();
    assert_eq!(unknown, 4 * 50 * 2);
    for o in &h {
        if o.outcome != Outcome::Unknown {
            assert!(o.invoke <= o.complete, "{o}");
        }
    }
    assert_ok(&h);

    // A still-pending operation counts as unknown.
    let rec = Recorder::new();
    let p = rec.invoke(9, Op::put("k", "v"));
    let h = rec.history();
    assert_eq!(h[0].outcome, Outcome::Unknown);
    p.put_ok();
    assert_eq!(rec.history()[0].outcome, Outcome::Ok(OpResult::Written));
}

// ---------------------------------------------------------------------------------------
// Random histories
// ---------------------------------------------------------------------------------------

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A valid history: `clients` clients each run operations one at a time with random
/// overlapping intervals; every operation takes effect at a random point inside its
/// interval on a real register, which gives its result. A fraction `unknown` of the
/// operations end in an error: half of those take effect (at any time after their
/// invocation, possibly after the error), half never. Values are unique.
fn random_history(
    seed: u64,
    clients: u64,
    keys: usize,
    ops: usize,
    unknown: f64,
) -> Vec<Operation> {
    struct Gen {
        op: Operation,
        point: u64,
        applies: bool,
    }
    let mut rng = Rng(seed);
    let mut clock: Vec<u64> = (0..clients).map(|_| rng.below(50)).collect();
    let mut written: Vec<Vec<String>> = vec![Vec::new(); keys];
    let mut gen: Vec<Gen> = Vec::with_capacity(ops);
    for n in 0..ops {
        // The client that is free first invokes next, so the clients interleave.
        let c = (0..clients as usize).min_by_key(|&c| clock[c]).unwrap();
        let k = rng.below(keys as u64) as usize;
        let key = format!("key{k}");
        let op = match rng.below(100) {
            0..=39 => Op::get(&key),
            40..=74 => {
                let v = format!("c{c}-{n}");
                written[k].push(v.clone());
                Op::put(&key, v)
            }
            _ => {
                let w = &written[k];
                let expected = if w.is_empty() || rng.chance(0.15) {
                    None
                } else {
                    let back = (rng.below(3) as usize).min(w.len() - 1);
                    Some(w[w.len() - 1 - back].clone())
                };
                let v = format!("c{c}-{n}");
                written[k].push(v.clone());
                Op::Cas {
                    key,
                    expected,
                    new: v,
                }
            }
        };
        let invoke = clock[c] + rng.below(50);
        let is_unknown = rng.chance(unknown);
        let (point, complete, applies) = if is_unknown {
            // Took effect anywhere after the invocation, even after the client gave up.
            let complete = invoke + 1 + rng.below(300);
            (invoke + rng.below(2000), complete, rng.chance(0.5))
        } else {
            let point = invoke + rng.below(100);
            (point, point + rng.below(100), true)
        };
        clock[c] = complete + 1;
        let outcome = if is_unknown {
            Outcome::Unknown
        } else {
            Outcome::Ok(OpResult::Written) // filled in below
        };
        gen.push(Gen {
            op: Operation::new(c as ClientId, op, invoke, complete, outcome),
            point,
            applies,
        });
    }
    // Run the operations that take effect, in the order of their points, on a register.
    let mut order: Vec<usize> = (0..gen.len()).filter(|&i| gen[i].applies).collect();
    order.sort_by_key(|&i| (gen[i].point, i));
    let mut register: HashMap<String, String> = HashMap::new();
    for i in order {
        let g = &mut gen[i];
        let result = match &g.op.op {
            Op::Get { key } => OpResult::Read(register.get(key).cloned()),
            Op::Put { key, value } => {
                register.insert(key.clone(), value.clone());
                OpResult::Written
            }
            Op::Delete { key } => {
                register.remove(key);
                OpResult::Written
            }
            Op::Cas { key, expected, new } => {
                let ok = register.get(key) == expected.as_ref();
                if ok {
                    register.insert(key.clone(), new.clone());
                }
                OpResult::Swapped(ok)
            }
        };
        if g.op.outcome != Outcome::Unknown {
            g.op.outcome = Outcome::Ok(result);
        }
    }
    gen.into_iter().map(|g| g.op).collect()
}

/// Replaces one read's result with a value that was overwritten for sure before the read
/// started: a put P, then (strictly after) a put Q of the same key, then (strictly after)
/// the read, which now claims to see P's value. Values are unique, so only P wrote it: no
/// linearization exists. The index of the read, or None when no such triple exists.
fn corrupt_one_read(h: &mut [Operation], rng: &mut Rng) -> Option<usize> {
    let done = |o: &Operation| o.outcome != Outcome::Unknown;
    let mut reads: Vec<usize> = (0..h.len())
        .filter(|&i| done(&h[i]) && matches!(h[i].op, Op::Get { .. }))
        .collect();
    // Shuffle so that a random read is tried first.
    for i in (1..reads.len()).rev() {
        reads.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for g in reads {
        let key = h[g].op.key().to_owned();
        let puts: Vec<usize> = (0..h.len())
            .filter(|&i| done(&h[i]) && matches!(&h[i].op, Op::Put { key: k, .. } if *k == key))
            .collect();
        for &q in &puts {
            if h[q].complete >= h[g].invoke {
                continue;
            }
            for &p in &puts {
                if h[p].complete < h[q].invoke {
                    let Op::Put { value, .. } = &h[p].op else {
                        unreachable!()
                    };
                    h[g].outcome = Outcome::Ok(OpResult::Read(Some(value.clone())));
                    return Some(g);
                }
            }
        }
    }
    None
}

#[test]
fn large_random_valid_history() {
    let h = random_history(0x5eed, 5, 10, 5000, 0.03);
    let unknown = h.iter().filter(|o| o.outcome == Outcome::Unknown).count();
    let cas_ok = h
        .iter()
        .filter(|o| o.outcome == Outcome::Ok(OpResult::Swapped(true)))
        .count();
    let cas_failed = h
        .iter()
        .filter(|o| o.outcome == Outcome::Ok(OpResult::Swapped(false)))
        .count();
    assert!(
        unknown > 50 && cas_ok > 50 && cas_failed > 50,
        "{unknown} {cas_ok} {cas_failed}"
    );
    let start = Instant::now();
    assert_ok(&h);
    let took = start.elapsed();
    eprintln!("5000 ops, 10 keys, 5 clients, {unknown} unknown: checked in {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn large_random_valid_history_on_one_key() {
    // All 5 clients on one key: 2000 operations in one search.
    let h = random_history(0xfeed, 5, 1, 2000, 0.03);
    let start = Instant::now();
    assert_ok(&h);
    eprintln!("2000 ops on one key: checked in {:?}", start.elapsed());
}

#[test]
fn random_valid_histories() {
    for seed in 0..40 {
        let keys = 1 + (seed % 3) as usize;
        let h = random_history(seed, 2 + seed % 5, keys, 300, 0.1);
        if let Err(v) = check(&h) {
            panic!("seed {seed}: {v}");
        }
    }
}

#[test]
fn random_corrupted_histories_are_rejected() {
    let mut rejected = 0;
    for seed in 0..20 {
        let mut h = random_history(1000 + seed, 5, 10, 1000, 0.03);
        assert_ok(&h);
        let mut rng = Rng(seed);
        let Some(g) = corrupt_one_read(&mut h, &mut rng) else {
            continue;
        };
        let key = h[g].op.key().to_owned();
        let v = check(&h).expect_err("the corrupted history must be rejected");
        assert_eq!(v.kind, ViolationKind::NotLinearizable, "seed {seed}: {v}");
        assert_eq!(v.failing_keys, vec![key], "seed {seed}: {v}");
        rejected += 1;
    }
    assert!(
        rejected >= 15,
        "only {rejected} histories could be corrupted"
    );
}

#[test]
fn large_random_corrupted_history_is_rejected() {
    let mut h = random_history(0x5eed, 5, 10, 5000, 0.03);
    let g = corrupt_one_read(&mut h, &mut Rng(1)).expect("a read to corrupt");
    let start = Instant::now();
    let v = check(&h).expect_err("the corrupted history must be rejected");
    eprintln!(
        "corrupted 5000-op history rejected in {:?}:\n{v}",
        start.elapsed()
    );
    assert_eq!(v.key, h[g].op.key());
    assert!(
        v.excerpt.iter().any(|o| *o == h[g]) || v.excerpt.len() > 1,
        "{v}"
    );
}

/// Is there a linearization? By trying every order (small histories only).
fn brute_force(h: &[Operation]) -> bool {
    fn apply(state: &Option<String>, o: &Operation) -> Option<Option<String>> {
        let unknown = o.outcome == Outcome::Unknown;
        match (&o.op, &o.outcome) {
            (Op::Get { .. }, Outcome::Unknown) => Some(state.clone()),
            (Op::Get { .. }, Outcome::Ok(OpResult::Read(v))) => (v == state).then(|| v.clone()),
            (Op::Put { value, .. }, _) => Some(Some(value.clone())),
            (Op::Delete { .. }, _) => Some(None),
            (Op::Cas { expected, new, .. }, outcome) => {
                let matches = state == expected;
                if unknown || *outcome == Outcome::Ok(OpResult::Swapped(true)) {
                    matches.then(|| Some(new.clone()))
                } else {
                    (!matches).then(|| state.clone())
                }
            }
            _ => None,
        }
    }
    fn search(h: &[Operation], done: &mut Vec<bool>, state: &Option<String>) -> bool {
        let known_left = (0..h.len()).any(|i| !done[i] && h[i].outcome != Outcome::Unknown);
        if !known_left {
            return true;
        }
        for i in 0..h.len() {
            if done[i] {
                continue;
            }
            // i may go next unless a known op still to place completed before i began.
            let blocked = (0..h.len()).any(|j| {
                !done[j]
                    && j != i
                    && h[j].outcome != Outcome::Unknown
                    && h[j].complete < h[i].invoke
            });
            if blocked {
                continue;
            }
            if let Some(next) = apply(state, &h[i]) {
                done[i] = true;
                let ok = search(h, done, &next);
                done[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    search(h, &mut vec![false; h.len()], &None)
}

#[test]
fn agrees_with_brute_force_on_small_histories() {
    let mut rng = Rng(42);
    let (mut valid, mut invalid) = (0, 0);
    for seed in 0..3000 {
        let mut h = random_history(seed, 3, 1, 7, if seed % 2 == 0 { 0.2 } else { 0.5 });
        if rng.chance(0.6) {
            // Corrupt one operation at random: a read's value, a cas's result, or times.
            let i = rng.below(h.len() as u64) as usize;
            match (&h[i].op, &h[i].outcome) {
                (Op::Get { .. }, Outcome::Ok(_)) => {
                    let other = rng.below(h.len() as u64) as usize;
                    let v = match &h[other].op {
                        Op::Put { value, .. } => Some(value.clone()),
                        Op::Cas { new, .. } => Some(new.clone()),
                        _ => None,
                    };
                    h[i].outcome = Outcome::Ok(OpResult::Read(v));
                }
                (Op::Cas { .. }, Outcome::Ok(OpResult::Swapped(b))) => {
                    h[i].outcome = Outcome::Ok(OpResult::Swapped(!b));
                }
                _ => {
                    let shift = rng.below(200);
                    h[i].invoke += shift;
                    h[i].complete += shift;
                }
            }
        }
        let expected = brute_force(&h);
        let got = check(&h);
        assert_eq!(got.is_ok(), expected, "seed {seed}: {got:?}\n{h:#?}");
        if expected {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(
        valid > 500 && invalid > 300,
        "{valid} valid, {invalid} invalid"
    );
}
