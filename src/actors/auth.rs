//! Auth: who a caller is and what it may do. Two ways, chosen by
//! `--auth-provider`:
//!
//! - `builtin` (the default): etcd's own auth, users and roles stored
//!   through raft, simple tokens, checks where etcd makes them (`gate`,
//!   and at apply time in storage). No actor is involved.
//! - any other name: a provider from the [`registry::ProviderRegistry`]
//!   decides. It runs in the `Auth` actor (on its own threads, so a bcrypt
//!   check never stalls raft) and is asked about every request: its logins
//!   (Authenticate), the keys each request reads or writes, and whether an
//!   admin-only RPC may run.

pub mod gate;
pub mod jwt;
pub mod registry;
pub mod static_file;
pub mod tokens;

use std::sync::Arc;

use actix::prelude::*;

use super::ServerResult;

/// One key range a request touches (etcd range semantics for `range_end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAccess {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub write: bool,
}

/// What the caller presented: gRPC metadata `token`, and the common name of
/// its verified TLS client certificate (etcd takes the user from it when no
/// token is given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub token: Option<String>,
    pub common_name: Option<String>,
    /// The server's own request (lease expiry, compaction, member
    /// attributes, health): runs as root, as etcd's `WithRoot`.
    pub internal: bool,
}

impl Credentials {
    pub fn internal() -> Self {
        Credentials {
            internal: true,
            ..Default::default()
        }
    }
}

/// What one request does, as a provider is asked about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Every key range it reads or writes (txn compares and ops, nested
    /// txns included).
    pub keys: Vec<KeyAccess>,
    /// Admin-only: auth management, member changes, hashes, defragment.
    pub admin: bool,
}

/// The boundary a custom auth implementation plugs into. Called from the
/// auth actor's threads; a slow answer delays only auth.
pub trait AuthProvider: Send + Sync + 'static {
    /// Authenticate: a token for `user` when `password` is right, else
    /// `AuthError::AuthFailed`. Tokens are the provider's own.
    fn login(&self, user: &str, password: &str) -> ServerResult<String>;
    /// May the caller behind `credentials` do `access`? Refuse with etcd's
    /// errors (`AuthError::PermissionDenied`, `UserEmpty`,
    /// `InvalidAuthToken`) so clients see what they expect.
    fn authorize(&self, credentials: &Credentials, access: &Access) -> ServerResult<()>;
}

/// Runs a custom provider.
pub struct Auth {
    provider: Arc<dyn AuthProvider>,
}

impl Auth {
    /// Starts the actor on `threads` threads of its own.
    pub fn start(provider: Arc<dyn AuthProvider>, threads: usize) -> Addr<Auth> {
        SyncArbiter::start(threads, move || Auth {
            provider: provider.clone(),
        })
    }
}

impl Actor for Auth {
    type Context = SyncContext<Self>;
}

#[derive(Message)]
#[rtype(result = "ServerResult<()>")]
pub struct Authorize {
    pub credentials: Credentials,
    pub access: Access,
}

impl Handler<Authorize> for Auth {
    type Result = ServerResult<()>;

    fn handle(&mut self, msg: Authorize, _: &mut Self::Context) -> Self::Result {
        if msg.credentials.internal {
            return Ok(());
        }
        self.provider.authorize(&msg.credentials, &msg.access)
    }
}

#[derive(Message)]
#[rtype(result = "ServerResult<String>")]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl Handler<Login> for Auth {
    type Result = ServerResult<String>;

    fn handle(&mut self, msg: Login, _: &mut Self::Context) -> Self::Result {
        self.provider.login(&msg.user, &msg.password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::{AuthError, ServerError};

    /// A provider that refuses writes and knows no one.
    struct ReadOnly;

    impl AuthProvider for ReadOnly {
        fn login(&self, _: &str, _: &str) -> ServerResult<String> {
            Err(ServerError::Auth(AuthError::AuthFailed))
        }
        fn authorize(&self, _: &Credentials, access: &Access) -> ServerResult<()> {
            if access.admin || access.keys.iter().any(|a| a.write) {
                return Err(ServerError::Auth(AuthError::PermissionDenied));
            }
            Ok(())
        }
    }

    fn write(key: &str) -> Access {
        Access {
            keys: vec![KeyAccess {
                key: key.into(),
                range_end: Vec::new(),
                write: true,
            }],
            admin: false,
        }
    }

    #[actix_rt::test]
    async fn the_provider_decides_except_for_the_servers_own_requests() {
        let auth = Auth::start(Arc::new(ReadOnly), 1);
        let refused = auth
            .send(Authorize {
                credentials: Credentials::default(),
                access: write("a"),
            })
            .await
            .unwrap();
        assert!(matches!(
            refused,
            Err(ServerError::Auth(AuthError::PermissionDenied))
        ));
        let internal = auth
            .send(Authorize {
                credentials: Credentials::internal(),
                access: write("a"),
            })
            .await
            .unwrap();
        assert!(internal.is_ok());
        let login = auth
            .send(Login {
                user: "u".into(),
                password: "p".into(),
            })
            .await
            .unwrap();
        assert!(matches!(
            login,
            Err(ServerError::Auth(AuthError::AuthFailed))
        ));
    }
}
