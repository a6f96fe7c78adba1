//! The peer service on the peer URLs: raft messages from the other members,
//! handed to the raft node. A stream from another cluster, or meant for
//! another member, is refused so that members of different clusters never
//! mix.

use actix::Addr;
use futures::StreamExt;
use protobuf::Message as _;
use raft::eraftpb::Message as RaftMessage;
use tonic::{Request, Response, Status, Streaming};

use crate::actors::raft_node::{RaftNode, Step};
use crate::proto::oxcdpeer::peer_server::Peer;
use crate::proto::oxcdpeer::{RaftAck, RaftEnvelope};

pub struct PeerService {
    raft: Addr<RaftNode>,
    cluster_id: u64,
    local_id: u64,
}

impl PeerService {
    pub fn new(raft: Addr<RaftNode>, cluster_id: u64, local_id: u64) -> Self {
        PeerService {
            raft,
            cluster_id,
            local_id,
        }
    }

    fn check(&self, envelope: &RaftEnvelope) -> Result<(), Status> {
        if envelope.cluster_id != self.cluster_id {
            return Err(Status::failed_precondition(format!(
                "cluster ID mismatch: this member is in cluster {:x}, the sender {:x} in {:x}",
                self.cluster_id, envelope.from, envelope.cluster_id
            )));
        }
        if envelope.to != self.local_id {
            return Err(Status::failed_precondition(format!(
                "member ID mismatch: this member is {:x}, the message is for {:x}",
                self.local_id, envelope.to
            )));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(
        &self,
        request: Request<Streaming<RaftEnvelope>>,
    ) -> Result<Response<RaftAck>, Status> {
        let mut inbound = request.into_inner();
        while let Some(envelope) = inbound.next().await {
            let envelope = envelope?;
            self.check(&envelope)?;
            let mut messages = Vec::with_capacity(envelope.messages.len());
            for bytes in &envelope.messages {
                let message = RaftMessage::parse_from_bytes(bytes)
                    .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))?;
                messages.push(message);
            }
            self.raft.do_send(Step { messages });
        }
        Ok(Response::new(RaftAck {}))
    }
}
