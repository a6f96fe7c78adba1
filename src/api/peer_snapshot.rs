//! Receiving a raft snapshot on the peer service: the chunks go, in order,
//! to the snapshot receiver actor, which writes them to a partial file and
//! names it as the snapshot only once the stream is complete and the file
//! durable. Only then does raft see the message, so a snapshot raft accepts
//! is always complete on disk.

use actix::Addr;
use futures::StreamExt;
use protobuf::Message as _;
use raft::eraftpb::{Message as RaftMessage, MessageType};
use tonic::{Status, Streaming};

use super::ask::ask;
use crate::actors::snapshot_receiver::{
    BeginSnapshot, EndSnapshot, SnapshotData, SnapshotReceiver,
};
use crate::proto::oxcdpeer::SnapshotChunk;

/// Takes the rest of the stream after `first` (already checked for the
/// cluster and member ids). Returns the raft message and the bytes stored.
pub async fn receive_snapshot(
    first: SnapshotChunk,
    rest: Streaming<SnapshotChunk>,
    receiver: &Addr<SnapshotReceiver>,
) -> Result<(RaftMessage, u64), Status> {
    let message = RaftMessage::parse_from_bytes(&first.message)
        .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))?;
    if message.get_msg_type() != MessageType::MsgSnapshot {
        return Err(Status::invalid_argument(
            "the first snapshot chunk must carry a MsgSnapshot",
        ));
    }
    let index = message.get_snapshot().get_metadata().index;
    let begin = BeginSnapshot {
        index,
        data: first.data,
    };
    ask(receiver, begin).await?;
    let streamed = stream_rest(index, rest, receiver).await;
    let end = EndSnapshot {
        index,
        complete: streamed.is_ok(),
    };
    let ended = ask(receiver, end).await;
    streamed?;
    Ok((message, ended?))
}

async fn stream_rest(
    index: u64,
    mut rest: Streaming<SnapshotChunk>,
    receiver: &Addr<SnapshotReceiver>,
) -> Result<(), Status> {
    while let Some(chunk) = rest.next().await {
        let data = SnapshotData {
            index,
            data: chunk?.data,
        };
        ask(receiver, data).await?;
    }
    Ok(())
}
