//! Sending a write through raft from a service: the one round trip to the
//! front end every writing RPC makes, typed by the request.

use actix::Addr;
use tonic::Request;

use super::ask::ask;
use super::connections::ConnInfo;
use super::ApiError;
use crate::actors::auth::Credentials;
use crate::actors::frontend::FrontEnd;
use crate::actors::proposal::{Proposal, Proposed};

/// Proposes `request` with the caller's credentials and waits for its
/// response (a `PutRequest` is answered a `PutResponse`, ...).
pub async fn propose<P: Proposal>(
    frontend: &Addr<FrontEnd>,
    request: P,
    credentials: Credentials,
) -> Result<P::Response, ApiError> {
    ask(
        frontend,
        Proposed {
            request,
            credentials,
        },
    )
    .await
}

/// The token etcd clients send in gRPC metadata once authenticated.
pub fn credentials_of<T>(request: &Request<T>) -> Credentials {
    let token = request
        .metadata()
        .get("token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let common_name = request
        .extensions()
        .get::<ConnInfo>()
        .and_then(|conn| conn.common_name.clone());
    Credentials {
        token,
        common_name,
        internal: false,
    }
}
