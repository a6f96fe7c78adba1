//! Tests of preallocated segments: full-size files, writing at the offset,
//! torn tails zeroed in place, the prepared next segment and its crashes.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use raft::eraftpb::{Entry, HardState};

use super::record;
use super::segment::{self, TEMP_NAME};
use super::tests::segment_files;
use super::zeros;
use super::{Wal, WalContents, WalOptions};
use crate::storage::StorageError;

const SEGMENT: u64 = 64 << 10;

fn opts() -> WalOptions {
    WalOptions {
        segment_bytes: SEGMENT,
    }
}

fn open(dir: &Path) -> (Wal, WalContents) {
    Wal::open(dir, opts()).unwrap()
}

fn ents(range: std::ops::RangeInclusive<u64>, term: u64, size: usize) -> Vec<Entry> {
    range
        .map(|i| Entry {
            index: i,
            term,
            data: vec![b'a' + (i % 26) as u8; size].into(),
            ..Default::default()
        })
        .collect()
}

fn indexes(c: &WalContents) -> Vec<u64> {
    c.entries.iter().map(|e| e.index).collect()
}

fn len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// End of the written records (they end in a nonzero byte here).
fn records_end(path: &Path) -> u64 {
    zeros::data_end(&fs::read(path).unwrap()) as u64
}

fn write_at(path: &Path, bytes: &[u8], at: u64) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

fn temp(dir: &Path) -> PathBuf {
    dir.join(TEMP_NAME)
}

#[test]
fn a_new_segment_is_full_size_and_zero_after_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path());
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(len(&files[0]), SEGMENT);
    let header_end = wal.write_offset();
    assert!(header_end > 0 && header_end < 200);
    let bytes = fs::read(&files[0]).unwrap();
    assert!(zeros::is_zero(&bytes[header_end as usize..]));
}

#[test]
fn appends_go_at_the_offset_and_reopen_continues_there() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.append(&ents(1..=20, 1, 50), None).unwrap();
    wal.sync().unwrap();
    let offset = wal.write_offset();
    let file = segment_files(dir.path())[0].clone();
    assert_eq!(len(&file), SEGMENT, "writes never grow the file");
    assert_eq!(records_end(&file), offset);
    drop(wal);

    let (mut wal, contents) = open(dir.path());
    assert_eq!(indexes(&contents), (1..=20).collect::<Vec<_>>());
    assert_eq!(wal.write_offset(), offset, "continues after the records");
    wal.append(&ents(21..=30, 1, 50), Some(&HardState::default()))
        .unwrap();
    wal.sync().unwrap();
    assert!(wal.write_offset() > offset);
    assert_eq!(records_end(&file), wal.write_offset());
    assert_eq!(len(&file), SEGMENT);
    drop(wal);

    let (_, contents) = open(dir.path());
    assert_eq!(indexes(&contents), (1..=30).collect::<Vec<_>>());
}

#[test]
fn a_torn_record_is_zeroed_in_place_and_writing_resumes_at_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.append(&ents(1..=5, 1, 50), None).unwrap();
    wal.sync().unwrap();
    let good_end = wal.write_offset();
    drop(wal);
    let file = segment_files(dir.path())[0].clone();
    // The first part of the next record landed, the rest stayed zero; a
    // stray sector of the same unsynced write landed further on.
    let mut torn = Vec::new();
    record::encode_entry(&ents(6..=6, 1, 3000)[0], &mut torn).unwrap();
    write_at(&file, &torn[..700], good_end);
    write_at(&file, &torn[2048..2560], good_end + 2048);

    let (mut wal, contents) = open(dir.path());
    assert_eq!(indexes(&contents), (1..=5).collect::<Vec<_>>());
    assert_eq!(wal.write_offset(), good_end);
    assert_eq!(records_end(&file), good_end, "torn bytes zeroed");
    assert_eq!(len(&file), SEGMENT, "not truncated");
    wal.append(&ents(6..=8, 2, 10), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, contents) = open(dir.path());
    assert_eq!(indexes(&contents), (1..=8).collect::<Vec<_>>());
    assert_eq!(contents.entries[5].term, 2);
}

#[test]
fn damage_followed_by_intact_records_stays_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.append(&ents(1..=20, 1, 50), None).unwrap();
    wal.sync().unwrap();
    let end = wal.write_offset();
    drop(wal);
    let file = segment_files(dir.path())[0].clone();
    let mut bytes = fs::read(&file).unwrap();
    bytes[end as usize / 2] ^= 0x40;
    fs::write(&file, bytes).unwrap();
    assert!(matches!(
        Wal::open(dir.path(), opts()),
        Err(StorageError::Corrupt(_))
    ));
}

/// Appends 200-byte entries one at a time until the WAL holds `segments`.
fn fill_segments(wal: &mut Wal, from: u64, segments: usize) -> u64 {
    let mut i = from;
    while wal.segment_count() < segments {
        wal.append(&ents(i..=i, 1, 200), None).unwrap();
        i += 1;
    }
    wal.sync().unwrap();
    i - 1
}

#[test]
fn rolling_renames_the_prepared_file_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.wait_prepared();
    let prepared = fs::metadata(temp(dir.path())).unwrap();
    assert_eq!(prepared.len(), SEGMENT);
    let last = fill_segments(&mut wal, 1, 2);

    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    assert_eq!(fs::metadata(&files[1]).unwrap().ino(), prepared.ino());
    for f in &files {
        assert_eq!(len(f), SEGMENT);
    }
    // The first segment was filled as far as records fit, no further.
    let slack = SEGMENT - records_end(&files[0]);
    assert!(slack < 300, "rolled with {slack} bytes left");
    // The one after is already under way under the temporary name.
    wal.wait_prepared();
    let next = fs::metadata(temp(dir.path())).unwrap();
    assert_ne!(next.ino(), prepared.ino());
    let last = fill_segments(&mut wal, last + 1, 4);
    drop(wal);
    assert!(!temp(dir.path()).exists(), "dropping removes the temp file");

    let (wal, contents) = open(dir.path());
    assert_eq!(wal.segment_count(), 4);
    assert_eq!(indexes(&contents), (1..=last).collect::<Vec<_>>());
}

#[test]
fn a_leftover_temp_file_is_removed_and_never_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.append(&ents(1..=3, 1, 50), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    // A crash while preparing: half the zeros, and records from nowhere.
    let mut junk = Vec::new();
    record::encode_entry(&ents(4..=4, 1, 50)[0], &mut junk).unwrap();
    junk.resize(SEGMENT as usize / 2, 0);
    fs::write(temp(dir.path()), &junk).unwrap();

    let (mut wal, contents) = open(dir.path());
    assert_eq!(indexes(&contents), vec![1, 2, 3]);
    wal.wait_prepared();
    let fresh = fs::read(temp(dir.path())).unwrap();
    assert_eq!(fresh.len() as u64, SEGMENT);
    assert!(zeros::is_zero(&fresh), "prepared anew, not reused");
    // Rolling onto it works and the junk never shows up.
    let last = fill_segments(&mut wal, 4, 2);
    drop(wal);
    let (_, contents) = open(dir.path());
    assert_eq!(indexes(&contents), (1..=last).collect::<Vec<_>>());
}

#[test]
fn a_crash_after_the_rename_leaves_a_zero_segment_that_gets_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    let last = fill_segments(&mut wal, 1, 2);
    drop(wal);
    // The writer renamed the prepared file in, then died before writing.
    let name = segment::file_name(2, last + 1);
    fs::write(dir.path().join(&name), vec![0u8; SEGMENT as usize]).unwrap();

    let (mut wal, contents) = open(dir.path());
    assert_eq!(indexes(&contents), (1..=last).collect::<Vec<_>>());
    assert_eq!(wal.segment_count(), 3);
    wal.append(&ents(last + 1..=last + 1, 1, 10), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, contents) = open(dir.path());
    assert_eq!(wal.segment_count(), 3);
    assert_eq!(indexes(&contents), (1..=last + 1).collect::<Vec<_>>());
}

#[test]
fn a_half_preallocated_first_segment_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    // A crash while the first segment was being zero-filled.
    let path = dir.path().join(segment::file_name(0, 1));
    fs::write(&path, vec![0u8; SEGMENT as usize / 3]).unwrap();
    let (mut wal, contents) = open(dir.path());
    assert_eq!(contents, WalContents::default());
    assert_eq!(len(&path), SEGMENT);
    wal.append(&ents(1..=2, 1, 10), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, contents) = open(dir.path());
    assert_eq!(indexes(&contents), vec![1, 2]);
}

#[test]
fn a_segment_from_before_preallocation_is_padded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.append(&ents(1..=5, 1, 50), None).unwrap();
    wal.sync().unwrap();
    let end = wal.write_offset();
    drop(wal);
    // Old layout: the file is exactly its records, the last one cut short.
    let file = segment_files(dir.path())[0].clone();
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(end - 2)
        .unwrap();

    let (mut wal, contents) = open(dir.path());
    assert_eq!(indexes(&contents), vec![1, 2, 3, 4]);
    assert_eq!(len(&file), SEGMENT);
    assert!(wal.write_offset() < end - 2);
    assert_eq!(records_end(&file), wal.write_offset());
    wal.append(&ents(5..=6, 2, 10), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, contents) = open(dir.path());
    assert_eq!(indexes(&contents), (1..=6).collect::<Vec<_>>());
}

#[test]
fn a_record_bigger_than_a_segment_grows_its_own_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.append(&ents(1..=1, 1, 10), None).unwrap();
    wal.append(&ents(2..=2, 1, SEGMENT as usize * 2), None)
        .unwrap();
    wal.append(&ents(3..=3, 1, 10), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 3);
    assert_eq!(len(&files[0]), SEGMENT);
    assert!(len(&files[1]) > SEGMENT * 2);
    assert_eq!(len(&files[2]), SEGMENT);
    let (_, contents) = open(dir.path());
    assert_eq!(indexes(&contents), vec![1, 2, 3]);
    assert_eq!(contents.entries[1].data.len(), SEGMENT as usize * 2);
}

#[test]
fn bytes_after_the_zeros_of_an_older_segment_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    fill_segments(&mut wal, 1, 2);
    drop(wal);
    let first = segment_files(dir.path())[0].clone();
    write_at(&first, b"\x01", SEGMENT - 1);
    assert!(matches!(
        Wal::open(dir.path(), opts()),
        Err(StorageError::Corrupt(_))
    ));
}
