//! The snapshot receiver: writes raft snapshots arriving from the leader
//! (`oxcdpeer.Peer/Snapshot`) to `member/snap/`, on a thread of its own so
//! the file writes and the final fsync never block the system arbiter. The
//! peer service hands it the chunks in order; a file becomes the snapshot
//! for its index only once finished (see `storage::snapshot`).

use std::collections::HashMap;

use actix::{Actor, Handler, Message, SyncContext};

use crate::storage::snapshot::{IncomingSnapshot, SnapshotDir};
use crate::storage::{StorageError, StorageResult};

pub struct SnapshotReceiver {
    dir: SnapshotDir,
    /// Transfers under way, by snapshot index.
    incoming: HashMap<u64, IncomingSnapshot>,
}

impl SnapshotReceiver {
    pub fn new(dir: SnapshotDir) -> Self {
        SnapshotReceiver {
            dir,
            incoming: HashMap::new(),
        }
    }

    fn transfer(&mut self, index: u64) -> StorageResult<&mut IncomingSnapshot> {
        self.incoming.get_mut(&index).ok_or_else(|| {
            StorageError::SnapshotTransfer(format!("snapshot {index} is not being received"))
        })
    }
}

impl Actor for SnapshotReceiver {
    type Context = SyncContext<Self>;
}

/// The first chunk of the snapshot for `index`, with its bytes.
#[derive(Message)]
#[rtype(result = "StorageResult<()>")]
pub struct BeginSnapshot {
    pub index: u64,
    pub data: Vec<u8>,
}

impl Handler<BeginSnapshot> for SnapshotReceiver {
    type Result = StorageResult<()>;

    fn handle(&mut self, msg: BeginSnapshot, _: &mut Self::Context) -> Self::Result {
        // A leader retrying while an older transfer still runs: refuse, it
        // reports the failure to raft and tries again later.
        if self.incoming.contains_key(&msg.index) {
            return Err(StorageError::SnapshotTransfer(format!(
                "snapshot {} is already being received",
                msg.index
            )));
        }
        let mut incoming = self.dir.begin(msg.index)?;
        incoming.write(&msg.data)?;
        self.incoming.insert(msg.index, incoming);
        Ok(())
    }
}

/// The next bytes of the snapshot for `index`.
#[derive(Message)]
#[rtype(result = "StorageResult<()>")]
pub struct SnapshotData {
    pub index: u64,
    pub data: Vec<u8>,
}

impl Handler<SnapshotData> for SnapshotReceiver {
    type Result = StorageResult<()>;

    fn handle(&mut self, msg: SnapshotData, _: &mut Self::Context) -> Self::Result {
        let written = self.transfer(msg.index)?.write(&msg.data);
        if written.is_err() {
            self.incoming.remove(&msg.index);
        }
        written
    }
}

/// The stream for `index` ended: with `complete`, make the file durable
/// and the snapshot for its index (answers its size); otherwise drop it.
#[derive(Message)]
#[rtype(result = "StorageResult<u64>")]
pub struct EndSnapshot {
    pub index: u64,
    pub complete: bool,
}

impl Handler<EndSnapshot> for SnapshotReceiver {
    type Result = StorageResult<u64>;

    fn handle(&mut self, msg: EndSnapshot, _: &mut Self::Context) -> Self::Result {
        let incoming = self.incoming.remove(&msg.index);
        match (incoming, msg.complete) {
            (Some(incoming), true) => incoming.finish(),
            // The partial file stays until the next build or boot clears it.
            (Some(_), false) => Ok(0),
            (None, _) => Err(StorageError::SnapshotTransfer(format!(
                "snapshot {} is not being received",
                msg.index
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::SyncArbiter;

    #[actix_rt::test]
    async fn chunks_become_the_snapshot_only_when_ended_complete() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = SnapshotDir::new(dir.path().to_path_buf());
        let for_actor = snaps.clone();
        let receiver = SyncArbiter::start(1, move || SnapshotReceiver::new(for_actor.clone()));
        let begin = |index, data: &[u8]| BeginSnapshot {
            index,
            data: data.to_vec(),
        };
        receiver.send(begin(7, b"abc")).await.unwrap().unwrap();
        assert!(
            receiver.send(begin(7, b"x")).await.unwrap().is_err(),
            "one transfer per index"
        );
        let more = SnapshotData {
            index: 7,
            data: b"def".to_vec(),
        };
        receiver.send(more).await.unwrap().unwrap();
        assert!(!snaps.file_for(7).exists());
        let end = EndSnapshot {
            index: 7,
            complete: true,
        };
        assert_eq!(receiver.send(end).await.unwrap().unwrap(), 6);
        assert_eq!(std::fs::read(snaps.file_for(7)).unwrap(), b"abcdef");

        receiver.send(begin(9, b"half")).await.unwrap().unwrap();
        let dropped = EndSnapshot {
            index: 9,
            complete: false,
        };
        assert_eq!(receiver.send(dropped).await.unwrap().unwrap(), 0);
        assert!(!snaps.file_for(9).exists());
        let stray = SnapshotData {
            index: 9,
            data: Vec::new(),
        };
        assert!(receiver.send(stray).await.unwrap().is_err());
    }
}
