//! Services whose features arrive in later issues (Lock, Election). They are registered so clients get gRPC Unimplemented from
//! each rpc rather than a transport error.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::not_built::{not_built, not_built_rpcs};
use crate::proto::v3electionpb::election_server::Election;
use crate::proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use crate::proto::v3lockpb::lock_server::Lock;
use crate::proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Stands in for each not-yet-built service.
#[derive(Debug, Default, Clone, Copy)]
pub struct NotBuilt;

#[tonic::async_trait]
impl Lock for NotBuilt {
    not_built_rpcs! { "Lock";
        lock(LockRequest) -> LockResponse;
        unlock(UnlockRequest) -> UnlockResponse;
    }
}

#[tonic::async_trait]
impl Election for NotBuilt {
    type ObserveStream = BoxStream<LeaderResponse>;

    async fn observe(
        &self,
        _request: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        not_built("Election.Observe")
    }

    not_built_rpcs! { "Election";
        campaign(CampaignRequest) -> CampaignResponse;
        proclaim(ProclaimRequest) -> ProclaimResponse;
        leader(LeaderRequest) -> LeaderResponse;
        resign(ResignRequest) -> ResignResponse;
    }
}
