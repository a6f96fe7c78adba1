//! etcd's check of a peer's client certificate against where the connection
//! comes from: when the certificate names IP addresses or DNS names, the
//! remote address must be one of those IPs, or one of the names must resolve
//! to it. `--experimental-peer-skip-client-san-verification` turns it off
//! (for peers behind NAT or proxies).

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The IP addresses and DNS names a certificate is issued for.
fn sans(der: &[u8]) -> (Vec<IpAddr>, Vec<String>) {
    let (mut ips, mut names) = (Vec::new(), Vec::new());
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return (ips, names);
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return (ips, names);
    };
    for name in &san.value.general_names {
        match name {
            GeneralName::IPAddress(bytes) => ips.extend(super::identity::ip_of(bytes)),
            GeneralName::DNSName(dns) => names.push(dns.to_string()),
            _ => {}
        }
    }
    (ips, names)
}

/// Whether a peer's client certificate `der` fits `remote`. Names are
/// resolved forward (etcd also tries a reverse lookup of the address, which
/// matters only for wildcard names: those are not matched here).
pub async fn check_peer_client_san(der: &[u8], remote: IpAddr) -> Result<(), String> {
    let (ips, names) = sans(der);
    if ips.is_empty() && names.is_empty() || ips.contains(&remote) {
        return Ok(());
    }
    if names.is_empty() {
        let listed: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        return Err(format!(
            "x509: certificate is valid for {}, not {remote}",
            listed.join(", ")
        ));
    }
    for name in names.iter().filter(|n| !n.starts_with("*.")) {
        if let Ok(mut addrs) = tokio::net::lookup_host((name.as_str(), 0)).await {
            if addrs.any(|addr| addr.ip() == remote) {
                return Ok(());
            }
        }
    }
    Err(format!(
        "tls: {:?} does not match any of DNSNames {names:?}",
        remote.to_string()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_ca::TestCa;

    #[tokio::test]
    async fn the_remote_address_must_be_one_the_certificate_names() {
        let ca = TestCa::new();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let ok = |host: &str| ca.issue("peer", host).cert;
        assert_eq!(check_peer_client_san(&ok("127.0.0.1"), local).await, Ok(()));
        assert_eq!(check_peer_client_san(&ok("localhost"), local).await, Ok(()));
        let elsewhere = check_peer_client_san(&ok("10.9.9.9"), local).await;
        assert_eq!(
            elsewhere,
            Err("x509: certificate is valid for 10.9.9.9, not 127.0.0.1".into())
        );
        let unknown = check_peer_client_san(&ok("peer.invalid"), local).await;
        assert_eq!(
            unknown,
            Err(r#"tls: "127.0.0.1" does not match any of DNSNames ["peer.invalid"]"#.into())
        );
    }
}
