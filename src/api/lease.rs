//! etcd's Lease service. Grant and revoke go through raft (via the front
//! end); keep-alive, time-to-live and the lease list are answered by the
//! lessor, which keeps the deadlines.

use std::pin::Pin;
use std::sync::Arc;

use actix::Addr;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::header::HeaderFiller;
use super::propose::{credentials_of, propose};
use super::shutdown::{end_when, server_stopped, Shutdown};
use super::ApiError;
use crate::actors::auth::gate::AuthGate;
use crate::actors::auth::{Access, KeyAccess};
use crate::actors::frontend::FrontEnd;
use crate::actors::lessor::{
    KeepAlive, LeaseStatus as LessorLeaseStatus, Lessor, ListLeases, TimeToLive,
};
use crate::actors::ServerError;
use crate::proto::etcdserverpb::lease_server::Lease;
use crate::proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader,
};

/// etcd's largest TTL (lease.MaxLeaseTTL), seconds.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

type KeepAliveStream = Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send>>;

pub struct LeaseService {
    frontend: Addr<FrontEnd>,
    gate: Arc<AuthGate>,
    lessor: Addr<Lessor>,
    header: HeaderFiller,
    /// Shorter TTLs are raised to this (etcd's minLeaseTTL).
    min_ttl: i64,
    /// Keep-alive streams end with "server stopped" when the server stops.
    shutdown: Shutdown,
}

impl LeaseService {
    pub fn new(
        frontend: Addr<FrontEnd>,
        gate: Arc<AuthGate>,
        lessor: Addr<Lessor>,
        header: HeaderFiller,
        min_ttl: i64,
        shutdown: Shutdown,
    ) -> Self {
        LeaseService {
            frontend,
            gate,
            lessor,
            header,
            min_ttl,
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl Lease for LeaseService {
    type LeaseKeepAliveStream = KeepAliveStream;

    #[tracing::instrument(name = "lease.grant", level = "debug", skip_all)]
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let grant = *request.get_ref();
        if grant.ttl > MAX_LEASE_TTL {
            return Err(ApiError::LeaseTtlTooLarge.into());
        }
        let grant = LeaseGrantRequest {
            ttl: grant.ttl.max(self.min_ttl),
            id: grant.id,
        };
        let credentials = credentials_of(&request);
        let mut response = propose(&self.frontend, grant, credentials).await?;
        self.header.fill(&mut response.header);
        Ok(Response::new(response))
    }

    #[tracing::instrument(name = "lease.revoke", level = "debug", skip_all)]
    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let revoke = *request.get_ref();
        let credentials = credentials_of(&request);
        let mut response = propose(&self.frontend, revoke, credentials).await?;
        self.header.fill(&mut response.header);
        Ok(Response::new(response))
    }

    #[tracing::instrument(name = "lease.keep_alive", level = "debug", skip_all)]
    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let lessor = self.lessor.clone();
        let header = self.header.clone();
        // One renewal at a time per stream, answered in order; the stream
        // ends when the client's side does.
        let responses = request.into_inner().then(move |next| {
            let (lessor, header) = (lessor.clone(), header.clone());
            async move {
                let req = next?;
                let keep_alive = KeepAlive {
                    id: req.id,
                    forwarded: false,
                };
                let (ttl, revision) = lessor
                    .send(keep_alive)
                    .await
                    .map_err(ServerError::from)
                    .and_then(|answer| answer)
                    .map_err(|err| Status::from(ApiError::from(err)))?;
                Ok(LeaseKeepAliveResponse {
                    header: header.with_revision(revision),
                    id: req.id,
                    ttl,
                })
            }
        });
        let responses = end_when(responses, self.shutdown.clone().wait(), server_stopped);
        Ok(Response::new(Box::pin(responses)))
    }

    #[tracing::instrument(name = "lease.time_to_live", level = "debug", skip_all)]
    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let credentials = credentials_of(&request);
        let req = request.into_inner();
        // With keys, read on each key is needed while auth is on (etcd 3.5.9
        // on: key names are not shown to users who may not read them).
        let caller = if req.keys {
            self.gate.proposer(&credentials).map_err(ApiError::from)?
        } else {
            None
        };
        let (status, revision) = self
            .lessor
            .send(TimeToLive {
                id: req.id,
                keys: req.keys,
                forwarded: false,
            })
            .await
            .map_err(ServerError::from)
            .and_then(|answer| answer)
            .map_err(|err| Status::from(ApiError::from(err)))?;
        if req.keys {
            let keys: Vec<&Vec<u8>> = status.iter().flat_map(|s| &s.keys).collect();
            for key in &keys {
                self.gate
                    .check_read(caller.as_ref(), key, &[])
                    .map_err(ApiError::from)?;
            }
            let read = Access {
                keys: keys
                    .into_iter()
                    .map(|key| KeyAccess {
                        key: key.clone(),
                        range_end: Vec::new(),
                        write: false,
                    })
                    .collect(),
                admin: false,
            };
            self.gate
                .authorize(&credentials, read)
                .await
                .map_err(ApiError::from)?;
        }
        let resp = time_to_live_response(self.header.with_revision(revision), req.id, status);
        Ok(Response::new(resp))
    }

    #[tracing::instrument(name = "lease.leases", level = "debug", skip_all)]
    async fn lease_leases(
        &self,
        _request: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let (ids, revision) = self
            .lessor
            .send(ListLeases)
            .await
            .map_err(|err| Status::from(ApiError::from(ServerError::from(err))))?;
        Ok(Response::new(LeaseLeasesResponse {
            header: self.header.with_revision(revision),
            leases: ids.into_iter().map(|id| LeaseStatus { id }).collect(),
        }))
    }
}

/// A time-to-live answer as etcd gives it: an unknown lease gets TTL -1,
/// not an error.
pub fn time_to_live_response(
    header: Option<ResponseHeader>,
    id: i64,
    status: Option<LessorLeaseStatus>,
) -> LeaseTimeToLiveResponse {
    match status {
        Some(status) => LeaseTimeToLiveResponse {
            header,
            id,
            ttl: status.remaining_ttl,
            granted_ttl: status.granted_ttl,
            keys: status.keys,
        },
        None => LeaseTimeToLiveResponse {
            header,
            id,
            ttl: -1,
            ..Default::default()
        },
    }
}
