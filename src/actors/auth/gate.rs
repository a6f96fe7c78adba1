//! Who is asking, and may they: etcd's `AuthInfoFromCtx` and the checks
//! etcd makes before raft (reads, watches, admin-only RPCs). Writes are
//! checked again at apply time, from the identity this puts in the request
//! header. Cheap when auth is off: nothing is looked up unless a token was
//! sent. With a custom provider, the provider's actor is asked instead and
//! tokens are the provider's.

use std::sync::Arc;

use actix::Addr;

use super::tokens::Tokens;
use super::{Access, Auth, Authorize, Credentials, Login};
use crate::actors::{AuthError, ServerError, ServerResult};
use crate::storage::auth::check::{self, Access as Kind};
use crate::storage::auth::requests::{check_admin, Caller};
use crate::storage::auth::{login_hash, ROOT};
use crate::storage::Store;

/// A resolved caller: etcd's `AuthInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    /// The auth revision the caller's credentials are as new as.
    pub revision: u64,
}

pub struct AuthGate {
    store: Arc<Store>,
    tokens: Arc<Tokens>,
    /// `--client-cert-auth`: a verified certificate's common name is the
    /// user when no token is sent (etcd 3.4).
    cert_auth: bool,
    /// A custom provider's actor (`--auth-provider` other than builtin).
    provider: Option<Addr<Auth>>,
}

impl AuthGate {
    pub fn new(store: Arc<Store>, tokens: Arc<Tokens>, cert_auth: bool) -> Self {
        AuthGate {
            store,
            tokens,
            cert_auth,
            provider: None,
        }
    }

    /// Hands every decision to a custom provider's actor.
    pub fn with_provider(mut self, provider: Addr<Auth>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Whether a custom provider decides (etcd's own auth stays off).
    pub fn has_provider(&self) -> bool {
        self.provider.is_some()
    }

    /// Asks the custom provider, if there is one.
    pub async fn authorize(&self, credentials: &Credentials, access: Access) -> ServerResult<()> {
        let Some(provider) = &self.provider else {
            return Ok(());
        };
        provider
            .send(Authorize {
                credentials: credentials.clone(),
                access,
            })
            .await?
    }

    /// Authenticate through the custom provider: its token.
    pub async fn provider_login(
        &self,
        user: String,
        password: String,
    ) -> ServerResult<Option<String>> {
        let Some(provider) = &self.provider else {
            return Ok(None);
        };
        provider.send(Login { user, password }).await?.map(Some)
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn enabled(&self) -> bool {
        self.store.auth_enabled()
    }

    fn revision(&self) -> u64 {
        self.store.with_auth(|s| s.revision)
    }

    /// The caller behind `credentials`, None when it sent nothing that
    /// names one. A token that is not (or no longer) valid is an error even
    /// with auth off, as in etcd.
    pub fn identify(&self, credentials: &Credentials) -> ServerResult<Option<Identity>> {
        if credentials.internal {
            // The server's own requests (lease expiry, compaction) run as
            // root, as etcd's `WithRoot`.
            return Ok(Some(Identity {
                user: ROOT.to_string(),
                revision: self.revision(),
            }));
        }
        if self.provider.is_some() {
            // Tokens belong to the provider, which checks them itself.
            return Ok(None);
        }
        if let Some(token) = &credentials.token {
            let holder = self
                .tokens
                .holder(token)
                .ok_or(ServerError::Auth(AuthError::InvalidAuthToken))?;
            return Ok(Some(Identity {
                user: holder.user,
                revision: holder.revision.unwrap_or_else(|| self.revision()),
            }));
        }
        if self.cert_auth && self.enabled() {
            if let Some(name) = &credentials.common_name {
                return Ok(Some(Identity {
                    user: name.clone(),
                    revision: self.revision(),
                }));
            }
        }
        Ok(None)
    }

    /// The identity to stamp on a proposal (skips all work while auth is
    /// off and no token was sent).
    pub fn proposer(&self, credentials: &Credentials) -> ServerResult<Option<Identity>> {
        if credentials.token.is_none() && !credentials.internal && !self.enabled() {
            return Ok(None);
        }
        self.identify(credentials)
    }

    /// May the caller read `[key, range_end)` (etcd's `IsRangePermitted`).
    pub fn check_read(
        &self,
        who: Option<&Identity>,
        key: &[u8],
        range_end: &[u8],
    ) -> ServerResult<()> {
        if !self.enabled() {
            return Ok(());
        }
        let (user, revision) = who.map_or(("", 0), |w| (w.user.as_str(), w.revision));
        self.store
            .with_auth(|s| check::check(s, user, revision, key, range_end, Kind::Read))
            .map_err(ServerError::Auth)
    }

    /// After a read: the auth store must not have moved past the caller's
    /// credentials meanwhile (etcd's stale-token check after a serialized
    /// read).
    pub fn check_still_current(&self, who: Option<&Identity>) -> ServerResult<()> {
        match who {
            Some(w) if w.revision != 0 && w.revision != self.revision() => {
                Err(ServerError::Auth(AuthError::OldRevision))
            }
            _ => Ok(()),
        }
    }

    /// Admin-only RPCs answered outside raft (member changes, hashes,
    /// defragment, snapshot): etcd's `IsAdminPermitted`, or the provider's
    /// verdict.
    pub async fn check_admin(&self, credentials: &Credentials) -> ServerResult<()> {
        self.check_builtin_admin(credentials)?;
        let admin = Access {
            keys: Vec::new(),
            admin: true,
        };
        self.authorize(credentials, admin).await
    }

    fn check_builtin_admin(&self, credentials: &Credentials) -> ServerResult<()> {
        let who = self.proposer(credentials)?;
        if !self.enabled() {
            return Ok(());
        }
        let caller = Caller {
            user: who.as_ref().map_or("", |w| w.user.as_str()),
            revision: who.as_ref().map_or(0, |w| w.revision),
        };
        self.store
            .with_auth(|s| check_admin(s, caller))
            .map_err(ServerError::Auth)
    }

    /// The bcrypt hash an Authenticate for `name` is checked against, and
    /// the auth revision it was read at.
    pub fn login_hash(&self, name: &str) -> ServerResult<(String, u64)> {
        self.store
            .with_auth(|s| login_hash(s, name).map(|h| (h.to_string(), s.revision)))
            .map_err(ServerError::Auth)
    }

    /// The auth revision now (an Authenticate retries if it moved while the
    /// password was checked).
    pub fn current_revision(&self) -> u64 {
        self.revision()
    }
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
