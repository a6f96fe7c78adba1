//! Key ranges as etcd reads them: `end` empty is the key alone, `end` "\0" is every key from
//! `key` on, otherwise `[key, end)`.

use std::fmt;
use std::ops::Bound;

#[derive(Debug, Clone, Copy)]
pub struct KeyRange<'a> {
    pub key: &'a str,
    pub end: &'a str,
}

/// The `end` that means "no upper bound".
const TO_THE_END: &str = "\0";

impl<'a> KeyRange<'a> {
    pub fn new(key: &'a str, end: &'a str) -> KeyRange<'a> {
        KeyRange { key, end }
    }

    pub fn contains(&self, k: &str) -> bool {
        if self.end.is_empty() {
            k == self.key
        } else if self.end == TO_THE_END {
            k >= self.key
        } else {
            k >= self.key && k < self.end
        }
    }

    /// Bounds for `BTreeMap::range`; `None` when the range is empty (an `end` at or before
    /// `key`), which `range` would panic on.
    pub fn bounds(&self) -> Option<(Bound<&'a str>, Bound<&'a str>)> {
        if self.end.is_empty() {
            Some((Bound::Included(self.key), Bound::Included(self.key)))
        } else if self.end == TO_THE_END {
            Some((Bound::Included(self.key), Bound::Unbounded))
        } else if self.key < self.end {
            Some((Bound::Included(self.key), Bound::Excluded(self.end)))
        } else {
            None
        }
    }

    /// How many of `sorted` (ascending) are before the range and how many are before its
    /// end: the range's slice of a sorted list of keys.
    pub fn slice_of<T>(&self, sorted: &[T], key_of: impl Fn(&T) -> &str) -> (usize, usize) {
        let start = sorted.partition_point(|t| key_of(t) < self.key);
        let end = if self.end.is_empty() {
            sorted.partition_point(|t| key_of(t) <= self.key)
        } else if self.end == TO_THE_END {
            sorted.len()
        } else {
            sorted.partition_point(|t| key_of(t) < self.end)
        };
        (start, end.max(start))
    }
}

impl fmt::Display for KeyRange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = super::describe::text(self.key);
        if self.end.is_empty() {
            write!(f, "{key}")
        } else if self.end == TO_THE_END {
            write!(f, "[{key}, end of keys)")
        } else {
            write!(f, "[{key}, {})", super::describe::text(self.end))
        }
    }
}
