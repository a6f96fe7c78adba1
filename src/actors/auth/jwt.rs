//! `--auth-token jwt,...`: signed tokens that carry the user and the auth
//! revision they were issued at (claims `username`, `revision`, `exp`, as
//! etcd's), so any member holding the public key verifies any member's
//! token, and a token from before a permission change fails with "revision
//! of auth store is old".

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtOptions;

/// A token's user and auth revision, as its signed claims say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user: String,
    pub revision: u64,
    /// Expiry, Unix seconds.
    exp: u64,
}

/// Verified tokens kept, at most; the cache is emptied when it is full.
const VERIFIED_CACHE: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    username: String,
    revision: u64,
    exp: u64,
}

pub struct JwtTokens {
    algorithm: Algorithm,
    /// None: verify only (no private key given), as etcd allows.
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// Tokens whose signature was checked, with their holder and expiry:
    /// a client sends the same token with every request, and checking an
    /// RSA or ECDSA signature each time costs more than the request.
    verified: Mutex<HashMap<String, Verified>>,
}

impl JwtTokens {
    /// Reads the keys the options name.
    pub fn new(options: &JwtOptions) -> Result<Self, String> {
        let algorithm = algorithm(&options.sign_method)?;
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let pem_error = |what: &str, e: jsonwebtoken::errors::Error| format!("{what}: {e}");
        let (signing, verifying) = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let path = options
                    .priv_key
                    .as_deref()
                    .ok_or("HMAC signing needs priv-key (the shared secret)")?;
                let secret = read(path)?;
                (
                    Some(EncodingKey::from_secret(&secret)),
                    DecodingKey::from_secret(&secret),
                )
            }
            _ => {
                let rsa = !matches!(algorithm, Algorithm::ES256 | Algorithm::ES384);
                let public = options
                    .pub_key
                    .as_deref()
                    .ok_or("jwt needs pub-key to verify tokens")?;
                let public = read(public)?;
                let verifying = if rsa {
                    DecodingKey::from_rsa_pem(&public)
                } else {
                    DecodingKey::from_ec_pem(&public)
                }
                .map_err(|e| pem_error("pub-key", e))?;
                let signing = match options.priv_key.as_deref() {
                    None => None,
                    Some(path) => {
                        let private = read(path)?;
                        Some(
                            if rsa {
                                EncodingKey::from_rsa_pem(&private)
                            } else {
                                EncodingKey::from_ec_pem(&private)
                            }
                            .map_err(|e| pem_error("priv-key", e))?,
                        )
                    }
                };
                (signing, verifying)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        Ok(JwtTokens {
            algorithm,
            signing,
            verifying,
            validation,
            ttl: options.ttl,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// A signed token, or None when this member only verifies.
    pub fn sign(&self, user: &str, revision: u64) -> Option<String> {
        let key = self.signing.as_ref()?;
        let exp = unix_now() + self.ttl.as_secs();
        let claims = Claims {
            username: user.to_string(),
            revision,
            exp,
        };
        match jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key) {
            Ok(token) => Some(token),
            Err(err) => {
                tracing::error!(%err, "cannot sign a JWT");
                None
            }
        }
    }

    /// The holder of a valid, unexpired token signed with our key and our
    /// algorithm (never `none`, never another one).
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let now = unix_now();
        let mut cache = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = cache.get(token) {
            if now < known.exp {
                return Some(known.clone());
            }
            cache.remove(token);
            return None;
        }
        drop(cache);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.verifying, &self.validation)
            .ok()?
            .claims;
        let verified = Verified {
            user: claims.username,
            revision: claims.revision,
            exp: claims.exp,
        };
        let mut cache = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= VERIFIED_CACHE {
            cache.clear();
        }
        cache.insert(token.to_string(), verified.clone());
        Some(verified)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// etcd's `sign-method` names that the JWT crate implements.
fn algorithm(name: &str) -> Result<Algorithm, String> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "ES512" => return Err("sign-method ES512 is not built (no P-521 support in oxcd's JWT library); use ES256 or ES384".into()),
        other => return Err(format!("unknown sign-method {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs256(dir: &std::path::Path, secret: &[u8], ttl: Duration) -> JwtTokens {
        let path = dir.join(format!("secret-{}", secret.len()));
        std::fs::write(&path, secret).unwrap();
        JwtTokens::new(&JwtOptions {
            sign_method: "HS256".into(),
            pub_key: None,
            priv_key: Some(path),
            ttl,
        })
        .unwrap()
    }

    #[test]
    fn tokens_carry_user_and_revision_and_refuse_forgeries() {
        let dir = tempfile::tempdir().unwrap();
        let ours = hs256(dir.path(), b"our secret", Duration::from_secs(60));
        let theirs = hs256(dir.path(), b"another secret!", Duration::from_secs(60));
        let token = ours.sign("alice", 7).unwrap();
        let verified = ours.verify(&token).unwrap();
        assert_eq!((verified.user.as_str(), verified.revision), ("alice", 7));
        // Signed with another key.
        assert_eq!(ours.verify(&theirs.sign("alice", 7).unwrap()), None);
        // alg "none": header {"alg":"none","typ":"JWT"}, no signature.
        let unsigned = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            token.split('.').nth(1).unwrap()
        );
        assert_eq!(ours.verify(&unsigned), None);
        assert_eq!(ours.verify("not-a-jwt"), None);
    }

    #[test]
    fn expired_tokens_fail() {
        let dir = tempfile::tempdir().unwrap();
        let short = hs256(dir.path(), b"k", Duration::from_secs(1));
        let token = short.sign("alice", 1).unwrap();
        // Verified (and cached) while valid, refused once expired.
        assert!(short.verify(&token).is_some());
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(short.verify(&token), None);
    }

    #[test]
    fn unknown_methods_are_named() {
        assert!(algorithm("ES512").unwrap_err().contains("ES512"));
        assert!(algorithm("XX1").unwrap_err().contains("XX1"));
    }
}
