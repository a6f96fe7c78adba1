//! End-to-end tests of `Wal` against real files.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use raft::eraftpb::{ConfState, Entry, HardState, SnapshotMetadata};

use super::{Wal, WalContents, WalOptions};
use crate::storage::StorageError;

fn ents(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range
        .map(|i| Entry {
            index: i,
            term,
            data: format!("entry {i} term {term}").into_bytes().into(),
            ..Default::default()
        })
        .collect()
}

fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..Default::default()
    }
}

fn meta(index: u64, term: u64) -> SnapshotMetadata {
    let cs = ConfState {
        voters: vec![1],
        ..Default::default()
    };
    SnapshotMetadata {
        index,
        term,
        conf_state: Some(cs).into(),
        ..Default::default()
    }
}

fn small() -> WalOptions {
    WalOptions { segment_bytes: 300 }
}

/// Room for everything a test writes in one segment, without preallocating
/// the default 64 MiB of zeros per test.
fn roomy() -> WalOptions {
    WalOptions {
        segment_bytes: 1 << 20,
    }
}

fn open(dir: &Path, opts: WalOptions) -> (Wal, WalContents) {
    Wal::open(dir, opts).unwrap()
}

fn index_terms(c: &WalContents) -> Vec<(u64, u64)> {
    c.entries.iter().map(|e| (e.index, e.term)).collect()
}

/// The segment files of a WAL dir, in log order (shared with prealloc_tests).
pub(super) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    files.sort();
    files
}

#[test]
fn fresh_wal_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, contents) = open(&path, WalOptions::default());
    assert_eq!(contents, WalContents::default());
    assert_eq!(wal.last_index(), 0);
    let files = segment_files(&path);
    assert_eq!(files.len(), 1);
    let full = WalOptions::default().segment_bytes;
    assert_eq!(fs::metadata(&files[0]).unwrap().len(), full);
    drop(wal);
    let (_, again) = open(&path, WalOptions::default());
    assert_eq!(again, WalContents::default());
    assert_eq!(fs::metadata(&files[0]).unwrap().len(), full);
}

#[test]
fn append_sync_reopen_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), roomy());
    wal.append(&ents(1..=3, 1), Some(&hs(1, 1, 2))).unwrap();
    wal.append(&ents(4..=5, 2), None).unwrap();
    wal.append(&[], Some(&hs(2, 1, 5))).unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.last_index(), 5);
    drop(wal);

    let (wal, contents) = open(dir.path(), roomy());
    let mut expected = ents(1..=3, 1);
    expected.extend(ents(4..=5, 2));
    assert_eq!(contents.entries, expected);
    assert_eq!(contents.hard_state, Some(hs(2, 1, 5)));
    assert_eq!(contents.snapshot, None);
    assert_eq!(wal.last_index(), 5);
}

#[test]
fn conflicting_entries_overwrite_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), roomy());
    wal.append(&ents(1..=5, 1), None).unwrap();
    wal.append(&ents(3..=4, 2), Some(&hs(2, 0, 2))).unwrap();
    assert_eq!(wal.last_index(), 4);
    wal.sync().unwrap();
    drop(wal);

    let (mut wal, contents) = open(dir.path(), roomy());
    assert_eq!(index_terms(&contents), vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
    assert_eq!(contents.entries[2], ents(3..=3, 2)[0]);
    wal.append(&ents(5..=5, 2), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, contents) = open(dir.path(), roomy());
    assert_eq!(contents.entries.len(), 5);
}

#[test]
fn invalid_appends_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), roomy());
    wal.append(&ents(1..=3, 1), None).unwrap();
    let gap = wal.append(&ents(5..=6, 1), None);
    assert!(matches!(gap, Err(StorageError::InvalidAppend(_))));
    let mut holey = ents(4..=4, 1);
    holey.extend(ents(6..=6, 1));
    assert!(matches!(
        wal.append(&holey, None),
        Err(StorageError::InvalidAppend(_))
    ));
    wal.compact_to(&meta(2, 1)).unwrap();
    assert!(matches!(
        wal.append(&ents(2..=2, 1), None),
        Err(StorageError::InvalidAppend(_))
    ));
    // Refusals write nothing and leave the log usable.
    wal.append(&ents(4..=4, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, contents) = open(dir.path(), roomy());
    assert_eq!(index_terms(&contents), vec![(3, 1), (4, 1)]);
}

#[test]
fn segments_roll_and_replay_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    for i in 1..=40 {
        wal.append(&ents(i..=i, 1 + i / 10), Some(&hs(1 + i / 10, 1, i - 1)))
            .unwrap();
    }
    // One batch that spans several segments.
    wal.append(&ents(41..=60, 5), None).unwrap();
    wal.sync().unwrap();
    drop(wal);

    let files = segment_files(dir.path());
    assert!(files.len() > 5, "only {} segments", files.len());
    for f in &files {
        assert_eq!(fs::metadata(f).unwrap().len(), 300, "preallocated");
    }
    let (wal, contents) = open(dir.path(), small());
    assert_eq!(wal.segment_count(), files.len());
    let indexes: Vec<u64> = contents.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (1..=60).collect::<Vec<_>>());
    assert_eq!(contents.entries[59].term, 5);
    assert_eq!(contents.hard_state, Some(hs(5, 1, 39)));
}

#[test]
fn overwrite_reaching_back_into_an_older_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=20, 1), None).unwrap();
    wal.append(&ents(3..=6, 2), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, contents) = open(dir.path(), small());
    let mut expected: Vec<(u64, u64)> = (1..=2).map(|i| (i, 1)).collect();
    expected.extend((3..=6).map(|i| (i, 2)));
    assert_eq!(index_terms(&contents), expected);
}

/// End of the records in a segment: written records here end in a nonzero
/// byte, and preallocated space is zeros.
fn records_end(path: &Path) -> usize {
    super::zeros::data_end(&fs::read(path).unwrap())
}

/// Zeroes the last `bytes` of the last record: the end of its write never
/// landed, the preallocated zeros are still there.
fn tear(path: &Path, bytes: usize) {
    let end = records_end(path);
    let mut data = fs::read(path).unwrap();
    data[end - bytes..end].fill(0);
    fs::write(path, data).unwrap();
}

/// Writes `junk` right after the last record, as a dying process might.
fn scribble(path: &Path, junk: &[u8]) {
    let end = records_end(path);
    let f = OpenOptions::new().write(true).open(path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, junk, end as u64).unwrap();
}

const JUNK: &[u8] = b"\x07garbage written by a dying process \xff\xfe";

fn torn_tail_recovers(damage: impl Fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=10, 1), None).unwrap();
    wal.append(&ents(11..=11, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let files = segment_files(dir.path());
    assert!(files.len() > 1);
    damage(files.last().unwrap());

    let (mut wal, contents) = open(dir.path(), small());
    assert_eq!(wal.last_index(), contents.entries.len() as u64);
    assert!(wal.last_index() >= 10, "only the tail may be lost");
    let next = wal.last_index() + 1;
    wal.append(&ents(next..=next + 4, 2), Some(&hs(2, 1, next)))
        .unwrap();
    wal.sync().unwrap();
    drop(wal);

    let (_, again) = open(dir.path(), small());
    let indexes: Vec<u64> = again.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (1..=next + 4).collect::<Vec<_>>());
    assert_eq!(again.hard_state, Some(hs(2, 1, next)));
}

#[test]
fn truncated_last_record_is_dropped() {
    torn_tail_recovers(|p| tear(p, 3));
    // Check the record really went: entry 11 is the last one written.
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), roomy());
    wal.append(&ents(1..=11, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let file = &segment_files(dir.path())[0];
    let end = records_end(file);
    tear(file, 3);
    let (wal, contents) = open(dir.path(), roomy());
    assert_eq!(wal.last_index(), 10);
    assert_eq!(contents.entries.len(), 10);
    let cut = wal.write_offset() as usize;
    assert!(cut < end - 3, "the torn record starts before its tail");
    let bytes = fs::read(file).unwrap();
    assert_eq!(
        bytes.len() as u64,
        roomy().segment_bytes,
        "still preallocated"
    );
    assert!(super::zeros::is_zero(&bytes[cut..]), "torn record zeroed");
}

#[test]
fn garbage_after_the_last_record_is_dropped() {
    torn_tail_recovers(|p| scribble(p, JUNK));
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), roomy());
    wal.append(&ents(1..=11, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let file = &segment_files(dir.path())[0];
    let clean_end = records_end(file);
    scribble(file, JUNK);
    let (wal, contents) = open(dir.path(), roomy());
    assert_eq!(contents.entries.len(), 11);
    assert_eq!(wal.write_offset() as usize, clean_end);
    assert_eq!(records_end(file), clean_end, "tail zeroed");
    let len = fs::metadata(file).unwrap().len();
    assert_eq!(len, roomy().segment_bytes, "still preallocated");
}

#[test]
fn empty_last_segment_gets_its_header_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=10, 1), Some(&hs(1, 1, 3))).unwrap();
    wal.sync().unwrap();
    drop(wal);
    // A crash right after creating the next segment leaves it empty.
    let seq = segment_files(dir.path()).len() as u64;
    let name = super::segment::file_name(seq, 11);
    fs::write(dir.path().join(name), b"").unwrap();

    let (mut wal, contents) = open(dir.path(), small());
    assert_eq!(contents.hard_state, Some(hs(1, 1, 3)));
    let next = wal.last_index() + 1;
    wal.append(&ents(next..=next, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, contents) = open(dir.path(), small());
    assert_eq!(wal.last_index(), next);
    assert_eq!(wal.segment_count(), seq as usize + 1);
    assert_eq!(contents.entries.len() as u64, next);
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn damage_in_an_older_segment_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=20, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    let victim = &files[1];
    flip_byte(victim, records_end(victim) / 2);
    assert!(matches!(
        Wal::open(dir.path(), small()),
        Err(StorageError::Corrupt(_))
    ));
}

#[test]
fn damage_before_intact_records_of_the_last_segment_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), roomy());
    wal.append(&ents(1..=10, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let file = &segment_files(dir.path())[0];
    flip_byte(file, records_end(file) / 2);
    assert!(matches!(
        Wal::open(dir.path(), roomy()),
        Err(StorageError::Corrupt(_))
    ));
}

#[test]
fn missing_middle_segment_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=20, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);
    fs::remove_file(&segment_files(dir.path())[1]).unwrap();
    assert!(matches!(
        Wal::open(dir.path(), small()),
        Err(StorageError::Corrupt(_))
    ));
}

#[test]
fn compaction_deletes_old_segments_and_records_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=30, 1), Some(&hs(1, 1, 30))).unwrap();
    wal.sync().unwrap();
    let before = segment_files(dir.path());
    assert!(before.len() > 2);

    wal.compact_to(&meta(20, 1)).unwrap();
    let after = segment_files(dir.path());
    assert!(after.len() < before.len(), "nothing deleted");
    assert_eq!(after.last(), before.last(), "current segment kept");
    assert_eq!(wal.last_index(), 30);
    // Stale or repeated cuts are ignored.
    wal.compact_to(&meta(10, 1)).unwrap();
    wal.append(&ents(31..=32, 1), None).unwrap();
    wal.sync().unwrap();
    drop(wal);

    let (wal, contents) = open(dir.path(), small());
    assert_eq!(contents.snapshot, Some(meta(20, 1)));
    let indexes: Vec<u64> = contents.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (21..=32).collect::<Vec<_>>());
    assert_eq!(contents.hard_state, Some(hs(1, 1, 30)));
    assert_eq!(wal.segment_count(), after.len());
}

#[test]
fn compacting_everything_leaves_only_the_current_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=30, 1), None).unwrap();
    wal.compact_to(&meta(30, 1)).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    drop(wal);
    let (mut wal, contents) = open(dir.path(), small());
    assert!(contents.entries.is_empty());
    assert_eq!(contents.snapshot, Some(meta(30, 1)));
    assert_eq!(wal.last_index(), 30);
    wal.append(&ents(31..=31, 2), None).unwrap();
    wal.sync().unwrap();
}

#[test]
fn snapshot_from_leader_replaces_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=12, 1), None).unwrap();
    // The leader's log has term 3 at index 8: ours is stale from there on.
    wal.compact_to(&meta(8, 3)).unwrap();
    assert_eq!(wal.last_index(), 8);
    assert_eq!(segment_files(dir.path()).len(), 1);
    wal.append(&ents(9..=10, 3), None).unwrap();
    // A snapshot beyond our log also resets it.
    wal.compact_to(&meta(50, 4)).unwrap();
    assert_eq!(wal.last_index(), 50);
    wal.append(&ents(51..=52, 4), None).unwrap();
    wal.sync().unwrap();
    drop(wal);

    let (wal, contents) = open(dir.path(), small());
    assert_eq!(contents.snapshot, Some(meta(50, 4)));
    assert_eq!(index_terms(&contents), vec![(51, 4), (52, 4)]);
    assert_eq!(wal.last_index(), 52);
}

#[test]
fn each_remaining_segment_replays_after_compaction() {
    // Compact while later segments hold entries from before the cut: the
    // first surviving segment starts mid-log and the cut record fixes it up.
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.append(&ents(1..=40, 1), Some(&hs(1, 1, 40))).unwrap();
    wal.compact_to(&meta(15, 1)).unwrap();
    wal.append(&ents(41..=60, 2), None).unwrap();
    wal.compact_to(&meta(45, 2)).unwrap();
    wal.sync().unwrap();
    let kept = wal.segment_count();
    drop(wal);
    let (wal, contents) = open(dir.path(), small());
    assert_eq!(wal.segment_count(), kept);
    assert_eq!(contents.snapshot, Some(meta(45, 2)));
    let indexes: Vec<u64> = contents.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (46..=60).collect::<Vec<_>>());
}

/// On a full disk (a tiny tmpfs; needs root, else it says so and passes) an
/// append that needs the next segment is refused whole with ENOSPC, the log
/// stays usable, and once space returns the same append succeeds and a
/// reopen replays everything.
#[test]
fn a_full_disk_refuses_the_append_and_leaves_the_log_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("tmpfs");
    fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0)
                .status();
        }
    }
    let _unmount = Unmount(&mnt);
    let wal_dir = mnt.join("wal");
    let opts = WalOptions {
        segment_bytes: 512 * 1024,
    };
    let (mut wal, _) = open(&wal_dir, opts);
    // Fill the rest of the disk, leaving less than a segment.
    let ballast = mnt.join("ballast");
    let mut size = 0u64;
    {
        use std::io::Write as _;
        let mut f = fs::File::create(&ballast).unwrap();
        let chunk = vec![1u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {
            size += chunk.len() as u64;
        }
        let _ = f.sync_all();
    }
    fs::OpenOptions::new()
        .write(true)
        .open(&ballast)
        .unwrap()
        .set_len(size.saturating_sub(256 * 1024))
        .unwrap();
    let big = |i: u64| Entry {
        index: i,
        term: 1,
        data: vec![7u8; 100 * 1024].into(),
        ..Default::default()
    };
    let mut next = 1;
    let refused = loop {
        assert!(next < 200, "the disk never filled");
        match wal.append(&[big(next)], Some(&hs(1, 1, next))) {
            Ok(()) => {
                wal.sync().unwrap();
                next += 1;
            }
            Err(err) => break err,
        }
    };
    assert!(refused.is_no_space(), "{refused:?}");
    // Refused whole: nothing of it was written; the log takes it later.
    fs::remove_file(&ballast).unwrap();
    wal.append(&[big(next)], Some(&hs(1, 1, next))).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, contents) = open(&wal_dir, opts);
    let indexes: Vec<u64> = contents.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (1..=next).collect::<Vec<_>>());
}

#[test]
fn released_segments_stay_when_asked_and_replay_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path(), small());
    wal.keep_released_segments(true);
    wal.append(&ents(1..=30, 1), Some(&hs(1, 1, 30))).unwrap();
    wal.sync().unwrap();
    let before = segment_files(dir.path());
    wal.compact_to(&meta(20, 1)).unwrap();
    assert_eq!(segment_files(dir.path()), before, "nothing deleted");
    drop(wal);
    let (_, contents) = open(dir.path(), small());
    assert_eq!(contents.snapshot, Some(meta(20, 1)));
    let indexes: Vec<u64> = contents.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (21..=30).collect::<Vec<_>>());
}
