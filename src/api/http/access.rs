//! etcd's access control for HTTP requests on the client port (the JSON
//! gateway, /health, /metrics, /version; not gRPC): `--host-whitelist`
//! refuses a plain-HTTP request whose Host is not listed (against DNS
//! rebinding, CVE-2018-5702), and `--cors` decides which origins get CORS
//! headers; any OPTIONS request is a preflight answered 200.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use http::{header, HeaderValue, Method, Response, StatusCode};

/// `--cors` and `--host-whitelist` for one listener.
#[derive(Debug, Clone)]
pub struct AccessControl {
    cors: Arc<Vec<String>>,
    hosts: Arc<Vec<String>>,
    /// A TLS listener: any Host is accepted.
    secure: bool,
}

impl AccessControl {
    pub fn new(cors: &[String], hosts: &[String], secure: bool) -> AccessControl {
        AccessControl {
            cors: Arc::new(cors.to_vec()),
            hosts: Arc::new(hosts.to_vec()),
            secure,
        }
    }

    /// An empty list or one holding `*` lets everything through, as in etcd.
    fn listed(list: &[String], name: &str) -> bool {
        list.is_empty() || list.iter().any(|item| item == "*" || item == name)
    }

    /// The origin to put in `Access-Control-Allow-Origin`, if any.
    fn allowed_origin(&self, request: &Request) -> Option<HeaderValue> {
        if Self::listed(&self.cors, "*") {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = request.headers().get(header::ORIGIN)?;
        Self::listed(&self.cors, origin.to_str().ok()?).then(|| origin.clone())
    }
}

/// The middleware (axum's `from_fn_with_state`).
pub async fn guard(
    State(access): State<AccessControl>,
    request: Request,
    next: Next,
) -> Response<Body> {
    if !access.secure {
        let host = hostname(&request);
        if !AccessControl::listed(&access.hosts, &host) {
            tracing::warn!(
                host,
                "rejecting HTTP request to prevent DNS rebinding attacks"
            );
            return super::plain_error(StatusCode::MISDIRECTED_REQUEST, &unknown_host_text(&host));
        }
    }
    let origin = access.allowed_origin(&request);
    let mut response = if request.method() == Method::OPTIONS {
        Response::new(Body::empty())
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("accept, content-type, authorization"),
        );
    }
    response
}

/// The request's host name without the port (the Host header, or the
/// authority of an HTTP/2 request).
fn hostname(request: &Request) -> String {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    strip_port(host).to_string()
}

/// `host:port` -> `host`, `[v6]:port` -> `v6`; anything else as it is.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((v6, port)) = rest.split_once("]:") {
            if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                return v6;
            }
        }
        return host;
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// etcd's explanation of the refusal, so operators find the flag.
fn unknown_host_text(host: &str) -> String {
    format!(
        "\netcd received your request, but the Host header was unrecognized.\n\n\
         To fix this, choose one of the following options:\n\
         - Enable TLS, then any HTTPS request will be allowed.\n\
         - Add the hostname you want to use to the whitelist in settings.\n  \
         - e.g. etcd --host-whitelist {host:?}\n\n\
         This requirement has been added to help prevent \"DNS Rebinding\" attacks (CVE-2018-5702).\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_like_go_does() {
        assert_eq!(strip_port("example.com:2379"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("127.0.0.1:2379"), "127.0.0.1");
        assert_eq!(strip_port("[::1]:2379"), "::1");
        assert_eq!(strip_port("::1"), "::1");
    }

    #[test]
    fn a_star_or_nothing_lets_everything_through() {
        assert!(AccessControl::listed(&[], "a"));
        assert!(AccessControl::listed(&["*".into()], "a"));
        assert!(AccessControl::listed(&["a".into(), "b".into()], "b"));
        assert!(!AccessControl::listed(&["a".into()], "b"));
    }
}
