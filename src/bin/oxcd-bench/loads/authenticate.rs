//! `authenticate`: one Authenticate per request with the `--user`
//! credentials: what logins cost the server (a bcrypt check each).

use super::{Load, Outcome, Worker};
use oxcd::proto::etcdserverpb::auth_client::AuthClient;
use oxcd::proto::etcdserverpb::AuthenticateRequest;
use tonic::transport::Channel;

pub struct AuthenticateLoad {
    request: AuthenticateRequest,
}

impl AuthenticateLoad {
    pub fn new(user: &str, password: &str) -> Self {
        AuthenticateLoad {
            request: AuthenticateRequest {
                name: user.to_string(),
                password: password.to_string(),
            },
        }
    }
}

impl Load for AuthenticateLoad {
    type Worker = AuthenticateWorker;

    fn name(&self) -> &'static str {
        "authenticate"
    }

    async fn worker(&self, _client: u64, channel: Channel) -> Result<AuthenticateWorker, String> {
        Ok(AuthenticateWorker {
            auth: AuthClient::new(channel),
            request: self.request.clone(),
        })
    }
}

pub struct AuthenticateWorker {
    auth: AuthClient<Channel>,
    request: AuthenticateRequest,
}

impl Worker for AuthenticateWorker {
    async fn request(&mut self, _n: u64) -> Outcome {
        self.auth.authenticate(self.request.clone()).await?;
        Ok(None)
    }
}

/// Logs in as `user:password` once; every later request carries the token.
pub async fn log_in(channel: Channel, credentials: &str) -> Result<(), String> {
    let (user, password) = split_user(credentials)?;
    let token = AuthClient::new(channel)
        .authenticate(AuthenticateRequest {
            name: user.to_string(),
            password: password.to_string(),
        })
        .await
        .map_err(|s| format!("--user {user}: {}", s.message()))?
        .into_inner()
        .token;
    let token = token
        .parse()
        .map_err(|_| "the server's token is not valid metadata".to_string())?;
    super::TOKEN
        .set(token)
        .map_err(|_| "logged in twice".to_string())
}

/// `name:password`, as etcdctl's `--user`.
pub fn split_user(credentials: &str) -> Result<(&str, &str), String> {
    credentials
        .split_once(':')
        .ok_or_else(|| "--user must be NAME:PASSWORD".to_string())
}
