//! Receiving a raft snapshot on the peer service: the chunks are written to
//! a partial file, made durable, then named as the snapshot for its index;
//! only then does raft see the message, so a snapshot raft accepts is
//! always complete on disk.

use futures::StreamExt;
use protobuf::Message as _;
use raft::eraftpb::{Message as RaftMessage, MessageType};
use tokio::io::AsyncWriteExt;
use tonic::{Status, Streaming};

use crate::proto::oxcdpeer::SnapshotChunk;
use crate::storage::snapshot::SnapshotDir;

/// Takes the rest of the stream after `first` (already checked for the
/// cluster and member ids). Returns the raft message and the bytes stored.
pub async fn receive_snapshot(
    first: SnapshotChunk,
    mut rest: Streaming<SnapshotChunk>,
    dir: &SnapshotDir,
) -> Result<(RaftMessage, u64), Status> {
    let message = RaftMessage::parse_from_bytes(&first.message)
        .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))?;
    if message.get_msg_type() != MessageType::MsgSnapshot {
        return Err(Status::invalid_argument(
            "the first snapshot chunk must carry a MsgSnapshot",
        ));
    }
    let index = message.get_snapshot().get_metadata().index;
    let io = |e: std::io::Error| Status::internal(format!("storing snapshot {index}: {e}"));
    tokio::fs::create_dir_all(dir.path()).await.map_err(io)?;
    let partial = dir.partial_for(index);
    let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
    let mut bytes = first.data.len() as u64;
    file.write_all(&first.data).await.map_err(io)?;
    while let Some(chunk) = rest.next().await {
        let chunk = chunk?;
        bytes += chunk.data.len() as u64;
        file.write_all(&chunk.data).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    drop(file);
    dir.accept(index)
        .map_err(|e| Status::internal(format!("storing snapshot {index}: {e}")))?;
    Ok((message, bytes))
}
