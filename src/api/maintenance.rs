//! The Maintenance service: Status, Alarm, Defragment, Hash, HashKV,
//! MoveLeader, Downgrade and Snapshot (in etcd's backend format).

use std::pin::Pin;
use std::sync::Arc;

use actix::Addr;
use futures::Stream;
use tonic::{Request, Response, Status};

use super::ask::ask;
use super::header::{backend_status, HeaderFiller};
use super::propose::{credentials_of, propose};
use super::snapshot_stream::stream_snapshot;
use super::ApiError;
use crate::actors::auth::gate::AuthGate;
use crate::actors::auth::Credentials;
use crate::actors::frontend::{Downgrade, FrontEnd};
use crate::actors::mvcc_store::{Defragment, Defragmenter, HashBackend, HashKv, MvccReader};
use crate::actors::raft_node::{GetNodeStatus, RaftNode, TransferLeader};
use crate::actors::ServerError;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::etcdserverpb::*;

/// How long MoveLeader waits for the transferee to lead (etcdctl's own
/// command timeout is 5 s).
const LEADER_TRANSFER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const LEADER_TRANSFER_POLL: std::time::Duration = std::time::Duration::from_millis(20);

pub struct MaintenanceService {
    pub(super) gate: Arc<AuthGate>,
    pub(super) frontend: Addr<FrontEnd>,
    pub(super) raft: Addr<RaftNode>,
    pub(super) readers: Addr<MvccReader>,
    pub(super) defragmenter: Addr<Defragmenter>,
    pub(super) snap_dir: std::path::PathBuf,
    pub(super) header: HeaderFiller,
    pub(super) quota_backend_bytes: u64,
}

impl MaintenanceService {
    /// Root only while auth is on (etcd's admin-only maintenance RPCs).
    async fn require_admin(&self, credentials: &Credentials) -> Result<(), ApiError> {
        self.gate
            .check_admin(credentials)
            .await
            .map_err(ApiError::from)
    }
}

/// HashKV's answer, for clients (Maintenance) and for peers checking their
/// data at boot (the peer service).
pub(super) async fn hash_kv_response(
    readers: &Addr<MvccReader>,
    header: &HeaderFiller,
    revision: i64,
) -> Result<HashKvResponse, ApiError> {
    let hashed = ask(readers, HashKv { revision }).await?;
    Ok(HashKvResponse {
        header: header.with_revision(hashed.current_revision),
        hash: hashed.hash,
        compact_revision: hashed.compact_revision,
        hash_revision: hashed.revision,
    })
}

/// An alarm as etcd lists it in Status.errors: gogo protobuf's compact
/// text form of the AlarmMember (zero-valued fields left out).
fn alarm_text(alarm: &AlarmMember) -> String {
    let mut text = String::new();
    if alarm.member_id != 0 {
        text.push_str(&format!("memberID:{} ", alarm.member_id));
    }
    if alarm.alarm != 0 {
        let name = AlarmType::try_from(alarm.alarm)
            .map(|t| t.as_str_name().to_string())
            .unwrap_or_else(|_| alarm.alarm.to_string());
        text.push_str(&format!("alarm:{name} "));
    }
    text
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
        let mut errors = Vec::new();
        if node.leader == 0 {
            errors.push("etcdserver: no leader".to_string());
        }
        errors.extend(backend.alarms.iter().map(alarm_text));
        Ok(Response::new(StatusResponse {
            header: self.header.with_revision(backend.revision),
            version: crate::version::ETCD_SERVER_VERSION.to_string(),
            db_size: backend.db_size as i64,
            db_size_in_use: backend.db_size_in_use as i64,
            leader: node.leader,
            raft_index: node.committed,
            raft_term: node.term,
            raft_applied_index: node.applied,
            db_size_quota: self.quota_backend_bytes as i64,
            errors,
            is_learner: node.is_learner,
            // etcd 3.6 reports its backend schema version here; oxcd's data
            // is what a 3.5 cluster holds.
            storage_version: crate::version::ETCD_CLUSTER_VERSION.to_string(),
            downgrade_info: Some(DowngradeInfo {
                enabled: backend.downgrade.enabled,
                target_version: backend.downgrade.ver.clone(),
            }),
        }))
    }

    /// As etcd: only the leader takes it; it answers once the transferee
    /// leads, or fails after `LEADER_TRANSFER_TIMEOUT`.
    #[tracing::instrument(name = "maintenance.move_leader", skip_all)]
    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let to = request.into_inner().target_id;
        self.raft
            .send(TransferLeader { to })
            .await
            .map_err(ServerError::from)
            .and_then(|started| started)
            .map_err(ApiError::from)?;
        let deadline = tokio::time::Instant::now() + LEADER_TRANSFER_TIMEOUT;
        loop {
            let node = self
                .raft
                .send(GetNodeStatus)
                .await
                .map_err(|e| ApiError::from(ServerError::from(e)))?;
            // etcd answers MoveLeader with no header at all.
            if node.leader == to {
                return Ok(Response::new(MoveLeaderResponse { header: None }));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::from(ServerError::LeaderTransferTimeout).into());
            }
            tokio::time::sleep(LEADER_TRANSFER_POLL).await;
        }
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        // Root only while auth is on, as etcd's (also Hash, Defragment and
        // Snapshot once built).
        self.require_admin(&credentials_of(&request)).await?;
        let revision = request.into_inner().revision;
        Ok(Response::new(
            hash_kv_response(&self.readers, &self.header, revision).await?,
        ))
    }

    type SnapshotStream = SnapshotStream;

    /// The store as etcd's backend file, streamed as etcd streams it
    /// (root only while auth is on).
    #[tracing::instrument(name = "maintenance.snapshot", skip_all)]
    async fn snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        self.require_admin(&credentials_of(&request)).await?;
        let term = self.header.board.term();
        let rx = stream_snapshot(&self.readers, self.snap_dir.clone(), term).await?;
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    /// GET, ACTIVATE and DEACTIVATE all go through raft, as etcd's; the
    /// header is filled as etcd 3.5 fills it.
    #[tracing::instrument(name = "maintenance.alarm", skip_all)]
    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        let credentials = credentials_of(&request);
        let mut response = propose(&self.frontend, request.into_inner(), credentials).await?;
        let revision = response.header.as_ref().map_or(0, |h| h.revision);
        response.header = self.header.with_revision(revision);
        Ok(Response::new(response))
    }

    /// The whole backend's CRC-32C (root only while auth is on).
    #[tracing::instrument(name = "maintenance.hash", skip_all)]
    async fn hash(&self, request: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.require_admin(&credentials_of(&request)).await?;
        let (hash, revision) = ask(&self.readers, HashBackend).await?;
        Ok(Response::new(HashResponse {
            header: self.header.with_revision(revision),
            hash,
        }))
    }

    /// Rewrites this member's LMDB file compacted while it goes on serving
    /// (root only while auth is on). etcd answers with no header.
    #[tracing::instrument(name = "maintenance.defragment", skip_all)]
    async fn defragment(
        &self,
        request: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.require_admin(&credentials_of(&request)).await?;
        ask(&self.defragmenter, Defragment).await?;
        Ok(Response::new(DefragmentResponse { header: None }))
    }

    /// etcd 3.5's downgrade job (VALIDATE, ENABLE, CANCEL). Root only
    /// while auth is on, as etcd from 3.5.28 (earlier 3.5 releases let any
    /// caller start a downgrade).
    #[tracing::instrument(name = "maintenance.downgrade", skip_all)]
    async fn downgrade(
        &self,
        request: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        let credentials = credentials_of(&request);
        self.require_admin(&credentials).await?;
        let request = request.into_inner();
        let version = ask(
            &self.frontend,
            Downgrade {
                action: request.action,
                version: request.version,
                credentials,
            },
        )
        .await?;
        let revision = backend_status(&self.readers).await?.revision;
        Ok(Response::new(DowngradeResponse {
            header: self.header.with_revision(revision),
            version,
        }))
    }
}
