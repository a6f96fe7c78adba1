//! The client side's TLS configuration, built once at boot from the flags
//! (files read, `--auto-tls` certificate made) and shared by every https
//! client and metrics listener.

use std::sync::Arc;

use super::BootError;
use crate::config::{is_tls, Config, Endpoint};
use crate::tls::{client_config, server_config, ServerTls};

/// `None` when no client or metrics URL is https.
pub(super) fn client_tls(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, BootError> {
    let served: Vec<&Endpoint> = config
        .listen_client_urls
        .iter()
        .chain(&config.listen_metrics_urls)
        .collect();
    if !served.iter().any(|e| is_tls(&e.url)) {
        return Ok(None);
    }
    let tls = ServerTls {
        options: &config.client_tls,
        flag_prefix: "",
        auto_dir: config.data_dir.join("fixtures").join("client"),
        auto_hosts: served.iter().map(|e| host_of(&e.url)).collect(),
        validity_years: config.self_signed_cert_validity,
        cipher_suites: &config.cipher_suites,
    };
    server_config(&tls).map(Some).map_err(BootError::Tls)
}

/// The peer side: the listeners' TLS (`None` when no listen peer URL is
/// https) and, whenever peer TLS is configured, the configuration for
/// dialling https peers, handed to `peer_dial` before any peer is dialled.
pub(super) fn peer_tls(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, BootError> {
    let options = &config.peer_tls;
    if !options.is_configured() {
        return Ok(None);
    }
    let tls = ServerTls {
        options,
        flag_prefix: "peer-",
        auto_dir: config.data_dir.join("fixtures").join("peer"),
        auto_hosts: config
            .listen_peer_urls
            .iter()
            .map(|e| host_of(&e.url))
            .collect(),
        validity_years: config.self_signed_cert_validity,
        cipher_suites: &config.cipher_suites,
    };
    let server = server_config(&tls)?;
    crate::peer_dial::use_tls(client_config(&tls)?);
    let listens_tls = config.listen_peer_urls.iter().any(|e| is_tls(&e.url));
    Ok(listens_tls.then_some(server))
}

/// The host of `scheme://host:port` (IPv6 without brackets).
fn host_of(url: &str) -> String {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    host.trim_matches(['[', ']']).to_string()
}

/// Each listener's TLS: `tls` for an https URL, none for http.
pub(super) fn per_listener(
    endpoints: &[Endpoint],
    tls: &Option<Arc<rustls::ServerConfig>>,
) -> Vec<Option<Arc<rustls::ServerConfig>>> {
    endpoints
        .iter()
        .map(|e| if is_tls(&e.url) { tls.clone() } else { None })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_from_urls() {
        assert_eq!(host_of("https://127.0.0.1:2379"), "127.0.0.1");
        assert_eq!(host_of("https://[::1]:2379"), "::1");
        assert_eq!(host_of("https://localhost:2379"), "localhost");
    }
}
