//! Failure injection for the robustness tests. With the `failpoints` feature, the
//! FAILPOINTS environment variable (the `fail` crate's syntax, e.g.
//! `wal_before_sync=100*off->return(crash)` or `wal_before_sync=sleep(200)`) arms the
//! points named below; without the feature they compile to nothing.
//!
//! Points: `wal_before_append` (where a full disk refuses an append), `wal_before_sync`, `wal_after_sync` (the WAL's fdatasync), `backend_before_commit`,
//! `backend_after_commit` (the LMDB commit of an applied batch), `snapshot_before_install`,
//! `snapshot_after_install` (staging a received raft snapshot), `defrag_before_swap`,
//! `defrag_after_swap` (the directory exchange that ends a defragmentation).

/// What `return(ARG)` does at a point: `crash` ends the process on the spot with SIGKILL
/// (as `kill -9` at that instruction would: nothing flushed, no unwinding); `enospc` fails
/// the operation as a full disk does; any other argument fails it with EIO, as a failing
/// disk would.
pub fn io_fault(arg: Option<String>) -> std::io::Error {
    if arg.as_deref() == Some("crash") {
        eprintln!("failpoint: crash");
        // SAFETY: sends a signal to this process; no memory is touched.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    let code = if arg.as_deref() == Some("enospc") {
        libc::ENOSPC
    } else {
        libc::EIO
    };
    std::io::Error::from_raw_os_error(code)
}

/// Arm the points FAILPOINTS names (once, at start; a no-op without the feature).
pub fn setup() {
    #[cfg(feature = "failpoints")]
    {
        let scenario = fail::FailScenario::setup();
        // The scenario stays armed for the life of the process.
        std::mem::forget(scenario);
    }
}
