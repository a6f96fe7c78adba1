//! `--auto-tls` / `--peer-auto-tls`: a self-signed certificate kept in the
//! data dir (etcd: `fixtures/client`, `fixtures/peer`) and reused on later
//! starts, valid for the listen hosts for `--self-signed-cert-validity` years.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, KeyPair};

use super::TlsError;

/// The cert and key paths, made on the first start.
pub fn self_signed(
    dir: &Path,
    hosts: &[String],
    years: u32,
) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    let fail = |reason: String| TlsError::AutoTls {
        dir: dir.display().to_string(),
        reason,
    };
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(|e| fail(e.to_string()))?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "oxcd");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(365 * i64::from(years.max(1)));
    let key = KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| fail(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    write_private(&key_path, key.serialize_pem().as_bytes()).map_err(|e| fail(e.to_string()))?;
    std::fs::write(&cert_path, cert.pem()).map_err(|e| fail(e.to_string()))?;
    tracing::info!(dir = %dir.display(), ?hosts, years, "made a self-signed TLS certificate");
    Ok((cert_path, key_path))
}

/// The key file is readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
