//! Time per synced append, on the disk holding the temp directory:
//!
//! ```text
//! cargo test --lib storage::wal::sync_bench -- --ignored --nocapture
//! ```
//!
//! Compares the old layout (append to a growing file, each `fdatasync`
//! also commits the size change) with writing into a preallocated,
//! zero-filled file, then times the `Wal` itself. Syscall-bound, so a
//! debug build measures the same thing as a release one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use raft::eraftpb::Entry;

use super::{zeros, Wal, WalOptions};

const SYNCS: u64 = 2000;
/// The three ways take turns, `SYNCS / ROUNDS` syncs at a time, so that
/// drift in the disk's speed (other jobs) hits them alike.
const ROUNDS: u64 = 20;
const RECORD: usize = 100;

#[test]
#[ignore = "measures the disk; run by hand"]
fn synced_append_latency() {
    let dir = tempfile::tempdir().unwrap();
    let record = [0x5au8; RECORD];
    let mut appended = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("append"))
        .unwrap();
    let prealloc = File::create(dir.path().join("prealloc")).unwrap();
    zeros::fill(&prealloc, 0, 1 << 20, None).unwrap();
    prealloc.sync_data().unwrap();
    let (mut wal, _) = Wal::open(&dir.path().join("wal"), WalOptions::default()).unwrap();
    wal.wait_prepared();

    let mut spent = [Duration::ZERO; 3];
    let mut i = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..SYNCS / ROUNDS {
            appended.write_all(&record).unwrap();
            appended.sync_data().unwrap();
        }
        spent[0] += start.elapsed();

        let start = Instant::now();
        for j in i..i + SYNCS / ROUNDS {
            prealloc.write_all_at(&record, j * RECORD as u64).unwrap();
            prealloc.sync_data().unwrap();
        }
        spent[1] += start.elapsed();

        let start = Instant::now();
        for j in i + 1..=i + SYNCS / ROUNDS {
            let e = Entry {
                index: j,
                term: 1,
                data: record.to_vec().into(),
                ..Default::default()
            };
            wal.append(&[e], None).unwrap();
            wal.sync().unwrap();
        }
        spent[2] += start.elapsed();
        i += SYNCS / ROUNDS;
    }
    let names = [
        "append + fdatasync",
        "pwrite into zeros + fdatasync",
        "Wal::append + Wal::sync",
    ];
    for (name, total) in names.iter().zip(spent) {
        let ms = total.as_secs_f64() * 1e3 / SYNCS as f64;
        println!("{name:>30}: {ms:.3} ms/sync over {SYNCS} syncs");
    }
}
