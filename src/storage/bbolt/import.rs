//! An etcd backend file (an etcd or oxcd snapshot) taken into a new oxcd
//! store: the `key` bucket as is (same revision keys and KeyValues), leases,
//! users, roles, auth state, alarms and the compaction state. Membership
//! (`members`, `members_removed`, `meta/consistent_index`, `term`,
//! `confState`) is left behind: a restore names its own cluster, as
//! `etcdctl snapshot restore` does.
//!
//! Every record is decoded before it is written, so a file etcd would not
//! load is refused here rather than at the first request.

use std::path::Path;

use heed::PutFlags;
use prost::Message;

use super::etcd_records::{
    revision_main, u64_be, LeasePb, AUTH_ENABLED, AUTH_REVISION, BUCKETS, META_CONSISTENT_INDEX,
    META_FINISHED_COMPACT, META_SCHEDULED_COMPACT,
};
use super::reader::{BoltReader, BucketRef};
use crate::proto::etcdserverpb::AlarmMember;
use crate::proto::mvccpb::KeyValue;
use crate::proto::oxcdstore::AlarmState;
use crate::storage::backend::{Backend, LmdbWrite};
use crate::storage::lease::{lease_key, LeaseRecord};
use crate::storage::revision::Revision;
use crate::storage::{StorageError, StorageResult, Store, StoreOptions};

/// LMDB commits during a long import, so one write txn never tracks more
/// dirty pages than LMDB allows.
const COMMIT_EVERY_BYTES: usize = 64 << 20;

/// What a restore took in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Records in `key` (every revision kept, tombstones included).
    pub records: u64,
    pub revision: i64,
    /// 0 = never compacted.
    pub compacted: i64,
    pub leases: usize,
    pub users: usize,
    pub roles: usize,
    pub alarms: usize,
    /// etcd's `meta/consistent_index`: the raft index the file holds (not
    /// carried over; a restored member's log starts anew).
    pub consistent_index: u64,
}

/// Builds a store in `dir` (which must not hold one) from `reader`'s
/// buckets, and opens it.
pub fn import_etcd(
    reader: &BoltReader,
    dir: &Path,
    options: StoreOptions,
) -> StorageResult<(Store, Imported)> {
    let buckets = reader.buckets()?;
    for (name, _) in &buckets {
        if !BUCKETS
            .iter()
            .any(|known| known.as_bytes() == name.as_slice())
        {
            return Err(StorageError::Snapshot(format!(
                "the snapshot has a bucket {:?} that etcd 3.4 to 3.6 do not write (a snapshot of a newer etcd?); oxcd cannot restore what it does not know",
                String::from_utf8_lossy(name)
            )));
        }
    }
    let bucket = |name: &str| {
        buckets
            .iter()
            .find(|(n, _)| n.as_slice() == name.as_bytes())
            .map(|(_, b)| b.clone())
    };
    let mut imported = Imported::default();
    let scheduled;
    {
        let backend = Backend::open(dir, options.map_size)?;
        let mut loader = Loader::new(&backend)?;
        if let Some(keys) = bucket("key") {
            imported.revision = loader.copy_key_bucket(reader, &keys, &mut imported.records)?;
        }
        if let Some(leases) = bucket("lease") {
            imported.leases = loader.copy_leases(reader, &leases)?;
        }
        let (finished, wanted) = match bucket("meta") {
            Some(meta) => {
                imported.consistent_index = consistent_index_of(reader, &meta)?;
                compaction_of(reader, &meta)?
            }
            None => (0, 0),
        };
        imported.revision = imported.revision.max(finished);
        imported.compacted = finished;
        scheduled = wanted;
        let auth = auth_of(
            reader,
            bucket("auth"),
            bucket("authUsers"),
            bucket("authRoles"),
        )?;
        imported.users = auth.users.len();
        imported.roles = auth.roles.len();
        let alarms = alarms_of(reader, bucket("alarm"))?;
        imported.alarms = alarms.alarms.len();
        loader.finish(&imported, &auth, &alarms)?;
        backend.sync()?;
    }
    let store = Store::open(dir, options)?;
    // etcd resumes a compaction that was scheduled but not finished.
    if scheduled > imported.compacted {
        let mut batch = store.begin_batch()?;
        batch.compact(scheduled)?;
        batch.commit(0)?;
        store.finish_purge()?;
        store.sync()?;
        imported.compacted = scheduled;
    }
    Ok((store, imported))
}

/// Writes into a fresh backend, committing as it goes.
struct Loader<'b> {
    backend: &'b Backend,
    txn: Option<LmdbWrite<'b>>,
    pending: usize,
}

impl<'b> Loader<'b> {
    fn new(backend: &'b Backend) -> StorageResult<Loader<'b>> {
        Ok(Loader {
            backend,
            txn: Some(backend.write_txn()?),
            pending: 0,
        })
    }

    fn txn(&mut self) -> StorageResult<&mut LmdbWrite<'b>> {
        self.txn
            .as_mut()
            .ok_or_else(|| StorageError::Corrupt("import txn already committed".into()))
    }

    /// Commits once enough was written.
    fn wrote(&mut self, bytes: usize) -> StorageResult<()> {
        self.pending += bytes;
        if self.pending >= COMMIT_EVERY_BYTES {
            if let Some(txn) = self.txn.take() {
                txn.commit()?;
            }
            self.txn = Some(self.backend.write_txn()?);
            self.pending = 0;
        }
        Ok(())
    }

    /// Copies every revision record, checking each; the last main revision.
    fn copy_key_bucket(
        &mut self,
        reader: &BoltReader,
        bucket: &BucketRef,
        records: &mut u64,
    ) -> StorageResult<i64> {
        let db = self.backend.kv();
        let mut last = 0;
        reader
            .for_each(bucket, &mut |key, value| {
                let (rev, _) = Revision::from_key(key).map_err(|_| {
                    snapshot_error(format!(
                        "a `key` record has a malformed revision {key:02x?}"
                    ))
                })?;
                KeyValue::decode(value).map_err(|e| {
                    snapshot_error(format!(
                        "the `key` record at revision {} is not a KeyValue: {e}",
                        rev.main
                    ))
                })?;
                let txn = self.txn().map_err(to_bolt)?;
                db.put_with_flags(txn, PutFlags::APPEND, key, value)
                    .map_err(|e| to_bolt(e.into()))?;
                self.wrote(key.len() + value.len()).map_err(to_bolt)?;
                *records += 1;
                last = rev.main;
                Ok(())
            })
            .map_err(from_bolt)?;
        Ok(last)
    }

    fn copy_leases(&mut self, reader: &BoltReader, bucket: &BucketRef) -> StorageResult<usize> {
        let db = self.backend.lease();
        let mut count = 0;
        reader
            .for_each(bucket, &mut |key, value| {
                let lease = LeasePb::decode(value).map_err(|e| {
                    snapshot_error(format!(
                        "a `lease` record ({key:02x?}) does not decode: {e}"
                    ))
                })?;
                let record = LeaseRecord {
                    ttl: lease.ttl,
                    remaining_ttl: lease.remaining_ttl,
                };
                let txn = self.txn().map_err(to_bolt)?;
                db.put(txn, &lease_key(lease.id), &record.encode())
                    .map_err(|e| to_bolt(e.into()))?;
                count += 1;
                Ok(())
            })
            .map_err(from_bolt)?;
        Ok(count)
    }

    /// The revisions, auth and alarms records; the last commit.
    fn finish(
        mut self,
        imported: &Imported,
        auth: &crate::proto::oxcdstore::AuthState,
        alarms: &AlarmState,
    ) -> StorageResult<()> {
        let backend = self.backend;
        let txn = self.txn()?;
        crate::storage::mvcc::put_imported_revisions(
            backend,
            txn,
            imported.revision.max(1),
            imported.compacted,
        )?;
        backend.put_meta(
            txn,
            crate::storage::auth::AUTH_META_KEY,
            &crate::storage::auth::encode(auth),
        )?;
        if !alarms.alarms.is_empty() {
            backend.put_meta(
                txn,
                crate::storage::alarms::ALARM_META_KEY,
                &crate::storage::alarms::encode(alarms),
            )?;
        }
        if let Some(txn) = self.txn.take() {
            txn.commit()?;
        }
        Ok(())
    }
}

fn consistent_index_of(reader: &BoltReader, meta: &BucketRef) -> StorageResult<u64> {
    let mut index = 0;
    reader
        .for_each(meta, &mut |key, value| {
            if key == META_CONSISTENT_INDEX {
                index = u64_be(value)
                    .ok_or_else(|| snapshot_error("meta/consistent_index is not 8 bytes".into()))?;
            }
            Ok(())
        })
        .map_err(from_bolt)?;
    Ok(index)
}

/// (finishedCompactRev, scheduledCompactRev), 0 when absent.
fn compaction_of(reader: &BoltReader, meta: &BucketRef) -> StorageResult<(i64, i64)> {
    let (mut finished, mut scheduled) = (0, 0);
    reader
        .for_each(meta, &mut |key, value| {
            let slot = match key {
                META_FINISHED_COMPACT => &mut finished,
                META_SCHEDULED_COMPACT => &mut scheduled,
                _ => return Ok(()),
            };
            *slot = revision_main(value).ok_or_else(|| {
                snapshot_error(format!(
                    "meta/{} is not a revision",
                    String::from_utf8_lossy(key)
                ))
            })?;
            Ok(())
        })
        .map_err(from_bolt)?;
    Ok((finished, scheduled))
}

fn auth_of(
    reader: &BoltReader,
    auth: Option<BucketRef>,
    users: Option<BucketRef>,
    roles: Option<BucketRef>,
) -> StorageResult<crate::proto::oxcdstore::AuthState> {
    let mut state = crate::storage::auth::initial();
    if let Some(auth) = auth {
        reader
            .for_each(&auth, &mut |key, value| {
                match key {
                    AUTH_ENABLED => state.enabled = value == [1],
                    AUTH_REVISION => {
                        state.revision = u64_be(value).ok_or_else(|| {
                            snapshot_error("auth/authRevision is not 8 bytes".into())
                        })?
                    }
                    _ => {}
                }
                Ok(())
            })
            .map_err(from_bolt)?;
    }
    if let Some(users) = users {
        state.users = decode_values(reader, &users, "user")?;
    }
    if let Some(roles) = roles {
        state.roles = decode_values(reader, &roles, "role")?;
    }
    // oxcd looks users and roles up by binary search on the name.
    state.users.sort_by(|a, b| a.name.cmp(&b.name));
    state.roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(state)
}

/// Every value of `bucket` decoded as `T` (a `what` keyed by its name).
fn decode_values<T: Message + Default>(
    reader: &BoltReader,
    bucket: &BucketRef,
    what: &str,
) -> StorageResult<Vec<T>> {
    let mut out = Vec::new();
    reader
        .for_each(bucket, &mut |key, value| {
            out.push(T::decode(value).map_err(|e| {
                snapshot_error(format!(
                    "{what} {:?} does not decode: {e}",
                    String::from_utf8_lossy(key)
                ))
            })?);
            Ok(())
        })
        .map_err(from_bolt)?;
    Ok(out)
}

fn alarms_of(reader: &BoltReader, alarm: Option<BucketRef>) -> StorageResult<AlarmState> {
    let mut state = AlarmState::default();
    if let Some(alarm) = alarm {
        reader
            .for_each(&alarm, &mut |key, _| {
                let member = AlarmMember::decode(key)
                    .map_err(|e| snapshot_error(format!("an alarm record does not decode: {e}")))?;
                state.alarms.push(member);
                Ok(())
            })
            .map_err(from_bolt)?;
    }
    state.alarms.sort_by_key(|a| (a.member_id, a.alarm));
    Ok(state)
}

// The reader's callbacks return its own error type; storage errors met
// inside them travel through it and come out unchanged.
fn snapshot_error(text: String) -> super::BoltError {
    super::BoltError::Record(text)
}

fn to_bolt(err: StorageError) -> super::BoltError {
    super::BoltError::Record(err.to_string())
}

fn from_bolt(err: super::BoltError) -> StorageError {
    err.into()
}
