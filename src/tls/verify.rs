//! Client certificate checks around webpki's: a client certificate that is
//! itself one of the trusted CA certificates, which Go accepts (a
//! one-certificate chain) and webpki refuses ("CA used as end entity"); then
//! `--client-cert-allowed-hostname` (`--peer-cert-allowed-hostname`) and
//! `--peer-cert-allowed-cn`, applied after the chain verified, as etcd
//! applies them.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::identity::{common_name, valid_for_host, valid_now};

/// What is checked beyond webpki's chain verification.
#[derive(Debug, Default)]
pub struct ExtraChecks {
    /// The `--trusted-ca-file` certificates: one of them presented as the
    /// client certificate is accepted while valid (possession of its key is
    /// still proven by the handshake signature).
    pub trusted: Vec<CertificateDer<'static>>,
    pub allowed_hostname: Option<String>,
    pub allowed_cn: Option<String>,
}

/// `inner` with the extra checks.
pub fn with_extra_checks(
    inner: Arc<dyn ClientCertVerifier>,
    checks: ExtraChecks,
) -> Arc<dyn ClientCertVerifier> {
    Arc::new(Checked { inner, checks })
}

#[derive(Debug)]
struct Checked {
    inner: Arc<dyn ClientCertVerifier>,
    checks: ExtraChecks,
}

impl ClientCertVerifier for Checked {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let checks = &self.checks;
        let verified = match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(verified) => verified,
            Err(_)
                if checks
                    .trusted
                    .iter()
                    .any(|t| t.as_ref() == end_entity.as_ref())
                    && valid_now(end_entity, now.as_secs()) =>
            {
                ClientCertVerified::assertion()
            }
            Err(err) => return Err(err),
        };
        if let Some(cn) = &checks.allowed_cn {
            if common_name(end_entity).as_deref() != Some(cn.as_str()) {
                return Err(Error::General(format!(
                    "client certificate's common name is not the allowed {cn:?}"
                )));
            }
        }
        if let Some(host) = &checks.allowed_hostname {
            if !valid_for_host(end_entity, host) {
                return Err(Error::General(format!(
                    "client certificate is not valid for the allowed host {host:?}"
                )));
            }
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_ca::TestCa;
    use rustls::server::WebPkiClientVerifier;

    #[test]
    fn the_allowed_common_name_and_host_name_are_enforced() {
        let ca = TestCa::new();
        let issue = |cn: &str, host: &str| ca.issue(cn, host).cert;
        let webpki = WebPkiClientVerifier::builder(ca.roots()).build().unwrap();
        let verifier = with_extra_checks(
            webpki,
            ExtraChecks {
                trusted: Vec::new(),
                allowed_hostname: Some("m1.etcd.local".to_string()),
                allowed_cn: Some("peer".to_string()),
            },
        );
        let now = UnixTime::now();
        let good = issue("peer", "m1.etcd.local");
        assert!(verifier.verify_client_cert(&good, &[], now).is_ok());
        let wrong_cn = issue("intruder", "m1.etcd.local");
        assert!(verifier.verify_client_cert(&wrong_cn, &[], now).is_err());
        let wrong_host = issue("peer", "elsewhere.local");
        assert!(verifier.verify_client_cert(&wrong_host, &[], now).is_err());
    }

    #[test]
    fn a_trusted_certificate_may_be_its_own_client_certificate_as_in_go() {
        let ca = TestCa::new();
        let other = TestCa::new();
        let webpki = WebPkiClientVerifier::builder(ca.roots()).build().unwrap();
        let trusted = ExtraChecks {
            trusted: vec![ca.cert()],
            ..Default::default()
        };
        let verifier = with_extra_checks(webpki, trusted);
        let now = UnixTime::now();
        assert!(verifier.verify_client_cert(&ca.cert(), &[], now).is_ok());
        assert!(verifier
            .verify_client_cert(&ca.issue("c", "h").cert, &[], now)
            .is_ok());
        // Not in the list, not signed by it: refused.
        assert!(verifier
            .verify_client_cert(&other.cert(), &[], now)
            .is_err());
        // Listed but expired (far in the future): refused.
        let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1 << 40));
        assert!(verifier.verify_client_cert(&ca.cert(), &[], later).is_err());
    }
}
