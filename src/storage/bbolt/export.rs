//! oxcd's store as etcd's backend file (what `etcdctl snapshot save`
//! receives, and `snapshot status` / `restore` and etcd read): the ten
//! buckets etcd 3.4/3.5 write, from one read snapshot.
//!
//! `key` is a straight copy (oxcd keys revisions and stores KeyValues as
//! etcd does); `lease` values become `leasepb.Lease`; `meta` carries the
//! consistent index and the compaction revisions; `auth`, `authUsers`,
//! `authRoles` the auth record; `members` the member list as etcd's JSON;
//! `cluster` the cluster version (and a downgrade job); `alarm` the alarms.
//! `meta` also has 3.5's `term` and `confState`, which etcd 3.6 needs.

use std::path::Path;

use prost::Message;
use serde::Serialize;

use super::etcd_records::{
    revision_bytes, LeasePb, META_CONF_STATE, META_CONSISTENT_INDEX, META_FINISHED_COMPACT,
    META_SCHEDULED_COMPACT, META_TERM,
};
use super::writer::{BoltWriter, BucketRoot};
use crate::proto::membershippb::DowngradeInfoSetRequest;
use crate::storage::apply::membership::{decode_members, MEMBERSHIP_META_KEY};
use crate::storage::lease::LeaseRecord;
use crate::storage::{StorageError, StorageResult, Store};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes the store's current state to `path` as an etcd backend file;
/// returns its size and the revision it holds.
pub fn export_etcd(store: &Store, path: &Path, term: u64) -> StorageResult<(u64, i64)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let view = store.read()?;
    let backend = view.backend();
    let txn = view.lmdb();
    let mut w = BoltWriter::create(path)?;
    // `key`: streamed straight from LMDB (the one bucket that can be large).
    let records = backend.kv().iter(txn)?.map(|item| {
        item.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    let root = w.bucket(records)?;
    let mut buckets: Vec<(Vec<u8>, BucketRoot)> = vec![(b"key".to_vec(), root)];
    let mut add = |w: &mut BoltWriter, name: &str, entries: Entries| -> StorageResult<()> {
        let root = w.bucket(entries.into_iter().map(Ok))?;
        buckets.push((name.as_bytes().to_vec(), root));
        Ok(())
    };

    let mut leases = Entries::new();
    for item in backend.lease().iter(txn)? {
        let (key, value) = item?;
        let record = LeaseRecord::decode(value)?;
        let id = crate::storage::lease::decode_lease_key(key)?;
        leases.push((key.to_vec(), lease_pb(id, &record)));
    }
    add(&mut w, "lease", leases)?;

    let mut meta = vec![
        (
            META_CONSISTENT_INDEX.to_vec(),
            store.consistent_index().to_be_bytes().to_vec(),
        ),
        (META_TERM.to_vec(), term.to_be_bytes().to_vec()),
    ];
    let compacted = view.compacted_revision();
    if compacted > 0 {
        // A purge still going on in this view: etcd finishes it after a
        // restore, as it would its own.
        let purged = crate::storage::mvcc::stored_purged_revision(backend, txn)?
            .unwrap_or(compacted)
            .max(0);
        meta.push((META_FINISHED_COMPACT.to_vec(), revision_bytes(purged)));
        meta.push((META_SCHEDULED_COMPACT.to_vec(), revision_bytes(compacted)));
    }

    let auth =
        crate::storage::auth::decode(backend.get_meta(txn, crate::storage::auth::AUTH_META_KEY)?)?;
    add(
        &mut w,
        "auth",
        vec![
            (b"authEnabled".to_vec(), vec![u8::from(auth.enabled)]),
            (
                b"authRevision".to_vec(),
                auth.revision.to_be_bytes().to_vec(),
            ),
        ],
    )?;
    let mut users: Entries = auth
        .users
        .iter()
        .map(|u| (u.name.clone(), u.encode_to_vec()))
        .collect();
    users.sort();
    add(&mut w, "authUsers", users)?;
    let mut roles: Entries = auth
        .roles
        .iter()
        .map(|r| (r.name.clone(), r.encode_to_vec()))
        .collect();
    roles.sort();
    add(&mut w, "authRoles", roles)?;

    let mut members = Entries::new();
    let mut conf = ConfStateJson::default();
    if let Some(bytes) = backend.get_meta(txn, MEMBERSHIP_META_KEY)? {
        for m in decode_members(&bytes)?.members {
            if m.is_learner {
                conf.learners.push(m.id);
            } else {
                conf.voters.push(m.id);
            }
            let json = serde_json::to_vec(&EtcdMember {
                id: m.id,
                peer_urls: &m.peer_ur_ls,
                is_learner: m.is_learner,
                name: &m.name,
                client_urls: &m.client_ur_ls,
            })
            .map_err(|e| StorageError::Corrupt(format!("member as JSON: {e}")))?;
            members.push((format!("{:x}", m.id).into_bytes(), json));
        }
    }
    members.sort();
    add(&mut w, "members", members)?;
    conf.voters.sort_unstable();
    conf.learners.sort_unstable();
    let conf = serde_json::to_vec(&conf)
        .map_err(|e| StorageError::Corrupt(format!("conf state as JSON: {e}")))?;
    meta.push((META_CONF_STATE.to_vec(), conf));
    meta.sort();
    add(&mut w, "meta", meta)?;
    add(&mut w, "members_removed", Entries::new())?;

    let mut cluster = vec![(
        b"clusterVersion".to_vec(),
        crate::version::ETCD_CLUSTER_VERSION.as_bytes().to_vec(),
    )];
    let job: DowngradeInfoSetRequest = crate::storage::apply::downgrade::current(store)?;
    if job.enabled {
        let json = format!(r#"{{"target-version":"{}","enabled":true}}"#, job.ver);
        cluster.push((b"downgrade".to_vec(), json.into_bytes()));
    }
    add(&mut w, "cluster", cluster)?;

    let mut alarms: Entries = store
        .alarms()
        .alarms
        .iter()
        .map(|a| (a.encode_to_vec(), Vec::new()))
        .collect();
    alarms.sort();
    add(&mut w, "alarm", alarms)?;

    let size = w.finish(buckets)?;
    Ok((size, view.revision()))
}

/// raft's ConfState as etcd 3.5 stores it (`meta/confState`; 3.6 refuses
/// a 3.5 file without it).
#[derive(Serialize, Default)]
struct ConfStateJson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    voters: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    learners: Vec<u64>,
    auto_leave: bool,
}

/// etcd's membership JSON: `id` a number, empty fields left out.
#[derive(Serialize)]
struct EtcdMember<'a> {
    id: u64,
    #[serde(rename = "peerURLs")]
    peer_urls: &'a [String],
    #[serde(rename = "isLearner", skip_serializing_if = "std::ops::Not::not")]
    is_learner: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(rename = "clientURLs", skip_serializing_if = "<[String]>::is_empty")]
    client_urls: &'a [String],
}

/// `leasepb.Lease` (zero fields left out, as proto3 does).
fn lease_pb(id: i64, record: &LeaseRecord) -> Vec<u8> {
    LeasePb {
        id,
        ttl: record.ttl,
        remaining_ttl: record.remaining_ttl,
    }
    .encode_to_vec()
}
