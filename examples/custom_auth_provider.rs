//! A custom build of oxcd with its own auth provider, registered without
//! touching oxcd's files. `allow-reads` lets anyone read and nobody write or
//! run admin RPCs; logins are refused (no one can become anyone).
//!
//!     cargo run --example custom_auth_provider -- --auth-provider allow-reads
//!     etcdctl get k          # answered
//!     etcdctl put k v        # Error: etcdserver: permission denied

use std::process::ExitCode;
use std::sync::Arc;

use oxcd::actors::auth::registry::ProviderRegistry;
use oxcd::actors::auth::{Access, AuthProvider, Credentials};
use oxcd::actors::{AuthError, ServerError, ServerResult};

struct AllowReads;

impl AuthProvider for AllowReads {
    fn login(&self, _user: &str, _password: &str) -> ServerResult<String> {
        Err(ServerError::Auth(AuthError::AuthFailed))
    }

    fn authorize(&self, _credentials: &Credentials, access: &Access) -> ServerResult<()> {
        if access.admin || access.keys.iter().any(|k| k.write) {
            return Err(ServerError::Auth(AuthError::PermissionDenied));
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let mut providers = ProviderRegistry::with_builtins();
    providers.register("allow-reads", |_settings| Ok(Arc::new(AllowReads)));
    oxcd::run(std::env::args_os(), providers)
}
