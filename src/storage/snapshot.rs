//! Raft snapshots as files in `member/snap/`.
//!
//! A leader whose log no longer reaches back to a follower builds a
//! compacted copy of its LMDB file, named by the raft index the copy holds,
//! and streams it. The follower keeps the received file beside its own and
//! stages an install: a marker naming the snapshot. The install itself runs
//! at boot, before LMDB opens: the file replaces `db/data.mdb` (a rename,
//! so a crash leaves the old or the new file, never a mix), then the WAL is
//! cut at the snapshot's index, then the marker goes. Each step can be
//! repeated, so a crash anywhere in between finishes the install on the
//! next boot.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{ConfState, SnapshotMetadata};

use super::apply::membership::{decode_members, MEMBERSHIP_META_KEY};
use super::backend::Backend;
use super::mvcc::stored_consistent_index;
use super::{StorageError, StorageResult, Store};
use crate::proto::etcdserverpb::MemberListResponse;

const INSTALL_MARKER: &str = "install";
const BUILD_DIR: &str = "building";
const SNAPSHOT_EXT: &str = "mdb";
/// Room for LMDB to map a copy while its index and members are read.
const MAP_HEADROOM: u64 = 64 << 20;

/// The snapshot directory of one member.
#[derive(Clone, Debug)]
pub struct SnapshotDir {
    path: PathBuf,
    /// `--max-snapshots=0`: built snapshot files are never deleted (by
    /// default only the newest is kept).
    keep_all: bool,
}

/// A snapshot file the leader built: what it holds and where it is.
#[derive(Debug, Clone)]
pub struct BuiltSnapshot {
    /// The raft index the copy was applied through.
    pub index: u64,
    /// The voters and learners as of that index.
    pub conf_state: ConfState,
    pub path: PathBuf,
    pub bytes: u64,
}

/// An install staged before a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingInstall {
    /// This member's id: the copied member list names the leader as "self".
    pub local_id: u64,
    pub meta: SnapshotMetadata,
}

impl SnapshotDir {
    pub fn new(path: PathBuf) -> SnapshotDir {
        SnapshotDir {
            path,
            keep_all: false,
        }
    }

    /// etcd's `--max-snapshots=0`: keep every complete snapshot file.
    pub fn keeping_all(mut self, keep_all: bool) -> SnapshotDir {
        self.keep_all = keep_all;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The complete snapshot file for `index`.
    pub fn file_for(&self, index: u64) -> PathBuf {
        self.path.join(format!("{index:016x}.{SNAPSHOT_EXT}"))
    }

    /// Where a snapshot for `index` is received until it is complete.
    pub fn partial_for(&self, index: u64) -> PathBuf {
        self.path.join(format!("{index:016x}.{SNAPSHOT_EXT}.part"))
    }

    /// Leader: copies `store` (compacted) and names the copy by the index it
    /// was applied through, read from the copy itself, so the index, the
    /// data and the member list always agree. Older snapshot files go.
    pub fn build(&self, store: &Store) -> StorageResult<BuiltSnapshot> {
        let work = self.path.join(BUILD_DIR);
        if work.exists() {
            fs::remove_dir_all(&work)?;
        }
        fs::create_dir_all(&work)?;
        let copy = work.join("data.mdb");
        store.copy_to(&copy)?;
        let bytes = fs::metadata(&copy)?.len();
        let (index, members) = read_copy(&work, bytes)?;
        let path = self.file_for(index);
        fs::rename(&copy, &path)?;
        fs::remove_dir_all(&work)?;
        sync_dir(&self.path)?;
        self.remove_others(&[index])?;
        Ok(BuiltSnapshot {
            index,
            conf_state: conf_state_of(members.members.iter().map(|m| (m.id, m.is_learner))),
            path,
            bytes,
        })
    }

    /// Follower: starts receiving the snapshot for `index` into a partial
    /// file; it becomes the snapshot only once finished.
    pub fn begin(&self, index: u64) -> StorageResult<IncomingSnapshot> {
        fs::create_dir_all(&self.path)?;
        let file = fs::File::create(self.partial_for(index))?;
        Ok(IncomingSnapshot {
            dir: self.clone(),
            index,
            file,
            bytes: 0,
        })
    }

    /// Follower: a received file is complete and durable; make it the
    /// snapshot for `index`.
    pub fn accept(&self, index: u64) -> StorageResult<PathBuf> {
        let path = self.file_for(index);
        fs::rename(self.partial_for(index), &path)?;
        sync_dir(&self.path)?;
        Ok(path)
    }

    /// Follower: raft took the snapshot at `meta.index`; install it at the
    /// next boot.
    pub fn stage_install(&self, local_id: u64, meta: &SnapshotMetadata) -> StorageResult<()> {
        if !self.file_for(meta.index).exists() {
            return Err(StorageError::Corrupt(format!(
                "snapshot {} was never received",
                meta.index
            )));
        }
        let mut body = local_id.to_be_bytes().to_vec();
        meta.write_to_vec(&mut body)
            .map_err(|e| StorageError::Corrupt(format!("snapshot metadata: {e}")))?;
        let tmp = self.path.join(format!("{INSTALL_MARKER}.tmp"));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        fail::fail_point!("snapshot_before_install", |arg| Err(
            crate::failpoints::io_fault(arg).into()
        ));
        fs::rename(&tmp, self.path.join(INSTALL_MARKER))?;
        sync_dir(&self.path)?;
        fail::fail_point!("snapshot_after_install", |arg| Err(
            crate::failpoints::io_fault(arg).into()
        ));
        Ok(())
    }

    /// Boot, before LMDB opens: if an install is staged, puts its file in
    /// place of `db_dir`'s data file (unless an earlier boot already did)
    /// and returns what the WAL must be cut to. Stray files of unfinished
    /// transfers or builds are removed either way.
    pub fn take_pending_install(&self, db_dir: &Path) -> StorageResult<Option<PendingInstall>> {
        fs::create_dir_all(&self.path)?;
        let marker = self.path.join(INSTALL_MARKER);
        let pending = match fs::read(&marker) {
            Ok(body) => Some(decode_marker(&body)?),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err.into()),
        };
        let Some(pending) = pending else {
            self.remove_others(&[])?;
            return Ok(None);
        };
        let file = self.file_for(pending.meta.index);
        if file.exists() {
            fs::create_dir_all(db_dir)?;
            fs::rename(&file, db_dir.join("data.mdb"))?;
            sync_dir(db_dir)?;
        }
        self.remove_others(&[])?;
        Ok(Some(pending))
    }

    /// Boot: the WAL is cut at the installed snapshot; the install is done.
    pub fn finish_install(&self) -> StorageResult<()> {
        fs::remove_file(self.path.join(INSTALL_MARKER))?;
        sync_dir(&self.path)
    }

    /// Deletes snapshot files (complete or partial) except those for `keep`.
    pub fn remove_others(&self, keep: &[u64]) -> StorageResult<()> {
        let keep: Vec<PathBuf> = keep.iter().map(|i| self.file_for(*i)).collect();
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let complete = name.ends_with(&format!(".{SNAPSHOT_EXT}"));
            let snapshot_file = complete || name.ends_with(&format!(".{SNAPSHOT_EXT}.part"));
            if name == BUILD_DIR {
                fs::remove_dir_all(&path)?;
            } else if snapshot_file && !keep.contains(&path) && !(complete && self.keep_all) {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
}

/// A snapshot being received: bytes go to its partial file in order.
pub struct IncomingSnapshot {
    dir: SnapshotDir,
    index: u64,
    file: fs::File,
    bytes: u64,
}

impl IncomingSnapshot {
    pub fn write(&mut self, data: &[u8]) -> StorageResult<()> {
        self.file.write_all(data)?;
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Makes the file durable and names it as the snapshot; returns its size.
    pub fn finish(self) -> StorageResult<u64> {
        self.file.sync_all()?;
        drop(self.file);
        self.dir.accept(self.index)?;
        Ok(self.bytes)
    }
}

/// Raft's voters and learners, from members' (id, is_learner).
pub fn conf_state_of(members: impl IntoIterator<Item = (u64, bool)>) -> ConfState {
    let (learners, voters): (Vec<_>, Vec<_>) = members.into_iter().partition(|m| m.1);
    ConfState {
        voters: voters.into_iter().map(|m| m.0).collect(),
        learners: learners.into_iter().map(|m| m.0).collect(),
        ..Default::default()
    }
}

/// Opens a copy on its own to read the index it holds and its member list.
fn read_copy(dir: &Path, bytes: u64) -> StorageResult<(u64, MemberListResponse)> {
    let backend = Backend::open_read_only(dir, (bytes + MAP_HEADROOM) as usize)?;
    let txn = backend.read_txn()?;
    let index = stored_consistent_index(&backend, &txn)?;
    let members = match backend.get_meta(&txn, MEMBERSHIP_META_KEY)? {
        Some(record) => decode_members(&record)?,
        None => {
            return Err(StorageError::Corrupt(
                "snapshot without a member list".into(),
            ))
        }
    };
    Ok((index, members))
}

fn decode_marker(body: &[u8]) -> StorageResult<PendingInstall> {
    let corrupt = |what: String| StorageError::Corrupt(format!("snapshot install marker: {what}"));
    let (id, meta) = body
        .split_at_checked(8)
        .ok_or_else(|| corrupt("short".into()))?;
    let local_id = u64::from_be_bytes(id.try_into().map_err(|_| corrupt("short".into()))?);
    let meta = SnapshotMetadata::parse_from_bytes(meta).map_err(|e| corrupt(e.to_string()))?;
    Ok(PendingInstall { local_id, meta })
}

fn sync_dir(dir: &Path) -> StorageResult<()> {
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::etcdserverpb::{Member, ResponseHeader};
    use crate::storage::StoreOptions;
    use prost::Message as _;

    const MAP: usize = 16 << 20;

    fn store_with(dir: &Path, index: u64, members: &[(u64, bool)]) -> Store {
        let store = Store::open(dir, StoreOptions { map_size: MAP }).unwrap();
        let record = MemberListResponse {
            header: Some(ResponseHeader {
                member_id: members[0].0,
                ..Default::default()
            }),
            members: members
                .iter()
                .map(|&(id, is_learner)| Member {
                    id,
                    is_learner,
                    ..Default::default()
                })
                .collect(),
        };
        let mut batch = store.begin_batch().unwrap();
        batch
            .put_meta(MEMBERSHIP_META_KEY, &record.encode_to_vec())
            .unwrap();
        batch.commit(index).unwrap();
        store
    }

    #[test]
    fn build_names_the_copy_by_its_index_and_reads_its_members() {
        let data = tempfile::tempdir().unwrap();
        let store = store_with(
            &data.path().join("db"),
            42,
            &[(1, false), (2, false), (3, true)],
        );
        let snaps = SnapshotDir::new(data.path().join("snap"));
        fs::create_dir_all(snaps.path()).unwrap();
        fs::write(snaps.file_for(7), b"old").unwrap();
        fs::write(snaps.partial_for(9), b"half").unwrap();

        let built = snaps.build(&store).unwrap();
        assert_eq!(built.index, 42);
        assert_eq!(built.conf_state.voters, vec![1, 2]);
        assert_eq!(built.conf_state.learners, vec![3]);
        assert_eq!(built.path, snaps.file_for(42));
        assert_eq!(fs::metadata(&built.path).unwrap().len(), built.bytes);
        assert!(!snaps.file_for(7).exists(), "older snapshot removed");
        assert!(!snaps.partial_for(9).exists(), "partial transfer removed");
        assert!(!snaps.path().join(BUILD_DIR).exists());
    }

    #[test]
    fn staged_install_replaces_the_data_file_at_boot() {
        let leader = tempfile::tempdir().unwrap();
        let store = store_with(&leader.path().join("db"), 500, &[(1, false), (2, false)]);
        let built = SnapshotDir::new(leader.path().join("snap"))
            .build(&store)
            .unwrap();

        let follower = tempfile::tempdir().unwrap();
        let db_dir = follower.path().join("db");
        drop(store_with(&db_dir, 10, &[(2, false), (1, false)]));
        let snaps = SnapshotDir::new(follower.path().join("snap"));
        let mut incoming = snaps.begin(500).unwrap();
        for chunk in fs::read(&built.path).unwrap().chunks(4096) {
            incoming.write(chunk).unwrap();
        }
        assert_eq!(incoming.finish().unwrap(), built.bytes);
        assert!(!snaps.partial_for(500).exists());
        let meta = SnapshotMetadata {
            index: 500,
            term: 3,
            ..Default::default()
        };
        snaps.stage_install(2, &meta).unwrap();

        // Twice, as after a crash between the rename and the WAL cut.
        for _ in 0..2 {
            let pending = snaps.take_pending_install(&db_dir).unwrap().unwrap();
            assert_eq!(pending.local_id, 2);
            assert_eq!(pending.meta, meta);
        }
        let reopened = Store::open(&db_dir, StoreOptions { map_size: MAP }).unwrap();
        assert_eq!(reopened.consistent_index(), 500);
        snaps.finish_install().unwrap();
        assert_eq!(snaps.take_pending_install(&db_dir).unwrap(), None);
    }

    #[test]
    fn an_install_of_a_snapshot_never_received_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = SnapshotDir::new(dir.path().to_path_buf());
        let meta = SnapshotMetadata {
            index: 5,
            ..Default::default()
        };
        assert!(matches!(
            snaps.stage_install(1, &meta),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn a_damaged_marker_is_corrupt() {
        assert!(decode_marker(b"abc").is_err());
    }
}
