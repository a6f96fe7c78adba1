//! Raft snapshots at the raft node. A leader builds one (a compacted LMDB
//! copy, on a reader thread) when raft asks for it, and streams it through
//! the peer network, telling raft how the transfer went. A follower given
//! one stages its install and restarts in place: boot already knows how to
//! open a data dir, and installs a staged snapshot before opening LMDB (see
//! `storage::snapshot`), so there is a single way storage is opened.

use std::os::unix::process::CommandExt as _;

use actix::prelude::*;
use raft::eraftpb::{Message as RaftMessage, Snapshot};
use raft::{SnapshotStatus, Storage as _};

use super::RaftNode;
use crate::actors::mvcc_store::{BuildSnapshot, MvccReader};
use crate::actors::peer_net::SendSnapshot;
use crate::actors::wal_writer::Persist;
use crate::storage::snapshot::{BuiltSnapshot, SnapshotDir};

/// What the raft node needs for snapshots.
pub struct Snapshots {
    pub dir: SnapshotDir,
    pub readers: Addr<MvccReader>,
    /// `--snapshot-count`: the log a leader keeps for a slow follower is at
    /// most this long; beyond it the follower gets a snapshot.
    pub snapshot_count: u64,
    building: bool,
}

impl Snapshots {
    pub fn new(dir: SnapshotDir, readers: Addr<MvccReader>, snapshot_count: u64) -> Snapshots {
        Snapshots {
            dir,
            readers,
            snapshot_count,
            building: false,
        }
    }
}

impl RaftNode {
    /// Leader: raft wanted a snapshot it could not have; build one.
    pub(super) fn build_snapshot_if_wanted(&mut self, ctx: &mut Context<Self>) {
        if self.snapshots.building || !self.raw.store().take_snapshot_wanted() {
            return;
        }
        self.snapshots.building = true;
        let build = BuildSnapshot {
            dir: self.snapshots.dir.clone(),
        };
        self.snapshots
            .readers
            .send(build)
            .into_actor(self)
            .map(|result, node, _| {
                node.snapshots.building = false;
                match result {
                    Ok(Ok(built)) => node.offer_snapshot(built),
                    Ok(Err(err)) => tracing::warn!("building a snapshot failed: {err}"),
                    Err(err) => tracing::warn!("building a snapshot failed: {err}"),
                }
            })
            .spawn(ctx);
    }

    fn offer_snapshot(&mut self, built: BuiltSnapshot) {
        let store = self.raw.store();
        // The log still holds the copy's index (it is kept well behind what
        // LMDB applied); if not, raft asks again and a newer copy is made.
        let Ok(term) = store.term(built.index) else {
            tracing::debug!(index = built.index, "snapshot older than the log; dropped");
            return;
        };
        let mut snapshot = Snapshot::default();
        let meta = snapshot.mut_metadata();
        meta.index = built.index;
        meta.term = term;
        meta.set_conf_state(built.conf_state);
        store.offer_snapshot(snapshot);
        tracing::info!(
            index = built.index,
            term,
            bytes = built.bytes,
            "snapshot built for a member the log no longer reaches"
        );
    }

    /// Leader: streams a MsgSnapshot's file; raft hears how it went.
    pub(super) fn send_snapshot(&self, message: RaftMessage, ctx: &mut Context<Self>) {
        let Some(peers) = &self.peers else {
            return;
        };
        let to = message.to;
        let index = message.get_snapshot().get_metadata().index;
        let file = self.snapshots.dir.file_for(index);
        tracing::info!(to = format!("{to:x}"), index, "sending snapshot");
        peers
            .send(SendSnapshot { message, file })
            .into_actor(self)
            .map(move |result, node, _| {
                let sent = match result {
                    Ok(Ok(bytes)) => {
                        tracing::info!(to = format!("{to:x}"), index, bytes, "snapshot sent");
                        true
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(to = format!("{to:x}"), index, "snapshot not sent: {err}");
                        false
                    }
                    Err(err) => {
                        tracing::warn!(to = format!("{to:x}"), index, "snapshot not sent: {err}");
                        false
                    }
                };
                if !sent {
                    node.raw.report_unreachable(to);
                }
                let status = if sent {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                node.raw.report_snapshot(to, status);
            })
            .spawn(ctx);
    }

    /// Follower: raft accepted the leader's snapshot. Persist the hard state,
    /// stage the install and restart in place. Nothing of this Ready is
    /// acknowledged, so the leader resends whatever follows the snapshot.
    pub(super) fn install_snapshot(&mut self, ready: raft::Ready, ctx: &mut Context<Self>) {
        let meta = ready.snapshot().get_metadata().clone();
        tracing::info!(
            index = meta.index,
            term = meta.term,
            "installing the leader's snapshot: this member restarts in place to open it"
        );
        // No further Ready until the restart.
        self.persisting = true;
        let persist = Persist {
            entries: Vec::new(),
            hard_state: ready.hs().cloned(),
        };
        let local_id = self.raw.raft.id;
        self.wal
            .thread
            .send(persist)
            .into_actor(self)
            .map(move |result, node, _| {
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => super::fatal(&format!("WAL write failed: {err}")),
                    Err(err) => super::fatal(&format!("WAL writer gone: {err}")),
                }
                if let Err(err) = node.snapshots.dir.stage_install(local_id, &meta) {
                    super::fatal(&format!("staging the snapshot install failed: {err}"));
                }
                restart_in_place();
            })
            .spawn(ctx);
    }
}

/// Replaces this process with a fresh run of the same binary and arguments
/// (same pid). Sockets and files close on exec; durability is as after a
/// kill -9, which the WAL and LMDB are built to survive.
fn restart_in_place() -> ! {
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "oxcd".into());
    let err = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .exec();
    super::fatal(&format!("restarting to install the snapshot failed: {err}"))
}
