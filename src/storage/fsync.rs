//! `--unsafe-no-fsync`: one switch for the whole process, as in etcd, where
//! it turns off every fsync of the WAL and the backend. For tests and
//! throwaway clusters only: a machine crash then loses acknowledged writes.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Called once at start-up for `--unsafe-no-fsync`.
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// Whether durability syncs are made (false only under `--unsafe-no-fsync`).
pub fn enabled() -> bool {
    !DISABLED.load(Ordering::Relaxed)
}

/// `fdatasync`, unless syncs are off.
pub fn sync_data(file: &File) -> io::Result<()> {
    if enabled() {
        file.sync_data()
    } else {
        Ok(())
    }
}
