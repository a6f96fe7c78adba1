//! The TLS client side of peer connections: the member presents its peer
//! certificate (peers may require it) and checks the other member's against
//! `--peer-trusted-ca-file`, or, with `--peer-auto-tls` and no CA, accepts
//! any certificate, as etcd does for self-signed peers.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, Error, SignatureScheme};

use super::{ciphers, files, resolve_cert_files, ServerTls, TlsError};

/// The rustls configuration for dialling peers over https.
pub fn client_config(tls: &ServerTls<'_>) -> Result<Arc<ClientConfig>, TlsError> {
    let flag = |name: &str| format!("--{}{name}", tls.flag_prefix);
    let (cert_path, key_path) = resolve_cert_files(tls)?;
    let chain = files::certificates(&flag("cert-file"), &cert_path)?;
    let key = files::private_key(&flag("key-file"), &key_path)?;
    let provider = Arc::new(ciphers::provider(tls.cipher_suites)?);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid("--cipher-suites".to_string(), e.to_string()))?;
    let builder = match &tls.options.trusted_ca_file {
        Some(ca) => {
            builder.with_root_certificates(files::root_store(&flag("trusted-ca-file"), ca)?)
        }
        // Self-signed peers (auto-TLS) have no CA to check against.
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer { provider })),
    };
    let mut config = builder.with_client_auth_cert(chain, key).map_err(|e| {
        TlsError::Invalid(
            format!("{} / {}", flag("cert-file"), flag("key-file")),
            e.to_string(),
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A client's configuration from files, as etcdctl's `--cacert --cert
/// --key`: without a CA the server is not verified (etcdctl's
/// `--insecure-skip-tls-verify`).
pub fn dialer_config(
    ca: Option<&std::path::Path>,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid("TLS".to_string(), e.to_string()))?;
    let builder = match ca {
        Some(ca) => builder.with_root_certificates(files::root_store("--cacert", ca)?),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer { provider })),
    };
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                files::certificates("--cert", cert)?,
                files::private_key("--key", key)?,
            )
            .map_err(|e| TlsError::Invalid("--cert / --key".to_string(), e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Go's `InsecureSkipVerify`: the handshake is still signed with the
/// presented key; only the chain and name are not checked.
#[derive(Debug)]
struct AcceptAnyServer {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
