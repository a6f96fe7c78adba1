//! The Cluster service: MemberList is served; membership changes arrive with
//! clustering.

use actix::Addr;
use tonic::{Request, Response, Status};

use super::header::{backend_status, HeaderFiller};
use super::not_built::not_built_rpcs;
use super::ApiError;
use crate::actors::mvcc_store::{GetMembers, MvccReader};
use crate::actors::ServerError;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::*;

pub struct ClusterService {
    readers: Addr<MvccReader>,
    header: HeaderFiller,
}

impl ClusterService {
    pub fn new(readers: Addr<MvccReader>, header: HeaderFiller) -> Self {
        ClusterService { readers, header }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    #[tracing::instrument(name = "cluster.member_list", skip_all)]
    async fn member_list(
        &self,
        _request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let backend = backend_status(&self.readers).await?;
        // As applied through raft: other members' client URLs appear once
        // they have published them.
        let members = self
            .readers
            .send(GetMembers)
            .await
            .map_err(ServerError::from)
            .map_err(ApiError::from)?
            .map_err(ApiError::from)?;
        Ok(Response::new(MemberListResponse {
            header: self.header.with_revision(backend.revision),
            members,
        }))
    }

    not_built_rpcs! { "Cluster";
        member_add(MemberAddRequest) -> MemberAddResponse;
        member_remove(MemberRemoveRequest) -> MemberRemoveResponse;
        member_update(MemberUpdateRequest) -> MemberUpdateResponse;
        member_promote(MemberPromoteRequest) -> MemberPromoteResponse;
    }
}
