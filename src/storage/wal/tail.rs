//! Making the last segment writable at open: creating the first segment of
//! a new log, or repairing the last one a previous run left behind.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::record::{self, SegmentHeader};
use super::replay::Tail;
use super::segment::{self, SegmentFile};
use super::zeros;
use crate::storage::StorageResult;

/// The segment the writer continues in.
#[derive(Debug)]
pub(crate) struct Writable {
    pub file: File,
    /// Where the next record goes.
    pub offset: u64,
    /// The segment holds a record after its header.
    pub has_records: bool,
    /// Something was written that must be synced (file and directory)
    /// before the log is used.
    pub repaired: bool,
}

/// Creates segment 0 of a new log at its full size, zero-filled, with
/// `header` at the front. This runs synchronously, once per log.
pub(crate) fn create_first(
    dir: &Path,
    header: &SegmentHeader,
    segment_bytes: u64,
) -> StorageResult<(SegmentFile, Writable)> {
    let mut bytes = Vec::new();
    record::encode_segment_header(header, &mut bytes)?;
    let (created, file) = segment::create(dir, header.seq, header.first_index)?;
    zeros::fill(&file, 0, segment_bytes, None)?;
    file.write_all_at(&bytes, 0)?;
    let writable = Writable {
        file,
        offset: bytes.len() as u64,
        has_records: false,
        repaired: true,
    };
    Ok((created, writable))
}

/// Opens the last segment for writing after replay found `tail` in it.
/// Zeroes a torn tail (the file keeps its preallocated size), pads a file
/// shorter than `segment_bytes` (a crash while preallocating, or a segment
/// from before preallocation) with zeros, and writes `header` (with the
/// segment's own seq) if the segment lacks one.
pub(crate) fn reopen(
    seg: &SegmentFile,
    tail: Tail,
    header: SegmentHeader,
    segment_bytes: u64,
) -> StorageResult<Writable> {
    let file = OpenOptions::new().read(true).write(true).open(&seg.path)?;
    let len = file.metadata()?.len();
    let mut repaired = false;
    if tail.dirty_end > tail.valid_len {
        tracing::warn!(
            "wal: {}: zeroing a torn write at bytes {}..{}",
            seg.path.display(),
            tail.valid_len,
            tail.dirty_end
        );
        zeros::fill(&file, tail.valid_len, tail.dirty_end, None)?;
        repaired = true;
    }
    if len < segment_bytes {
        zeros::fill(&file, len, segment_bytes, None)?;
        repaired = true;
    }
    let mut offset = tail.valid_len;
    if offset == 0 {
        // Crashed before the header landed: write it again.
        let mut bytes = Vec::new();
        let header = SegmentHeader {
            seq: seg.seq,
            ..header
        };
        record::encode_segment_header(&header, &mut bytes)?;
        file.write_all_at(&bytes, 0)?;
        offset = bytes.len() as u64;
        repaired = true;
    }
    Ok(Writable {
        file,
        offset,
        has_records: tail.records > 0,
        repaired,
    })
}
