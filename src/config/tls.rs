//! The TLS flags of the client side (`--cert-file`, `--auto-tls`, ...) and
//! etcd's rules tying them to the client URLs' schemes.

use std::path::PathBuf;

use super::error::ConfigError;
use super::settings::Settings;
use super::urls::{is_tls, Endpoint};
use crate::tls::TlsOptions;

fn path(s: &Settings, name: &str) -> Option<PathBuf> {
    match s.text(name) {
        "" => None,
        p => Some(PathBuf::from(p)),
    }
}

fn text(s: &Settings, name: &str) -> Option<String> {
    match s.text(name) {
        "" => None,
        t => Some(t.to_string()),
    }
}

/// `--cert-file --key-file --trusted-ca-file --client-cert-auth
/// --client-crl-file --client-cert-allowed-hostname --auto-tls`.
pub fn client_tls(s: &Settings) -> Result<TlsOptions, ConfigError> {
    Ok(TlsOptions {
        cert_file: path(s, "cert-file"),
        key_file: path(s, "key-file"),
        trusted_ca_file: path(s, "trusted-ca-file"),
        client_cert_auth: s.bool("client-cert-auth")?,
        crl_file: path(s, "client-crl-file"),
        allowed_hostname: text(s, "client-cert-allowed-hostname"),
        allowed_cn: None,
        auto_tls: s.bool("auto-tls")?,
    })
}

/// `--peer-cert-file --peer-key-file --peer-trusted-ca-file
/// --peer-client-cert-auth --peer-crl-file --peer-cert-allowed-cn
/// --peer-cert-allowed-hostname --peer-auto-tls`.
pub fn peer_tls(s: &Settings) -> Result<TlsOptions, ConfigError> {
    Ok(TlsOptions {
        cert_file: path(s, "peer-cert-file"),
        key_file: path(s, "peer-key-file"),
        trusted_ca_file: path(s, "peer-trusted-ca-file"),
        client_cert_auth: s.bool("peer-client-cert-auth")?,
        crl_file: path(s, "peer-crl-file"),
        allowed_hostname: text(s, "peer-cert-allowed-hostname"),
        allowed_cn: text(s, "peer-cert-allowed-cn"),
        auto_tls: s.bool("peer-auto-tls")?,
    })
}

/// `--cipher-suites`, Go's names, comma-separated.
pub fn cipher_suites(s: &Settings) -> Vec<String> {
    s.raw("cipher-suites")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// `--self-signed-cert-validity` in years; 0 means etcd's 1.
pub fn self_signed_cert_validity(s: &Settings) -> Result<u32, ConfigError> {
    let years = s.uint("self-signed-cert-validity")?;
    u32::try_from(years.max(1))
        .map_err(|_| s.invalid("self-signed-cert-validity", "too many years"))
}

/// Which side's URLs are checked: the flags and words etcd's messages use.
#[derive(Clone, Copy)]
pub enum Side {
    Client,
    Peer,
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Side::Client => "",
            Side::Peer => "peer-",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }
}

/// etcd's checks: an https URL needs a certificate (files or auto-TLS);
/// certificates with only http URLs are ignored, with a warning, as is
/// client certificate auth on an http URL.
pub fn check_urls(
    side: Side,
    urls: &[&Endpoint],
    tls: &TlsOptions,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let (prefix, word) = (side.prefix(), side.word());
    let has_certs = (tls.cert_file.is_some() && tls.key_file.is_some()) || tls.auto_tls;
    for endpoint in urls {
        if is_tls(&endpoint.url) {
            if !has_certs {
                return Err(ConfigError::Invalid(format!(
                    "TLS key/cert (--{prefix}cert-file, --{prefix}key-file) must be provided for {word} url {} with HTTPS scheme",
                    endpoint.url
                )));
            }
            continue;
        }
        if tls.cert_file.is_some() || tls.key_file.is_some() {
            warnings.push(format!(
                "scheme is HTTP while key and cert files are present; ignoring key and cert files for {word} url {}",
                endpoint.url
            ));
        }
        if tls.client_cert_auth {
            warnings.push(format!(
                "scheme is HTTP while --{prefix}client-cert-auth is enabled; ignoring client cert auth for {word} url {}",
                endpoint.url
            ));
        }
    }
    Ok(())
}
