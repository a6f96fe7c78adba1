//! Typed proposals: each etcd write request names the response it gets, so
//! a service proposes a `PutRequest` and is answered a `PutResponse`
//! (`Proposed<P>`), never the applier's untyped result.

use actix::prelude::*;

use super::auth::Credentials;
use super::frontend::{FrontEnd, Propose, WriteRequest};
use super::{ServerError, ServerResult};
use crate::proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, PutRequest, PutResponse, TxnRequest, TxnResponse,
};
use crate::storage::apply::ApplyResponse;

/// The kinds of membership change a `ProposeMemberChange` makes (storage
/// applies them; offered here so services propose without naming storage).
pub use crate::storage::apply::membership::MemberChange;

/// A request the front end proposes through raft, and what it answers.
pub trait Proposal: Send + 'static {
    type Response: Send + 'static;
    /// For the error should the applier answer another kind.
    const KIND: &'static str;
    fn into_write(self) -> WriteRequest;
    /// The response, if `applied` is of this proposal's kind.
    fn response(applied: ApplyResponse) -> Option<Self::Response>;
}

macro_rules! proposal {
    ($request:ty => $response:ty, $kind:ident) => {
        impl Proposal for $request {
            type Response = $response;
            const KIND: &'static str = stringify!($kind);
            fn into_write(self) -> WriteRequest {
                WriteRequest::$kind(self)
            }
            fn response(applied: ApplyResponse) -> Option<$response> {
                match applied {
                    ApplyResponse::$kind(response) => Some(response),
                    _ => None,
                }
            }
        }
    };
}

proposal!(PutRequest => PutResponse, Put);
proposal!(DeleteRangeRequest => DeleteRangeResponse, DeleteRange);
proposal!(TxnRequest => TxnResponse, Txn);
proposal!(CompactionRequest => CompactionResponse, Compaction);
proposal!(LeaseGrantRequest => LeaseGrantResponse, LeaseGrant);
proposal!(LeaseRevokeRequest => LeaseRevokeResponse, LeaseRevoke);
proposal!(AlarmRequest => AlarmResponse, Alarm);

/// Proposes `request` with the caller's credentials; answers its response
/// once applied.
pub struct Proposed<P> {
    pub request: P,
    pub credentials: Credentials,
}

impl<P: Proposal> Message for Proposed<P> {
    type Result = ServerResult<P::Response>;
}

impl<P: Proposal> Handler<Proposed<P>> for FrontEnd {
    type Result = ResponseFuture<ServerResult<P::Response>>;

    fn handle(&mut self, msg: Proposed<P>, ctx: &mut Context<Self>) -> Self::Result {
        let untyped = Propose {
            body: msg.request.into_write(),
            credentials: msg.credentials,
        };
        let applied = <Self as Handler<Propose>>::handle(self, untyped, ctx);
        Box::pin(async move {
            P::response(applied.await?).ok_or(ServerError::UnexpectedResponse(P::KIND))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_of_the_proposals_kind_is_taken_and_another_is_not() {
        let put = ApplyResponse::Put(PutResponse::default());
        assert!(PutRequest::response(put).is_some());
        let txn = ApplyResponse::Txn(TxnResponse::default());
        assert!(PutRequest::response(txn).is_none());
        let write = LeaseGrantRequest { ttl: 5, id: 7 }.into_write();
        assert!(matches!(write, WriteRequest::LeaseGrant(g) if g.id == 7));
    }
}
