//! The providers `--auth-provider` may name. oxcd ships `builtin` (etcd's
//! own auth) and `static-file`; a custom build registers more and starts
//! the server with them, without editing oxcd:
//!
//! ```no_run
//! use std::sync::Arc;
//! use oxcd::actors::auth::registry::ProviderRegistry;
//! # use oxcd::actors::auth::{Access, AuthProvider, Credentials};
//! # use oxcd::actors::ServerResult;
//! # struct Mine;
//! # impl AuthProvider for Mine {
//! #     fn login(&self, _: &str, _: &str) -> ServerResult<String> { unimplemented!() }
//! #     fn authorize(&self, _: &Credentials, _: &Access) -> ServerResult<()> { Ok(()) }
//! # }
//! fn main() -> std::process::ExitCode {
//!     let mut providers = ProviderRegistry::with_builtins();
//!     providers.register("mine", |_settings| Ok(Arc::new(Mine)));
//!     oxcd::run(std::env::args_os(), providers)
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use super::static_file::StaticFile;
use super::AuthProvider;
use crate::config::ProviderSettings;

/// The name of etcd's own auth, which needs no provider.
pub const BUILTIN: &str = "builtin";

type Factory =
    Box<dyn Fn(&ProviderSettings) -> Result<Arc<dyn AuthProvider>, String> + Send + Sync>;

pub struct ProviderRegistry {
    factories: BTreeMap<String, Factory>,
}

impl ProviderRegistry {
    /// `builtin` and `static-file`.
    pub fn with_builtins() -> Self {
        let mut registry = ProviderRegistry {
            factories: BTreeMap::new(),
        };
        registry.register(StaticFile::NAME, |settings| {
            Ok(Arc::new(StaticFile::from_settings(settings)?))
        });
        registry
    }

    /// Adds (or replaces) the provider `name`, built from the settings the
    /// config gives it when `--auth-provider` names it.
    pub fn register(
        &mut self,
        name: &str,
        factory: impl Fn(&ProviderSettings) -> Result<Arc<dyn AuthProvider>, String>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.factories.insert(name.to_string(), Box::new(factory));
        self
    }

    /// The provider `name` names: None for `builtin`.
    pub fn build(
        &self,
        name: &str,
        settings: &ProviderSettings,
    ) -> Result<Option<Arc<dyn AuthProvider>>, String> {
        if name == BUILTIN {
            return Ok(None);
        }
        let factory = self.factories.get(name).ok_or_else(|| {
            let known: Vec<&str> = std::iter::once(BUILTIN)
                .chain(self.factories.keys().map(String::as_str))
                .collect();
            format!(
                "unknown --auth-provider {name:?} (known: {})",
                known.join(", ")
            )
        })?;
        factory(settings)
            .map(Some)
            .map_err(|e| format!("auth provider {name:?}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_needs_no_provider_and_unknown_names_are_refused() {
        let registry = ProviderRegistry::with_builtins();
        let settings = ProviderSettings::default();
        assert!(registry.build(BUILTIN, &settings).unwrap().is_none());
        let err = registry.build("ldap", &settings).err().unwrap();
        assert!(err.contains("\"ldap\"") && err.contains("builtin, static-file"));
        // static-file without its file says what it misses.
        let err = registry.build("static-file", &settings).err().unwrap();
        assert!(err.contains("file"), "{err}");
    }
}
