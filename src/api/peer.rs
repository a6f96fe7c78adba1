//! The peer service on the peer URLs: raft messages from the other members,
//! handed to the raft node; lease requests forwarded by followers to this
//! member's lessor (answered only if it is the leader's); and the member
//! list for a member joining; raft snapshots (`peer_snapshot`). A raft
//! stream from another cluster, or meant for another member, is refused so
//! that clusters never mix.

use actix::Addr;
use futures::StreamExt;
use protobuf::Message as _;
use raft::eraftpb::Message as RaftMessage;
use tonic::{Request, Response, Status, Streaming};

use super::ask::ask;
use super::header::HeaderFiller;
use super::lease::time_to_live_response;
use super::maintenance::hash_kv_response;
use super::peer_snapshot::receive_snapshot;
use super::ApiError;
use crate::actors::lessor::{KeepAlive, Lessor, TimeToLive};
use crate::actors::mvcc_store::{GetMembers, MvccReader};
use crate::actors::raft_node::{LearnerReady, RaftNode, Step};
use crate::actors::snapshot_receiver::SnapshotReceiver;
use crate::actors::ServerError;
use crate::proto::etcdserverpb::{
    HashKvRequest, HashKvResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, MemberListResponse,
};
use crate::proto::oxcdpeer::peer_server::Peer;
use crate::proto::oxcdpeer::{
    ClusterInfoRequest, LearnerReadyRequest, LearnerReadyResponse, ProbeRequest, ProbeResponse,
    RaftAck, RaftEnvelope, SnapshotAck, SnapshotChunk,
};

#[derive(Clone)]
pub struct PeerService {
    raft: Addr<RaftNode>,
    lessor: Addr<Lessor>,
    readers: Addr<MvccReader>,
    header: HeaderFiller,
    snapshots: Addr<SnapshotReceiver>,
    cluster_id: u64,
    local_id: u64,
}

impl PeerService {
    pub fn new(
        raft: Addr<RaftNode>,
        lessor: Addr<Lessor>,
        readers: Addr<MvccReader>,
        header: HeaderFiller,
        snapshots: Addr<SnapshotReceiver>,
    ) -> Self {
        PeerService {
            raft,
            lessor,
            readers,
            snapshots,
            cluster_id: header.cluster_id,
            local_id: header.member_id,
            header,
        }
    }

    /// The sender's cluster and the addressee must be ours.
    fn check(&self, cluster_id: u64, from: u64, to: u64) -> Result<(), Status> {
        if cluster_id != self.cluster_id {
            return Err(Status::failed_precondition(format!(
                "cluster ID mismatch: this member is in cluster {:x}, the sender {from:x} in {cluster_id:x}",
                self.cluster_id
            )));
        }
        if to != self.local_id {
            return Err(Status::failed_precondition(format!(
                "member ID mismatch: this member is {:x}, the message is for {to:x}",
                self.local_id
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
            self.check(envelope.cluster_id, envelope.from, envelope.to)?;
            let mut messages = Vec::with_capacity(envelope.messages.len());
            for bytes in &envelope.messages {
                let message = RaftMessage::parse_from_bytes(bytes)
                    .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))?;
                // A snapshot's data comes only through the Snapshot call.
                if message.get_msg_type() == raft::eraftpb::MessageType::MsgSnapshot {
                    return Err(Status::invalid_argument(
                        "snapshots must be sent with the Snapshot call",
                    ));
                }
                messages.push(message);
            }
            self.raft.do_send(Step { messages });
        }
        Ok(Response::new(RaftAck {}))
    }

    async fn lease_keep_alive(
        &self,
        request: Request<LeaseKeepAliveRequest>,
    ) -> Result<Response<LeaseKeepAliveResponse>, Status> {
        let id = request.into_inner().id;
        let keep_alive = KeepAlive {
            id,
            forwarded: true,
        };
        let (ttl, revision) = self
            .lessor
            .send(keep_alive)
            .await
            .map_err(ServerError::from)
            .and_then(|answer| answer)
            .map_err(|err| Status::from(ApiError::from(err)))?;
        Ok(Response::new(LeaseKeepAliveResponse {
            header: self.header.with_revision(revision),
            id,
            ttl,
        }))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let req = request.into_inner();
        let question = TimeToLive {
            id: req.id,
            keys: req.keys,
            forwarded: true,
        };
        let (status, revision) = self
            .lessor
            .send(question)
            .await
            .map_err(ServerError::from)
            .and_then(|answer| answer)
            .map_err(|err| Status::from(ApiError::from(err)))?;
        let header = self.header.with_revision(revision);
        Ok(Response::new(time_to_live_response(header, req.id, status)))
    }

    async fn cluster_info(
        &self,
        _request: Request<ClusterInfoRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let members = ask(&self.readers, GetMembers).await?;
        let mut header = None;
        self.header.fill(&mut header);
        Ok(Response::new(MemberListResponse { header, members }))
    }

    async fn snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<SnapshotAck>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("empty snapshot stream"))??;
        self.check(first.cluster_id, first.from, first.to)?;
        let from = first.from;
        let (message, bytes) = receive_snapshot(first, inbound, &self.snapshots).await?;
        tracing::info!(
            from = format!("{from:x}"),
            index = message.get_snapshot().get_metadata().index,
            bytes,
            "snapshot received"
        );
        self.raft.do_send(Step {
            messages: vec![message],
        });
        Ok(Response::new(SnapshotAck { bytes }))
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        let revision = request.into_inner().revision;
        Ok(Response::new(
            hash_kv_response(&self.readers, &self.header, revision).await?,
        ))
    }

    async fn probe(
        &self,
        _request: Request<ProbeRequest>,
    ) -> Result<Response<ProbeResponse>, Status> {
        Ok(Response::new(ProbeResponse {}))
    }

    async fn learner_ready(
        &self,
        request: Request<LearnerReadyRequest>,
    ) -> Result<Response<LearnerReadyResponse>, Status> {
        let id = request.into_inner().id;
        let ready = self
            .raft
            .send(LearnerReady { id })
            .await
            .map_err(ServerError::from)
            .and_then(|ready| ready)
            .map_err(ApiError::from)?;
        Ok(Response::new(LearnerReadyResponse { ready }))
    }
}
