//! The reader against the writer's files, damaged files, and a store taken
//! out as an etcd file and back in.

use super::reader::{BoltError, BoltReader};
use super::writer::BoltWriter;
use super::{export_etcd, import_etcd, snapshot_status};
use crate::storage::apply::test_support::{compact, open_store, put_keys, put_with_lease};
use crate::storage::lease::LeaseRecord;
use crate::storage::{StorageError, StoreOptions};

fn entries(n: u32, size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| (i.to_be_bytes().to_vec(), vec![(i % 251) as u8; size]))
        .collect()
}

fn read_all(reader: &BoltReader, name: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let buckets = reader.buckets().unwrap();
    let (_, bucket) = buckets.iter().find(|(n, _)| n == name).unwrap();
    let mut out = Vec::new();
    reader
        .for_each(bucket, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn what_the_writer_writes_reads_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let many = entries(20_000, 60);
    let big = vec![(b"big".to_vec(), vec![7u8; 40_000])];
    let mut w = BoltWriter::create(&path).unwrap();
    let a = w.bucket(many.clone().into_iter().map(Ok)).unwrap();
    let b = w.bucket(big.clone().into_iter().map(Ok)).unwrap();
    let c = w.bucket(std::iter::empty()).unwrap();
    let size = w
        .finish(vec![
            (b"many".to_vec(), a),
            (b"big".to_vec(), b),
            (b"empty".to_vec(), c),
        ])
        .unwrap();
    let reader = BoltReader::open(&path, size).unwrap();
    assert_eq!(reader.size(), size);
    let names: Vec<Vec<u8>> = reader.buckets().unwrap().into_iter().map(|b| b.0).collect();
    assert_eq!(
        names,
        vec![b"big".to_vec(), b"empty".to_vec(), b"many".to_vec()]
    );
    assert_eq!(read_all(&reader, b"many"), many);
    assert_eq!(read_all(&reader, b"big"), big);
    assert!(read_all(&reader, b"empty").is_empty());
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut w = BoltWriter::create(&path).unwrap();
    let a = w.bucket(entries(2_000, 100).into_iter().map(Ok)).unwrap();
    let size = w.finish(vec![(b"a".to_vec(), a)]).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let short = dir.path().join("short");
    std::fs::write(&short, &bytes[..bytes.len() / 2]).unwrap();
    let half = (bytes.len() / 2) as u64;
    assert!(matches!(
        BoltReader::open(&short, half),
        Err(BoltError::Truncated(_))
    ));

    let text = dir.path().join("text");
    std::fs::write(&text, vec![b'x'; 20_000]).unwrap();
    assert!(matches!(
        BoltReader::open(&text, 20_000),
        Err(BoltError::NotBolt(_))
    ));

    // A leaf page that names another page.
    let mut bad = bytes.clone();
    bad[4 * 4096] ^= 0x01;
    let damaged = dir.path().join("damaged");
    std::fs::write(&damaged, &bad).unwrap();
    let reader = BoltReader::open(&damaged, size).unwrap();
    let buckets = reader.buckets().unwrap();
    let err = reader
        .for_each(&buckets[0].1, &mut |_, _| Ok(()))
        .unwrap_err();
    assert!(matches!(err, BoltError::Damaged(_)), "{err}");
}

#[test]
fn a_store_goes_out_as_an_etcd_file_and_comes_back_whole() {
    let (_dir, store) = open_store();
    put_keys(&store, &["a", "b", "c"]);
    let mut batch = store.begin_batch().unwrap();
    batch
        .put_lease(
            7,
            LeaseRecord {
                ttl: 60,
                remaining_ttl: 0,
            },
        )
        .unwrap();
    batch.commit(store.consistent_index() + 1).unwrap();
    put_with_lease(&store, "leased", 7, store.consistent_index() + 1);
    put_keys(&store, &["a"]);
    compact(&store, 3).unwrap();

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("snap.db");
    let (size, revision) = export_etcd(&store, &file, 5).unwrap();
    let reader = BoltReader::open(&file, size).unwrap();
    let status = snapshot_status(&reader).unwrap();
    assert_eq!(status.revision, revision);

    let target = out.path().join("restored");
    let (restored, imported) =
        import_etcd(&reader, &target, StoreOptions { map_size: 64 << 20 }).unwrap();
    assert_eq!(imported.revision, revision);
    assert_eq!(imported.compacted, 3);
    assert_eq!(imported.leases, 1);
    assert_eq!(restored.current_revision(), store.current_revision());
    assert_eq!(restored.compacted_revision(), 3);
    assert_eq!(restored.leases().keys(7), vec![b"leased".to_vec()]);
    let hash = |s: &crate::storage::Store| s.read().unwrap().hash_kv(0).unwrap();
    assert_eq!(hash(&restored), hash(&store));
}

#[test]
fn an_unknown_bucket_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut w = BoltWriter::create(&path).unwrap();
    let key = w.bucket(std::iter::empty()).unwrap();
    let extra = w.bucket(std::iter::empty()).unwrap();
    let size = w
        .finish(vec![(b"key".to_vec(), key), (b"newThing".to_vec(), extra)])
        .unwrap();
    let reader = BoltReader::open(&path, size).unwrap();
    let target = dir.path().join("restored");
    let err = import_etcd(&reader, &target, StoreOptions { map_size: 64 << 20 })
        .err()
        .unwrap();
    assert!(
        matches!(&err, StorageError::Snapshot(t) if t.contains("newThing")),
        "{err}"
    );
}
