//! `oxcd snapshot restore FILE`: a new member's data dir from an etcd
//! backend file, with etcdctl's flags. The snapshot's keys (every kept
//! revision), leases, users, roles, alarms and compaction come in; the
//! member list is the one the flags describe (as etcdctl does), so oxcd
//! starts on the dir as a new cluster, or as one member of it when every
//! member is restored from the same file.
//!
//! Built beside the target and renamed into place at the end: a refused or
//! interrupted restore leaves the target as it was.

use std::path::{Path, PathBuf};

use clap::Args;

use super::trailer::checked_data_len;
use crate::config::Config;
use crate::membership::Membership;
use crate::storage::bbolt::{import_etcd, BoltReader, Imported};
use crate::storage::{DirLock, StoreOptions};

#[derive(Args, Debug)]
pub(super) struct RestoreArgs {
    /// The snapshot file (`etcdctl snapshot save` output).
    file: PathBuf,
    /// Path to the data directory [default: <name>.oxcd].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Path to the WAL directory (default: inside the data dir).
    #[arg(long)]
    wal_dir: Option<PathBuf>,
    /// Human-readable name for this member.
    #[arg(long, default_value = "default")]
    name: String,
    /// Initial cluster configuration for restore bootstrap.
    #[arg(long, default_value = "default=http://localhost:2380")]
    initial_cluster: String,
    /// Initial cluster token for the cluster during restore bootstrap.
    #[arg(long, default_value = "etcd-cluster")]
    initial_cluster_token: String,
    /// List of this member's peer URLs to advertise to the rest of the cluster.
    #[arg(long, default_value = "http://localhost:2380")]
    initial_advertise_peer_urls: String,
    /// Ignore the snapshot's SHA-256 trailer (needed for a backend file
    /// copied from a data dir, which has none).
    #[arg(long)]
    skip_hash_check: bool,
}

pub(super) fn run(args: RestoreArgs) -> Result<(), String> {
    let config = member_config(&args)?;
    let target = config.data_dir.clone();
    refuse_non_empty(&target, "data-dir")?;
    if let Some(wal) = &config.wal_dir {
        refuse_non_empty(wal, "wal-dir")?;
    }
    let data_len = checked_data_len(&args.file, args.skip_hash_check)?;
    let reader = BoltReader::open(&args.file, data_len)
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    let staging = staging_dir(&target);
    if staging.exists() {
        // Left by a restore that did not finish; nothing else names it so.
        std::fs::remove_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    }
    let built = build(&reader, &staging, &config);
    let imported = match built {
        Ok(imported) => imported,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(err);
        }
    };
    std::fs::rename(&staging, &target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staging);
        format!("cannot move the restored dir to {}: {e}", target.display())
    })?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent);
    }
    println!(
        "restored snapshot {} into {}: revision {}, {} revision records, compacted at {}, {} leases, {} users, {} roles, {} alarms",
        args.file.display(),
        target.display(),
        imported.revision,
        imported.records,
        imported.compacted,
        imported.leases,
        imported.users,
        imported.roles,
        imported.alarms,
    );
    Ok(())
}

/// The member's settings as `oxcd` itself reads these flags, so the dir
/// holds the member list `oxcd --initial-cluster ...` would bootstrap.
fn member_config(args: &RestoreArgs) -> Result<Config, String> {
    let mut flags: Vec<String> = vec![
        "oxcd".into(),
        "--name".into(),
        args.name.clone(),
        "--initial-cluster".into(),
        args.initial_cluster.clone(),
        "--initial-cluster-token".into(),
        args.initial_cluster_token.clone(),
        "--initial-advertise-peer-urls".into(),
        args.initial_advertise_peer_urls.clone(),
        "--initial-cluster-state".into(),
        "new".into(),
    ];
    if let Some(dir) = &args.data_dir {
        flags.extend(["--data-dir".into(), dir.display().to_string()]);
    }
    if let Some(dir) = &args.wal_dir {
        flags.extend(["--wal-dir".into(), dir.display().to_string()]);
    }
    // Only these flags count here, whatever ETCD_* says in the environment.
    crate::config::load_from_args_and_env(flags, &|_| None).map_err(|e| e.to_string())
}

/// etcd 3.5's rule: the target may exist only as an empty dir.
fn refuse_non_empty(dir: &Path, flag: &str) -> Result<(), String> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "{flag} {:?} not empty: a restore builds a new member; choose a new dir",
            dir.display().to_string()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(format!(
            "{flag} {:?} exists and is not a directory",
            dir.display().to_string()
        )),
        Err(e) => Err(format!("{flag} {:?}: {e}", dir.display().to_string())),
    }
}

fn staging_dir(target: &Path) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "data".into());
    name.push(".oxcd-restoring");
    target.with_file_name(name)
}

/// The member's LMDB store from the snapshot, then its member list.
fn build(reader: &BoltReader, staging: &Path, config: &Config) -> Result<Imported, String> {
    let _lock = DirLock::acquire(staging).map_err(|e| e.to_string())?;
    let db = staging.join("member").join("db");
    let options = StoreOptions {
        map_size: crate::server::map_size_for(config.quota_backend_bytes) as usize,
    };
    let (store, imported) = import_etcd(reader, &db, options).map_err(|e| e.to_string())?;
    let membership = Membership::bootstrap(
        &config.initial_cluster,
        &config.name,
        &[],
        &config.initial_cluster_token,
    );
    if membership.local_id == 0 {
        return Err(format!(
            "--initial-cluster has no member named {:?}",
            config.name
        ));
    }
    crate::server::store_restored_membership(&store, &membership).map_err(|e| e.to_string())?;
    for member in &membership.members {
        println!(
            "added member {:x} {:?} to cluster {:x}",
            member.id, member.peer_urls, membership.cluster_id
        );
    }
    store.sync().map_err(|e| e.to_string())?;
    Ok(imported)
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}
