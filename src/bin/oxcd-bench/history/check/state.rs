//! The key space at one revision, with the keys of each lease at hand (a lease leaving takes
//! all its keys in one revision) and a count of the keys in any range without walking it
//! (a paginated list of a big prefix answers its full count on every page).

use super::keyrange::KeyRange;
use crate::history::Kv;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct State {
    kvs: BTreeMap<String, Kv>,
    leases: HashMap<i64, BTreeSet<String>>,
    /// Every key the run ever has, sorted; `present` counts the live ones among them.
    universe: Vec<String>,
    present: Fenwick,
    /// A key outside `universe` was put: counts fall back to walking the range.
    uncounted: bool,
}

impl State {
    /// `universe`: every key that is ever put (the snapshot's and the events' keys).
    pub fn new<'a>(kvs: &[Kv], universe: impl IntoIterator<Item = &'a str>) -> State {
        let mut universe: Vec<String> = universe.into_iter().map(str::to_string).collect();
        universe.sort_unstable();
        universe.dedup();
        let mut state = State {
            present: Fenwick::new(universe.len()),
            universe,
            ..State::default()
        };
        for kv in kvs {
            state.put(kv.clone());
        }
        state
    }

    /// How many keys `range` holds.
    pub fn count(&self, range: KeyRange<'_>) -> usize {
        if self.uncounted {
            return self.range(range).count();
        }
        let (start, end) = range.slice_of(&self.universe, String::as_str);
        self.present.before(end) - self.present.before(start)
    }

    fn mark(&mut self, key: &str, present: bool) {
        match self.universe.binary_search_by(|k| k.as_str().cmp(key)) {
            Ok(i) => self.present.add(i, present),
            Err(_) => self.uncounted = true,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Kv> {
        self.kvs.get(key)
    }

    /// The keys in `range`, in key order.
    pub fn range(&self, range: KeyRange<'_>) -> impl Iterator<Item = &Kv> + '_ {
        range
            .bounds()
            .map(|bounds| self.kvs.range::<str, _>(bounds))
            .into_iter()
            .flatten()
            .map(|(_, kv)| kv)
    }

    pub fn with_lease(&self, lease: i64) -> impl Iterator<Item = &str> + '_ {
        self.leases
            .get(&lease)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn put(&mut self, kv: Kv) {
        let (key, lease) = (kv.key.clone(), kv.lease);
        match self.kvs.insert(key.clone(), kv) {
            Some(old) => self.unlink(&old),
            None => self.mark(&key, true),
        }
        if lease != 0 {
            self.leases.entry(lease).or_default().insert(key);
        }
    }

    pub fn delete(&mut self, key: &str) -> Option<Kv> {
        let old = self.kvs.remove(key)?;
        self.unlink(&old);
        self.mark(key, false);
        Some(old)
    }

    fn unlink(&mut self, old: &Kv) {
        if old.lease == 0 {
            return;
        }
        if let Some(keys) = self.leases.get_mut(&old.lease) {
            keys.remove(&old.key);
            if keys.is_empty() {
                self.leases.remove(&old.lease);
            }
        }
    }
}

/// A Fenwick (binary indexed) tree of 0/1 flags: set, clear and count-before in O(log n).
#[derive(Debug, Default)]
struct Fenwick {
    tree: Vec<usize>,
}

impl Fenwick {
    fn new(n: usize) -> Fenwick {
        Fenwick {
            tree: vec![0; n + 1],
        }
    }

    /// Flag `i` goes up (`true`) or down by one.
    fn add(&mut self, i: usize, up: bool) {
        let mut at = i + 1;
        while let Some(slot) = self.tree.get_mut(at) {
            *slot = if up {
                *slot + 1
            } else {
                slot.saturating_sub(1)
            };
            at += at & at.wrapping_neg();
        }
    }

    /// Flags set among `0..i`.
    fn before(&self, i: usize) -> usize {
        let mut at = i.min(self.tree.len().saturating_sub(1));
        let mut sum = 0;
        while at > 0 {
            sum += self.tree.get(at).copied().unwrap_or(0);
            at -= at & at.wrapping_neg();
        }
        sum
    }
}
