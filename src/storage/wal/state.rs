//! What a stream of records means: the log rebuilt in order, overwrites
//! and cut points resolved, with every inconsistency reported as corrupt.
//!
//! Older segments may have been deleted, so the first segment replayed can
//! start in the middle of the log: entries are accepted without knowing
//! what came before ("unanchored") until the first cut record, which the
//! writer always wrote after any deletion. From then on the log must be
//! gap-free and start right after the cut.

use raft::eraftpb::{Entry, HardState, SnapshotMetadata};

use super::record::{Record, SegmentHeader};
use crate::storage::{StorageError, StorageResult};

#[derive(Debug, Default)]
pub(crate) struct ReplayState {
    pub hard_state: Option<HardState>,
    pub cut: Option<SnapshotMetadata>,
    pub entries: Vec<Entry>,
    anchored: bool,
    started: bool,
}

impl ReplayState {
    fn cut_index(&self) -> u64 {
        self.cut.as_ref().map_or(0, |m| m.index)
    }

    /// Index of the last entry, or of the cut when no entry follows it.
    pub fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.cut_index(), |e| e.index)
    }

    /// Applies a segment header. The first one seeds the state; later ones
    /// repeat what the stream already said, so any difference is damage.
    pub fn header(&mut self, seq: u64, h: SegmentHeader) -> StorageResult<()> {
        if h.seq != seq {
            return Err(corrupt(format!(
                "segment {seq} carries header of segment {}",
                h.seq
            )));
        }
        if !self.started {
            self.started = true;
            self.hard_state = h.hard_state;
            self.cut = h.cut;
            return Ok(());
        }
        if h.cut != self.cut || h.hard_state != self.hard_state {
            return Err(corrupt(format!(
                "segment {seq} header disagrees with the records before it"
            )));
        }
        let expected = self.last_index() + 1;
        let known = self.anchored || !self.entries.is_empty();
        if known && h.first_index != expected {
            return Err(corrupt(format!(
                "segment {seq} starts at index {} but the log ends at {}",
                h.first_index,
                expected - 1
            )));
        }
        Ok(())
    }

    /// Applies any record but a header.
    pub fn apply(&mut self, record: Record) -> StorageResult<()> {
        match record {
            Record::Entry(e) => self.entry(e),
            Record::HardState(hs) => {
                self.hard_state = Some(hs);
                Ok(())
            }
            Record::Cut { reset, meta } => self.cut_at(reset, meta),
            Record::SegmentHeader(_) => Err(corrupt("segment header inside a segment".into())),
        }
    }

    fn entry(&mut self, e: Entry) -> StorageResult<()> {
        if e.index <= self.cut_index() {
            return Err(corrupt(format!(
                "entry {} is at or below the cut at {}",
                e.index,
                self.cut_index()
            )));
        }
        match (self.entries.first(), self.entries.last()) {
            (Some(first), Some(last)) => {
                if e.index > last.index + 1 {
                    return Err(corrupt(format!(
                        "entry {} leaves a gap after {}",
                        e.index, last.index
                    )));
                }
                // An overwrite: raft replaced the tail from e.index on.
                let keep = e.index.saturating_sub(first.index) as usize;
                self.entries.truncate(keep);
            }
            _ => {
                if self.anchored && e.index != self.cut_index() + 1 {
                    return Err(corrupt(format!(
                        "entry {} does not follow the cut at {}",
                        e.index,
                        self.cut_index()
                    )));
                }
            }
        }
        self.entries.push(e);
        Ok(())
    }

    fn cut_at(&mut self, reset: bool, meta: SnapshotMetadata) -> StorageResult<()> {
        if meta.index <= self.cut_index() {
            return Err(corrupt(format!(
                "cut at {} does not advance past {}",
                meta.index,
                self.cut_index()
            )));
        }
        if reset {
            self.entries.clear();
        } else {
            let first = self.entries.first().map_or(0, |e| e.index);
            if let Some(e) = self.entries.iter().find(|e| e.index == meta.index) {
                if e.term != meta.term {
                    return Err(corrupt(format!(
                        "cut at {} has term {} but the entry has term {}",
                        meta.index, meta.term, e.term
                    )));
                }
            }
            let drop = (meta.index + 1).saturating_sub(first) as usize;
            self.entries.drain(..drop.min(self.entries.len()));
            if let Some(e) = self.entries.first() {
                if e.index != meta.index + 1 {
                    return Err(corrupt(format!(
                        "cut at {} but the kept log starts at {}",
                        meta.index, e.index
                    )));
                }
            }
        }
        self.cut = Some(meta);
        self.anchored = true;
        Ok(())
    }

    /// Checks the log is whole: it must start right after the cut.
    pub fn finish(&self) -> StorageResult<()> {
        match self.entries.first() {
            Some(e) if e.index != self.cut_index() + 1 => Err(corrupt(format!(
                "log starts at {} but the cut is at {}: records are missing",
                e.index,
                self.cut_index()
            ))),
            _ => Ok(()),
        }
    }
}

fn corrupt(what: String) -> StorageError {
    StorageError::Corrupt(format!("wal: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(index: u64, term: u64) -> Record {
        Record::Entry(Entry {
            index,
            term,
            ..Default::default()
        })
    }

    fn cut(reset: bool, index: u64, term: u64) -> Record {
        let meta = SnapshotMetadata {
            index,
            term,
            ..Default::default()
        };
        Record::Cut { reset, meta }
    }

    fn header(seq: u64, first_index: u64) -> SegmentHeader {
        SegmentHeader {
            seq,
            first_index,
            ..Default::default()
        }
    }

    fn run(records: Vec<Record>) -> StorageResult<ReplayState> {
        let mut s = ReplayState::default();
        s.header(0, header(0, 1))?;
        for r in records {
            s.apply(r)?;
        }
        s.finish()?;
        Ok(s)
    }

    fn indexes_terms(s: &ReplayState) -> Vec<(u64, u64)> {
        s.entries.iter().map(|e| (e.index, e.term)).collect()
    }

    #[test]
    fn overwrite_replaces_the_tail() {
        let s = run(vec![e(1, 1), e(2, 1), e(3, 1), e(2, 2), e(3, 2), e(4, 2)]).unwrap();
        assert_eq!(indexes_terms(&s), vec![(1, 1), (2, 2), (3, 2), (4, 2)]);
    }

    #[test]
    fn gaps_are_corrupt() {
        assert!(run(vec![e(1, 1), e(3, 1)]).is_err());
        assert!(
            run(vec![e(2, 1)]).is_err(),
            "log must start at 1 with no cut"
        );
        assert!(run(vec![cut(false, 2, 1), e(4, 1)]).is_err());
    }

    #[test]
    fn keeping_cut_drops_the_prefix() {
        let s = run(vec![e(1, 1), e(2, 1), e(3, 2), cut(false, 2, 1), e(4, 2)]).unwrap();
        assert_eq!(indexes_terms(&s), vec![(3, 2), (4, 2)]);
        assert_eq!(s.cut.as_ref().unwrap().index, 2);
        assert!(run(vec![e(1, 1), e(2, 1), cut(false, 2, 9)]).is_err());
    }

    #[test]
    fn resetting_cut_drops_everything() {
        let s = run(vec![e(1, 1), e(2, 1), cut(true, 10, 3), e(11, 3)]).unwrap();
        assert_eq!(indexes_terms(&s), vec![(11, 3)]);
        assert_eq!(s.last_index(), 11);
    }

    #[test]
    fn cuts_must_advance_and_entries_stay_above_them() {
        assert!(run(vec![e(1, 1), cut(false, 1, 1), cut(false, 1, 1)]).is_err());
        assert!(run(vec![e(1, 1), e(2, 1), cut(false, 2, 1), e(2, 1)]).is_err());
    }

    #[test]
    fn first_segment_may_start_mid_log_until_a_cut() {
        // Segments before seq 4 were deleted after a cut at 150 was recorded.
        let mut s = ReplayState::default();
        let mut h = header(4, 101);
        h.cut = Some(SnapshotMetadata {
            index: 50,
            term: 1,
            ..Default::default()
        });
        s.header(4, h).unwrap();
        for i in 101..=200 {
            s.apply(e(i, 1)).unwrap();
        }
        assert!(
            s.finish().is_err(),
            "without the later cut the log has a hole"
        );
        s.apply(cut(false, 150, 1)).unwrap();
        s.finish().unwrap();
        assert_eq!(s.entries.first().map(|e| e.index), Some(151));
    }

    #[test]
    fn later_headers_must_agree() {
        let mut s = ReplayState::default();
        s.header(0, header(0, 1)).unwrap();
        s.apply(e(1, 1)).unwrap();
        s.header(1, header(1, 2)).unwrap();
        assert!(s.header(2, header(2, 5)).is_err(), "wrong first index");
        assert!(s.header(2, header(3, 2)).is_err(), "wrong seq");
        let mut with_hs = header(2, 2);
        with_hs.hard_state = Some(HardState::default());
        assert!(s.header(2, with_hs).is_err(), "hard state differs");
        assert!(s.apply(Record::SegmentHeader(header(2, 2))).is_err());
    }
}
