//! URL flags: listen URLs (bound, so the host must be an IP or `localhost`),
//! advertised URLs (any host), and `--initial-cluster` (`name=url,...`).
//! `http://host:port`, `https://host:port` and, as etcd, `unix://` and
//! `unixs://` with a `host:port` that names the socket file.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::error::ConfigError;
use super::settings::Settings;

/// A listen URL and the socket address it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as given (scheme lower-cased), e.g. `http://localhost:2379`.
    pub url: String,
    /// What to bind.
    pub addr: BindAddr,
}

/// Where a listen URL binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    /// `http://` and `https://`: `localhost` is 127.0.0.1, never resolved
    /// through DNS.
    Tcp(SocketAddr),
    /// `unix://` and `unixs://`: as etcd, the socket file is the URL's
    /// `host:port` taken as a path (`unix://etcd.sock:1` is `./etcd.sock:1`).
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for BindAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindAddr::Tcp(addr) => addr.fmt(f),
            BindAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A parsed `http://host:port` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    url: String,
    /// Lower-cased: http, https, unix or unixs.
    scheme: String,
    /// `host:port` as written (a unix URL's socket path).
    authority: String,
    /// The host without IPv6 brackets.
    host: String,
    port: u16,
}

#[derive(Debug, PartialEq, Eq)]
enum UrlError {
    Invalid(String),
}

fn parse_url(input: &str) -> Result<HttpUrl, UrlError> {
    let invalid = |what: &str| UrlError::Invalid(format!("{what}: {input}"));
    let (scheme, rest) = input
        .split_once("://")
        .ok_or_else(|| invalid("URL scheme must be http, https, unix, or unixs"))?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https" | "unix" | "unixs") {
        return Err(invalid("URL scheme must be http, https, unix, or unixs"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(invalid("URL must not contain user information"));
    }
    let not_host_port = || invalid("URL address does not have the form \"host:port\"");
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(not_host_port)?;
        let port = after.strip_prefix(':').ok_or_else(not_host_port)?;
        (host, port)
    } else {
        let (host, port) = authority.rsplit_once(':').ok_or_else(not_host_port)?;
        if host.contains(':') {
            return Err(not_host_port());
        }
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("URL has an invalid port"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid("URL port is out of range"))?;
    // etcd checks host:port first, then the path.
    if !tail.is_empty() {
        return Err(invalid("URL must not contain a path"));
    }
    Ok(HttpUrl {
        url: format!("{scheme}://{authority}"),
        scheme,
        authority: authority.to_string(),
        host: host.to_string(),
        port,
    })
}

/// Parses one URL of flag `name`, turning scheme problems into the right
/// error kind.
fn parse_for_flag(s: &Settings, name: &str, item: &str) -> Result<HttpUrl, ConfigError> {
    let url = parse_url(item).map_err(|UrlError::Invalid(reason)| s.invalid(name, reason))?;
    Ok(url)
}

/// Whether a URL is served over TLS (`https://`, `unixs://`).
pub fn is_tls(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("unixs")
    })
}

/// Splits a comma-separated URL list; an empty item is an error.
fn items<'a>(s: &'a Settings, name: &str) -> Result<Vec<&'a str>, ConfigError> {
    let raw = s.raw(name);
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(s.invalid(name, "empty URL in list"));
    }
    Ok(parts)
}

fn dedup(urls: Vec<HttpUrl>) -> Vec<HttpUrl> {
    let mut seen = BTreeSet::new();
    urls.into_iter()
        .filter(|u| seen.insert(u.url.clone()))
        .collect()
}

/// The bind address of a listen URL's host, if it is an IP or `localhost`.
fn bind_ip(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    host.parse().ok()
}

/// Parses a listen-URL flag (`--listen-client-urls`, `--listen-peer-urls`).
pub fn listen_urls(s: &Settings, name: &str) -> Result<Vec<Endpoint>, ConfigError> {
    let mut urls = Vec::new();
    for item in items(s, name)? {
        urls.push(parse_for_flag(s, name, item)?);
    }
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for u in dedup(urls) {
        if u.scheme.starts_with("unix") {
            let addr = BindAddr::Unix(u.authority.clone().into());
            if !endpoints.iter().any(|e| e.addr == addr) {
                endpoints.push(Endpoint { url: u.url, addr });
            }
            continue;
        }
        let ip = bind_ip(&u.host).ok_or_else(|| {
            s.invalid(name, format!("expected IP in URL for binding ({})", u.url))
        })?;
        let addr = BindAddr::Tcp(SocketAddr::new(ip, u.port));
        // Two spellings of one address (localhost and 127.0.0.1) bind once.
        if u.port != 0 && endpoints.iter().any(|e| e.addr == addr) {
            continue;
        }
        endpoints.push(Endpoint { url: u.url, addr });
    }
    Ok(endpoints)
}

fn advertised(s: &Settings, name: &str, item: &str) -> Result<HttpUrl, ConfigError> {
    let url = parse_for_flag(s, name, item)?;
    if url.host.is_empty() {
        return Err(s.invalid(name, format!("unexpected empty host ({})", url.url)));
    }
    Ok(url)
}

/// Parses an advertised-URL flag (`--advertise-client-urls`,
/// `--initial-advertise-peer-urls`).
pub fn advertise_urls(s: &Settings, name: &str) -> Result<Vec<String>, ConfigError> {
    let mut urls = Vec::new();
    for item in items(s, name)? {
        urls.push(advertised(s, name, item)?);
    }
    Ok(dedup(urls).into_iter().map(|u| u.url).collect())
}

/// Parses `--cors`: `*` (any origin), or origins written as etcd wants
/// them, `scheme://host:port` URLs without a path.
pub fn cors_origins(s: &Settings) -> Result<Vec<String>, ConfigError> {
    if s.raw("cors").trim() == "*" {
        return Ok(vec!["*".to_string()]);
    }
    let mut urls = Vec::new();
    for item in items(s, "cors")? {
        urls.push(parse_for_flag(s, "cors", item)?);
    }
    Ok(dedup(urls).into_iter().map(|u| u.url).collect())
}

/// Parses `--initial-cluster` (`name=url,name=url`; a name may repeat to give
/// a member several peer URLs).
pub fn initial_cluster(s: &Settings) -> Result<Vec<(String, String)>, ConfigError> {
    const FLAG: &str = "initial-cluster";
    let mut members = Vec::new();
    let mut seen_urls = BTreeSet::new();
    for item in s
        .raw(FLAG)
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        let (member, url) = item
            .split_once('=')
            .ok_or_else(|| s.invalid(FLAG, format!("{item:?} is not of the form name=url")))?;
        if member.is_empty() {
            return Err(s.invalid(FLAG, format!("{item:?} has an empty member name")));
        }
        let url = advertised(s, FLAG, url.trim())?;
        if !seen_urls.insert(url.url.clone()) {
            return Err(s.invalid(FLAG, format!("URL {} appears more than once", url.url)));
        }
        members.push((member.to_string(), url.url));
    }
    if members.is_empty() {
        return Err(s.invalid(FLAG, "no members given"));
    }
    Ok(members)
}

/// A URL reduced for comparison: `localhost` and 127.0.0.1 are the same
/// host (etcd resolves names before comparing; oxcd only knows localhost).
fn comparable(url: &str) -> String {
    match parse_url(url) {
        Ok(u) if u.scheme.starts_with("unix") => u.url,
        Ok(u) if u.host.eq_ignore_ascii_case("localhost") => format!("http://127.0.0.1:{}", u.port),
        Ok(u) => format!("http://{}:{}", u.host.to_ascii_lowercase(), u.port),
        Err(_) => url.to_string(),
    }
}

/// etcd's bootstrap checks: this member's name must be in the initial
/// cluster and, for a new cluster, with exactly its advertised peer URLs.
pub fn check_local_member(
    name: &str,
    cluster: &[(String, String)],
    advertise_peer_urls: &[String],
    new_cluster: bool,
) -> Result<(), ConfigError> {
    let mine: Vec<&String> = cluster
        .iter()
        .filter(|(member, _)| member == name)
        .map(|(_, url)| url)
        .collect();
    if mine.is_empty() {
        let listed: Vec<String> = cluster.iter().map(|(m, u)| format!("{m}={u}")).collect();
        return Err(ConfigError::Invalid(format!(
            "couldn't find local name {name:?} in the initial cluster configuration (--initial-cluster={})",
            listed.join(",")
        )));
    }
    if !new_cluster {
        return Ok(());
    }
    let advertised: BTreeSet<String> = advertise_peer_urls.iter().map(|u| comparable(u)).collect();
    let listed: BTreeSet<String> = mine.iter().map(|u| comparable(u)).collect();
    let missing: Vec<String> = mine
        .iter()
        .filter(|u| !advertised.contains(&comparable(u)))
        .map(|u| format!("{name}={u}"))
        .collect();
    if !missing.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "--initial-cluster has {} but missing from --initial-advertise-peer-urls={}",
            missing.join(","),
            advertise_peer_urls.join(",")
        )));
    }
    let extra: Vec<&str> = advertise_peer_urls
        .iter()
        .filter(|u| !listed.contains(&comparable(u)))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        let mine_as_given: Vec<String> = advertise_peer_urls
            .iter()
            .map(|u| format!("{name}={u}"))
            .collect();
        return Err(ConfigError::Invalid(format!(
            "--initial-advertise-peer-urls has {} but missing from --initial-cluster={}",
            extra.join(","),
            mine_as_given.join(",")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::settings::Source;
    use super::super::table;
    use super::*;

    fn with(name: &str, value: &str) -> Settings {
        let mut s = Settings::default();
        if let Some(spec) = table::spec(name) {
            s.set(spec, value.to_string(), Source::Flag);
        }
        s
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T, ConfigError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn listen_urls_bind_ips_and_localhost() {
        let s = with(
            "listen-client-urls",
            "http://localhost:2379, HTTP://0.0.0.0:1234,http://[::1]:0,http://localhost:2379,http://127.0.0.1:2379",
        );
        let got = listen_urls(&s, "listen-client-urls").unwrap_or_default();
        let addrs: Vec<String> = got.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(addrs, vec!["127.0.0.1:2379", "0.0.0.0:1234", "[::1]:0"]);
        assert_eq!(got[1].url, "http://0.0.0.0:1234");
    }

    #[test]
    fn listen_url_errors() {
        let cases = [
            (
                "127.0.0.1:2379",
                "URL scheme must be http, https, unix, or unixs: 127.0.0.1:2379",
            ),
            (
                "ftp://127.0.0.1:1",
                "URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1",
            ),
            (
                "http://127.0.0.1",
                "URL address does not have the form \"host:port\": http://127.0.0.1",
            ),
            (
                "http://127.0.0.1:2379/x",
                "URL must not contain a path: http://127.0.0.1:2379/x",
            ),
            (
                "http://127.0.0.1:99999",
                "URL port is out of range: http://127.0.0.1:99999",
            ),
            (
                "http://127.0.0.1:ab",
                "URL has an invalid port: http://127.0.0.1:ab",
            ),
            (
                "http://example.com:2379",
                "expected IP in URL for binding (http://example.com:2379)",
            ),
            ("http://a:1,", "empty URL in list"),
        ];
        for (value, reason) in cases {
            let s = with("listen-client-urls", value);
            assert_eq!(
                err_text(listen_urls(&s, "listen-client-urls")),
                format!("oxcd: invalid value {value:?} for --listen-client-urls: {reason}")
            );
        }
    }

    #[test]
    fn unix_urls_bind_their_host_and_port_as_a_path() {
        let s = with(
            "listen-peer-urls",
            "unix://etcd.unix:1,UNIXS://localhost:2,unix://etcd.unix:1",
        );
        let got = listen_urls(&s, "listen-peer-urls").unwrap_or_default();
        let addrs: Vec<String> = got.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(addrs, vec!["unix:etcd.unix:1", "unix:localhost:2"]);
        assert_eq!(got[1].url, "unixs://localhost:2");
        assert!(is_tls(&got[1].url) && !is_tls(&got[0].url));
        // Still etcd's host:port form.
        let s = with("listen-peer-urls", "unix:///tmp/etcd.sock");
        assert!(listen_urls(&s, "listen-peer-urls").is_err());
    }

    #[test]
    fn client_urls_may_be_https() {
        let s = with(
            "listen-client-urls",
            "https://127.0.0.1:2379,http://127.0.0.1:2479",
        );
        let endpoints = listen_urls(&s, "listen-client-urls").unwrap();
        assert!(is_tls(&endpoints[0].url));
        assert!(!is_tls(&endpoints[1].url));
    }

    #[test]
    fn advertise_urls_accept_host_names() {
        let s = with(
            "advertise-client-urls",
            "http://node1.example:2379,http://10.0.0.1:2379",
        );
        assert_eq!(
            advertise_urls(&s, "advertise-client-urls").unwrap_or_default(),
            vec!["http://node1.example:2379", "http://10.0.0.1:2379"]
        );
        let s = with("advertise-client-urls", "http://:2379");
        assert_eq!(
            err_text(advertise_urls(&s, "advertise-client-urls")),
            "oxcd: invalid value \"http://:2379\" for --advertise-client-urls: unexpected empty host (http://:2379)"
        );
    }

    #[test]
    fn cors_origins_are_urls_or_a_star() {
        assert_eq!(cors_origins(&with("cors", "*")).unwrap(), vec!["*"]);
        assert_eq!(
            cors_origins(&with("cors", "https://a.example:443,http://b:80")).unwrap(),
            vec!["https://a.example:443", "http://b:80"]
        );
        assert_eq!(
            err_text(cors_origins(&with("cors", "https://a.example"))),
            "oxcd: invalid value \"https://a.example\" for --cors: URL address does not have the form \"host:port\": https://a.example"
        );
    }

    #[test]
    fn initial_cluster_parsing() {
        let s = with(
            "initial-cluster",
            "a=http://h1:2380,b=http://h2:2380,a=http://h1:2381",
        );
        assert_eq!(
            initial_cluster(&s).unwrap_or_default(),
            vec![
                ("a".to_string(), "http://h1:2380".to_string()),
                ("b".to_string(), "http://h2:2380".to_string()),
                ("a".to_string(), "http://h1:2381".to_string()),
            ]
        );
        for (value, reason) in [
            ("a", "\"a\" is not of the form name=url"),
            ("=http://h:1", "\"=http://h:1\" has an empty member name"),
            (
                "a=http://h:1,b=http://h:1",
                "URL http://h:1 appears more than once",
            ),
            (
                "a=h:1",
                "URL scheme must be http, https, unix, or unixs: h:1",
            ),
            ("", "no members given"),
        ] {
            let s = with("initial-cluster", value);
            assert_eq!(
                err_text(initial_cluster(&s)),
                format!("oxcd: invalid value {value:?} for --initial-cluster: {reason}")
            );
        }
    }

    #[test]
    fn local_member_checks() {
        let cluster = vec![
            ("a".to_string(), "http://localhost:2380".to_string()),
            ("b".to_string(), "http://10.0.0.2:2380".to_string()),
        ];
        let ap = vec!["http://127.0.0.1:2380".to_string()];
        assert_eq!(check_local_member("a", &cluster, &ap, true), Ok(()));
        assert_eq!(
            err_text(check_local_member("c", &cluster, &ap, true)),
            "oxcd: couldn't find local name \"c\" in the initial cluster configuration (--initial-cluster=a=http://localhost:2380,b=http://10.0.0.2:2380)"
        );
        let other = vec!["http://127.0.0.1:2381".to_string()];
        assert_eq!(
            err_text(check_local_member("a", &cluster, &other, true)),
            "oxcd: --initial-cluster has a=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2381"
        );
        let two = vec![
            "http://127.0.0.1:2380".to_string(),
            "http://127.0.0.1:2390".to_string(),
        ];
        assert_eq!(
            err_text(check_local_member("a", &cluster, &two, true)),
            "oxcd: --initial-advertise-peer-urls has http://127.0.0.1:2390 but missing from --initial-cluster=a=http://127.0.0.1:2380,a=http://127.0.0.1:2390"
        );
        // Joining an existing cluster only needs the name to be listed.
        assert_eq!(check_local_member("a", &cluster, &other, false), Ok(()));
    }
}
