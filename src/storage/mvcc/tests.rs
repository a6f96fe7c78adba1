//! Store-level tests: revisions, ranges, deletes, compaction, reopen,
//! rollback and concurrent readers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

use super::*;
use crate::proto::mvccpb::{event::EventType, KeyValue};
use crate::storage::revision::Revision;
use crate::storage::{RangeOptions, RangeResult, RangeSource, StorageError};

fn opts() -> StoreOptions {
    StoreOptions { map_size: 64 << 20 }
}

fn open(dir: &Path) -> Store {
    Store::open(dir, opts()).unwrap()
}

/// One batch with one txn that puts each pair; returns the txn's revision.
fn put_all(s: &Store, pairs: &[(&str, &str)]) -> i64 {
    let mut b = s.begin_batch().unwrap();
    let mut t = b.txn();
    for (k, v) in pairs {
        t.put(k.as_bytes(), v.as_bytes(), 0).unwrap();
    }
    let rev = t.end().rev;
    let ci = s.consistent_index() + 1;
    b.commit(ci).unwrap();
    rev
}

fn put(s: &Store, k: &str, v: &str) -> i64 {
    put_all(s, &[(k, v)])
}

fn delete(s: &Store, k: &str, end: &str) -> (i64, i64) {
    let mut b = s.begin_batch().unwrap();
    let mut t = b.txn();
    let n = t.delete_range(k.as_bytes(), end.as_bytes()).unwrap();
    let rev = t.end().rev;
    b.commit(s.consistent_index() + 1).unwrap();
    (n, rev)
}

/// Compacts and purges at once (purge steps have tests of their own).
fn compact(s: &Store, rev: i64) -> StorageResult<()> {
    let mut b = s.begin_batch()?;
    b.compact(rev)?;
    b.commit(s.consistent_index() + 1)?;
    s.finish_purge()
}

fn range(s: &Store, k: &str, end: &str, o: RangeOptions) -> StorageResult<RangeResult> {
    s.read()?.range(k.as_bytes(), end.as_bytes(), o)
}

fn at(rev: i64) -> RangeOptions {
    RangeOptions {
        rev,
        ..Default::default()
    }
}

fn get(s: &Store, k: &str) -> Option<KeyValue> {
    range(s, k, "", RangeOptions::default()).unwrap().kvs.pop()
}

fn pairs(r: &RangeResult) -> Vec<(String, String)> {
    r.kvs
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect()
}

fn p(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// Every (revision, tombstone) record in LMDB.
fn records(s: &Store) -> Vec<(Revision, bool)> {
    let backend = s.backend();
    let txn = backend.read_txn().unwrap();
    let mut out = Vec::new();
    for item in backend.kv().iter(&txn).unwrap() {
        let (k, _) = item.unwrap();
        out.push(Revision::from_key(k).unwrap());
    }
    out
}

#[test]
fn store_is_shareable_and_views_can_move() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<ReadTxn<'static>>();
}

#[test]
fn fresh_store_starts_at_revision_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(s.current_revision(), 1);
    assert_eq!(s.compacted_revision(), 0);
    assert_eq!(s.consistent_index(), 0);
    let r = range(&s, "\0", "\0", RangeOptions::default()).unwrap();
    assert_eq!((r.kvs.len(), r.count, r.rev), (0, 0, 1));
    assert_eq!(put(&s, "a", "1"), 2);
    assert_eq!(s.current_revision(), 2);
}

#[test]
fn put_tracks_create_mod_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "a", "1");
    put(&s, "a", "2");
    let kv = get(&s, "a").unwrap();
    assert_eq!(
        (
            kv.create_revision,
            kv.mod_revision,
            kv.version,
            kv.value.as_slice()
        ),
        (2, 3, 2, b"2".as_slice())
    );
    delete(&s, "a", "");
    assert_eq!(get(&s, "a"), None);
    put(&s, "a", "3");
    let kv = get(&s, "a").unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));

    let mut b = s.begin_batch().unwrap();
    let mut t = b.txn();
    t.put(b"l", b"v", 42).unwrap();
    t.end();
    b.commit(9).unwrap();
    assert_eq!(get(&s, "l").unwrap().lease, 42);
}

#[test]
fn range_with_limit_count_and_revision() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "b", "1"); // 2
    put(&s, "a", "1"); // 3
    put(&s, "c", "1"); // 4
    put(&s, "b", "2"); // 5
    put(&s, "d", "1"); // 6

    let all = range(&s, "a", "z", RangeOptions::default()).unwrap();
    assert_eq!(
        pairs(&all),
        vec![p("a", "1"), p("b", "2"), p("c", "1"), p("d", "1")]
    );
    assert_eq!((all.count, all.rev), (4, 6));

    let lim = range(
        &s,
        "a",
        "z",
        RangeOptions {
            limit: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(pairs(&lim), vec![p("a", "1"), p("b", "2")]);
    assert_eq!((lim.count, lim.rev), (4, 6));

    let old = range(&s, "a", "z", at(4)).unwrap();
    assert_eq!(pairs(&old), vec![p("a", "1"), p("b", "1"), p("c", "1")]);
    // the observed revision is the store's, not the requested one
    assert_eq!((old.count, old.rev), (3, 6));

    let cnt = range(
        &s,
        "a",
        "z",
        RangeOptions {
            count_only: true,
            rev: 5,
            limit: 1,
        },
    )
    .unwrap();
    assert_eq!((cnt.kvs.len(), cnt.count), (0, 3));

    assert_eq!(
        pairs(&range(&s, "b", "d", RangeOptions::default()).unwrap()),
        vec![p("b", "2"), p("c", "1")]
    );
    assert_eq!(
        pairs(&range(&s, "c", "\0", RangeOptions::default()).unwrap()),
        vec![p("c", "1"), p("d", "1")]
    );
    assert_eq!(
        range(&s, "\0", "\0", RangeOptions::default())
            .unwrap()
            .count,
        4
    );
    assert_eq!(
        range(&s, "d", "a", RangeOptions::default()).unwrap().count,
        0
    );
    assert_eq!(
        range(&s, "zz", "", RangeOptions::default()).unwrap().count,
        0
    );
    assert_eq!(range(&s, "a", "z", at(1)).unwrap().count, 0);
    assert!(matches!(
        range(&s, "a", "z", at(7)),
        Err(StorageError::FutureRevision)
    ));
}

#[test]
fn delete_range_single_range_and_from_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put_all(
        &s,
        &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1"), ("e", "1")],
    ); // 2

    assert_eq!(delete(&s, "a", ""), (1, 3));
    // deleting a missing key changes nothing, not even the revision
    assert_eq!(delete(&s, "a", ""), (0, 3));
    assert_eq!(delete(&s, "zz", "\0"), (0, 3));
    assert_eq!(s.current_revision(), 3);
    assert_eq!(delete(&s, "b", "d"), (2, 4));
    assert_eq!(delete(&s, "d", "\0"), (2, 5));
    assert_eq!(
        range(&s, "\0", "\0", RangeOptions::default())
            .unwrap()
            .count,
        0
    );

    // the history is still there
    let old = range(&s, "\0", "\0", at(3)).unwrap();
    assert_eq!(
        pairs(&old),
        vec![p("b", "1"), p("c", "1"), p("d", "1"), p("e", "1")]
    );

    // tombstones hold key + mod_revision
    let mut b = s.begin_batch().unwrap();
    let mut t = b.txn();
    t.put(b"x", b"1", 0).unwrap();
    t.delete_range(b"x", b"").unwrap();
    let out = t.end();
    b.commit(1).unwrap();
    assert_eq!(out.rev, 6);
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.events[0].r#type, EventType::Put as i32);
    assert_eq!(out.events[1].r#type, EventType::Delete as i32);
    let tomb = out.events[1].kv.clone().unwrap();
    assert_eq!(
        (tomb.key.as_slice(), tomb.mod_revision, tomb.version),
        (b"x".as_slice(), 6, 0)
    );
    assert_eq!(get(&s, "x"), None);
}

#[test]
fn txn_sees_its_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "a", "old"); // 2
    let mut b = s.begin_batch().unwrap();
    let mut t = b.txn();
    assert_eq!(t.rev(), 2);
    t.put(b"a", b"new", 0).unwrap();
    t.put(b"b", b"1", 0).unwrap();
    assert_eq!(t.rev(), 3);
    let r = t.range(b"a", b"c", RangeOptions::default()).unwrap();
    assert_eq!(pairs(&r), vec![p("a", "new"), p("b", "1")]);
    assert_eq!(r.rev, 3);
    assert_eq!(r.kvs[0].version, 2);
    // reading the txn's own future revision is fine, beyond it is not
    assert!(t.range(b"a", b"", at(3)).is_ok());
    assert!(matches!(
        t.range(b"a", b"", at(4)),
        Err(StorageError::FutureRevision)
    ));
    assert_eq!(
        pairs(&t.range(b"a", b"", at(2)).unwrap()),
        vec![p("a", "old")]
    );
    assert_eq!(t.delete_range(b"a", b"").unwrap(), 1);
    assert_eq!(
        t.range(b"a", b"", RangeOptions::default()).unwrap().count,
        0
    );
    let out = t.end();
    assert_eq!(out.rev, 3);
    let subs: Vec<i64> = out
        .events
        .iter()
        .map(|e| e.kv.as_ref().unwrap().mod_revision)
        .collect();
    assert_eq!(subs, vec![3, 3, 3]);

    // a later txn in the same batch sees the earlier one
    let mut t2 = b.txn();
    assert_eq!(t2.rev(), 3);
    assert_eq!(
        pairs(&t2.range(b"\0", b"\0", RangeOptions::default()).unwrap()),
        vec![p("b", "1")]
    );
    t2.put(b"c", b"1", 0).unwrap();
    assert_eq!(t2.end().rev, 4);
    // readers on other threads would block; the store's published state is unchanged
    assert_eq!(s.current_revision(), 2);
    b.commit(7).unwrap();
    assert_eq!(s.current_revision(), 4);
    assert_eq!(s.consistent_index(), 7);
    assert_eq!(
        pairs(&range(&s, "\0", "\0", RangeOptions::default()).unwrap()),
        vec![p("b", "1"), p("c", "1")]
    );
    // sub-revisions are stored as separate records
    let recs = records(&s);
    assert!(recs.contains(&(Revision::new(3, 0), false)));
    assert!(recs.contains(&(Revision::new(3, 2), true)));
}

#[test]
fn revision_advances_once_per_changing_txn() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let mut b = s.begin_batch().unwrap();
    // read-only txn
    let t = b.txn();
    let _ = t.range(b"a", b"", RangeOptions::default()).unwrap();
    assert_eq!(t.end().rev, 1);
    // no-op delete
    let mut t = b.txn();
    assert_eq!(t.delete_range(b"a", b"\0").unwrap(), 0);
    let out = t.end();
    assert_eq!((out.rev, out.events.len()), (1, 0));
    // three puts, one revision
    let mut t = b.txn();
    for k in [b"a", b"b", b"a"] {
        t.put(k, b"v", 0).unwrap();
    }
    assert_eq!(t.end().rev, 2);
    // dropping a txn without end() still ends it
    {
        let mut t = b.txn();
        t.put(b"c", b"v", 0).unwrap();
    }
    assert_eq!(b.rev(), 3);
    b.commit(1).unwrap();
    assert_eq!(s.current_revision(), 3);
    // an empty batch commit only moves the consistent index
    let b = s.begin_batch().unwrap();
    b.commit(2).unwrap();
    assert_eq!((s.current_revision(), s.consistent_index()), (3, 2));
    assert_eq!(get(&s, "a").unwrap().version, 2);
}

#[test]
fn compaction_errors_and_read_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for i in 0..5 {
        put(&s, "k", &i.to_string()); // 2..=6
    }
    assert!(matches!(compact(&s, 7), Err(StorageError::FutureRevision)));
    compact(&s, 4).unwrap();
    assert_eq!(s.compacted_revision(), 4);
    assert!(matches!(compact(&s, 4), Err(StorageError::Compacted)));
    assert!(matches!(compact(&s, 3), Err(StorageError::Compacted)));
    assert!(matches!(
        range(&s, "k", "", at(3)),
        Err(StorageError::Compacted)
    ));
    // reading at the compacted revision itself is allowed
    assert_eq!(
        pairs(&range(&s, "k", "", at(4)).unwrap()),
        vec![p("k", "2")]
    );
    assert_eq!(
        pairs(&range(&s, "k", "", at(5)).unwrap()),
        vec![p("k", "3")]
    );
    compact(&s, 6).unwrap();
    assert_eq!(get(&s, "k").unwrap().version, 5);

    // a failed compaction leaves the batch usable
    let mut b = s.begin_batch().unwrap();
    assert!(b.compact(5).is_err());
    let mut t = b.txn();
    t.put(b"k", b"x", 0).unwrap();
    t.end();
    b.commit(50).unwrap();
    assert_eq!(s.current_revision(), 7);
}

#[test]
fn compacting_at_zero_on_fresh_store_is_allowed_like_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    compact(&s, 0).unwrap();
    assert_eq!(s.compacted_revision(), 0);
    assert!(matches!(compact(&s, 0), Err(StorageError::Compacted)));
    compact(&s, 1).unwrap();
    assert_eq!(s.compacted_revision(), 1);
}

#[test]
fn compaction_purges_lmdb_but_keeps_what_reads_need() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "a", "1"); // 2
    put(&s, "a", "2"); // 3
    put(&s, "b", "1"); // 4
    delete(&s, "b", ""); // 5
    put(&s, "c", "1"); // 6
    delete(&s, "c", ""); // 7
    put(&s, "a", "3"); // 8
    let before = records(&s);
    assert_eq!(before.len(), 7);

    compact(&s, 6).unwrap();
    let after = records(&s);
    let r = |m| (Revision::new(m, 0), false);
    let t = |m| (Revision::new(m, 0), true);
    // a@2 superseded; b's whole life ended at 5 <= 6; c@6 is the latest live
    // revision of c at 6 and its tombstone at 7 is newer than the compaction
    assert_eq!(after, vec![r(3), r(6), t(7), r(8)]);
    assert_eq!(
        pairs(&range(&s, "\0", "\0", at(6)).unwrap()),
        vec![p("a", "2"), p("c", "1")]
    );
    assert_eq!(
        pairs(&range(&s, "\0", "\0", at(7)).unwrap()),
        vec![p("a", "2")]
    );
    assert_eq!(
        pairs(&range(&s, "\0", "\0", RangeOptions::default()).unwrap()),
        vec![p("a", "3")]
    );

    // at the tombstone itself the dead key disappears entirely
    compact(&s, 7).unwrap();
    assert_eq!(records(&s), vec![r(3), r(8)]);
    assert!(s.index_read().key_index(b"c").is_none());
    assert!(s.index_read().key_index(b"b").is_none());
    let kv = get(&s, "a").unwrap();
    assert_eq!((kv.create_revision, kv.version), (2, 3));
}

#[test]
fn reopen_restores_index_revisions_and_consistent_index() {
    let dir = tempfile::tempdir().unwrap();
    let (index_before, recs_before);
    {
        let s = open(dir.path());
        put(&s, "a", "1"); // 2
        put(&s, "a", "2"); // 3
        put(&s, "b", "1"); // 4
        delete(&s, "a", ""); // 5
        put(&s, "a", "3"); // 6
        put_all(&s, &[("c", "1"), ("c", "2")]); // 7
        compact(&s, 4).unwrap();
        let mut b = s.begin_batch().unwrap();
        b.put_meta("term", b"9").unwrap();
        assert_eq!(b.get_meta("term").unwrap(), Some(b"9".to_vec()));
        b.commit(77).unwrap();
        index_before = s.index_read().clone();
        recs_before = records(&s);
    }
    let s = open(dir.path());
    assert_eq!(s.current_revision(), 7);
    assert_eq!(s.compacted_revision(), 4);
    assert_eq!(s.consistent_index(), 77);
    assert_eq!(s.get_meta("term").unwrap(), Some(b"9".to_vec()));
    assert_eq!(*s.index_read(), index_before);
    assert_eq!(records(&s), recs_before);
    assert_eq!(
        pairs(&range(&s, "\0", "\0", at(4)).unwrap()),
        vec![p("a", "2"), p("b", "1")]
    );
    assert!(matches!(
        range(&s, "a", "", at(3)),
        Err(StorageError::Compacted)
    ));
    let c = get(&s, "c").unwrap();
    assert_eq!(
        (c.create_revision, c.version, c.value.as_slice()),
        (7, 2, b"2".as_slice())
    );
    // writes continue from the restored state
    put(&s, "b", "2");
    let b = get(&s, "b").unwrap();
    assert_eq!((b.create_revision, b.mod_revision, b.version), (4, 8, 2));
}

#[test]
fn reopen_keeps_revision_when_compaction_purged_newest_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        put(&s, "a", "1"); // 2
        delete(&s, "a", ""); // 3
        compact(&s, 3).unwrap();
        assert!(records(&s).is_empty());
    }
    let s = open(dir.path());
    assert_eq!((s.current_revision(), s.compacted_revision()), (3, 3));
    assert!(s.index_read().is_empty());
    assert_eq!(put(&s, "a", "2"), 4);
    assert_eq!(get(&s, "a").unwrap().create_revision, 4);
}

#[test]
fn dropped_batch_rolls_back_everything() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "a", "1"); // 2
    put(&s, "b", "1"); // 3
    let index_before = s.index_read().clone();
    {
        let mut b = s.begin_batch().unwrap();
        let mut t = b.txn();
        t.put(b"a", b"2", 0).unwrap();
        t.delete_range(b"b", b"").unwrap();
        t.put(b"b", b"again", 0).unwrap();
        t.put(b"new", b"1", 0).unwrap();
        t.end();
        b.compact(3).unwrap();
        b.put_meta("m", b"x").unwrap();
    }
    assert_eq!(*s.index_read(), index_before);
    assert_eq!(
        (
            s.current_revision(),
            s.compacted_revision(),
            s.consistent_index()
        ),
        (3, 0, 2)
    );
    assert_eq!(records(&s).len(), 2);
    assert_eq!(s.get_meta("m").unwrap(), None);
    assert_eq!(put(&s, "a", "3"), 4);
    assert_eq!(get(&s, "a").unwrap().version, 2);
    assert_eq!(get(&s, "b").unwrap().version, 1);
}

#[test]
fn map_full_fails_the_batch_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), StoreOptions { map_size: 1 << 20 }).unwrap();
    put(&s, "keep", "1");
    let index_before = s.index_read().clone();
    let mut b = s.begin_batch().unwrap();
    let mut t = b.txn();
    let big = vec![b'x'; 64 * 1024];
    let mut err = None;
    for i in 0..100 {
        if let Err(e) = t.put(format!("k{i}").as_bytes(), &big, 0) {
            err = Some(e);
            break;
        }
    }
    t.end();
    let err = err.expect("1 MiB map cannot take 6 MiB");
    assert!(err.is_map_full(), "{err}");
    assert!(b.commit(5).is_err());
    assert_eq!(*s.index_read(), index_before);
    assert_eq!(s.current_revision(), 2);
    // the store still works afterwards
    assert_eq!(put(&s, "after", "1"), 3);
    assert_eq!(
        range(&s, "\0", "\0", RangeOptions::default())
            .unwrap()
            .count,
        2
    );
}

#[test]
fn read_view_is_a_fixed_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "a", "1"); // 2
    let view = s.read().unwrap();
    put(&s, "a", "2"); // 3
    put(&s, "b", "1"); // 4
    assert_eq!(view.rev(), 2);
    let r = view.range(b"\0", b"\0", RangeOptions::default()).unwrap();
    assert_eq!((pairs(&r), r.rev), (vec![p("a", "1")], 2));
    assert!(matches!(
        view.range(b"a", b"", at(3)),
        Err(StorageError::FutureRevision)
    ));
    // once a compaction passes the view's revision, its reads are refused
    compact(&s, 3).unwrap();
    assert!(matches!(
        view.range(b"a", b"", RangeOptions::default()),
        Err(StorageError::Compacted)
    ));
    drop(view);
    assert_eq!(s.read().unwrap().rev(), 4);
}

#[test]
fn changes_lists_events_in_revision_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "a", "1"); // 2
    put_all(&s, &[("b", "1"), ("c", "1")]); // 3
    delete(&s, "a", ""); // 4
    let view = s.read().unwrap();
    let evs = view.changes(3, i64::MAX).unwrap();
    let summary: Vec<(i32, String, i64)> = evs
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().unwrap();
            (
                e.r#type,
                String::from_utf8_lossy(&kv.key).into_owned(),
                kv.mod_revision,
            )
        })
        .collect();
    let put_t = EventType::Put as i32;
    let del_t = EventType::Delete as i32;
    assert_eq!(
        summary,
        vec![
            (put_t, "b".into(), 3),
            (put_t, "c".into(), 3),
            (del_t, "a".into(), 4)
        ]
    );
    assert_eq!(view.changes(2, 2).unwrap().len(), 1);
    assert!(view.changes(5, 10).unwrap().is_empty());
    drop(view);
    compact(&s, 3).unwrap();
    let view = s.read().unwrap();
    assert!(matches!(view.changes(2, 4), Err(StorageError::Compacted)));
    assert_eq!(view.changes(4, 4).unwrap().len(), 1);
}

#[test]
fn limited_changes_stop_at_a_revision_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, "a", "1"); // 2
    put_all(&s, &[("b", "1"), ("c", "1")]); // 3
    put(&s, "d", "1"); // 4
    let view = s.read().unwrap();
    // One byte is enough to stop, but never inside revision 3.
    let (evs, through) = view.changes_limited(3, 4, 1).unwrap();
    assert_eq!((evs.len(), through), (2, 3));
    let (evs, through) = view.changes_limited(2, 10, usize::MAX).unwrap();
    assert_eq!((evs.len(), through), (4, 4));
}

#[test]
fn db_size_grows_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let (_, used0) = s.db_size().unwrap();
    let big = "v".repeat(10_000);
    for i in 0..20 {
        put(&s, &format!("k{i}"), &big);
    }
    s.sync().unwrap();
    let (file, used) = s.db_size().unwrap();
    assert!(used >= used0 + 200_000, "{used0} -> {used}");
    assert!(file >= used);
}

#[test]
fn concurrent_readers_see_whole_batches_only() {
    const KEYS: usize = 20;
    const ROUNDS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i:02}")).collect();
    let pairs0: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "0")).collect();
    put_all(&s, &pairs0);
    let done = AtomicBool::new(false);
    let start = Barrier::new(3);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                start.wait();
                let mut seen = 0;
                while !done.load(Ordering::SeqCst) || seen == 0 {
                    let view = s.read().unwrap();
                    let r = view.range(b"k", b"l", RangeOptions::default()).unwrap();
                    assert_eq!(r.kvs.len(), KEYS);
                    let first = &r.kvs[0];
                    // every key was last written by the same batch
                    for kv in &r.kvs {
                        assert_eq!(kv.value, first.value, "mixed batches at rev {}", r.rev);
                    }
                    let round: i64 = String::from_utf8_lossy(&first.value).parse().unwrap();
                    let newest = r.kvs.iter().map(|kv| kv.mod_revision).max().unwrap();
                    assert_eq!(newest, r.rev, "view revision matches its data");
                    assert_eq!(r.rev, 2 + round * KEYS as i64);
                    assert!(r.kvs.iter().all(|kv| kv.version == round + 1));
                    seen += 1;
                }
            });
        }
        start.wait();
        for round in 1..=ROUNDS {
            let v = round.to_string();
            let mut b = s.begin_batch().unwrap();
            // one txn per key: a batch spans many revisions
            for k in &keys {
                let mut t = b.txn();
                t.put(k.as_bytes(), v.as_bytes(), 0).unwrap();
                t.end();
            }
            std::thread::yield_now();
            b.commit(round as u64).unwrap();
        }
        done.store(true, Ordering::SeqCst);
    });
    assert_eq!(s.current_revision(), 2 + (KEYS * ROUNDS) as i64);
}

#[test]
fn hash_kv_is_stable_per_revision_and_refuses_bad_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let empty = s.read().unwrap().hash_kv(0).unwrap();
    assert_eq!(empty.hash, crc32c::crc32c(b"key"));
    assert_eq!(empty.compact_revision, -1);
    put(&s, "a", "1");
    let at_two = s.read().unwrap().hash_kv(0).unwrap();
    assert_eq!((at_two.revision, at_two.current_revision), (2, 2));
    assert_ne!(at_two.hash, empty.hash);
    put(&s, "b", "2");
    delete(&s, "a", "");
    let view = s.read().unwrap();
    assert_eq!(
        view.hash_kv(2).unwrap().hash,
        at_two.hash,
        "history is fixed"
    );
    assert_ne!(view.hash_kv(0).unwrap().hash, at_two.hash);
    assert!(matches!(view.hash_kv(9), Err(StorageError::FutureRevision)));
    drop(view);
    compact(&s, 3).unwrap();
    let view = s.read().unwrap();
    assert!(matches!(view.hash_kv(3), Err(StorageError::Compacted)));
    assert_eq!(view.hash_kv(0).unwrap().compact_revision, 3);
}

/// Compacts without purging: what a Compaction request's batch does.
fn compact_only(s: &Store, rev: i64) {
    let mut b = s.begin_batch().unwrap();
    b.compact(rev).unwrap();
    b.commit(s.consistent_index() + 1).unwrap();
}

#[test]
fn a_purge_deletes_in_steps_of_the_limit_and_reads_never_see_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for i in 0..50 {
        put(&s, "a", &i.to_string()); // 2..=51
    }
    compact_only(&s, 41);
    // Compacted for readers at once; every record still there.
    assert_eq!(s.compacted_revision(), 41);
    assert!(s.purge_pending());
    assert_eq!(records(&s).len(), 50);
    let hash_before = s.read().unwrap().hash_kv(0).unwrap();
    let mut steps = Vec::new();
    while let Some(step) = s.purge_step(7).unwrap() {
        steps.push(step.deleted);
        // Each step is its own commit: readers see the same data.
        assert_eq!(get(&s, "a").unwrap().value, b"49");
        if step.finished {
            break;
        }
    }
    // 40 records at or below 41, 39 of them superseded: 7 per step.
    assert_eq!(steps, vec![7, 7, 7, 7, 7, 4]);
    assert!(!s.purge_pending());
    assert_eq!(s.purged_revision(), 41);
    assert_eq!(records(&s).len(), 11);
    assert_eq!(s.read().unwrap().hash_kv(0).unwrap().hash, hash_before.hash);
    assert_eq!(s.purge_step(7).unwrap(), None);
}

#[test]
fn a_purge_cut_short_by_a_restart_is_finished_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        for i in 0..30 {
            put(&s, "k", &i.to_string());
        }
        compact_only(&s, 21);
        let first = s.purge_step(5).unwrap().unwrap();
        assert!(!first.finished);
        assert_eq!(records(&s).len(), 25);
    }
    let s = open(dir.path());
    assert_eq!(s.compacted_revision(), 21);
    assert!(s.purge_pending(), "the purge resumes after a restart");
    s.finish_purge().unwrap();
    assert_eq!(records(&s).len(), 11);
    assert_eq!(s.purged_revision(), 21);
    drop(s);
    let s = open(dir.path());
    assert!(!s.purge_pending());
}

#[test]
fn a_later_compaction_takes_over_an_unfinished_purge() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for i in 0..30 {
        put(&s, "k", &i.to_string());
    }
    compact_only(&s, 11);
    s.purge_step(3).unwrap();
    compact_only(&s, 25);
    s.finish_purge().unwrap();
    assert_eq!(s.purged_revision(), 25);
    assert_eq!(records(&s).len(), 7);
}
