//! The `Wal` handle: open/replay, append, sync, compaction.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use raft::eraftpb::{Entry, HardState, SnapshotMetadata};

use super::preparer::Preparer;
use super::record::{self, SegmentHeader};
use super::replay::{self, Segment};
use super::segment;
use super::tail;
use super::terms::TermRuns;
use super::{WalContents, WalOptions};
use crate::storage::{StorageError, StorageResult};

/// Framing and header room per record, at most (for the roll estimate).
const RECORD_ROOM: u64 = 64;

/// An open write-ahead log. Single writer: one `Wal` per directory.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    /// Live segments in log order; the last is the one being written.
    segments: Vec<Segment>,
    /// The last segment, preallocated: records are written at `offset`,
    /// never appended, so syncing them does not change the file's size.
    file: File,
    /// Where `buf` goes in `file`.
    offset: u64,
    /// Encoded records not yet handed to the file.
    buf: Vec<u8>,
    /// The current segment holds (or `buf` holds for it) a record after its
    /// header: until then a record too big to fit does not roll.
    seg_has_records: bool,
    /// Zero-fills the next segment in the background.
    preparer: Preparer,
    /// The next segment, taken from the preparer before a write that will
    /// need it (so a full disk fails the write before anything is written).
    next: Option<File>,
    hard_state: Option<HardState>,
    cut: Option<SnapshotMetadata>,
    last_index: u64,
    terms: TermRuns,
    /// A segment was created since the last directory fsync.
    dir_dirty: bool,
    /// An I/O error happened; see the module docs.
    failed: bool,
    /// `--max-wals=0`: segments LMDB no longer needs are kept.
    keep_released: bool,
}

impl Wal {
    /// Opens or creates `dir`; replays every segment. A torn or checksum-bad
    /// record at the end of the last segment is cut off (zeroed from there
    /// on, so the file keeps its preallocated size); damage anywhere else is
    /// `StorageError::Corrupt`. A new log's first segment is preallocated
    /// here; the next one is prepared in the background from now on.
    pub fn open(dir: &Path, opts: WalOptions) -> StorageResult<(Wal, WalContents)> {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                segment::sync_dir(parent)?;
            }
        }
        segment::remove_temp(dir)?;
        let found = replay::replay(segment::list(dir)?)?;
        let state = found.state;
        let last_index = state.last_index();
        let mut terms = TermRuns::default();
        for e in &state.entries {
            terms.push(e.index, e.term);
        }
        let header = SegmentHeader {
            seq: 0,
            first_index: last_index + 1,
            hard_state: state.hard_state.clone(),
            cut: state.cut.clone(),
        };
        let mut segments = found.segments;
        let writable = match segments.last() {
            None => {
                let (created, writable) = tail::create_first(dir, &header, opts.segment_bytes)?;
                segments.push(Segment {
                    file: created,
                    max_index: 0,
                });
                writable
            }
            Some(last) => tail::reopen(&last.file, found.tail, header, opts.segment_bytes)?,
        };
        let mut preparer = Preparer::new(segment::temp_path(dir), opts.segment_bytes);
        preparer.start();
        let mut wal = Wal {
            dir: dir.to_path_buf(),
            opts,
            segments,
            file: writable.file,
            offset: writable.offset,
            buf: Vec::new(),
            seg_has_records: writable.has_records,
            preparer,
            next: None,
            hard_state: state.hard_state.clone(),
            cut: state.cut.clone(),
            last_index,
            terms,
            dir_dirty: writable.repaired,
            failed: false,
            keep_released: false,
        };
        if writable.repaired {
            wal.sync()?;
        }
        let contents = WalContents {
            hard_state: state.hard_state,
            entries: state.entries,
            snapshot: state.cut,
        };
        Ok((wal, contents))
    }

    /// Writes entries and then the hard state to the current segment (not
    /// synced). An entry whose index is <= the last one logged overwrites the
    /// tail from there, as raft does on a conflict. Group commit is the
    /// caller's: append any number of times, then `sync` once.
    pub fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> StorageResult<()> {
        self.check_usable()?;
        self.check_entries(entries)?;
        // Where a full disk shows: before anything of the append is written.
        fail::fail_point!("wal_before_append", |arg| Err(crate::failpoints::io_fault(
            arg
        )
        .into()));
        // The only write that needs new disk space is the next segment's
        // preallocation: done first, a full disk refuses the append whole
        // and leaves the log usable (the caller may retry).
        self.ready_next_segment(entries, hard_state)?;
        let result = self.write_records(entries, hard_state);
        self.failed |= result.is_err();
        result
    }

    /// fdatasyncs the current segment, and the directory if a segment was
    /// created since the last sync. Nothing may be acknowledged before this.
    pub fn sync(&mut self) -> StorageResult<()> {
        self.check_usable()?;
        let result = self.sync_inner();
        self.failed |= result.is_err();
        result
    }

    /// State up to `meta.index` is durable elsewhere: records the cut point
    /// (synced) and deletes older segments that only hold entries up to it.
    /// If the log does not hold `meta.index` with `meta.term` (a snapshot
    /// from the leader), the whole tail is dropped and the log continues at
    /// `meta.index + 1`: for a snapshot in a raft `Ready`, call this before
    /// appending the entries that follow it. A cut at or below the current
    /// one is ignored.
    pub fn compact_to(&mut self, meta: &SnapshotMetadata) -> StorageResult<()> {
        self.check_usable()?;
        if meta.index <= self.cut_index() {
            return Ok(());
        }
        let result = self.compact_inner(meta);
        self.failed |= result.is_err();
        result
    }

    /// etcd's `--max-wals=0`: never delete a segment, even once a cut has
    /// released it (by default it goes at once, so the log never holds
    /// more segments than it needs).
    pub fn keep_released_segments(&mut self, keep: bool) {
        self.keep_released = keep;
    }

    /// Index of the last entry logged, or of the cut if none follows it.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    fn cut_index(&self) -> u64 {
        self.cut.as_ref().map_or(0, |m| m.index)
    }

    fn check_usable(&self) -> StorageResult<()> {
        if self.failed {
            return Err(StorageError::Io(io::Error::other(
                "wal: an earlier write failed; reopen the log",
            )));
        }
        Ok(())
    }

    fn check_entries(&self, entries: &[Entry]) -> StorageResult<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        if first.index <= self.cut_index() {
            return Err(StorageError::InvalidAppend(format!(
                "entry {} is at or below the cut at {}",
                first.index,
                self.cut_index()
            )));
        }
        if first.index > self.last_index + 1 {
            return Err(StorageError::InvalidAppend(format!(
                "entry {} leaves a gap after {}",
                first.index, self.last_index
            )));
        }
        if let Some(pair) = entries.windows(2).find(|p| p[1].index != p[0].index + 1) {
            return Err(StorageError::InvalidAppend(format!(
                "entries {} and {} are not consecutive",
                pair[0].index, pair[1].index
            )));
        }
        Ok(())
    }

    /// Takes the prepared next segment now if these records may not fit in
    /// the current one.
    fn ready_next_segment(
        &mut self,
        entries: &[Entry],
        hs: Option<&HardState>,
    ) -> StorageResult<()> {
        if self.next.is_some() {
            return Ok(());
        }
        let records: u64 = entries
            .iter()
            .map(|e| (e.data.len() + e.context.len()) as u64 + RECORD_ROOM)
            .sum::<u64>()
            + hs.map_or(0, |_| RECORD_ROOM);
        let end = self.offset + self.buf.len() as u64 + records;
        if end > self.opts.segment_bytes {
            self.next = Some(self.preparer.take()?);
        }
        Ok(())
    }

    fn write_records(&mut self, entries: &[Entry], hs: Option<&HardState>) -> StorageResult<()> {
        for e in entries {
            self.push(|buf| record::encode_entry(e, buf))?;
            self.terms.push(e.index, e.term);
            self.last_index = e.index;
            if let Some(cur) = self.segments.last_mut() {
                cur.max_index = cur.max_index.max(e.index);
            }
        }
        if let Some(hs) = hs {
            self.push(|buf| record::encode_hard_state(hs, buf))?;
            self.hard_state = Some(hs.clone());
        }
        self.flush()
    }

    /// Adds one record, framed by `encode`, to the batch; rolls first if it
    /// would not fit in the rest of the current segment. A record that does
    /// not fit even in a fresh segment is written anyway and grows the file
    /// past `segment_bytes` (records are limited only by the frame format).
    fn push(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> StorageResult<()>,
    ) -> StorageResult<()> {
        let start = self.buf.len();
        if let Err(err) = encode(&mut self.buf) {
            self.buf.truncate(start);
            return Err(err);
        }
        let end = self.offset + self.buf.len() as u64;
        if end > self.opts.segment_bytes && self.seg_has_records {
            let record = self.buf.split_off(start);
            self.roll()?;
            self.buf.extend_from_slice(&record);
        }
        self.seg_has_records = true;
        Ok(())
    }

    fn flush(&mut self) -> StorageResult<()> {
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.offset)?;
            self.offset += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    fn sync_inner(&mut self) -> StorageResult<()> {
        self.flush()?;
        if !crate::storage::fsync::enabled() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        fail::fail_point!("wal_before_sync", |arg| Err(crate::failpoints::io_fault(
            arg
        )
        .into()));
        self.file.sync_data()?;
        fail::fail_point!("wal_after_sync", |arg| Err(crate::failpoints::io_fault(
            arg
        )
        .into()));
        crate::metrics::metrics()
            .disk
            .wal_fsync_duration_seconds
            .observe(crate::metrics::seconds_since(started));
        if self.dir_dirty {
            segment::sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Moves on to the prepared next segment; its header waits in `buf`.
    fn roll(&mut self) -> StorageResult<()> {
        // The old segment must be whole on disk, under its name, before a
        // newer one exists: replay only forgives damage in the last segment.
        self.flush()?;
        crate::storage::fsync::sync_data(&self.file)?;
        if self.dir_dirty {
            segment::sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        let seq = self.segments.last().map_or(0, |s| s.file.seq + 1);
        let header = SegmentHeader {
            seq,
            first_index: self.last_index + 1,
            hard_state: self.hard_state.clone(),
            cut: self.cut.clone(),
        };
        let file = match self.next.take() {
            Some(file) => file,
            None => self.preparer.take()?,
        };
        let created = segment::install(&self.dir, self.preparer.path(), seq, header.first_index)?;
        self.dir_dirty = true;
        self.preparer.start();
        record::encode_segment_header(&header, &mut self.buf)?;
        self.segments.push(Segment {
            file: created,
            max_index: 0,
        });
        self.file = file;
        self.offset = 0;
        self.seg_has_records = false;
        Ok(())
    }

    fn compact_inner(&mut self, meta: &SnapshotMetadata) -> StorageResult<()> {
        let keep = self.terms.term(meta.index) == Some(meta.term);
        self.push(|buf| record::encode_cut(!keep, meta, buf))?;
        if keep {
            self.terms.drop_through(meta.index);
        } else {
            self.terms.clear();
            self.last_index = meta.index;
        }
        self.cut = Some(meta.clone());
        // The cut must be durable before the records it replaces go away.
        self.sync_inner()?;

        let current = self.segments.len().saturating_sub(1);
        let doomed = if keep && self.keep_released {
            0
        } else if keep {
            self.segments[..current]
                .iter()
                .take_while(|s| s.max_index <= meta.index)
                .count()
        } else {
            current
        };
        // Oldest first, each removal made durable, so a crash can only ever
        // leave a prefix deleted and the sequence without holes.
        for _ in 0..doomed {
            fs::remove_file(&self.segments[0].file.path)?;
            self.segments.remove(0);
            segment::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Where the next record goes in the current segment.
    #[cfg(test)]
    pub(crate) fn write_offset(&self) -> u64 {
        self.offset + self.buf.len() as u64
    }

    /// Waits until the next segment is prepared.
    #[cfg(test)]
    pub(crate) fn wait_prepared(&self) {
        self.preparer.wait();
    }
}
