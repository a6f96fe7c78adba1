//! What `etcdctl snapshot status` reports of a backend file: a CRC-32C
//! over every bucket's name, keys and values in order, the main revision
//! of the last `key` record, the number of records in all buckets, and the
//! database size (pages × page size).

use super::etcd_records::revision_main;
use super::reader::BoltReader;
use crate::storage::StorageResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStatus {
    pub hash: u32,
    pub revision: i64,
    pub total_key: u64,
    pub total_size: u64,
}

pub fn snapshot_status(reader: &BoltReader) -> StorageResult<SnapshotStatus> {
    let mut status = SnapshotStatus {
        hash: 0,
        revision: 0,
        total_key: 0,
        total_size: reader.size(),
    };
    for (name, bucket) in reader.buckets()? {
        status.hash = crc32c::crc32c_append(status.hash, &name);
        let is_key = name == b"key";
        reader.for_each(&bucket, &mut |key, value| {
            status.hash = crc32c::crc32c_append(status.hash, key);
            status.hash = crc32c::crc32c_append(status.hash, value);
            if is_key {
                status.revision = revision_main(key).unwrap_or(status.revision);
            }
            status.total_key += 1;
            Ok(())
        })?;
    }
    Ok(status)
}
