//! The Cluster service: MemberList is served; membership changes arrive with
//! clustering.

use actix::Addr;
use tonic::{Request, Response, Status};

use super::header::HeaderFiller;
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
        // As applied through raft: other members' client URLs appear once
        // they have published them. Sorted by id, as etcd lists them.
        let mut members = self
            .readers
            .send(GetMembers)
            .await
            .map_err(ServerError::from)
            .map_err(ApiError::from)?
            .map_err(ApiError::from)?;
        members.sort_by_key(|m| m.id);
        // etcd's cluster responses carry no revision.
        let mut header = None;
        self.header.fill(&mut header);
        Ok(Response::new(MemberListResponse { header, members }))
    }

    not_built_rpcs! { "Cluster";
        member_add(MemberAddRequest) -> MemberAddResponse;
        member_remove(MemberRemoveRequest) -> MemberRemoveResponse;
        member_update(MemberUpdateRequest) -> MemberUpdateResponse;
        member_promote(MemberPromoteRequest) -> MemberPromoteResponse;
    }
}
