//! Watchers grouped by what they watch, so an applied batch is matched by
//! looking its keys up instead of testing every watcher: single-key
//! watchers by key in a hash map, range watchers by their exact range (many
//! clients watch the same prefix), each range resolved against the batch's
//! sorted keys with two binary searches.

use std::collections::{HashMap, HashSet};

use super::watcher::KeyRange;
use super::WatchKey;
use crate::proto::mvccpb::Event;

/// A range's bounds; `None` end is "every key from start on".
type Bounds = (Vec<u8>, Option<Vec<u8>>);

#[derive(Default)]
pub struct WatcherIndex {
    by_key: HashMap<Vec<u8>, HashSet<WatchKey>>,
    by_range: HashMap<Bounds, HashSet<WatchKey>>,
}

/// Watchers that may want some of a batch's events, with those events'
/// positions in the batch (ascending, so still in revision order).
pub struct Candidates<'a> {
    pub watchers: &'a HashSet<WatchKey>,
    pub events: Vec<usize>,
}

impl WatcherIndex {
    pub fn insert(&mut self, watcher: WatchKey, range: &KeyRange) {
        match bounds(range) {
            Ok(key) => self.by_key.entry(key).or_default().insert(watcher),
            Err(bounds) => self.by_range.entry(bounds).or_default().insert(watcher),
        };
    }

    pub fn remove(&mut self, watcher: WatchKey, range: &KeyRange) {
        match bounds(range) {
            Ok(key) => remove_from(&mut self.by_key, key, watcher),
            Err(bounds) => remove_from(&mut self.by_range, bounds, watcher),
        }
    }

    /// Every group of watchers whose keys some event of `events` touches.
    pub fn candidates<'a>(&'a self, events: &[Event]) -> Vec<Candidates<'a>> {
        let mut out = Vec::new();
        // Every applied batch comes here, watched or not: no map to build
        // when no watcher is on a single key.
        let mut per_key: HashMap<&[u8], Vec<usize>> = HashMap::new();
        if !self.by_key.is_empty() {
            for (at, event) in events.iter().enumerate() {
                per_key.entry(event_key(event)).or_default().push(at);
            }
        }
        for (key, positions) in &per_key {
            if let Some(watchers) = self.by_key.get(*key) {
                out.push(Candidates {
                    watchers,
                    events: positions.clone(),
                });
            }
        }
        if self.by_range.is_empty() {
            return out;
        }
        let mut sorted: Vec<(&[u8], usize)> = events
            .iter()
            .enumerate()
            .map(|(at, e)| (event_key(e), at))
            .collect();
        sorted.sort_unstable();
        for ((start, end), watchers) in &self.by_range {
            let lo = sorted.partition_point(|(k, _)| *k < start.as_slice());
            let hi = match end {
                Some(end) => sorted.partition_point(|(k, _)| *k < end.as_slice()),
                None => sorted.len(),
            };
            if lo >= hi {
                continue;
            }
            let mut positions: Vec<usize> = sorted[lo..hi].iter().map(|(_, at)| *at).collect();
            positions.sort_unstable();
            out.push(Candidates {
                watchers,
                events: positions,
            });
        }
        out
    }
}

fn bounds(range: &KeyRange) -> Result<Vec<u8>, Bounds> {
    match range {
        KeyRange::One(key) => Ok(key.clone()),
        KeyRange::From(start) => Err((start.clone(), None)),
        KeyRange::Between(start, end) => Err((start.clone(), Some(end.clone()))),
    }
}

fn remove_from<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, HashSet<WatchKey>>,
    key: K,
    watcher: WatchKey,
) {
    if let Some(set) = map.get_mut(&key) {
        set.remove(&watcher);
        if set.is_empty() {
            map.remove(&key);
        }
    }
}

fn event_key(event: &Event) -> &[u8] {
    event.kv.as_ref().map(|kv| kv.key.as_slice()).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mvccpb::KeyValue;

    fn event(key: &str, rev: i64) -> Event {
        Event {
            kv: Some(KeyValue {
                key: key.as_bytes().to_vec(),
                mod_revision: rev,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn one(key: &str) -> KeyRange {
        KeyRange::One(key.as_bytes().to_vec())
    }

    /// (watcher, event positions) pairs, sorted, for easy comparison.
    fn matched(index: &WatcherIndex, events: &[Event]) -> Vec<(WatchKey, Vec<usize>)> {
        let mut out: Vec<_> = index
            .candidates(events)
            .into_iter()
            .flat_map(|c| {
                let events = c.events.clone();
                c.watchers.iter().map(move |w| (*w, events.clone()))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn keys_and_ranges_find_their_events_in_revision_order() {
        let mut index = WatcherIndex::default();
        index.insert((1, 0), &one("a"));
        index.insert((1, 1), &one("a"));
        index.insert((2, 0), &KeyRange::Between(b"b".to_vec(), b"d".to_vec()));
        index.insert((3, 0), &KeyRange::From(b"c".to_vec()));
        index.insert((4, 0), &one("zz-unused"));
        let events = [event("c", 5), event("a", 6), event("b", 6), event("e", 7)];
        assert_eq!(
            matched(&index, &events),
            vec![
                ((1, 0), vec![1]),
                ((1, 1), vec![1]),
                ((2, 0), vec![0, 2]),
                ((3, 0), vec![0, 3]),
            ]
        );
    }

    #[test]
    fn removed_watchers_are_not_matched_and_empty_groups_go() {
        let mut index = WatcherIndex::default();
        let prefix = KeyRange::Between(b"p/".to_vec(), b"p0".to_vec());
        index.insert((1, 0), &one("a"));
        index.insert((1, 1), &prefix);
        index.remove((1, 0), &one("a"));
        index.remove((1, 1), &prefix);
        assert!(matched(&index, &[event("a", 2), event("p/x", 2)]).is_empty());
        assert!(index.by_key.is_empty() && index.by_range.is_empty());
    }

    #[test]
    fn an_end_key_is_exclusive() {
        let mut index = WatcherIndex::default();
        index.insert((1, 0), &KeyRange::Between(b"a".to_vec(), b"b".to_vec()));
        assert!(matched(&index, &[event("b", 2)]).is_empty());
        assert_eq!(matched(&index, &[event("a\0", 2)]), vec![((1, 0), vec![0])]);
    }
}
