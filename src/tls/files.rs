//! Reading PEM files: certificate chains, private keys, CA bundles, CRLs.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::TlsError;

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        flag: flag.to_string(),
        path: path.display().to_string(),
        source,
    })
}

fn invalid(flag: &str, path: &Path, what: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid(flag.to_string(), format!("{}: {what}", path.display()))
}

/// Every certificate in a PEM file; at least one.
pub fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(flag, path, e))?;
    if certs.is_empty() {
        return Err(invalid(flag, path, "no PEM certificate found"));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(flag: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(flag, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| invalid(flag, path, e))
}

/// A CA bundle as trust roots.
pub fn root_store(flag: &str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(flag, path)? {
        roots
            .add(cert)
            .map_err(|e| invalid(flag, path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Revocation lists, PEM or DER (etcd reads either).
pub fn crls(
    flag: &str,
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = read(flag, path)?;
    let pem: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(flag, path, e))?;
    if !pem.is_empty() {
        return Ok(pem);
    }
    Ok(vec![CertificateRevocationListDer::from(bytes)])
}
