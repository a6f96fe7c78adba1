//! Reading segment files back, and deciding what damage is survivable.
//!
//! Segments are preallocated with zeros, so the records of a segment end
//! where only zeros remain (no valid frame header is all zero: its kind is
//! never 0). Zeros after the records are normal in every segment, since a
//! segment rolls before it is full; anything else after them is damage.
//!
//! Only the end of the last segment can legitimately be damaged: a crash
//! can interrupt the unsynced tail, and older segments were synced before a
//! newer one was created. Damage in the last segment counts as a torn tail
//! when the frame runs past the end of the file, when no intact frame
//! follows it, or when a zeroed sector lies between it and the next intact
//! frame (a write that never landed, so none of it was synced). Anything
//! else could throw away acknowledged records, so it is reported as corrupt.

use std::fs;

use super::record::{self, Frame, Record, HEADER_LEN};
use super::segment::SegmentFile;
use super::state::ReplayState;
use super::zeros;
use crate::storage::{StorageError, StorageResult};

/// Unit of a torn write: the smallest block a disk writes atomically.
const SECTOR: usize = 512;

/// A segment with the highest entry index written into it (0 if none), which
/// decides when compaction may delete it.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub file: SegmentFile,
    pub max_index: u64,
}

/// Everything `Wal::open` needs from the files.
#[derive(Debug)]
pub(crate) struct Replayed {
    pub state: ReplayState,
    pub segments: Vec<Segment>,
    /// Where the last segment's records end and what follows them.
    pub tail: Tail,
}

/// The end of the last segment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tail {
    /// Bytes holding whole records: the writer continues here. 0 when the
    /// segment has no readable header.
    pub valid_len: u64,
    /// End of the torn tail: `valid_len..dirty_end` holds a write the crash
    /// interrupted, to be zeroed. Equal to `valid_len` if there is none.
    pub dirty_end: u64,
    /// Records after the segment header.
    pub records: usize,
}

/// Replays `files` (in log order) from disk.
pub(crate) fn replay(files: Vec<SegmentFile>) -> StorageResult<Replayed> {
    let count = files.len();
    let mut out = Replayed {
        state: ReplayState::default(),
        segments: Vec::with_capacity(count),
        tail: Tail::default(),
    };
    for (i, file) in files.into_iter().enumerate() {
        let last = i + 1 == count;
        let bytes = fs::read(&file.path)?;
        let scan = scan(&bytes, last)
            .map_err(|at| in_file(&file, format!("damaged record at byte {at}")))?;
        if last {
            out.tail = Tail {
                valid_len: scan.valid_len as u64,
                dirty_end: scan.dirty_end.max(scan.valid_len) as u64,
                records: scan.records.len().saturating_sub(1),
            };
        }
        let mut records = scan.records.into_iter();
        match records.next() {
            Some(Record::SegmentHeader(h)) => out
                .state
                .header(file.seq, h)
                .map_err(|e| with_file(&file, e))?,
            Some(_) => return Err(in_file(&file, "no segment header".into())),
            // Only the last segment may be empty: a crash right after creating it.
            None if last => {}
            None => return Err(in_file(&file, "no records".into())),
        }
        let mut max_index = 0;
        for r in records {
            if let Record::Entry(e) = &r {
                max_index = max_index.max(e.index);
            }
            out.state.apply(r).map_err(|e| with_file(&file, e))?;
        }
        out.segments.push(Segment { file, max_index });
    }
    out.state.finish()?;
    Ok(out)
}

fn in_file(file: &SegmentFile, what: String) -> StorageError {
    StorageError::Corrupt(format!("wal: {}: {what}", file.path.display()))
}

/// Names the segment in a corruption found while applying its records.
fn with_file(file: &SegmentFile, err: StorageError) -> StorageError {
    match err {
        StorageError::Corrupt(what) => {
            StorageError::Corrupt(format!("{what} (in {})", file.path.display()))
        }
        other => other,
    }
}

struct Scan {
    records: Vec<Record>,
    /// Bytes covered by `records`.
    valid_len: usize,
    /// Where the nonzero bytes of the buffer end.
    dirty_end: usize,
}

/// Decodes every frame up to the trailing zeros; `Err(offset)` for damage
/// that is not a torn tail.
fn scan(buf: &[u8], last: bool) -> Result<Scan, usize> {
    let data_end = zeros::data_end(buf);
    let mut records = Vec::new();
    let mut at = 0;
    // A record may itself end in zeros, so `at` can pass `data_end`.
    while at < data_end {
        let frame = record::read_frame(&buf[at..]);
        match frame {
            Frame::Ok { kind, payload, len } => {
                // The checksum held, so a payload that does not decode was
                // written that way: never a torn tail.
                match record::decode(kind, payload) {
                    Ok(r) => records.push(r),
                    Err(_) => return Err(at),
                }
                at += len;
            }
            _ if last && is_torn_tail(buf, data_end, at, &frame) => break,
            _ => return Err(at),
        }
    }
    Ok(Scan {
        records,
        valid_len: at,
        dirty_end: data_end,
    })
}

/// Whether damage at `at` (in the last segment, whose nonzero bytes end at
/// `data_end`) is a write the crash interrupted rather than a damaged record
/// that may have been acknowledged.
fn is_torn_tail(buf: &[u8], data_end: usize, at: usize, frame: &Frame<'_>) -> bool {
    if matches!(frame, Frame::Truncated) {
        return true;
    }
    match next_intact_frame(buf, at + 1, data_end) {
        None => true,
        Some(next) => has_unwritten_sector(buf, at, next),
    }
}

/// Offset of the first intact frame starting in `from..data_end` (a frame
/// header is never all zero, so none can start at or after `data_end`).
fn next_intact_frame(buf: &[u8], from: usize, data_end: usize) -> Option<usize> {
    (from..data_end).find(|&off| matches!(record::read_frame(&buf[off..]), Frame::Ok { .. }))
}

/// Whether `buf[from..to]` holds a sector of zeros: space the file system
/// allocated but whose write never landed, so nothing from `from` on was
/// ever synced. Sectors are aligned to file offsets (etcd's torn-write test);
/// a zeroed stretch at `from` counts once it could have held a frame header.
fn has_unwritten_sector(buf: &[u8], from: usize, to: usize) -> bool {
    let boundaries = (from.next_multiple_of(SECTOR)..to).step_by(SECTOR);
    std::iter::once(from).chain(boundaries).any(|start| {
        let end = (start / SECTOR + 1) * SECTOR;
        let chunk = &buf[start..end.min(to)];
        let counts = chunk.len() == SECTOR || (start == from && chunk.len() >= HEADER_LEN);
        counts && chunk.iter().all(|&b| b == 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::Entry;

    fn frames(n: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        for i in 1..=n {
            let e = Entry {
                index: i,
                term: 1,
                data: vec![i as u8; 40].into(),
                ..Default::default()
            };
            record::encode(&Record::Entry(e), &mut buf).unwrap();
        }
        buf
    }

    #[test]
    fn clean_buffer_scans_whole() {
        let buf = frames(3);
        let s = scan(&buf, false).unwrap();
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.valid_len, buf.len());
    }

    #[test]
    fn torn_tail_is_cut_only_in_the_last_segment() {
        let buf = frames(3);
        let short = &buf[..buf.len() - 4];
        let s = scan(short, true).unwrap();
        assert_eq!(s.records.len(), 2);
        assert!(scan(short, false).is_err());
    }

    #[test]
    fn trailing_garbage_or_zeros_are_a_torn_tail() {
        let clean = frames(3);
        for junk in [
            b"not a wal record at all, just junk".to_vec(),
            vec![0u8; 700],
        ] {
            let mut buf = clean.clone();
            buf.extend_from_slice(&junk);
            let s = scan(&buf, true).unwrap();
            assert_eq!(s.records.len(), 3);
            assert_eq!(s.valid_len, clean.len());
        }
    }

    #[test]
    fn damage_followed_by_intact_records_is_corrupt() {
        let mut buf = frames(3);
        buf[HEADER_LEN + 5] ^= 0x55; // inside the first payload
        assert_eq!(scan(&buf, true).err(), Some(0));
    }

    #[test]
    fn zero_filled_frame_is_torn_even_with_records_after() {
        // A big record whose middle pages were never written, then a record
        // from the same unsynced batch that did land.
        let e = Entry {
            index: 1,
            data: vec![7u8; 4096].into(),
            ..Default::default()
        };
        let mut buf = Vec::new();
        record::encode(&Record::Entry(e), &mut buf).unwrap();
        buf[1024..2048].fill(0);
        buf.extend_from_slice(&frames(1));
        let s = scan(&buf, true).unwrap();
        assert_eq!((s.records.len(), s.valid_len), (0, 0));
    }

    #[test]
    fn lost_sector_straddling_frames_is_torn() {
        let mut buf = frames(40);
        let clean = buf.len();
        assert!(clean > 1500);
        buf[512..1024].fill(0);
        let s = scan(&buf, true).unwrap();
        assert!(s.valid_len < 512);
        assert_eq!(s.records.len(), s.valid_len / (clean / 40));
        assert!(scan(&buf, false).is_err());
    }

    #[test]
    fn zeros_after_the_records_end_every_segment() {
        let clean = frames(3);
        let mut buf = clean.clone();
        buf.resize(64 << 10, 0);
        for last in [false, true] {
            let s = scan(&buf, last).unwrap();
            assert_eq!(s.records.len(), 3);
            assert_eq!((s.valid_len, s.dirty_end), (clean.len(), clean.len()));
        }
        let s = scan(&[0u8; 4096], true).unwrap();
        assert_eq!((s.records.len(), s.valid_len, s.dirty_end), (0, 0, 0));
    }

    #[test]
    fn a_record_ending_in_zeros_is_whole() {
        let e = Entry {
            index: 1,
            data: vec![0u8; 600].into(),
            ..Default::default()
        };
        let mut buf = Vec::new();
        record::encode(&Record::Entry(e), &mut buf).unwrap();
        let len = buf.len();
        buf.resize(8192, 0);
        let s = scan(&buf, false).unwrap();
        assert_eq!((s.records.len(), s.valid_len), (1, len));
    }

    #[test]
    fn bytes_after_the_zeros_are_torn_only_in_the_last_segment() {
        let clean = frames(3);
        let mut buf = clean.clone();
        buf.resize(8192, 0);
        buf[5000..5004].copy_from_slice(b"junk");
        let s = scan(&buf, true).unwrap();
        assert_eq!(s.records.len(), 3);
        assert_eq!((s.valid_len, s.dirty_end), (clean.len(), 5004));
        assert_eq!(scan(&buf, false).err(), Some(clean.len()));
    }

    #[test]
    fn a_partial_record_then_zeros_is_torn() {
        let clean = frames(2);
        let mut buf = frames(3)[..clean.len() + 20].to_vec();
        buf.resize(4096, 0);
        let s = scan(&buf, true).unwrap();
        assert_eq!(s.records.len(), 2);
        assert_eq!((s.valid_len, s.dirty_end), (clean.len(), clean.len() + 20));
        assert!(scan(&buf, false).is_err());
    }
}
