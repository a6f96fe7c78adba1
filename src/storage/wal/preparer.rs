//! The next segment file, zero-filled ahead of time on a background thread.
//!
//! Writing (and syncing) a 64 MiB zero file takes about half a second, far
//! too long to stall a client write for when the writer rolls. So while one
//! segment is being written, the next is prepared at a fixed temporary name
//! (see [`segment::temp_path`]) that never looks like a segment; the writer
//! renames it into place when it rolls. A temporary file left by a crash is
//! deleted at open and never replayed.
//!
//! [`segment::temp_path`]: super::segment::temp_path

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::zeros;

/// Owns the temporary file and the thread preparing it.
#[derive(Debug)]
pub(crate) struct Preparer {
    path: PathBuf,
    len: u64,
    job: Option<Job>,
}

#[derive(Debug)]
struct Job {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<io::Result<File>>,
}

impl Preparer {
    /// Prepares files of `len` zero bytes at `path`; nothing starts yet.
    pub fn new(path: PathBuf, len: u64) -> Preparer {
        Preparer {
            path,
            len,
            job: None,
        }
    }

    /// Where the prepared file lives until [`Preparer::take`] hands it over.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts preparing in the background unless that is under way. If no
    /// thread can be started, `take` prepares the file itself.
    pub fn start(&mut self) {
        if self.job.is_some() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (path, len) = (self.path.clone(), self.len);
        let spawned = thread::Builder::new()
            .name("wal-prealloc".into())
            .spawn(move || zeroed_file(&path, len, Some(&flag)));
        match spawned {
            Ok(handle) => self.job = Some(Job { stop, handle }),
            Err(err) => tracing::warn!("wal: cannot start the segment preparer: {err}"),
        }
    }

    /// The prepared file: full length, zero-filled and synced, still at
    /// `path`. Waits for the background job if it has not finished, and
    /// prepares the file right here if there is none or it failed.
    pub fn take(&mut self) -> io::Result<File> {
        if let Some(job) = self.job.take() {
            if !job.handle.is_finished() {
                tracing::debug!("wal: next segment not prepared yet; waiting for it");
            }
            match job.handle.join() {
                Ok(Ok(file)) => return Ok(file),
                Ok(Err(err)) => tracing::warn!("wal: preparing the next segment failed: {err}"),
                Err(_) => tracing::warn!("wal: the segment preparer panicked"),
            }
        }
        zeroed_file(&self.path, self.len, None)
    }

    /// Whether a background job is running or holds a finished file.
    #[cfg(test)]
    pub fn pending(&self) -> bool {
        self.job.is_some()
    }

    /// Waits until the background job has finished, leaving its file to `take`.
    #[cfg(test)]
    pub fn wait(&self) {
        while self.job.as_ref().is_some_and(|j| !j.handle.is_finished()) {
            thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl Drop for Preparer {
    /// Stops the job (between two chunks) and removes its file: a half-made
    /// file is useless, and a whole one would be deleted at the next open.
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            job.stop.store(true, Ordering::Relaxed);
            let _ = job.handle.join();
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates (or truncates) `path` and fills it with `len` zero bytes, synced,
/// so that later writes into it never change the file's size.
fn zeroed_file(path: &Path, len: u64, stop: Option<&AtomicBool>) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    zeros::fill(&file, 0, len, stop)?;
    crate::storage::fsync::sync_data(&file)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_in_the_background_and_hands_the_file_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("next.tmp");
        let mut p = Preparer::new(path.clone(), 100_000);
        p.start();
        assert!(p.pending());
        let file = p.take().unwrap();
        assert!(!p.pending());
        assert_eq!(file.metadata().unwrap().len(), 100_000);
        assert!(zeros::is_zero(&fs::read(&path).unwrap()));
        // Taken files are the caller's: dropping the preparer keeps them.
        drop(p);
        assert!(path.exists());
    }

    #[test]
    fn without_a_job_take_prepares_synchronously() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("next.tmp");
        fs::write(&path, b"half-written leftovers").unwrap();
        let mut p = Preparer::new(path.clone(), 5000);
        let file = p.take().unwrap();
        assert_eq!(file.metadata().unwrap().len(), 5000);
        assert!(zeros::is_zero(&fs::read(&path).unwrap()));
    }

    #[test]
    fn dropping_a_running_job_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("next.tmp");
        let mut p = Preparer::new(path.clone(), 256 << 20);
        p.start();
        drop(p);
        assert!(!path.exists());
    }
}
