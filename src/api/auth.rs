//! The Auth service: users, roles and permissions, stored through raft.
//! Passwords are hashed here with bcrypt (on a blocking thread, never on
//! the request path's executor) and only the hash is proposed, so no
//! password reaches the WAL, and every member stores the same hash.
//! Authenticate checks the password in the front end and proposes only the
//! user name.

use actix::Addr;
use tonic::{Request, Response, Status};

use super::header::HeaderFiller;
use super::propose::{credentials_of, propose};
use super::ApiError;
use crate::actors::frontend::{Authenticate, FrontEnd};
use crate::actors::proposal::Proposal;
use crate::proto::etcdserverpb::auth_server::Auth;
use crate::proto::etcdserverpb::*;

pub struct AuthService {
    frontend: Addr<FrontEnd>,
    header: HeaderFiller,
    bcrypt_cost: u32,
}

/// Responses whose header the service completes.
trait WithHeader {
    fn header_mut(&mut self) -> &mut Option<ResponseHeader>;
}

macro_rules! with_header {
    ($($response:ty),* $(,)?) => {
        $(impl WithHeader for $response {
            fn header_mut(&mut self) -> &mut Option<ResponseHeader> {
                &mut self.header
            }
        })*
    };
}

with_header!(
    AuthEnableResponse,
    AuthDisableResponse,
    AuthenticateResponse,
    AuthStatusResponse,
    AuthUserAddResponse,
    AuthUserGetResponse,
    AuthUserListResponse,
    AuthUserDeleteResponse,
    AuthUserChangePasswordResponse,
    AuthUserGrantRoleResponse,
    AuthUserRevokeRoleResponse,
    AuthRoleAddResponse,
    AuthRoleGetResponse,
    AuthRoleListResponse,
    AuthRoleDeleteResponse,
    AuthRoleGrantPermissionResponse,
    AuthRoleRevokePermissionResponse,
);

impl AuthService {
    pub fn new(frontend: Addr<FrontEnd>, header: HeaderFiller, bcrypt_cost: u32) -> Self {
        AuthService {
            frontend,
            header,
            bcrypt_cost,
        }
    }

    /// Proposes `body` (the caller's request, possibly rewritten) and
    /// answers its response with the header completed.
    async fn run<P>(&self, request: &Request<P>, body: P) -> Result<Response<P::Response>, Status>
    where
        P: Proposal,
        P::Response: WithHeader,
    {
        let credentials = credentials_of(request);
        let mut response = propose(&self.frontend, body, credentials).await?;
        self.header.fill(response.header_mut());
        Ok(Response::new(response))
    }

    /// bcrypt of `password` at the configured cost, off the executor.
    async fn hash(&self, password: String) -> Result<String, ApiError> {
        let cost = self.bcrypt_cost;
        tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
            .await
            .map_err(|e| ApiError::PasswordHash(e.to_string()))?
            .map_err(|e| ApiError::PasswordHash(e.to_string()))
    }
}

/// RPCs whose request goes through raft as the client sent it. Written in
/// the shape `#[async_trait]` gives its methods, because macro output inside
/// an impl is not seen by that attribute.
macro_rules! forwarded_rpcs {
    ($($method:ident($req:ty) -> $resp:ty;)*) => {
        $(
            fn $method<'life0, 'async_trait>(
                &'life0 self,
                request: Request<$req>,
            ) -> ::std::pin::Pin<Box<
                dyn ::std::future::Future<Output = Result<Response<$resp>, Status>>
                    + Send
                    + 'async_trait,
            >>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                use tracing::Instrument as _;
                let span = tracing::info_span!(concat!("auth.", stringify!($method)));
                Box::pin(
                    async move {
                        let body = request.get_ref().clone();
                        self.run(&request, body).await
                    }
                    .instrument(span),
                )
            }
        )*
    };
}

#[tonic::async_trait]
impl Auth for AuthService {
    #[tracing::instrument(name = "auth.authenticate", skip_all)]
    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let AuthenticateRequest { name, password } = request.into_inner();
        let mut response = super::ask::ask(&self.frontend, Authenticate { name, password }).await?;
        self.header.fill(response.header_mut());
        Ok(Response::new(response))
    }

    #[tracing::instrument(name = "auth.user_add", skip_all)]
    async fn user_add(
        &self,
        request: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        let mut body = request.get_ref().clone();
        let no_password = body.options.is_some_and(|o| o.no_password);
        let password = std::mem::take(&mut body.password);
        body.hashed_password = if no_password {
            String::new()
        } else {
            self.hash(password).await?
        };
        self.run(&request, body).await
    }

    #[tracing::instrument(name = "auth.user_change_password", skip_all)]
    async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let mut body = request.get_ref().clone();
        let password = std::mem::take(&mut body.password);
        body.hashed_password = self.hash(password).await?;
        self.run(&request, body).await
    }

    forwarded_rpcs! {
        auth_enable(AuthEnableRequest) -> AuthEnableResponse;
        auth_disable(AuthDisableRequest) -> AuthDisableResponse;
        auth_status(AuthStatusRequest) -> AuthStatusResponse;
        user_get(AuthUserGetRequest) -> AuthUserGetResponse;
        user_list(AuthUserListRequest) -> AuthUserListResponse;
        user_delete(AuthUserDeleteRequest) -> AuthUserDeleteResponse;
        user_grant_role(AuthUserGrantRoleRequest) -> AuthUserGrantRoleResponse;
        user_revoke_role(AuthUserRevokeRoleRequest) -> AuthUserRevokeRoleResponse;
        role_add(AuthRoleAddRequest) -> AuthRoleAddResponse;
        role_get(AuthRoleGetRequest) -> AuthRoleGetResponse;
        role_list(AuthRoleListRequest) -> AuthRoleListResponse;
        role_delete(AuthRoleDeleteRequest) -> AuthRoleDeleteResponse;
        role_grant_permission(AuthRoleGrantPermissionRequest) -> AuthRoleGrantPermissionResponse;
        role_revoke_permission(AuthRoleRevokePermissionRequest) -> AuthRoleRevokePermissionResponse;
    }
}
