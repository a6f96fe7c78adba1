//! Defragmentation: the data is the same before and after (also with writes
//! and compactions going on), the file shrinks, a reopen sees it, and what
//! an interrupted run leaves is cleaned up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::defrag::recover_interrupted;
use super::*;
use crate::storage::RangeOptions;

fn open(db: &Path) -> Store {
    Store::open(
        db,
        StoreOptions {
            map_size: 256 << 20,
        },
    )
    .unwrap()
}

fn put(s: &Store, k: &str, v: &[u8]) {
    let mut b = s.begin_batch().unwrap();
    let mut t = b.txn();
    t.put(k.as_bytes(), v, 0).unwrap();
    t.end();
    let ci = s.consistent_index() + 1;
    b.commit(ci).unwrap();
    s.finish_purge().unwrap();
}

fn compact(s: &Store) {
    let mut b = s.begin_batch().unwrap();
    let rev = s.current_revision();
    b.compact(rev).unwrap();
    let ci = s.consistent_index() + 1;
    b.commit(ci).unwrap();
    s.finish_purge().unwrap();
}

/// Every live key and value, and the whole-backend hash.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn contents(s: &Store) -> (Pairs, u32) {
    let view = s.read().unwrap();
    let all = RangeOptions {
        limit: 0,
        rev: 0,
        count_only: false,
    };
    let kvs = crate::storage::RangeSource::range(&view, b"\0", b"\0", all)
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect();
    (kvs, view.hash_backend().unwrap())
}

#[test]
fn shrinks_the_file_and_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let s = open(&db);
    for round in 0..20 {
        for k in 0..50 {
            put(&s, &format!("k{k}"), &vec![round as u8; 4000]);
        }
    }
    compact(&s);
    let before = contents(&s);
    let size_before = s.backend_size();
    let report = s.defragment().unwrap();
    assert_eq!(report.size_before, size_before);
    assert!(
        report.size_after * 4 < size_before,
        "{size_before} -> {}",
        report.size_after
    );
    assert_eq!(s.backend_size(), report.size_after);
    assert_eq!(contents(&s), before, "same data and hash after the swap");
    // Writes go to the new file, and a reopen finds everything.
    put(&s, "after", b"x");
    let expected = contents(&s);
    drop(s);
    let reopened = open(&db);
    assert_eq!(contents(&reopened), expected);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only db/ remains: {leftovers:?}");
}

#[test]
fn writes_and_compactions_during_the_copy_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let s = Arc::new(open(&db));
    for k in 0..2000 {
        put(&s, &format!("seed{k}"), &[7u8; 2000]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                put(&s, &format!("live{}", n % 300), &n.to_be_bytes());
                if n % 500 == 499 {
                    compact(&s);
                }
                n += 1;
            }
            n
        })
    };
    // A reader open across the swap keeps reading its own snapshot.
    let old_view = s.read().unwrap();
    let old_rev = old_view.revision();
    for _ in 0..3 {
        s.defragment().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let writes = writer.join().unwrap();
    assert!(writes > 0);
    assert_eq!(old_view.revision(), old_rev);
    assert!(
        old_view.hash_backend().is_ok(),
        "old snapshot still readable"
    );
    drop(old_view);
    let expected = contents(&s);
    let live_keys = expected
        .0
        .iter()
        .filter(|(k, _)| k.starts_with(b"live"))
        .count();
    assert_eq!(live_keys, (writes as usize).min(300));
    let rev = s.current_revision();
    drop(s);
    let reopened = open(&db);
    assert_eq!(reopened.current_revision(), rev);
    assert_eq!(contents(&reopened), expected, "reopen sees every write");
}

#[test]
fn leftovers_of_an_interrupted_run_are_removed_at_boot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    drop(open(&db));
    let partial = dir.path().join("db.defrag-123");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("data.mdb"), b"half a copy").unwrap();
    recover_interrupted(&db).unwrap();
    assert!(!partial.exists());
    assert!(db.join("data.mdb").exists(), "db/ untouched");
}

/// A purge half done when a defragmentation starts finishes in the new
/// file without leaving a record behind.
#[test]
fn a_purge_half_done_finishes_after_a_defragmentation() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir.path().join("db"));
    for round in 0..20 {
        for k in 0..10 {
            put(&s, &format!("k{k}"), &[round as u8; 100]);
        }
    }
    let mut b = s.begin_batch().unwrap();
    b.compact(s.current_revision()).unwrap();
    let ci = s.consistent_index() + 1;
    b.commit(ci).unwrap();
    let half = s.purge_step(100).unwrap().unwrap();
    assert_eq!((half.deleted, half.finished), (100, false));
    let before = contents(&s);
    s.defragment().unwrap();
    assert_eq!(contents(&s).0, before.0);
    s.finish_purge().unwrap();
    let backend = s.backend();
    let txn = backend.read_txn().unwrap();
    let records = backend.kv().iter(&txn).unwrap().count();
    assert_eq!(records, 10, "one record per key is left");
}
