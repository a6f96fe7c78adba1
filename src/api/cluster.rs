//! The Cluster service: MemberList is served; membership changes arrive with
//! clustering.

use actix::Addr;
use tonic::{Request, Response, Status};

use super::header::{backend_status, HeaderFiller};
use super::not_built::not_built_rpcs;
use crate::actors::mvcc_store::MvccReader;
use crate::membership::Membership;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::*;

pub struct ClusterService {
    membership: Membership,
    readers: Addr<MvccReader>,
    header: HeaderFiller,
}

impl ClusterService {
    pub fn new(membership: Membership, readers: Addr<MvccReader>, header: HeaderFiller) -> Self {
        ClusterService {
            membership,
            readers,
            header,
        }
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
        let members = self
            .membership
            .members
            .iter()
            .map(|m| Member {
                id: m.id,
                name: m.name.clone(),
                peer_ur_ls: m.peer_urls.clone(),
                client_ur_ls: m.client_urls.clone(),
                is_learner: m.is_learner,
            })
            .collect();
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
