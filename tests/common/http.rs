//! A plain HTTP/1.1 client for the endpoints etcd serves beside gRPC
//! (`/health`, `/metrics`, ...): one request per connection, no TLS.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One answer: status code, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `method path` on `endpoint` (`127.0.0.1:port`).
pub fn request(endpoint: &str, method: &str, path: &str) -> HttpAnswer {
    request_with(endpoint, method, path, &[])
}

/// Like [`request`] with extra headers; a `Host` among them replaces the
/// endpoint as the Host header.
pub fn request_with(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpAnswer {
    let mut stream = TcpStream::connect(endpoint).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let host = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or(endpoint, |(_, v)| *v);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(
        stream,
        "{head}Connection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    parse(&String::from_utf8_lossy(&raw))
}

pub fn get(endpoint: &str, path: &str) -> HttpAnswer {
    request(endpoint, "GET", path)
}

fn parse(raw: &str) -> HttpAnswer {
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Parses `/metrics` text with the Prometheus project's own Python parser
/// (`prometheus_client`), returning `(sample name with labels, value)`:
/// `etcd_server_has_leader` or `grpc_server_handled_total{grpc_code="OK",...}`
/// (labels sorted by name).
pub fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    use std::process::{Command, Stdio};
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/parse_metrics.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        .collect()
}

/// The value of the one sample named exactly `name` (labels included).
pub fn sample(samples: &[(String, f64)], name: &str) -> Option<f64> {
    samples.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}
