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
    /// members, alarms, revisions) but what members holding the same data
    /// record differently: the consistent index, and the member list's
    /// header (which names the member itself); the list is hashed without it.
    pub fn hash_backend(&self) -> StorageResult<u32> {
        use crate::storage::apply::membership::{decode_members, MEMBERSHIP_META_KEY};
        use prost::Message as _;
        let backend = self.backend();
        let ignored = [super::META_CONSISTENT_INDEX, MEMBERSHIP_META_KEY];
        let mut hash = backend.hash(self.lmdb(), &ignored)?;
        if let Some(bytes) = backend.get_meta(self.lmdb(), MEMBERSHIP_META_KEY)? {
            let mut members = decode_members(&bytes)?.members;
            members.sort_by_key(|m| m.id);
            hash = crc32c::crc32c_append(hash, MEMBERSHIP_META_KEY.as_bytes());
            for member in members {
                hash = crc32c::crc32c_append(hash, &member.encode_to_vec());
            }
        }
        Ok(hash)
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
