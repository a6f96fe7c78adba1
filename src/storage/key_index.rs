//! In-memory index from user key to the revisions that changed it.
//!
//! Each key keeps a list of generations: a generation is one life of the key,
//! from the put that created it to the tombstone that deleted it. The last
//! generation is the open one (empty while the key is deleted). LMDB only
//! stores revision-keyed records; this index is what maps keys to them.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use smallvec::{smallvec, SmallVec};

use super::error::{StorageError, StorageResult};
use super::revision::Revision;

/// One life of a key. For every generation but the last, the final entry of
/// `revs` is the tombstone that ended it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Generation {
    /// Revision of the put that created the key in this generation.
    created: Revision,
    /// Number of changes since creation (the tombstone included), so that a
    /// compacted generation still reports the right version.
    ver: i64,
    /// Most keys are written once between compactions: one revision is kept
    /// inline, which saves an allocation per key.
    revs: SmallVec<[Revision; 1]>,
}

/// What the index knows about a key at some revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAt {
    /// The revision holding the key's value.
    pub modified: Revision,
    pub created: Revision,
    pub version: i64,
}

/// All generations of one key. Kept small (one generation inline, no
/// cached newest revision): a million keys cost a million of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyIndex {
    /// Never empty; the last generation is the open one.
    generations: SmallVec<[Generation; 1]>,
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            generations: smallvec![Generation::default()],
        }
    }
}

/// Keys up to 16 bytes live inside the map's node, in the room a `Vec`'s
/// pointer and length take.
type IndexKey = SmallVec<[u8; 16]>;

impl KeyIndex {
    /// Records a put at `rev`, starting a generation if the key is deleted.
    pub fn put(&mut self, rev: Revision) -> StorageResult<()> {
        let newest = self.latest_rev();
        if rev <= newest {
            return Err(StorageError::Corrupt(format!(
                "key index: put at {rev:?} not after {newest:?}"
            )));
        }
        let g = self.open_generation_mut();
        if g.revs.is_empty() {
            g.created = rev;
            g.ver = 0;
        }
        g.revs.push(rev);
        g.ver += 1;
        Ok(())
    }

    /// Starts a generation from a record that may not be its first one (the
    /// earlier ones were compacted away), taking created/version from it.
    fn restore(&mut self, created: Revision, rev: Revision, ver: i64) -> StorageResult<()> {
        self.put(rev)?;
        let g = self.open_generation_mut();
        g.created = created;
        g.ver = ver;
        Ok(())
    }

    /// Ends the current generation with a tombstone at `rev`. Returns false
    /// (and changes nothing) when the key is not live.
    pub fn tombstone(&mut self, rev: Revision) -> StorageResult<bool> {
        if !self.is_live() {
            return Ok(false);
        }
        self.put(rev)?;
        self.generations.push(Generation::default());
        Ok(true)
    }

    /// Reverts the latest [`KeyIndex::put`]; used to roll back an aborted batch.
    fn undo_put(&mut self) {
        let g = self.open_generation_mut();
        g.revs.pop();
        g.ver -= 1;
        if g.revs.is_empty() {
            // back to a deleted key: forget the aborted creation
            *g = Generation::default();
        }
    }

    /// Reverts the latest [`KeyIndex::tombstone`] that returned true.
    fn undo_tombstone(&mut self) {
        if self.generations.len() > 1 {
            self.generations.pop();
        }
        self.undo_put();
    }

    fn latest_rev(&self) -> Revision {
        self.generations
            .iter()
            .rev()
            .find_map(|g| g.revs.last().copied())
            .unwrap_or_default()
    }

    fn open_generation_mut(&mut self) -> &mut Generation {
        if self.generations.is_empty() {
            self.generations.push(Generation::default());
        }
        let last = self.generations.len() - 1;
        &mut self.generations[last]
    }

    /// True when the key currently exists (its open generation has revisions).
    pub fn is_live(&self) -> bool {
        self.generations.last().is_some_and(|g| !g.revs.is_empty())
    }

    /// True when nothing is recorded at all; such entries are dropped.
    pub fn is_empty(&self) -> bool {
        self.generations.iter().all(|g| g.revs.is_empty())
    }

    /// The key's state as of `at_rev`, or None if it did not exist then.
    pub fn get(&self, at_rev: i64) -> Option<KeyAt> {
        let last = self.generations.len().checked_sub(1)?;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let (Some(first), Some(end)) = (g.revs.first(), g.revs.last()) else {
                continue;
            };
            if i != last && end.main <= at_rev {
                // the key was deleted at or before at_rev and not recreated
                return None;
            }
            if first.main <= at_rev {
                let n = g.revs.iter().rposition(|r| r.main <= at_rev)?;
                let newer = (g.revs.len() - 1 - n) as i64;
                return Some(KeyAt {
                    modified: g.revs[n],
                    created: g.created,
                    version: g.ver - newer,
                });
            }
        }
        None
    }

    /// Where a compaction at `at_rev` cuts: the first generation that must
    /// survive, and in it the index of the newest revision <= at_rev.
    fn compaction_point(&self, at_rev: i64) -> (usize, Option<usize>) {
        let last = self.generations.len().saturating_sub(1);
        let gen_idx = self
            .generations
            .iter()
            .position(|g| g.revs.last().is_some_and(|t| t.main > at_rev))
            .unwrap_or(last)
            .min(last);
        let rev_idx = self
            .generations
            .get(gen_idx)
            .and_then(|g| g.revs.iter().rposition(|r| r.main <= at_rev));
        (gen_idx, rev_idx)
    }

    /// Adds to `keep` the revision a compaction at `at_rev` must preserve.
    pub fn keep(&self, at_rev: i64, keep: &mut HashSet<Revision>) {
        let (gen_idx, rev_idx) = self.compaction_point(at_rev);
        if let Some(r) = rev_idx {
            let is_tombstone = gen_idx + 1 != self.generations.len()
                && r + 1 == self.generations[gen_idx].revs.len();
            if !is_tombstone {
                keep.insert(self.generations[gen_idx].revs[r]);
            }
        }
    }

    /// Drops everything a read at or after `at_rev` can never need; adds the
    /// preserved revision (if any) to `keep`.
    pub fn compact(&mut self, at_rev: i64, keep: &mut HashSet<Revision>) {
        let (mut gen_idx, rev_idx) = self.compaction_point(at_rev);
        let last = self.generations.len().saturating_sub(1);
        if let Some(g) = self.generations.get_mut(gen_idx) {
            if let Some(r) = rev_idx {
                g.revs.drain(..r);
                if gen_idx != last && g.revs.len() == 1 {
                    // only the tombstone is left: the whole generation goes
                    gen_idx += 1;
                } else {
                    keep.insert(g.revs[0]);
                }
            }
        }
        self.generations.drain(..gen_idx);
        if self.generations.is_empty() {
            self.generations.push(Generation::default());
        }
    }
}

/// A byte-key range as LMDB and `BTreeMap` take it.
pub type ByteBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// How etcd's `(key, range_end)` pair selects keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpan<'a> {
    /// `end` empty: exactly `key`.
    One(&'a [u8]),
    /// `end == [0]`: every key >= `key`.
    From(&'a [u8]),
    /// `[key, end)` with key < end.
    Between(&'a [u8], &'a [u8]),
    /// `key >= end`: nothing.
    Nothing,
}

impl<'a> KeySpan<'a> {
    pub fn new(key: &'a [u8], end: &'a [u8]) -> Self {
        if end.is_empty() {
            KeySpan::One(key)
        } else if end == [0] {
            KeySpan::From(key)
        } else if key < end {
            KeySpan::Between(key, end)
        } else {
            KeySpan::Nothing
        }
    }

    fn bounds(self) -> Option<ByteBounds<'a>> {
        match self {
            KeySpan::One(k) => Some((Bound::Included(k), Bound::Included(k))),
            KeySpan::From(k) => Some((Bound::Included(k), Bound::Unbounded)),
            KeySpan::Between(k, e) => Some((Bound::Included(k), Bound::Excluded(e))),
            KeySpan::Nothing => None,
        }
    }
}

/// What to undo when a write batch is abandoned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexChange {
    Put(Vec<u8>),
    Tombstone(Vec<u8>),
}

/// The whole key space: ordered map from key to its [`KeyIndex`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeIndex {
    keys: BTreeMap<IndexKey, KeyIndex>,
}

impl TreeIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys with any recorded history (live or not).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys that exist now (deleted ones keep history until compacted).
    pub fn live_keys(&self) -> usize {
        self.keys.values().filter(|k| k.is_live()).count()
    }

    pub fn key_index(&self, key: &[u8]) -> Option<&KeyIndex> {
        self.keys.get(key)
    }

    pub fn get(&self, key: &[u8], at_rev: i64) -> Option<KeyAt> {
        self.keys.get(key).and_then(|ki| ki.get(at_rev))
    }

    /// Calls `f` for every key in the span that existed at `at_rev`, in key
    /// order; stops early when `f` returns false.
    pub fn visit(
        &self,
        key: &[u8],
        end: &[u8],
        at_rev: i64,
        mut f: impl FnMut(&[u8], KeyAt) -> bool,
    ) {
        let Some(bounds) = KeySpan::new(key, end).bounds() else {
            return;
        };
        for (k, ki) in self.keys.range::<[u8], _>(bounds) {
            if let Some(at) = ki.get(at_rev) {
                if !f(k, at) {
                    return;
                }
            }
        }
    }

    /// The value-holding revisions of the keys in the span at `at_rev`.
    pub fn revisions(&self, key: &[u8], end: &[u8], at_rev: i64) -> Vec<Revision> {
        let mut out = Vec::new();
        self.visit(key, end, at_rev, |_, at| {
            out.push(at.modified);
            true
        });
        out
    }

    /// How many keys in the span existed at `at_rev`.
    pub fn count(&self, key: &[u8], end: &[u8], at_rev: i64) -> usize {
        let mut n = 0;
        self.visit(key, end, at_rev, |_, _| {
            n += 1;
            true
        });
        n
    }

    /// The keys in the span that existed at `at_rev`.
    pub fn keys(&self, key: &[u8], end: &[u8], at_rev: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.visit(key, end, at_rev, |k, _| {
            out.push(k.to_vec());
            true
        });
        out
    }

    pub fn put(&mut self, key: &[u8], rev: Revision) -> StorageResult<()> {
        match self.keys.get_mut(key) {
            Some(ki) => ki.put(rev),
            None => {
                let mut ki = KeyIndex::default();
                ki.put(rev)?;
                self.keys.insert(IndexKey::from_slice(key), ki);
                Ok(())
            }
        }
    }

    /// Ends the key's generation; false when the key is not live.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) -> StorageResult<bool> {
        match self.keys.get_mut(key) {
            Some(ki) => ki.tombstone(rev),
            None => Ok(false),
        }
    }

    /// Replays one stored record while rebuilding the index at open time.
    /// `created_main`/`version` come from the stored KeyValue, because the
    /// first surviving record of a compacted generation is not its creation.
    pub fn restore_record(
        &mut self,
        key: &[u8],
        rev: Revision,
        tombstone: bool,
        created_main: i64,
        version: i64,
    ) -> StorageResult<()> {
        let live = self.keys.get(key).is_some_and(KeyIndex::is_live);
        if tombstone {
            // a tombstone with nothing live before it carries no information
            if live {
                self.tombstone(key, rev)?;
            }
            return Ok(());
        }
        if live {
            return self.put(key, rev);
        }
        let created = if created_main == rev.main {
            rev
        } else {
            Revision::new(created_main, 0)
        };
        self.keys
            .entry(IndexKey::from_slice(key))
            .or_default()
            .restore(created, rev, version)
    }

    /// Rolls back one change made by [`TreeIndex::put`] or a successful
    /// [`TreeIndex::tombstone`]; changes must be undone newest first.
    pub fn undo(&mut self, change: &IndexChange) {
        let key = match change {
            IndexChange::Put(k) | IndexChange::Tombstone(k) => k,
        };
        if let Some(ki) = self.keys.get_mut(key.as_slice()) {
            match change {
                IndexChange::Put(_) => ki.undo_put(),
                IndexChange::Tombstone(_) => ki.undo_tombstone(),
            }
            if ki.is_empty() {
                self.keys.remove(key.as_slice());
            }
        }
    }

    /// The revisions a compaction at `at_rev` must keep, without changing
    /// the index.
    pub fn keep(&self, at_rev: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        for ki in self.keys.values() {
            ki.keep(at_rev, &mut keep);
        }
        keep
    }

    /// Compacts every key at `at_rev`, dropping keys left with no history;
    /// returns the revisions kept (the same set [`TreeIndex::keep`] gives).
    pub fn compact(&mut self, at_rev: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        self.keys.retain(|_, ki| {
            ki.compact(at_rev, &mut keep);
            !ki.is_empty()
        });
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64, sub: i64) -> Revision {
        Revision::new(main, sub)
    }

    /// The index's memory per key is what a store of a million keys costs
    /// (issue 18's RSS target): a written-once key is one node slot of 80
    /// bytes and, for keys up to 16 bytes, no allocation at all.
    #[test]
    fn a_written_once_key_needs_no_allocation() {
        assert_eq!(std::mem::size_of::<IndexKey>(), 24);
        assert_eq!(std::mem::size_of::<KeyIndex>(), 56);
        let mut ki = KeyIndex::default();
        ki.put(r(2, 0)).unwrap();
        assert!(!ki.generations.spilled() && !ki.generations[0].revs.spilled());
        assert!(!IndexKey::from_slice(b"0123456789abcdef").spilled());
    }

    #[test]
    fn a_put_not_after_the_newest_revision_is_refused() {
        let mut ki = sample();
        assert!(ki.put(r(12, 0)).is_err());
        assert!(ki.put(r(11, 5)).is_err());
        ki.put(r(13, 0)).unwrap();
    }

    /// put(2) put(4) del(6) put(8) put(10) del(12) on one key, like etcd's
    /// own worked example.
    fn sample() -> KeyIndex {
        let mut ki = KeyIndex::default();
        ki.put(r(2, 0)).unwrap();
        ki.put(r(4, 0)).unwrap();
        assert!(ki.tombstone(r(6, 0)).unwrap());
        ki.put(r(8, 0)).unwrap();
        ki.put(r(10, 0)).unwrap();
        assert!(ki.tombstone(r(12, 0)).unwrap());
        ki
    }

    fn gens(ki: &KeyIndex) -> Vec<Vec<i64>> {
        ki.generations
            .iter()
            .map(|g| g.revs.iter().map(|r| r.main).collect())
            .collect()
    }

    #[test]
    fn put_and_tombstone_build_generations() {
        let ki = sample();
        assert_eq!(gens(&ki), vec![vec![2, 4, 6], vec![8, 10, 12], vec![]]);
        assert!(!ki.is_live());
        assert_eq!(ki.generations[1].created, r(8, 0));
        assert_eq!(ki.generations[1].ver, 3);
    }

    #[test]
    fn tombstone_on_deleted_key_is_noop() {
        let mut ki = KeyIndex::default();
        assert!(!ki.tombstone(r(2, 0)).unwrap());
        ki.put(r(3, 0)).unwrap();
        assert!(ki.tombstone(r(4, 0)).unwrap());
        assert!(!ki.tombstone(r(5, 0)).unwrap());
        assert_eq!(gens(&ki), vec![vec![3, 4], vec![]]);
    }

    #[test]
    fn put_must_move_forward() {
        let mut ki = KeyIndex::default();
        ki.put(r(5, 1)).unwrap();
        assert!(ki.put(r(5, 1)).is_err());
        assert!(ki.put(r(5, 0)).is_err());
        ki.put(r(5, 2)).unwrap();
    }

    #[test]
    fn get_at_old_revisions() {
        let ki = sample();
        let at = |rev| {
            ki.get(rev)
                .map(|a| (a.modified.main, a.created.main, a.version))
        };
        assert_eq!(at(1), None);
        assert_eq!(at(2), Some((2, 2, 1)));
        assert_eq!(at(3), Some((2, 2, 1)));
        assert_eq!(at(4), Some((4, 2, 2)));
        assert_eq!(at(5), Some((4, 2, 2)));
        assert_eq!(at(6), None);
        assert_eq!(at(7), None);
        assert_eq!(at(8), Some((8, 8, 1)));
        assert_eq!(at(11), Some((10, 8, 2)));
        assert_eq!(at(12), None);
        assert_eq!(at(100), None);
    }

    #[test]
    fn get_with_sub_revisions_in_one_txn() {
        let mut ki = KeyIndex::default();
        ki.put(r(3, 0)).unwrap();
        ki.put(r(3, 1)).unwrap();
        assert_eq!(
            ki.get(3).map(|a| (a.modified, a.version)),
            Some((r(3, 1), 2))
        );
        assert_eq!(ki.get(2), None);
        // put then delete in the same txn: gone at that revision
        assert!(ki.tombstone(r(3, 2)).unwrap());
        assert_eq!(ki.get(3), None);
    }

    fn compacted(at: i64) -> (Vec<Vec<i64>>, Vec<i64>, bool) {
        let mut ki = sample();
        let mut keep_only = HashSet::new();
        ki.keep(at, &mut keep_only);
        let mut keep = HashSet::new();
        ki.compact(at, &mut keep);
        assert_eq!(keep, keep_only, "keep and compact disagree at {at}");
        let mut kept: Vec<i64> = keep.iter().map(|r| r.main).collect();
        kept.sort();
        (gens(&ki), kept, ki.is_empty())
    }

    #[test]
    fn compaction_keeps_latest_live_revision() {
        assert_eq!(
            compacted(1),
            (vec![vec![2, 4, 6], vec![8, 10, 12], vec![]], vec![], false)
        );
        assert_eq!(
            compacted(2),
            (vec![vec![2, 4, 6], vec![8, 10, 12], vec![]], vec![2], false)
        );
        assert_eq!(
            compacted(3),
            (vec![vec![2, 4, 6], vec![8, 10, 12], vec![]], vec![2], false)
        );
        assert_eq!(
            compacted(4),
            (vec![vec![4, 6], vec![8, 10, 12], vec![]], vec![4], false)
        );
        assert_eq!(
            compacted(5),
            (vec![vec![4, 6], vec![8, 10, 12], vec![]], vec![4], false)
        );
    }

    #[test]
    fn compaction_at_before_and_after_tombstone() {
        // just before the tombstone: the last live revision survives
        assert_eq!(compacted(11), (vec![vec![10, 12], vec![]], vec![10], false));
        // at the tombstone: the generation disappears entirely
        assert_eq!(compacted(6), (vec![vec![8, 10, 12], vec![]], vec![], false));
        assert_eq!(compacted(12), (vec![vec![]], vec![], true));
        // after it: nothing left either
        assert_eq!(compacted(7), (vec![vec![8, 10, 12], vec![]], vec![], false));
        assert_eq!(compacted(13), (vec![vec![]], vec![], true));
    }

    #[test]
    fn compaction_of_live_generation_keeps_newest() {
        let mut ki = KeyIndex::default();
        ki.put(r(2, 0)).unwrap();
        ki.put(r(3, 0)).unwrap();
        let mut keep = HashSet::new();
        ki.compact(10, &mut keep);
        assert_eq!(gens(&ki), vec![vec![3]]);
        assert_eq!(keep, HashSet::from([r(3, 0)]));
        // version/created survive the compaction
        assert_eq!(
            ki.get(10).map(|a| (a.created, a.version)),
            Some((r(2, 0), 2))
        );
        // compacting again at the same point is a no-op
        let mut again = HashSet::new();
        ki.compact(10, &mut again);
        assert_eq!(gens(&ki), vec![vec![3]]);
        assert_eq!(again, keep);
    }

    #[test]
    fn compaction_with_same_main_put_and_tombstone() {
        let mut ki = KeyIndex::default();
        ki.put(r(5, 0)).unwrap();
        ki.tombstone(r(5, 1)).unwrap();
        let mut keep = HashSet::new();
        ki.keep(4, &mut keep);
        assert!(keep.is_empty());
        ki.compact(5, &mut keep);
        assert!(keep.is_empty());
        assert!(ki.is_empty());
    }

    #[test]
    fn undo_restores_previous_state() {
        let mut t = TreeIndex::new();
        t.put(b"a", r(2, 0)).unwrap();
        let before = t.clone();
        t.put(b"a", r(3, 0)).unwrap();
        assert!(t.tombstone(b"a", r(3, 1)).unwrap());
        t.put(b"a", r(3, 2)).unwrap();
        t.put(b"b", r(3, 3)).unwrap();
        for c in [
            IndexChange::Put(b"b".to_vec()),
            IndexChange::Put(b"a".to_vec()),
            IndexChange::Tombstone(b"a".to_vec()),
            IndexChange::Put(b"a".to_vec()),
        ] {
            t.undo(&c);
        }
        assert_eq!(t, before);
    }

    fn tree() -> TreeIndex {
        let mut t = TreeIndex::new();
        t.put(b"a", r(2, 0)).unwrap();
        t.put(b"b", r(3, 0)).unwrap();
        t.put(b"c", r(4, 0)).unwrap();
        t.put(b"b", r(5, 0)).unwrap();
        t.tombstone(b"a", r(6, 0)).unwrap();
        t.put(b"d\x00", r(7, 0)).unwrap();
        t
    }

    #[test]
    fn range_at_revision() {
        let t = tree();
        let mains = |k: &[u8], e: &[u8], at| -> Vec<i64> {
            t.revisions(k, e, at).iter().map(|r| r.main).collect()
        };
        assert_eq!(mains(b"a", b"z", 1), Vec::<i64>::new());
        assert_eq!(mains(b"a", b"z", 4), vec![2, 3, 4]);
        assert_eq!(mains(b"a", b"z", 5), vec![2, 5, 4]);
        assert_eq!(mains(b"a", b"z", 7), vec![5, 4, 7]);
        assert_eq!(mains(b"a", b"c", 5), vec![2, 5]);
        assert_eq!(mains(b"b", b"", 4), vec![3]);
        assert_eq!(mains(b"a", b"", 7), Vec::<i64>::new());
        assert_eq!(mains(b"c", b"\x00", 7), vec![4, 7]);
        assert_eq!(mains(b"\x00", b"\x00", 7), vec![5, 4, 7]);
        assert_eq!(mains(b"c", b"a", 7), Vec::<i64>::new());
        assert_eq!(mains(b"c", b"c", 7), Vec::<i64>::new());
        assert_eq!(t.count(b"a", b"z", 5), 3);
        assert_eq!(
            t.keys(b"a", b"z", 7),
            vec![b"b".to_vec(), b"c".to_vec(), b"d\x00".to_vec()]
        );
    }

    #[test]
    fn tree_compaction_drops_dead_keys() {
        let mut t = tree();
        assert_eq!(t.keep(6), t.clone().compact(6));
        let keep = t.compact(6);
        let mut kept: Vec<i64> = keep.iter().map(|r| r.main).collect();
        kept.sort();
        assert_eq!(kept, vec![4, 5]);
        assert!(t.key_index(b"a").is_none());
        assert_eq!(t.len(), 3);
        assert_eq!(t.revisions(b"a", b"\x00", 7).len(), 3);
    }

    #[test]
    fn restore_uses_stored_creation_and_version() {
        let mut t = TreeIndex::new();
        // generation 1 compacted down to its revision 5 (created at 2, version 3)
        t.restore_record(b"k", r(5, 0), false, 2, 3).unwrap();
        t.restore_record(b"k", r(6, 0), false, 2, 4).unwrap();
        t.restore_record(b"k", r(7, 0), true, 0, 0).unwrap();
        // stray tombstone with nothing live: ignored
        t.restore_record(b"k", r(8, 0), true, 0, 0).unwrap();
        t.restore_record(b"k", r(9, 1), false, 9, 1).unwrap();
        let at6 = t.get(b"k", 6).unwrap();
        assert_eq!((at6.created, at6.version), (r(2, 0), 4));
        assert_eq!(t.get(b"k", 7), None);
        let at9 = t.get(b"k", 9).unwrap();
        assert_eq!(
            (at9.modified, at9.created, at9.version),
            (r(9, 1), r(9, 1), 1)
        );
        t.restore_record(b"gone", r(10, 0), true, 0, 0).unwrap();
        assert!(t.key_index(b"gone").is_none());
    }
}
