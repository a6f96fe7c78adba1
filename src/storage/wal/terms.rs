//! Index -> term lookup for the live log tail, kept as runs because terms
//! change rarely: the writer needs terms to decide whether a cut point
//! matches its log without holding every entry in memory.

/// Runs of `(first_index, term)`, ascending; each run extends to the next
/// run's start, the last to `last`.
#[derive(Debug, Default, Clone)]
pub(crate) struct TermRuns {
    runs: Vec<(u64, u64)>,
    last: u64,
}

impl TermRuns {
    /// Records `(index, term)` as the new last entry, dropping anything at or
    /// after `index` (an overwrite).
    pub fn push(&mut self, index: u64, term: u64) {
        self.truncate_from(index);
        match self.runs.last() {
            Some(&(_, t)) if t == term && self.last + 1 == index => {}
            _ => self.runs.push((index, term)),
        }
        self.last = index;
    }

    /// Term of the entry at `index`, if it is held.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index > self.last {
            return None;
        }
        let pos = self.runs.partition_point(|&(start, _)| start <= index);
        pos.checked_sub(1).map(|p| self.runs[p].1)
    }

    /// Forgets entries up to and including `index`.
    pub fn drop_through(&mut self, index: u64) {
        if index >= self.last {
            self.clear();
            return;
        }
        let pos = self.runs.partition_point(|&(start, _)| start <= index);
        if pos == 0 {
            return;
        }
        let term = self.runs[pos - 1].1;
        self.runs.drain(..pos);
        self.runs.insert(0, (index + 1, term));
    }

    pub fn clear(&mut self) {
        self.runs.clear();
        self.last = 0;
    }

    fn truncate_from(&mut self, index: u64) {
        let pos = self.runs.partition_point(|&(start, _)| start < index);
        self.runs.truncate(pos);
        if self.runs.is_empty() {
            self.last = 0;
        } else {
            self.last = self.last.min(index.saturating_sub(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_pushes_overwrites_and_drops() {
        let mut t = TermRuns::default();
        for i in 1..=5 {
            t.push(i, 1);
        }
        for i in 6..=9 {
            t.push(i, 2);
        }
        assert_eq!(t.term(0), None);
        assert_eq!(t.term(5), Some(1));
        assert_eq!(t.term(6), Some(2));
        assert_eq!(t.term(10), None);

        // Overwrite from 4 with term 3.
        t.push(4, 3);
        t.push(5, 3);
        assert_eq!(t.term(3), Some(1));
        assert_eq!(t.term(4), Some(3));
        assert_eq!(t.term(6), None);

        t.drop_through(3);
        assert_eq!(t.term(3), None);
        assert_eq!(t.term(4), Some(3));

        t.drop_through(4);
        assert_eq!(t.term(5), Some(3));
        t.push(6, 3);
        assert_eq!(t.term(6), Some(3));

        t.drop_through(6);
        assert_eq!(t.term(6), None);
    }
}
