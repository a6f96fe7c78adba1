//! `--discovery-srv` (and `--discovery-srv-name`): the initial cluster from
//! DNS SRV records, as etcd 3.5 builds it. Both
//! `_etcd-server-ssl[-NAME]._tcp.DOMAIN` (https peers) and
//! `_etcd-server[-NAME]._tcp.DOMAIN` (http peers) are looked up and what
//! either gives is used. A record whose target and port resolve to an
//! address of this member's `--initial-advertise-peer-urls` is this member
//! (`--name`); the others are named 0, 1, ... until they publish their own
//! names. Peer URLs keep the record's host name, so every member derives
//! the same member ids. (etcd 3.4 used the http records only when the
//! https lookup failed, and then ignored them: a bug 3.5 fixed.)
//!
//! SRV records come from the nameservers of /etc/resolv.conf
//! (`dns_srv.rs`); targets and advertised hosts resolve like any host name
//! (getaddrinfo: /etc/hosts, then DNS).

use std::net::{SocketAddr, ToSocketAddrs};

use super::BootError;
use crate::config::Config;

/// `name=url` pairs, as `--initial-cluster` gives them.
pub type InitialCluster = Vec<(String, String)>;

/// One scheme's service, e.g. `_etcd-server-ssl-blue._tcp.example.com.`.
fn service_name(scheme: &str, suffix: &str, domain: &str) -> String {
    let base = if scheme == "https" {
        "etcd-server-ssl"
    } else {
        "etcd-server"
    };
    let service = match suffix {
        "" => base.to_string(),
        suffix => format!("{base}-{suffix}"),
    };
    format!("_{service}._tcp.{}.", domain.trim_end_matches('.'))
}

/// The initial cluster the SRV records of `domain` describe.
pub(super) fn initial_cluster(config: &Config, domain: &str) -> Result<InitialCluster, BootError> {
    let own = own_addresses(&config.initial_advertise_peer_urls)?;
    let mut cluster = Vec::new();
    let mut errors = Vec::new();
    for scheme in ["https", "http"] {
        let service = service_name(scheme, &config.discovery_srv_name, domain);
        let targets = match super::dns_srv::lookup_srv(&service) {
            Ok(targets) => targets,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        match members_of(scheme, &service, &targets, &config.name, &own, &resolve) {
            Ok(found) => cluster.extend(found),
            Err(err) => errors.push(err),
        }
    }
    if !errors.is_empty() {
        tracing::warn!(error = %errors.join("; "), "failed to resolve during SRV discovery");
    }
    if cluster.is_empty() {
        return Err(BootError::Invalid(format!(
            "error setting up initial cluster: no members in the DNS SRV records of {domain} ({})",
            errors.join("; ")
        )));
    }
    for (name, url) in &cluster {
        tracing::info!(node = %format!("{name}={url}"), "got bootstrap from DNS for etcd-server");
    }
    if !cluster.iter().any(|(name, _)| name == &config.name) {
        return Err(BootError::Invalid(format!(
            "cannot find local etcd member {:?} in SRV records",
            config.name
        )));
    }
    Ok(cluster)
}

/// Each advertised peer URL with the addresses its host resolves to.
fn own_addresses(urls: &[String]) -> Result<Vec<(String, Vec<SocketAddr>)>, BootError> {
    urls.iter()
        .map(|url| {
            let uri: http::Uri = url
                .parse()
                .map_err(|err| BootError::Invalid(format!("peer URL {url}: {err}")))?;
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
            let port = uri.port_u16().unwrap_or(80);
            let addrs = resolve(host, port)
                .map_err(|err| BootError::Invalid(format!("cannot resolve {url}: {err}")))?;
            Ok((url.clone(), addrs))
        })
        .collect()
}

fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// The members one scheme's records give: this member by address, the
/// others numbered; an error only when none could be used.
fn members_of(
    scheme: &str,
    service: &str,
    targets: &[(String, u16)],
    name: &str,
    own: &[(String, Vec<SocketAddr>)],
    resolve: &dyn Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>>,
) -> Result<InitialCluster, String> {
    let mut found = Vec::new();
    let mut unnamed = 0;
    let mut last_error = format!("{service}: no records");
    for (target, port) in targets {
        let addrs = match resolve(target, *port) {
            Ok(addrs) => addrs,
            Err(err) => {
                last_error = format!("cannot resolve {target}:{port}: {err}");
                continue;
            }
        };
        // A record's target may end with the root's dot; URLs do not.
        let url = format!("{scheme}://{}:{port}", target.trim_end_matches('.'));
        let mine = own
            .iter()
            .find(|(_, own_addrs)| own_addrs.iter().any(|a| addrs.contains(a)));
        match mine {
            Some((own_url, _)) if !own_url.starts_with(&format!("{scheme}://")) => {
                last_error = format!(
                    "bootstrap at {url} from DNS for {service} has scheme mismatch with expected peer {own_url}"
                );
            }
            Some(_) => found.push((name.to_string(), url)),
            None => {
                found.push((unnamed.to_string(), url));
                unnamed += 1;
            }
        }
    }
    if found.is_empty() {
        Err(last_error)
    } else {
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_dns(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let ip = match host {
            "m1.example.com." => "10.0.0.1",
            "m2.example.com." => "10.0.0.2",
            "m3.example.com." => "10.0.0.3",
            _ => return Err(std::io::Error::other("no such host")),
        };
        Ok(vec![SocketAddr::new(ip.parse().unwrap(), port)])
    }

    fn targets(names: &[&str]) -> Vec<(String, u16)> {
        names.iter().map(|n| (n.to_string(), 2380)).collect()
    }

    #[test]
    fn service_names_follow_etcd() {
        assert_eq!(
            service_name("https", "", "example.com"),
            "_etcd-server-ssl._tcp.example.com."
        );
        assert_eq!(
            service_name("http", "blue", "example.com."),
            "_etcd-server-blue._tcp.example.com."
        );
    }

    #[test]
    fn this_member_is_found_by_address_and_the_others_are_numbered() {
        let own = vec![(
            "http://10.0.0.2:2380".to_string(),
            vec!["10.0.0.2:2380".parse().unwrap()],
        )];
        let found = members_of(
            "http",
            "_etcd-server._tcp.example.com.",
            &targets(&["m1.example.com.", "m2.example.com.", "m3.example.com."]),
            "infra2",
            &own,
            &fake_dns,
        )
        .unwrap();
        assert_eq!(
            found,
            vec![
                ("0".to_string(), "http://m1.example.com:2380".to_string()),
                (
                    "infra2".to_string(),
                    "http://m2.example.com:2380".to_string()
                ),
                ("1".to_string(), "http://m3.example.com:2380".to_string()),
            ]
        );
    }

    #[test]
    fn unresolvable_targets_are_skipped_and_a_scheme_mismatch_is_refused() {
        let own = vec![(
            "https://10.0.0.1:2380".to_string(),
            vec!["10.0.0.1:2380".parse().unwrap()],
        )];
        let service = "_etcd-server._tcp.example.com.";
        let found = members_of(
            "http",
            service,
            &targets(&["gone.example.com.", "m2.example.com."]),
            "infra1",
            &own,
            &fake_dns,
        )
        .unwrap();
        assert_eq!(
            found,
            vec![("0".into(), "http://m2.example.com:2380".into())]
        );
        let err = members_of(
            "http",
            service,
            &targets(&["m1.example.com."]),
            "infra1",
            &own,
            &fake_dns,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "bootstrap at http://m1.example.com:2380 from DNS for _etcd-server._tcp.example.com. has scheme mismatch with expected peer https://10.0.0.1:2380"
        );
    }
}
