//! Starting on a data dir `etcdctl snapshot restore` wrote (etcd's layout:
//! `member/snap/db`, a bbolt file, and a WAL of the new cluster's member
//! additions): its backend becomes oxcd's LMDB store, its WAL's members
//! oxcd's member list; etcd's files are kept in `member/etcd-restored/`.
//!
//! Only a freshly restored dir qualifies: a log with anything but member
//! additions belongs to a member that ran, whose raft state oxcd cannot
//! take over; such a dir is refused with what to do instead.
//!
//! Steps, each safe to repeat after a crash: build `member/db.etcd-import`;
//! move etcd's `wal` and `snap` into `member/etcd-restored`; rename the
//! import to `member/db`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BootError, DataDirs};
use crate::config::Config;
use crate::membership::{Member, Membership};
use crate::storage::bbolt::{import_etcd, BoltReader};
use crate::storage::etcd_wal::{read_etcd_wal, EtcdConfChange, EtcdWal, ENTRY_CONF_CHANGE};
use crate::storage::StoreOptions;

/// raftpb.ConfChangeAddNode and ConfChangeAddLearnerNode.
const ADD_NODE: i32 = 0;
const ADD_LEARNER: i32 = 3;

/// etcd's member record in a ConfChange's context.
#[derive(Deserialize)]
struct EtcdMember {
    id: u64,
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(default)]
    name: String,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    is_learner: bool,
}

/// Takes over an etcd data dir left by `etcdctl snapshot restore`, if
/// that is what `dirs` hold; does nothing for an oxcd (or empty) dir.
pub(super) fn adopt_restored_etcd_dir(dirs: &DataDirs, config: &Config) -> Result<(), BootError> {
    let member = member_dir(dirs);
    let import = member.join("db.etcd-import");
    let kept = member.join("etcd-restored");
    let etcd_db = dirs.snap.join("db");
    if dirs.db.exists() {
        return Ok(());
    }
    if import.exists() && !etcd_db.exists() && kept.exists() {
        // Interrupted after etcd's files were moved: the import is whole.
        std::fs::rename(&import, &dirs.db)?;
        return Ok(());
    }
    if !etcd_db.is_file() {
        return Ok(());
    }
    tracing::info!(dir = %member.display(), "found a data dir etcdctl snapshot restore wrote; taking it over");
    let wal = read_etcd_wal(&dirs.wal)?;
    let membership = restored_membership(&wal, &member)?;
    if import.exists() {
        std::fs::remove_dir_all(&import)?;
    }
    let len = std::fs::metadata(&etcd_db)?.len();
    let reader = BoltReader::open(&etcd_db, len).map_err(crate::storage::StorageError::from)?;
    let options = StoreOptions {
        map_size: super::map_size_for(config.quota_backend_bytes) as usize,
    };
    let (store, imported) = import_etcd(&reader, &import, options)?;
    let last = wal.entries.last().and_then(|e| e.index).unwrap_or_default();
    if imported.consistent_index < last {
        drop(store);
        let _ = std::fs::remove_dir_all(&import);
        return Err(not_restored(&member, "its backend is behind its WAL"));
    }
    super::store_restored_membership(&store, &membership)?;
    store.sync()?;
    drop(store);
    std::fs::create_dir_all(&kept)?;
    for dir in [&dirs.wal, &dirs.snap] {
        let name = dir.file_name().map(PathBuf::from).unwrap_or_default();
        std::fs::rename(dir, kept.join(name))?;
    }
    sync_dir(&member);
    std::fs::rename(&import, &dirs.db)?;
    sync_dir(&member);
    tracing::info!(
        revision = imported.revision,
        records = imported.records,
        leases = imported.leases,
        member = format!("{:x}", membership.local_id),
        cluster = format!("{:x}", membership.cluster_id),
        kept = %kept.display(),
        "took over etcd's restored data"
    );
    Ok(())
}

/// The member list the restore wrote into the WAL, or why this is not a
/// freshly restored dir.
fn restored_membership(wal: &EtcdWal, dir: &Path) -> Result<Membership, BootError> {
    let mut members = Vec::new();
    for entry in &wal.entries {
        if entry.kind.unwrap_or_default() != ENTRY_CONF_CHANGE {
            return Err(not_restored(
                dir,
                "its WAL has entries besides member additions",
            ));
        }
        let change =
            <EtcdConfChange as prost::Message>::decode(entry.data.as_deref().unwrap_or_default())
                .map_err(|e| {
                BootError::Invalid(format!("etcd WAL: a member change does not decode: {e}"))
            })?;
        let kind = change.kind.unwrap_or_default();
        if kind != ADD_NODE && kind != ADD_LEARNER {
            return Err(not_restored(dir, "its WAL removes or updates members"));
        }
        let json: EtcdMember =
            serde_json::from_slice(change.context.as_deref().unwrap_or_default())
                .map_err(|e| BootError::Invalid(format!("etcd WAL: a member record: {e}")))?;
        members.push(Member {
            id: json.id,
            name: json.name,
            peer_urls: json.peer_urls,
            client_urls: json.client_urls,
            is_learner: json.is_learner || kind == ADD_LEARNER,
        });
    }
    if members.is_empty() || !members.iter().any(|m| m.id == wal.node_id) {
        return Err(not_restored(dir, "its WAL does not add this member"));
    }
    Ok(Membership {
        cluster_id: wal.cluster_id,
        local_id: wal.node_id,
        members,
    })
}

fn not_restored(dir: &Path, why: &str) -> BootError {
    BootError::Invalid(format!(
        "{} holds an etcd member's data, but not as `etcdctl snapshot restore` leaves it ({why}); oxcd takes over only a restored dir: save a snapshot from the running etcd (`etcdctl snapshot save FILE`) and restore it (`oxcd snapshot restore FILE ...` or `etcdctl snapshot restore FILE ...`)",
        dir.display()
    ))
}

fn member_dir(dirs: &DataDirs) -> PathBuf {
    dirs.db
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("member"))
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}
