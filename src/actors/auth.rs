//! The auth actor and the trait boundary for pluggable auth. The actor holds
//! one `AuthProvider`, chosen by name in the config (`--auth-provider`), and
//! answers "may this caller do this on these keys". The built-in provider
//! mirrors etcd with auth disabled: it admits everything. (etcd's users,
//! roles and tokens arrive in a later issue.)

use actix::prelude::*;

#[cfg(test)]
use super::ServerError;
use super::ServerResult;

/// One key range a request touches (etcd range semantics for `range_end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAccess {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub write: bool,
}

/// What the caller presented: gRPC metadata `token` (when auth is on), and
/// the common name of its verified TLS client certificate (etcd takes the
/// user from it when no token is given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub token: Option<String>,
    pub common_name: Option<String>,
}

/// The boundary a custom auth implementation plugs into.
pub trait AuthProvider: Send + 'static {
    /// The name used in the config to select this provider.
    fn name(&self) -> &'static str;
    /// Err(PermissionDenied) (or another ServerError) refuses the request.
    fn authorize(&mut self, credentials: &Credentials, access: &[KeyAccess]) -> ServerResult<()>;
    /// True when every request is admitted whatever it is (etcd with auth
    /// disabled): the front end then skips the auth round trip.
    fn admits_everything(&self) -> bool {
        false
    }
}

/// etcd's behaviour while auth is disabled: every request is admitted.
#[derive(Debug, Default)]
pub struct BuiltinAuth;

impl AuthProvider for BuiltinAuth {
    fn name(&self) -> &'static str {
        "builtin"
    }

    fn authorize(&mut self, _: &Credentials, _: &[KeyAccess]) -> ServerResult<()> {
        Ok(())
    }

    fn admits_everything(&self) -> bool {
        true
    }
}

/// Builds the provider named in the config.
pub fn provider_by_name(name: &str) -> Result<Box<dyn AuthProvider>, String> {
    match name {
        "builtin" => Ok(Box::new(BuiltinAuth)),
        other => Err(format!(
            "unknown --auth-provider {other:?} (known: builtin)"
        )),
    }
}

pub struct Auth {
    provider: Box<dyn AuthProvider>,
}

impl Auth {
    pub fn new(provider: Box<dyn AuthProvider>) -> Self {
        Auth { provider }
    }
}

impl Actor for Auth {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
    }
}

#[derive(Message)]
#[rtype(result = "ServerResult<()>")]
pub struct Authorize {
    pub credentials: Credentials,
    pub access: Vec<KeyAccess>,
}

impl Handler<Authorize> for Auth {
    type Result = ServerResult<()>;

    fn handle(&mut self, msg: Authorize, _: &mut Self::Context) -> Self::Result {
        self.provider.authorize(&msg.credentials, &msg.access)
    }
}

/// A provider that refuses writes; shows the boundary works end to end.
#[cfg(test)]
struct ReadOnlyAuth;

#[cfg(test)]
impl AuthProvider for ReadOnlyAuth {
    fn name(&self) -> &'static str {
        "read-only"
    }
    fn authorize(&mut self, _: &Credentials, access: &[KeyAccess]) -> ServerResult<()> {
        if access.iter().any(|a| a.write) {
            return Err(ServerError::PermissionDenied);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str) -> KeyAccess {
        KeyAccess {
            key: key.into(),
            range_end: Vec::new(),
            write: true,
        }
    }

    #[actix_rt::test]
    async fn builtin_admits_everything() {
        let auth = Auth::new(provider_by_name("builtin").unwrap()).start();
        let msg = Authorize {
            credentials: Credentials::default(),
            access: vec![write("a")],
        };
        assert!(auth.send(msg).await.unwrap().is_ok());
    }

    #[actix_rt::test]
    async fn a_custom_provider_decides() {
        let auth = Auth::new(Box::new(ReadOnlyAuth)).start();
        let msg = Authorize {
            credentials: Credentials::default(),
            access: vec![write("a")],
        };
        assert!(matches!(
            auth.send(msg).await.unwrap(),
            Err(ServerError::PermissionDenied)
        ));
    }

    #[test]
    fn unknown_provider_is_refused_by_name() {
        let err = provider_by_name("ldap").err().unwrap();
        assert!(err.contains("ldap"));
    }
}
