//! The Maintenance service: Status is served; the rest arrive in later issues.

use std::pin::Pin;

use actix::Addr;
use futures::Stream;
use tonic::{Request, Response, Status};

use super::header::{backend_status, HeaderFiller};
use super::not_built::{not_built, not_built_rpcs};
use super::ApiError;
use crate::actors::mvcc_store::MvccReader;
use crate::actors::raft_node::{GetNodeStatus, RaftNode};
use crate::actors::ServerError;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::etcdserverpb::*;

/// The etcd API version oxcd implements (clients such as Kubernetes check it).
pub const ETCD_API_VERSION: &str = "3.5.0";

pub struct MaintenanceService {
    raft: Addr<RaftNode>,
    readers: Addr<MvccReader>,
    header: HeaderFiller,
    quota_backend_bytes: u64,
}

impl MaintenanceService {
    pub fn new(
        raft: Addr<RaftNode>,
        readers: Addr<MvccReader>,
        header: HeaderFiller,
        quota_backend_bytes: u64,
    ) -> Self {
        MaintenanceService {
            raft,
            readers,
            header,
            quota_backend_bytes,
        }
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    #[tracing::instrument(name = "maintenance.status", skip_all)]
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let node = self
            .raft
            .send(GetNodeStatus)
            .await
            .map_err(|e| ApiError::from(ServerError::from(e)))?;
        let backend = backend_status(&self.readers).await?;
        Ok(Response::new(StatusResponse {
            header: self.header.with_revision(backend.revision),
            version: ETCD_API_VERSION.to_string(),
            db_size: backend.db_size as i64,
            db_size_in_use: backend.db_size_in_use as i64,
            leader: node.leader,
            raft_index: node.committed,
            raft_term: node.term,
            raft_applied_index: node.applied,
            db_size_quota: self.quota_backend_bytes as i64,
            ..Default::default()
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _request: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        not_built("Maintenance.Snapshot")
    }

    not_built_rpcs! { "Maintenance";
        alarm(AlarmRequest) -> AlarmResponse;
        defragment(DefragmentRequest) -> DefragmentResponse;
        hash(HashRequest) -> HashResponse;
        hash_kv(HashKvRequest) -> HashKvResponse;
        move_leader(MoveLeaderRequest) -> MoveLeaderResponse;
        downgrade(DowngradeRequest) -> DowngradeResponse;
    }
}
