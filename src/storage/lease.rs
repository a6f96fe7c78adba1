//! Leases as the state machine knows them: each lease's granted TTL, the
//! remaining TTL last checkpointed through raft, and the keys attached to
//! it. The records live in LMDB's `lease` database, written in the same
//! transaction as the keys; the attachments are rebuilt from the keys' own
//! `lease` fields when the store opens, and kept current from each txn's
//! events. Expiry timing is not here: that is the lessor actor's job.

use std::collections::{BTreeSet, HashMap};

use crate::proto::mvccpb::event::EventType;
use crate::proto::mvccpb::Event;

use super::error::{StorageError, StorageResult};

/// What LMDB holds for one lease.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Granted TTL, seconds.
    pub ttl: i64,
    /// Remaining TTL at the last checkpoint, seconds; 0 = none (use `ttl`).
    pub remaining_ttl: i64,
}

impl LeaseRecord {
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ttl.to_be_bytes());
        out[8..].copy_from_slice(&self.remaining_ttl.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> StorageResult<LeaseRecord> {
        let field = |at: usize| -> StorageResult<i64> {
            bytes
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| {
                    StorageError::Corrupt(format!("lease record of {} bytes", bytes.len()))
                })
        };
        Ok(LeaseRecord {
            ttl: field(0)?,
            remaining_ttl: field(8)?,
        })
    }
}

/// A lease id as an LMDB key (big-endian, so ids sort numerically for
/// non-negative ids).
pub fn lease_key(id: i64) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn decode_lease_key(bytes: &[u8]) -> StorageResult<i64> {
    bytes
        .try_into()
        .map(i64::from_be_bytes)
        .map_err(|_| StorageError::Corrupt(format!("lease key of {} bytes", bytes.len())))
}

#[derive(Debug, Default)]
struct LeaseEntry {
    record: LeaseRecord,
    keys: BTreeSet<Vec<u8>>,
}

/// Every lease and the keys attached to it.
#[derive(Debug, Default)]
pub struct LeaseTable {
    leases: HashMap<i64, LeaseEntry>,
    key_lease: HashMap<Vec<u8>, i64>,
}

impl LeaseTable {
    /// The table as found on disk: the lease records and, for every live
    /// key that names a lease, that lease. A key naming a lease that no
    /// longer exists stays unattached (as in etcd).
    pub fn restore(records: Vec<(i64, LeaseRecord)>, attached: HashMap<Vec<u8>, i64>) -> Self {
        let mut table = LeaseTable::default();
        for (id, record) in records {
            table.insert(id, record);
        }
        for (key, id) in attached {
            table.attach(key, id);
        }
        table
    }

    pub fn exists(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    pub fn record(&self, id: i64) -> Option<LeaseRecord> {
        self.leases.get(&id).map(|entry| entry.record)
    }

    /// The keys attached to `id`, sorted.
    pub fn keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.leases
            .get(&id)
            .map(|entry| entry.keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every lease with its record.
    pub fn all(&self) -> Vec<(i64, LeaseRecord)> {
        self.leases.iter().map(|(id, e)| (*id, e.record)).collect()
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Adds a lease or replaces its record, keeping its keys.
    pub fn insert(&mut self, id: i64, record: LeaseRecord) {
        self.leases.entry(id).or_default().record = record;
    }

    /// Forgets a lease; its keys are no longer attached to anything.
    pub fn remove(&mut self, id: i64) {
        if let Some(entry) = self.leases.remove(&id) {
            for key in entry.keys {
                self.key_lease.remove(&key);
            }
        }
    }

    /// Follows a txn's changes: a put attaches its key to the put's lease
    /// (and detaches it from any other), a delete detaches.
    pub fn track(&mut self, events: &[Event]) {
        for event in events {
            let Some(kv) = event.kv.as_ref() else {
                continue;
            };
            self.detach(&kv.key);
            if event.r#type == EventType::Put as i32 && kv.lease != 0 {
                self.attach(kv.key.clone(), kv.lease);
            }
        }
    }

    fn attach(&mut self, key: Vec<u8>, id: i64) {
        if let Some(entry) = self.leases.get_mut(&id) {
            entry.keys.insert(key.clone());
            self.key_lease.insert(key, id);
        }
    }

    fn detach(&mut self, key: &[u8]) {
        if let Some(id) = self.key_lease.remove(key) {
            if let Some(entry) = self.leases.get_mut(&id) {
                entry.keys.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mvccpb::KeyValue;

    fn put(key: &str, lease: i64) -> Event {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(KeyValue {
                key: key.as_bytes().to_vec(),
                lease,
                ..Default::default()
            }),
            prev_kv: None,
        }
    }

    fn delete(key: &str) -> Event {
        Event {
            r#type: EventType::Delete as i32,
            ..put(key, 0)
        }
    }

    fn keys(table: &LeaseTable, id: i64) -> Vec<String> {
        table
            .keys(id)
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect()
    }

    #[test]
    fn puts_attach_move_and_detach_keys() {
        let record = LeaseRecord {
            ttl: 10,
            remaining_ttl: 0,
        };
        let mut table = LeaseTable::default();
        table.insert(1, record);
        table.insert(2, record);
        table.track(&[put("a", 1), put("b", 1), put("c", 2)]);
        assert_eq!(keys(&table, 1), ["a", "b"]);
        table.track(&[put("a", 2), put("b", 0), delete("c")]);
        assert_eq!(keys(&table, 1), Vec::<String>::new());
        assert_eq!(keys(&table, 2), ["a"]);
        table.remove(2);
        table.track(&[put("a", 0)]);
        assert!(table.key_lease.is_empty());
    }

    #[test]
    fn restore_ignores_keys_of_missing_leases() {
        let record = LeaseRecord {
            ttl: 5,
            remaining_ttl: 3,
        };
        let attached = HashMap::from([(b"k".to_vec(), 7), (b"x".to_vec(), 8)]);
        let table = LeaseTable::restore(vec![(7, record)], attached);
        assert_eq!(keys(&table, 7), ["k"]);
        assert_eq!(table.record(7), Some(record));
        assert!(!table.exists(8));
    }

    #[test]
    fn records_round_trip() {
        let record = LeaseRecord {
            ttl: 60,
            remaining_ttl: -1,
        };
        assert_eq!(LeaseRecord::decode(&record.encode()).ok(), Some(record));
        assert!(LeaseRecord::decode(&[1, 2, 3]).is_err());
        assert_eq!(decode_lease_key(&lease_key(-5)).ok(), Some(-5));
    }
}
