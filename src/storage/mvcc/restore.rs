//! Rebuilding the in-memory key index from LMDB when the store opens.

use std::collections::HashMap;

use crate::storage::backend::Backend;
use crate::storage::error::StorageResult;
use crate::storage::key_index::TreeIndex;
use crate::storage::lease::{decode_lease_key, LeaseRecord, LeaseTable};
use crate::storage::revision::Revision;

use super::range::decode_kv;
use super::{
    decode_i64, META_COMPACTED_REV, META_CONSISTENT_INDEX, META_CURRENT_REV, NEVER_COMPACTED,
};

/// Everything [`super::Store`] keeps in memory, as found on disk.
pub(super) struct Restored {
    pub index: TreeIndex,
    pub current_rev: i64,
    pub compacted_rev: i64,
    /// The last compaction whose purge finished.
    pub purged_rev: i64,
    pub consistent_index: u64,
    pub leases: LeaseTable,
}

/// Replays every record in revision order (a tombstone ends a generation),
/// then applies the recorded compaction so the index matches what a
/// never-restarted store would hold.
pub(super) fn restore(backend: &Backend) -> StorageResult<Restored> {
    let txn = backend.read_txn()?;
    let mut index = TreeIndex::new();
    let mut last_main = 1;
    // Each key's lease as of its newest record.
    let mut attached: HashMap<Vec<u8>, i64> = HashMap::new();
    for item in backend.kv().iter(&txn)? {
        let (key, value) = item?;
        let (rev, tombstone) = Revision::from_key(key)?;
        let kv = decode_kv(value)?;
        index.restore_record(&kv.key, rev, tombstone, kv.create_revision, kv.version)?;
        if tombstone || kv.lease == 0 {
            attached.remove(&kv.key);
        } else {
            attached.insert(kv.key, kv.lease);
        }
        last_main = rev.main;
    }
    let mut records = Vec::new();
    for item in backend.lease().iter(&txn)? {
        let (key, value) = item?;
        records.push((decode_lease_key(key)?, LeaseRecord::decode(value)?));
    }
    let meta_i64 = |key: &str| -> StorageResult<Option<i64>> {
        backend
            .get_meta(&txn, key)?
            .map(|bytes| decode_i64(key, &bytes))
            .transpose()
    };
    let compacted_rev = meta_i64(META_COMPACTED_REV)?.unwrap_or(NEVER_COMPACTED);
    // Compaction may have purged the newest records (tombstones), so the
    // stored revision, not the last record, is the authority.
    let current_rev = meta_i64(META_CURRENT_REV)?
        .unwrap_or(1)
        .max(last_main)
        .max(compacted_rev)
        .max(1);
    // Absent: written before purges ran apart from compactions, when every
    // compaction purged in its own transaction.
    let purged_rev = meta_i64(super::purge::META_PURGED_REV)?.unwrap_or(compacted_rev);
    let consistent_index = meta_i64(META_CONSISTENT_INDEX)?.map_or(0, |v| v as u64);
    if compacted_rev > 0 {
        index.compact(compacted_rev);
    }
    Ok(Restored {
        index,
        current_rev,
        compacted_rev,
        purged_rev,
        consistent_index,
        leases: LeaseTable::restore(records, attached),
    })
}
