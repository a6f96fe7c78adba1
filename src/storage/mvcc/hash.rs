//! Maintenance.HashKV: a CRC-32C over the `kv` records up to a revision,
//! the way etcd computes it ("key", then each revision key and value in
//! order), so members can be compared with each other. Like etcd, records
//! at or below the compacted revision count only if a compaction at the
//! hashed revision would keep them. Records are laid out as etcd lays them
//! out, so the hash also matches etcd's for the same history.

use super::read::ReadTxn;
use crate::storage::revision::Revision;
use crate::storage::{StorageError, StorageResult};

/// What etcd hashes first: its name for the keys bucket.
const KEYS_BUCKET: &[u8] = b"key";

/// A HashKV answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvHash {
    pub hash: u32,
    /// The revision hashed up to (the current one for 0).
    pub revision: i64,
    /// The current revision when hashed.
    pub current_revision: i64,
    /// -1 when never compacted, as etcd reports.
    pub compact_revision: i64,
}

impl ReadTxn<'_> {
    /// Maintenance.Hash: the whole backend (keys, leases, users and roles,
    /// members, alarms, revisions) but the consistent index, which members
    /// holding the same data may record differently.
    pub fn hash_backend(&self) -> StorageResult<u32> {
        self.backend()
            .hash(self.lmdb(), &[super::META_CONSISTENT_INDEX])
    }

    /// Hashes every record at or below `rev` (0: the current revision).
    pub fn hash_kv(&self, rev: i64) -> StorageResult<KvHash> {
        let current = self.revision();
        let compacted = self.raw_compacted_revision();
        if rev > current {
            return Err(StorageError::FutureRevision);
        }
        if rev > 0 && rev <= compacted {
            return Err(StorageError::Compacted);
        }
        let upto = if rev == 0 { current } else { rev };
        let keep = self.store().index_read().keep(upto);
        let mut hash = crc32c::crc32c(KEYS_BUCKET);
        for item in self.kv_records()? {
            let (key, value) = item?;
            let (at, _) = Revision::from_key(key)?;
            if at.main > upto {
                break;
            }
            if at.main <= compacted && !keep.is_empty() && !keep.contains(&at) {
                continue;
            }
            hash = crc32c::crc32c_append(hash, key);
            hash = crc32c::crc32c_append(hash, value);
        }
        Ok(KvHash {
            hash,
            revision: upto,
            current_revision: current,
            compact_revision: compacted,
        })
    }
}
