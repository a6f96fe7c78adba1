//! One process per data dir: an exclusive `flock` on a lock file, taken
//! before anything else in the dir is opened or created.
//!
//! Two processes appending to one WAL and committing to one LMDB file would
//! silently destroy the member's data, so a second one must not start. The
//! kernel drops the lock when the holder exits in any way (kill -9
//! included), so a lock file left behind never blocks a restart; the pid
//! written into it only names the holder in the error.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::storage::{StorageError, StorageResult};

/// The lock file's name inside a locked dir.
pub const LOCK_FILE_NAME: &str = "oxcd.lock";

/// Holds a dir for this process until dropped (or the process exits).
#[derive(Debug)]
pub struct DirLock {
    // Never read: holding the open file is what holds the lock.
    _file: File,
}

impl DirLock {
    /// Creates `dir` if needed (owner-only, as etcd makes its dirs) and locks
    /// it without waiting. A dir held by another process is
    /// [`StorageError::DirInUse`].
    pub fn acquire(dir: &Path) -> StorageResult<DirLock> {
        create_private_dir(dir)?;
        let path = dir.join(LOCK_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StorageError::DirInUse {
                    dir: dir.to_path_buf(),
                    holder: holder_pid(&mut file),
                })
            }
            Err(TryLockError::Error(err)) => return Err(err.into()),
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        Ok(DirLock { _file: file })
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The pid the holder wrote, when it can be read (the holder may be between
/// taking the lock and writing it).
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_with_the_holders_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let held = DirLock::acquire(&dir).unwrap();
        match DirLock::acquire(&dir) {
            Err(StorageError::DirInUse { dir: named, holder }) => {
                assert_eq!(named, dir);
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("expected DirInUse, got {other:?}"),
        }
        drop(held);
        DirLock::acquire(&dir).expect("free again once the holder is gone");
    }

    #[test]
    fn a_lock_file_left_behind_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(LOCK_FILE_NAME), "999999\n").unwrap();
        let _lock = DirLock::acquire(tmp.path()).unwrap();
        let written = std::fs::read_to_string(tmp.path().join(LOCK_FILE_NAME)).unwrap();
        assert_eq!(written, format!("{}\n", std::process::id()));
    }

    #[test]
    fn creates_the_dir_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let _lock = DirLock::acquire(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
