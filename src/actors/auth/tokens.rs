//! The auth tokens a member hands out and recognises (`--auth-token`).
//! Tokens are minted when an Authenticate entry is applied, on every member:
//! simple ones from the entry (so any member knows any token; memory only),
//! JWTs signed with this member's key.

use std::time::{Duration, Instant};

use super::jwt::JwtTokens;
use crate::storage::auth::tokens::{self as simple, SimpleTokens, TokenInfo};

/// Who a presented token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub user: String,
    /// The auth revision the token carries; None when the token kind does
    /// not carry one (a simple token is always as new as the auth store, as
    /// in etcd: permission changes apply to it at once).
    pub revision: Option<u64>,
}

pub enum Tokens {
    Simple(SimpleTokens),
    Jwt(Box<JwtTokens>),
}

impl Tokens {
    pub fn simple(ttl: Duration) -> Self {
        Tokens::Simple(SimpleTokens::new(ttl))
    }

    /// What the proposing member puts in an Authenticate entry so that
    /// every member derives the same token from it.
    pub fn new_prefix(&self) -> String {
        match self {
            Tokens::Simple(_) => simple::new_prefix(),
            Tokens::Jwt(_) => String::new(),
        }
    }

    /// Mints the token of an applied Authenticate at raft `index`; empty
    /// when this member only verifies JWTs (no private key).
    pub fn assign(&self, prefix: &str, index: u64, user: &str, revision: u64) -> String {
        match self {
            Tokens::Simple(tokens) => {
                let now = Instant::now();
                let token = simple::token(prefix, index);
                tokens.expire(now);
                let info = TokenInfo {
                    user: user.to_string(),
                    revision,
                };
                tokens.assign(token.clone(), info, now);
                token
            }
            Tokens::Jwt(jwt) => jwt.sign(user, revision).unwrap_or_default(),
        }
    }

    /// The holder of `token`, if it is one of ours and still valid.
    pub fn holder(&self, token: &str) -> Option<TokenHolder> {
        match self {
            Tokens::Simple(tokens) => {
                tokens
                    .lookup(token, Instant::now())
                    .map(|info| TokenHolder {
                        user: info.user,
                        revision: None,
                    })
            }
            Tokens::Jwt(jwt) => jwt.verify(token).map(|v| TokenHolder {
                user: v.user,
                revision: Some(v.revision),
            }),
        }
    }

    /// The user was deleted or changed its password.
    pub fn invalidate_user(&self, user: &str) {
        match self {
            Tokens::Simple(tokens) => tokens.invalidate_user(user),
            // A JWT stays valid until it expires, as etcd's.
            Tokens::Jwt(_) => {}
        }
    }

    /// Auth was turned off: every token goes.
    pub fn clear(&self) {
        match self {
            Tokens::Simple(tokens) => tokens.clear(),
            Tokens::Jwt(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_token_is_prefix_dot_index_and_carries_no_revision() {
        let tokens = Tokens::simple(Duration::from_secs(300));
        let prefix = tokens.new_prefix();
        let token = tokens.assign(&prefix, 42, "alice", 7);
        assert_eq!(token, format!("{prefix}.42"));
        assert_eq!(
            tokens.holder(&token),
            Some(TokenHolder {
                user: "alice".into(),
                revision: None
            })
        );
        tokens.invalidate_user("alice");
        assert_eq!(tokens.holder(&token), None);
        let again = tokens.assign(&prefix, 43, "bob", 7);
        tokens.clear();
        assert_eq!(tokens.holder(&again), None);
    }
}
