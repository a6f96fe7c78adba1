//! Sending a write through raft from a service: the one round trip to the
//! front end every writing RPC makes, and the error for a reply of the
//! wrong kind (a bug, never a client's fault).

use actix::Addr;
use tonic::{Request, Status};

use super::ApiError;
use crate::actors::auth::Credentials;
use crate::actors::frontend::{FrontEnd, Propose, WriteRequest};
use crate::actors::ServerError;
use crate::storage::apply::ApplyResponse;

/// Proposes `body` with the request's credentials and waits for its result.
pub async fn propose(
    frontend: &Addr<FrontEnd>,
    body: WriteRequest,
    credentials: Credentials,
) -> Result<ApplyResponse, ApiError> {
    let reply = frontend
        .send(Propose { body, credentials })
        .await
        .map_err(ServerError::from)?;
    Ok(reply?)
}

/// The token etcd clients send in gRPC metadata once authenticated.
pub fn credentials_of<T>(request: &Request<T>) -> Credentials {
    let token = request
        .metadata()
        .get("token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Credentials { token }
}

/// The applier answered with another kind of response than was proposed.
pub fn unexpected(kind: &str) -> Status {
    Status::internal(format!(
        "oxcd: applier returned a response of the wrong kind for {kind}"
    ))
}
