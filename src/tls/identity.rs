//! The identity a certificate carries: its subject's common name (etcd
//! takes the user name from it) and the host names it is valid for.

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The subject common name of a DER certificate, if it has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Whether `unix_secs` lies within the certificate's validity period.
pub fn valid_now(der: &[u8], unix_secs: u64) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let now = i64::try_from(unix_secs).unwrap_or(i64::MAX);
    let validity = cert.validity();
    validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp()
}

/// Whether the certificate is valid for `host` as Go's `VerifyHostname`
/// decides: an IP must be among the IP SANs; a name must match a DNS SAN
/// (a leading `*.` matches one label).
pub fn valid_for_host(der: &[u8], host: &str) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let wanted_ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
    san.value
        .general_names
        .iter()
        .any(|name| match (name, wanted_ip) {
            (GeneralName::IPAddress(bytes), Some(ip)) => ip_of(bytes) == Some(ip),
            (GeneralName::DNSName(pattern), None) => dns_matches(pattern, host),
            _ => false,
        })
}

pub(super) fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

fn dns_matches(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (
        pattern.trim_end_matches('.').to_ascii_lowercase(),
        host.trim_end_matches('.').to_ascii_lowercase(),
    );
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: &str, sans: &[&str]) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_the_common_name() {
        assert_eq!(
            common_name(&cert("root", &["localhost"])).as_deref(),
            Some("root")
        );
        assert_eq!(common_name(b"not a certificate"), None);
    }

    #[test]
    fn host_names_match_as_go_matches_them() {
        let der = cert("x", &["example.com", "*.etcd.local", "127.0.0.1"]);
        assert!(valid_for_host(&der, "example.com"));
        assert!(valid_for_host(&der, "EXAMPLE.com"));
        assert!(valid_for_host(&der, "m1.etcd.local"));
        assert!(!valid_for_host(&der, "a.b.etcd.local"));
        assert!(valid_for_host(&der, "127.0.0.1"));
        assert!(!valid_for_host(&der, "127.0.0.2"));
        assert!(!valid_for_host(&der, "other.com"));
    }
}
