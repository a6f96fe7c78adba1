//! The `static-file` auth provider: users and roles from a TOML file read
//! at boot, checked with etcd's permission rules, tokens minted by this
//! member (valid on it only). It shows the provider boundary; it is also
//! what a team uses when its users are managed outside etcd.
//!
//! ```toml
//! [[users]]
//! name = "alice"
//! password-bcrypt = "$2b$10$..."   # `htpasswd -bnBC 10 "" PASSWORD | tr -d ':\n'`
//! roles = ["app"]                  # the role "root" may do everything
//!
//! [[roles]]
//! name = "app"
//! permissions = [
//!   { kind = "readwrite", prefix = "app/" },
//!   { kind = "read", key = "config" },
//!   { kind = "read", key = "a", range-end = "m" },
//! ]
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Access, AuthProvider, Credentials};
use crate::actors::{AuthError, ServerError, ServerResult};
use crate::config::ProviderSettings;
use crate::prefix::prefix_end;
use crate::proto::authpb::{permission::Type, Permission, Role, User};
use crate::proto::oxcdstore::AuthState;
use crate::storage::auth::check::{self, Access as Kind};
use crate::storage::auth::tokens::{self, SimpleTokens, TokenInfo};
use crate::storage::auth::ROOT;

/// The provider's settings table (`[auth-providers.static-file]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Settings {
    /// The users-and-roles file, relative to the config file's directory.
    file: PathBuf,
    /// Seconds a token stays valid after its last use.
    #[serde(default = "default_ttl")]
    token_ttl: u64,
}

fn default_ttl() -> u64 {
    300
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    users: Vec<FileUser>,
    #[serde(default)]
    roles: Vec<FileRole>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileUser {
    name: String,
    password_bcrypt: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRole {
    name: String,
    #[serde(default)]
    permissions: Vec<FilePermission>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FilePermission {
    kind: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    range_end: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
}

pub struct StaticFile {
    /// The file as an auth record, so etcd's own checks apply to it.
    state: AuthState,
    tokens: SimpleTokens,
    next_token: AtomicU64,
}

impl StaticFile {
    pub const NAME: &'static str = "static-file";

    pub fn from_settings(settings: &ProviderSettings) -> Result<Self, String> {
        let parsed: Settings =
            toml::from_str(&settings.toml).map_err(|e| format!("settings: {}", e.message()))?;
        let path = settings.base_dir.join(&parsed.file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let state = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(StaticFile {
            state,
            tokens: SimpleTokens::new(Duration::from_secs(parsed.token_ttl)),
            next_token: AtomicU64::new(1),
        })
    }

    fn user_of(&self, credentials: &Credentials) -> ServerResult<String> {
        let token = credentials
            .token
            .as_deref()
            .ok_or(ServerError::Auth(AuthError::UserEmpty))?;
        self.tokens
            .lookup(token, Instant::now())
            .map(|info| info.user)
            .ok_or(ServerError::Auth(AuthError::InvalidAuthToken))
    }
}

/// The file's users and roles as an auth record (on, revision 1).
fn parse(text: &str) -> Result<AuthState, String> {
    let file: File = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let mut users: Vec<User> = file
        .users
        .into_iter()
        .map(|u| User {
            name: u.name.into_bytes(),
            password: u.password_bcrypt.into_bytes(),
            roles: u.roles,
            options: None,
        })
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let mut roles = Vec::with_capacity(file.roles.len());
    for role in file.roles {
        let key_permission = role
            .permissions
            .into_iter()
            .map(permission)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("role {:?}: {e}", role.name))?;
        roles.push(Role {
            name: role.name.into_bytes(),
            key_permission,
        });
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(AuthState {
        enabled: true,
        revision: 1,
        users,
        roles,
    })
}

fn permission(p: FilePermission) -> Result<Permission, String> {
    let perm_type = match p.kind.as_str() {
        "read" => Type::Read,
        "write" => Type::Write,
        "readwrite" => Type::Readwrite,
        other => return Err(format!("kind {other:?} is not read, write or readwrite")),
    };
    let (key, range_end) = match (p.key, p.range_end, p.prefix) {
        (Some(key), end, None) => (key.into_bytes(), end.unwrap_or_default().into_bytes()),
        (None, None, Some(prefix)) => {
            let end = prefix_end(prefix.as_bytes());
            (prefix.into_bytes(), end)
        }
        _ => return Err("a permission has `key` (and maybe `range-end`) or `prefix`".into()),
    };
    Ok(Permission {
        perm_type: perm_type as i32,
        key,
        range_end,
    })
}

impl AuthProvider for StaticFile {
    fn login(&self, user: &str, password: &str) -> ServerResult<String> {
        let failed = ServerError::Auth(AuthError::AuthFailed);
        let found = self
            .state
            .users
            .iter()
            .find(|u| u.name == user.as_bytes())
            .ok_or(failed)?;
        let hash = std::str::from_utf8(&found.password).unwrap_or_default();
        if !bcrypt::verify(password, hash).unwrap_or(false) {
            return Err(ServerError::Auth(AuthError::AuthFailed));
        }
        let index = self.next_token.fetch_add(1, Ordering::Relaxed);
        let token = tokens::token(&tokens::new_prefix(), index);
        let info = TokenInfo {
            user: user.to_string(),
            revision: self.state.revision,
        };
        let now = Instant::now();
        self.tokens.expire(now);
        self.tokens.assign(token.clone(), info, now);
        Ok(token)
    }

    fn authorize(&self, credentials: &Credentials, access: &Access) -> ServerResult<()> {
        let user = self.user_of(credentials)?;
        let denied = ServerError::Auth(AuthError::PermissionDenied);
        if access.admin {
            let is_root = self
                .state
                .users
                .iter()
                .find(|u| u.name == user.as_bytes())
                .is_some_and(|u| u.roles.iter().any(|r| r == ROOT));
            return if is_root { Ok(()) } else { Err(denied) };
        }
        for key in &access.keys {
            let kind = if key.write { Kind::Write } else { Kind::Read };
            check::check(
                &self.state,
                &user,
                self.state.revision,
                &key.key,
                &key.range_end,
                kind,
            )
            .map_err(ServerError::Auth)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::auth::KeyAccess;

    const FILE: &str = r#"
[[users]]
name = "alice"
password-bcrypt = "HASH"
roles = ["app"]

[[users]]
name = "admin"
password-bcrypt = "HASH"
roles = ["root"]

[[roles]]
name = "app"
permissions = [
  { kind = "readwrite", prefix = "app/" },
  { kind = "read", key = "config" },
]
"#;

    fn provider() -> StaticFile {
        let hash = bcrypt::hash("pw", 4).unwrap();
        StaticFile {
            state: parse(&FILE.replace("HASH", &hash)).unwrap(),
            tokens: SimpleTokens::new(Duration::from_secs(60)),
            next_token: AtomicU64::new(1),
        }
    }

    fn access(key: &str, write: bool) -> Access {
        Access {
            keys: vec![KeyAccess {
                key: key.into(),
                range_end: Vec::new(),
                write,
            }],
            admin: false,
        }
    }

    fn code(result: ServerResult<impl Sized>) -> Option<AuthError> {
        match result {
            Err(ServerError::Auth(e)) => Some(e),
            _ => None,
        }
    }

    #[test]
    fn users_log_in_and_get_what_their_roles_grant() {
        let p = provider();
        assert_eq!(code(p.login("alice", "bad")), Some(AuthError::AuthFailed));
        assert_eq!(code(p.login("nobody", "pw")), Some(AuthError::AuthFailed));
        let alice = Credentials {
            token: Some(p.login("alice", "pw").unwrap()),
            ..Default::default()
        };
        assert!(p.authorize(&alice, &access("app/x", true)).is_ok());
        assert!(p.authorize(&alice, &access("config", false)).is_ok());
        assert_eq!(
            code(p.authorize(&alice, &access("config", true))),
            Some(AuthError::PermissionDenied)
        );
        let admin_only = Access {
            keys: Vec::new(),
            admin: true,
        };
        assert_eq!(
            code(p.authorize(&alice, &admin_only)),
            Some(AuthError::PermissionDenied)
        );
        let admin = Credentials {
            token: Some(p.login("admin", "pw").unwrap()),
            ..Default::default()
        };
        assert!(p.authorize(&admin, &admin_only).is_ok());
        assert!(p.authorize(&admin, &access("anything", true)).is_ok());
        assert_eq!(
            code(p.authorize(&Credentials::default(), &access("app/x", false))),
            Some(AuthError::UserEmpty)
        );
        let forged = Credentials {
            token: Some("forged.1".into()),
            ..Default::default()
        };
        assert_eq!(
            code(p.authorize(&forged, &access("app/x", false))),
            Some(AuthError::InvalidAuthToken)
        );
    }

    #[test]
    fn a_bad_file_says_what_is_wrong() {
        let err = parse("[[roles]]\nname = \"r\"\npermissions = [{ kind = \"all\", key = \"k\" }]")
            .err()
            .unwrap();
        assert!(err.contains("\"all\""), "{err}");
        assert!(parse("[[users]]\nname = \"u\"\n").is_err());
    }
}
