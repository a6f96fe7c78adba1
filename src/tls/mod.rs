//! TLS for the client and peer listeners (rustls with ring; no OpenSSL):
//! etcd's flags turned into a rustls server configuration at boot, with
//! certificate files, a generated self-signed certificate (`--auto-tls`),
//! client certificate checks (`--client-cert-auth`, a CA bundle, CRLs, an
//! allowed host name) and the cipher suites etcd names in Go's spelling.
//!
//! Every problem is found at boot and named with its flag; nothing here
//! runs on a request path except the verifiers rustls calls during a
//! handshake and [`common_name`].

mod auto;
mod ciphers;
mod client;
mod dial;
mod error;
mod files;
mod identity;
mod san;
#[cfg(test)]
pub(crate) mod test_ca;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

pub use client::{client_config, dialer_config};
pub use dial::{dial, handshake, TlsIo};
pub use error::TlsError;
pub use identity::common_name;
pub use san::check_peer_client_san;

/// One side's TLS flags (`--cert-file ...` or `--peer-cert-file ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    pub client_cert_auth: bool,
    pub crl_file: Option<PathBuf>,
    /// Accept only client certificates valid for this host name.
    pub allowed_hostname: Option<String>,
    /// Accept only client certificates with this common name (peers).
    pub allowed_cn: Option<String>,
    /// Generate a self-signed certificate when no files are given.
    pub auto_tls: bool,
}

impl TlsOptions {
    /// Whether any certificate source is configured.
    pub fn is_configured(&self) -> bool {
        self.auto_tls || self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// What a listener's TLS configuration is built from.
pub struct ServerTls<'a> {
    pub options: &'a TlsOptions,
    /// "" for the client side, "peer-" for the peer side (error messages
    /// name the flags).
    pub flag_prefix: &'static str,
    /// Where `--auto-tls` keeps its certificate (etcd: `<data-dir>/fixtures/client`).
    pub auto_dir: PathBuf,
    /// Host names and IPs the generated certificate is valid for.
    pub auto_hosts: Vec<String>,
    pub validity_years: u32,
    /// `--cipher-suites` in Go's names; empty: rustls' defaults.
    pub cipher_suites: &'a [String],
}

/// The certificate and key files: the given ones, or the generated pair
/// under `--auto-tls`.
fn resolve_cert_files(tls: &ServerTls<'_>) -> Result<(PathBuf, PathBuf), TlsError> {
    let flag = |name: &str| format!("--{}{name}", tls.flag_prefix);
    let opts = tls.options;
    match (&opts.cert_file, &opts.key_file) {
        (Some(cert), Some(key)) => Ok((cert.clone(), key.clone())),
        (None, None) if opts.auto_tls => {
            auto::self_signed(&tls.auto_dir, &tls.auto_hosts, tls.validity_years)
        }
        (None, None) => Err(TlsError::Missing(format!(
            "{} and {} (or {})",
            flag("cert-file"),
            flag("key-file"),
            flag("auto-tls")
        ))),
        (Some(_), None) => Err(TlsError::Missing(flag("key-file"))),
        (None, Some(_)) => Err(TlsError::Missing(flag("cert-file"))),
    }
}

/// Builds the rustls configuration for one side's https listeners.
pub fn server_config(tls: &ServerTls<'_>) -> Result<Arc<ServerConfig>, TlsError> {
    let flag = |name: &str| format!("--{}{name}", tls.flag_prefix);
    let opts = tls.options;
    let (cert_path, key_path) = resolve_cert_files(tls)?;
    let chain = files::certificates(&flag("cert-file"), &cert_path)?;
    let key = files::private_key(&flag("key-file"), &key_path)?;
    let provider = Arc::new(ciphers::provider(tls.cipher_suites)?);
    let verifier = if opts.client_cert_auth {
        let ca_flag = flag("trusted-ca-file");
        let ca_path = opts.trusted_ca_file.as_ref().ok_or_else(|| {
            TlsError::Missing(format!(
                "{ca_flag} (needed by {})",
                flag("client-cert-auth")
            ))
        })?;
        let roots = files::root_store(&ca_flag, ca_path)?;
        let trusted = files::certificates(&ca_flag, ca_path)?;
        let mut builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        if let Some(crl_path) = &opts.crl_file {
            let crl_flag = if tls.flag_prefix.is_empty() {
                "--client-crl-file".to_string()
            } else {
                flag("crl-file")
            };
            builder = builder.with_crls(files::crls(&crl_flag, crl_path)?);
        }
        let webpki = builder
            .build()
            .map_err(|e| TlsError::Invalid(ca_flag.clone(), e.to_string()))?;
        verify::with_extra_checks(
            webpki,
            verify::ExtraChecks {
                trusted,
                allowed_hostname: opts.allowed_hostname.clone(),
                allowed_cn: opts.allowed_cn.clone(),
            },
        )
    } else {
        WebPkiClientVerifier::no_client_auth()
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            TlsError::Invalid(
                flag("cipher-suites").replace("--peer-", "--"),
                e.to_string(),
            )
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            let reason = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not belong to the certificate".to_string()
                }
                other => other.to_string(),
            };
            TlsError::Invalid(
                format!("{} / {}", flag("cert-file"), flag("key-file")),
                reason,
            )
        })?;
    // gRPC needs h2; the HTTP endpoints also answer HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
