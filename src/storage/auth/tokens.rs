//! etcd's simple tokens: `<16 random letters>.<raft index>`, assigned when
//! an Authenticate entry is applied (so every member knows every token),
//! kept in memory only (a restart forgets them, as etcd's), and valid for
//! `--auth-token-ttl` after their last use.
//!
//! Not wired to requests yet: Authenticate stays Unimplemented until every
//! path checks permissions (issue 13).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Letters in a token's random part (etcd's length).
const PREFIX_LEN: usize = 16;

/// Who a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub user: String,
    /// The auth revision when the token was issued.
    pub revision: u64,
}

struct Entry {
    info: TokenInfo,
    expires: Instant,
}

pub struct SimpleTokens {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

/// The random part of a new token, chosen by the member that proposes the
/// Authenticate request.
pub fn new_prefix() -> String {
    use rand::Rng as _;
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..PREFIX_LEN)
        .map(|_| LETTERS[rng.gen_range(0..LETTERS.len())] as char)
        .collect()
}

/// The whole token for a prefix and the raft index of its Authenticate.
pub fn token(prefix: &str, index: u64) -> String {
    format!("{prefix}.{index}")
}

impl SimpleTokens {
    pub fn new(ttl: Duration) -> Self {
        SimpleTokens {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn assign(&self, token: String, info: TokenInfo, now: Instant) {
        let expires = now + self.ttl;
        self.entries().insert(token, Entry { info, expires });
    }

    /// The token's user, if it is known and not expired; a use extends it.
    pub fn lookup(&self, token: &str, now: Instant) -> Option<TokenInfo> {
        let mut entries = self.entries();
        let entry = entries.get_mut(token)?;
        if entry.expires <= now {
            entries.remove(token);
            return None;
        }
        entry.expires = now + self.ttl;
        Some(entry.info.clone())
    }

    /// Forgets `user`'s tokens (the user was deleted or its password changed).
    pub fn invalidate_user(&self, user: &str) {
        self.entries().retain(|_, e| e.info.user != user);
    }

    /// Forgets every token (auth was turned off).
    pub fn clear(&self) {
        self.entries().clear();
    }

    /// Drops expired tokens (called now and then so unused ones do not pile up).
    pub fn expire(&self, now: Instant) {
        self.entries().retain(|_, e| e.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(user: &str) -> TokenInfo {
        TokenInfo {
            user: user.into(),
            revision: 3,
        }
    }

    #[test]
    fn tokens_expire_unless_used_and_go_with_their_user() {
        let tokens = SimpleTokens::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let a = token(&new_prefix(), 7);
        assert!(a.ends_with(".7") && a.len() == PREFIX_LEN + 2);
        tokens.assign(a.clone(), info("alice"), t0);
        tokens.assign("b.8".into(), info("bob"), t0);
        // Used at 200 s: good until 500 s.
        assert_eq!(
            tokens.lookup(&a, t0 + Duration::from_secs(200)),
            Some(info("alice"))
        );
        assert!(tokens.lookup(&a, t0 + Duration::from_secs(450)).is_some());
        assert!(tokens
            .lookup("b.8", t0 + Duration::from_secs(301))
            .is_none());
        assert!(tokens.lookup("unknown", t0).is_none());
        tokens.invalidate_user("alice");
        assert!(tokens.lookup(&a, t0 + Duration::from_secs(451)).is_none());
        tokens.assign("c.9".into(), info("carol"), t0);
        tokens.clear();
        assert!(tokens.lookup("c.9", t0).is_none());
    }

    #[test]
    fn prefixes_are_letters_and_differ() {
        let (a, b) = (new_prefix(), new_prefix());
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphabetic()));
    }
}
