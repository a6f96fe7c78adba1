//! Segment files: naming, listing and durable creation/removal.
//!
//! A segment is named `{seq:016x}-{first_index:016x}.wal`: `seq` counts up
//! from 0 so lexical order is log order, and `first_index` is the index the
//! segment's first new entry was expected to have (handy for operators; an
//! overwrite may still put lower indexes in it). The next segment is
//! prepared as [`TEMP_NAME`], which is not a segment name, and renamed into
//! place when the writer rolls.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::storage::{StorageError, StorageResult};

const SUFFIX: &str = ".wal";
/// The next segment while it is being prepared; never replayed.
pub(crate) const TEMP_NAME: &str = "next.wal.tmp";

/// One segment file found on disk or created by the writer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentFile {
    pub seq: u64,
    pub first_index: u64,
    pub path: PathBuf,
}

pub(crate) fn file_name(seq: u64, first_index: u64) -> String {
    format!("{seq:016x}-{first_index:016x}{SUFFIX}")
}

/// Parses a segment name; `None` for files that are not segments at all.
fn parse_name(name: &str) -> Option<StorageResult<(u64, u64)>> {
    let stem = name.strip_suffix(SUFFIX)?;
    let parsed = stem.split_once('-').and_then(|(seq, first)| {
        if seq.len() != 16 || first.len() != 16 {
            return None;
        }
        let seq = u64::from_str_radix(seq, 16).ok()?;
        let first = u64::from_str_radix(first, 16).ok()?;
        Some((seq, first))
    });
    Some(parsed.ok_or_else(|| StorageError::Corrupt(format!("wal: bad segment name {name:?}"))))
}

/// Lists the segments in `dir` in log order. A hole in the sequence means a
/// segment went missing, which would silently lose records, so it is corrupt.
pub(crate) fn list(dir: &Path) -> StorageResult<Vec<SegmentFile>> {
    let mut found = Vec::new();
    for item in fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(parsed) = parse_name(name) else {
            continue;
        };
        let (seq, first_index) = parsed?;
        found.push(SegmentFile {
            seq,
            first_index,
            path: item.path(),
        });
    }
    found.sort_by_key(|s| s.seq);
    for pair in found.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(StorageError::Corrupt(format!(
                "wal: segment sequence jumps from {} to {}",
                pair[0].seq, pair[1].seq
            )));
        }
    }
    Ok(found)
}

/// Creates segment `seq` as an empty file. The caller fills it and syncs
/// the file and directory before relying on it.
pub(crate) fn create(dir: &Path, seq: u64, first_index: u64) -> StorageResult<(SegmentFile, File)> {
    let path = dir.join(file_name(seq, first_index));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((
        SegmentFile {
            seq,
            first_index,
            path,
        },
        file,
    ))
}

/// Renames the prepared file at `prepared` into place as segment `seq`. The
/// caller syncs the directory before relying on the new name.
pub(crate) fn install(
    dir: &Path,
    prepared: &Path,
    seq: u64,
    first_index: u64,
) -> StorageResult<SegmentFile> {
    let path = dir.join(file_name(seq, first_index));
    if path.exists() {
        return Err(StorageError::Corrupt(format!(
            "wal: segment {} already exists",
            path.display()
        )));
    }
    fs::rename(prepared, &path)?;
    Ok(SegmentFile {
        seq,
        first_index,
        path,
    })
}

/// Where the next segment is prepared.
pub(crate) fn temp_path(dir: &Path) -> PathBuf {
    dir.join(TEMP_NAME)
}

/// Deletes a prepared file left behind by a crash (whole or not).
pub(crate) fn remove_temp(dir: &Path) -> StorageResult<()> {
    match fs::remove_file(temp_path(dir)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => Ok(other?),
    }
}

/// Makes creations and removals of entries in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> StorageResult<()> {
    if !crate::storage::fsync::enabled() {
        return Ok(());
    }
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_log_order_and_parse_back() {
        let a = file_name(9, 100);
        let b = file_name(10, 50);
        assert!(a < b);
        assert_eq!(parse_name(&b).unwrap().unwrap(), (10, 50));
        assert!(parse_name("notes.txt").is_none());
        assert!(parse_name("zz-1.wal").unwrap().is_err());
    }

    #[test]
    fn list_orders_segments_and_rejects_holes() {
        let dir = tempfile::tempdir().unwrap();
        for (seq, first) in [(1, 20), (0, 1), (2, 40)] {
            create(dir.path(), seq, first).unwrap();
        }
        fs::write(dir.path().join("LOCK"), b"").unwrap();
        fs::write(temp_path(dir.path()), b"").unwrap();
        let seqs: Vec<u64> = list(dir.path()).unwrap().iter().map(|s| s.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2]);

        fs::remove_file(dir.path().join(file_name(1, 20))).unwrap();
        assert!(matches!(list(dir.path()), Err(StorageError::Corrupt(_))));
    }

    #[test]
    fn install_renames_the_prepared_file_and_never_clobbers() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = temp_path(dir.path());
        fs::write(&tmp, b"prepared").unwrap();
        let seg = install(dir.path(), &tmp, 0, 1).unwrap();
        assert_eq!(fs::read(&seg.path).unwrap(), b"prepared");
        assert!(!tmp.exists());
        fs::write(&tmp, b"again").unwrap();
        assert!(install(dir.path(), &tmp, 0, 1).is_err());
        assert_eq!(fs::read(&seg.path).unwrap(), b"prepared");
        remove_temp(dir.path()).unwrap();
        remove_temp(dir.path()).unwrap();
        assert!(!tmp.exists());
    }
}
