//! `--cipher-suites` in Go's names. rustls offers only AEAD suites with
//! forward secrecy; the TLS 1.2 ones among Go's names map onto them, and
//! TLS 1.3's suites stay on (Go does not let them be chosen either).
//! Naming a suite rustls lacks (CBC, RSA key exchange) fails the boot.

use rustls::crypto::ring::{cipher_suite, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::SupportedCipherSuite;

use super::TlsError;

fn by_go_name(name: &str) -> Option<SupportedCipherSuite> {
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// ring's provider, limited to `names` (plus TLS 1.3's) when any are given.
pub fn provider(names: &[String]) -> Result<CryptoProvider, TlsError> {
    let mut provider = default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let mut chosen: Vec<SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .collect();
    for name in names {
        let suite = by_go_name(name).ok_or_else(|| {
            TlsError::Invalid(
                "--cipher-suites".to_string(),
                format!(
                    "{name} is not supported (oxcd offers the ECDHE AES-GCM and ChaCha20-Poly1305 suites)"
                ),
            )
        })?;
        chosen.push(suite);
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_map_and_unknown_ones_fail() {
        let p = provider(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()]).unwrap();
        assert!(p
            .cipher_suites
            .contains(&cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        assert!(!p
            .cipher_suites
            .contains(&cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        let err = provider(&["TLS_RSA_WITH_AES_128_CBC_SHA".to_string()]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("--cipher-suites: TLS_RSA_WITH_AES_128_CBC_SHA is not supported"));
    }
}
