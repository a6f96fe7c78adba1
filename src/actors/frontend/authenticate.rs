//! Authenticate, as etcd serves it: after a linearizable barrier, the
//! password is checked here against the stored bcrypt hash (on a blocking
//! thread: it costs tens of milliseconds by design), then an entry without
//! the password goes through raft and every member mints the same token
//! from it. If the auth store moved while the password was checked, the
//! check is done again.

use actix::prelude::*;

use super::{FrontEnd, Propose, WriteRequest};
use crate::actors::auth::Credentials;
use crate::actors::raft_node::ReadIndex;
use crate::actors::{AuthError, ServerError, ServerResult};
use crate::proto::etcdserverpb::{
    AuthenticateResponse, InternalAuthenticateRequest, InternalRaftRequest,
};
use crate::storage::apply::auth::AuthApplied;
use crate::storage::apply::ApplyResponse;

#[derive(Message)]
#[rtype(result = "ServerResult<AuthenticateResponse>")]
pub struct Authenticate {
    pub name: String,
    pub password: String,
}

impl Handler<Authenticate> for FrontEnd {
    type Result = ResponseFuture<ServerResult<AuthenticateResponse>>;

    fn handle(&mut self, msg: Authenticate, ctx: &mut Context<Self>) -> Self::Result {
        let (gate, raft, me) = (self.gate.clone(), self.raft.clone(), ctx.address());
        let timeout = self.request_timeout;
        Box::pin(async move {
            let login = gate.provider_login(msg.name.clone(), msg.password.clone());
            if let Some(token) = login.await? {
                return Ok(AuthenticateResponse {
                    header: None,
                    token,
                });
            }
            match tokio::time::timeout(timeout, raft.send(ReadIndex)).await {
                Ok(result) => result??,
                Err(_) => return Err(ServerError::Timeout),
            }
            loop {
                let (hash, checked_at) = gate.login_hash(&msg.name)?;
                if !password_matches(msg.password.clone(), hash).await? {
                    return Err(ServerError::Auth(AuthError::AuthFailed));
                }
                let entry = InternalRaftRequest {
                    authenticate: Some(InternalAuthenticateRequest {
                        name: msg.name.clone(),
                        password: String::new(),
                        simple_token: gate.tokens().new_prefix(),
                    }),
                    ..Default::default()
                };
                let applied = me
                    .send(Propose {
                        body: WriteRequest::Auth(Box::new(entry)),
                        credentials: Credentials::default(),
                    })
                    .await??;
                let ApplyResponse::Auth(AuthApplied::Authenticate { response, .. }) = applied
                else {
                    return Err(ServerError::UnexpectedResponse("authenticate"));
                };
                if response.token.is_empty() {
                    return Err(ServerError::Auth(AuthError::VerifyOnly));
                }
                if checked_at == gate.current_revision() {
                    return Ok(response);
                }
                tracing::info!("auth store changed while the password was checked; checking again");
            }
        })
    }
}

/// bcrypt's verdict, off the async executor. A hash bcrypt cannot read
/// fails the login rather than the server; a check that never finished
/// means the runtime is going down.
async fn password_matches(password: String, hash: String) -> ServerResult<bool> {
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .map_err(|_| ServerError::Stopped)
}
