//! The JSON gateway against etcd 3.4.23's: the same curl requests (KV, txn
//! with a malformed body, leases by both paths, auth with a token in the
//! `Authorization` header, lock, election, a watch stream, bad JSON, wrong
//! method, unknown paths, `/v3beta/`) to a fresh server of each; status
//! codes and bodies must be equal once ids, terms, tokens and lease-named
//! keys are replaced by placeholders (in order of appearance, so equal ids
//! stay equal).

use crate::common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::ctl::run_with_timeout;
use common::{require_etcd, Cluster, ServerKind};

/// Fields whose values differ between two servers holding the same data.
const ID_FIELDS: &[&str] = &[
    "cluster_id",
    "member_id",
    "raft_term",
    "ID",
    "id",
    "lease",
    "leader",
    "token",
];

struct Curl {
    endpoint: String,
    token: Option<String>,
    lease: String,
    transcript: Vec<String>,
}

impl Curl {
    /// `curl -X method path -d body`; the status line and the body.
    fn send(&mut self, method: &str, path: &str, body: &str, timeout: Option<u32>) -> String {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-N", "-i", "-X", method]);
        if let Some(t) = timeout {
            cmd.args(["-m", &t.to_string()]);
        }
        if let Some(token) = &self.token {
            cmd.args(["-H", &format!("Authorization: {token}")]);
        }
        let body = body.replace("$LEASE", &self.lease);
        cmd.args([
            format!("http://{}{path}", self.endpoint),
            "-d".into(),
            body.clone(),
        ]);
        let out = run_with_timeout(cmd, None, Duration::from_secs(20));
        let raw = out.stdout_str();
        // curl asks before sending a large body.
        let raw = raw
            .strip_prefix("HTTP/1.1 100 Continue\r\n\r\n")
            .unwrap_or(&raw);
        let status = raw.lines().next().unwrap_or("").trim().to_string();
        let answer = raw
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or("")
            .trim()
            .to_string();
        self.transcript
            .push(format!("{method} {path} {body}\n  {status}\n  {answer}"));
        answer
    }

    fn post(&mut self, path: &str, body: &str) -> String {
        self.send("POST", path, body, None)
    }

    /// A JSON string field of `answer`.
    fn field(answer: &str, name: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
        v[name].as_str().unwrap_or_default().to_string()
    }
}

fn script(endpoint: String) -> Vec<String> {
    let mut c = Curl {
        endpoint,
        token: None,
        lease: String::new(),
        transcript: Vec::new(),
    };
    // KV, as etcd's e2e tests and its docs use it.
    c.post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#);
    c.post("/v3/kv/range", r#"{"key":"Zm9v"}"#);
    c.post("/v3beta/kv/range", r#"{"key":"Zm9v","serializable":true}"#);
    c.post(
        "/v3/kv/put",
        r#"{"key":"Zm9vMg==","value":"YmF6","prev_kv":true}"#,
    );
    c.post(
        "/v3/kv/put",
        r#"{"key":"Zm9vMg==","value":"cXV4","prevKv":true}"#,
    );
    c.post(
        "/v3/kv/range",
        r#"{"key":"Zm9v","range_end":"Zm9w","sort_order":"DESCEND","sort_target":"KEY","limit":"1","unknown_field":7}"#,
    );
    c.post(
        "/v3/kv/range",
        r#"{"key":"Zm9v","range_end":"Zm9w","count_only":true}"#,
    );
    c.post("/v3/kv/range", "");
    c.post(
        "/v3/kv/txn",
        r#"{"compare":[{"key":"Zm9v","result":"EQUAL","target":"CREATE","create_revision":0}],"success":[{"request_put":{"key":"Zm9v","value":"YmFy"}}],"failure":[{"request_range":{"key":"Zm9v"}}]}"#,
    );
    c.post(
        "/v3/kv/txn",
        r#"{"compare":[{"result":0,"target":1,"key":"Zm9v","TargetUnion":null}],"success":[{"Request":{"RequestPut":{"key":"Zm9v","value":"YmFy"}}}]}"#,
    );
    c.post("/v3/kv/deleterange", r#"{"key":"Zm9vMg==","prev_kv":true}"#);
    c.post("/v3/kv/compaction", r#"{"revision":"3"}"#);
    c.post("/v3/kv/range", r#"{"key":"Zm9v","revision":"2"}"#);
    c.post("/v3/kv/put", r#"{"value":"YmFy"}"#);
    // Leases, by both of etcd's paths.
    let granted = c.post("/v3/lease/grant", r#"{"TTL":"60"}"#);
    c.lease = Curl::field(&granted, "ID");
    c.post(
        "/v3/kv/put",
        r#"{"key":"bGs=","value":"dg==","lease":"$LEASE"}"#,
    );
    c.post("/v3/lease/timetolive", r#"{"ID":"$LEASE","keys":true}"#);
    c.post("/v3/kv/lease/leases", "{}");
    c.post("/v3/lease/keepalive", r#"{"ID":"$LEASE"}"#);
    c.post("/v3/kv/lease/revoke", r#"{"ID":"$LEASE"}"#);
    c.post("/v3/lease/revoke", r#"{"ID":"$LEASE"}"#);
    c.post(
        "/v3/kv/put",
        r#"{"key":"Zm9v","value":"YmFy","lease":"12345"}"#,
    );
    // Malformed input, methods and paths.
    c.post("/v3/kv/range", r#"{"key":"#);
    c.send("GET", "/v3/kv/range", "", None);
    c.post("/v3/kv/nothing", "{}");
    c.post("/v3alpha/kv/range", r#"{"key":"Zm9v"}"#);
    // Lock and election.
    let granted = c.post("/v3/lease/grant", r#"{"TTL":"60"}"#);
    c.lease = Curl::field(&granted, "ID");
    c.post("/v3/lock/lock", r#"{"name":"bXlsb2Nr","lease":"$LEASE"}"#);
    c.post(
        "/v3/election/campaign",
        r#"{"name":"ZWxlYw==","lease":"$LEASE","value":"djE="}"#,
    );
    c.post("/v3/election/leader", r#"{"name":"ZWxlYw=="}"#);
    c.post("/v3/election/proclaim", r#"{"value":"djI="}"#);
    c.post("/v3/election/resign", "{}");
    c.post("/v3/election/leader", r#"{"name":"bm9uZQ=="}"#);
    // A watch from revision 1 (the stream stays open: curl stops it).
    c.send(
        "POST",
        "/v3/watch",
        r#"{"create_request":{"key":"Zm9v","start_revision":1}}"#,
        Some(2),
    );
    // Auth with the token in the Authorization header.
    c.post("/v3/auth/user/add", r#"{"name":"root","password":"toor"}"#);
    c.post("/v3/auth/role/add", r#"{"name":"root"}"#);
    c.post("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#);
    c.post("/v3/auth/enable", "{}");
    c.post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#);
    c.post(
        "/v3/auth/authenticate",
        r#"{"name":"root","password":"wrong"}"#,
    );
    let auth = c.post(
        "/v3/auth/authenticate",
        r#"{"name":"root","password":"toor"}"#,
    );
    c.token = Some(Curl::field(&auth, "token"));
    c.post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#);
    c.post("/v3/auth/user/list", "{}");
    c.post("/v3/auth/disable", "{}");
    normalize(&c.transcript)
}

/// Ids and tokens as placeholders numbered by first appearance; lease-named
/// keys (lock and election keys end in the lease id) as one placeholder;
/// the Date header and Go's JSON error texts left out.
fn normalize(lines: &[String]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    lines
        .iter()
        .map(|line| {
            let mut out = line.clone();
            for field in ID_FIELDS {
                out = replace_values(&out, field, &mut seen);
            }
            if out.contains("/v3/lock/") || out.contains("/v3/election/") {
                out = replace_values(&out, "key", &mut HashMap::new());
            }
            if out.starts_with("POST /v3/kv/range {\"key\":\n") {
                // A JSON syntax error: Go's and serde's texts differ.
                out = replace_values(&out, "error", &mut HashMap::new());
                out = replace_values(&out, "message", &mut HashMap::new());
            }
            // etcd's gateway declares an HTTP trailer on errors; curl shows it.
            out.trim_end()
                .trim_end_matches("Grpc-Trailer-Content-Type: application/grpc")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// Every `"field":"value"` (or `"field":number`) with its value replaced
/// by `<n>`, the same value always by the same n.
fn replace_values(text: &str, field: &str, seen: &mut HashMap<String, usize>) -> String {
    let needle = format!("\"{field}\":");
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        out.push_str(&rest[..at + needle.len()]);
        rest = &rest[at + needle.len()..];
        let quoted = rest.starts_with('"');
        let body = if quoted { &rest[1..] } else { rest };
        let end = if quoted {
            body.find('"').unwrap_or(body.len())
        } else {
            body.find([',', '}', ']']).unwrap_or(body.len())
        };
        let value = &body[..end];
        let next = seen.len() + 1;
        let n = *seen.entry(value.to_string()).or_insert(next);
        out.push_str(&format!("<{n}>"));
        rest = if quoted {
            &body[(end + 1).min(body.len())..]
        } else {
            &body[end..]
        };
    }
    out.push_str(rest);
    out
}

#[test]
fn the_gateway_answers_as_etcds() {
    if !require_etcd("the_gateway_answers_as_etcds") {
        return;
    }
    let oxcd = Cluster::start(ServerKind::Oxcd);
    let ours = script(oxcd.endpoint());
    let etcd = Cluster::start(ServerKind::Etcd);
    let theirs = script(etcd.endpoint());
    let mut mismatches = Vec::new();
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if a != b {
            mismatches.push(format!("request {i}:\n oxcd: {a}\n etcd: {b}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn a_body_larger_than_a_request_may_be_is_refused_unread() {
    let oxcd = Cluster::start_with_args(ServerKind::Oxcd, &["--max-request-bytes=1024"]);
    let mut c = Curl {
        endpoint: oxcd.endpoint(),
        token: None,
        lease: String::new(),
        transcript: Vec::new(),
    };
    let big = format!(r#"{{"key":"Zm9v","value":"{}"}}"#, "A".repeat(4 << 20));
    let file = oxcd.dir().join("big.json");
    std::fs::write(&file, big).unwrap();
    c.post("/v3/kv/put", &format!("@{}", file.display()));
    assert!(
        c.transcript[0].contains("429 Too Many Requests")
            && c.transcript[0].contains("larger than"),
        "{}",
        c.transcript[0]
    );
    c.post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#);
    assert!(c.transcript[1].contains("200 OK"), "{}", c.transcript[1]);
}

#[test]
fn the_gateway_can_be_turned_off() {
    let oxcd = Cluster::start_with_args(ServerKind::Oxcd, &["--enable-grpc-gateway=false"]);
    let mut c = Curl {
        endpoint: oxcd.endpoint(),
        token: None,
        lease: String::new(),
        transcript: Vec::new(),
    };
    c.post("/v3/kv/range", r#"{"key":"Zm9v"}"#);
    assert!(c.transcript[0].contains("404"), "{}", c.transcript[0]);
}

#[test]
fn a_watch_closed_mid_stream_frees_its_slot() {
    // One gateway call at a time: a watch holds the only slot while open.
    let oxcd = Cluster::start_with_args(ServerKind::Oxcd, &["--max-concurrent-streams=1"]);
    let url = format!("http://{}/v3/watch", oxcd.endpoint());
    let mut watch = Command::new("curl")
        .args([
            "-sN",
            "-X",
            "POST",
            &url,
            "-d",
            r#"{"create_request":{"key":"Zm9v"}}"#,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("curl");
    std::thread::sleep(Duration::from_millis(500));
    let mut c = Curl {
        endpoint: oxcd.endpoint(),
        token: None,
        lease: String::new(),
        transcript: Vec::new(),
    };
    c.send("POST", "/v3/kv/range", r#"{"key":"Zm9v"}"#, Some(1));
    assert!(
        !c.transcript[0].contains("200 OK"),
        "the open watch holds the only slot: {}",
        c.transcript[0]
    );
    // The client goes away mid-stream: the slot and the watch are freed.
    watch.kill().unwrap();
    watch.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#);
    c.post("/v3/kv/range", r#"{"key":"Zm9v"}"#);
    assert!(c.transcript[1].contains("200 OK"), "{}", c.transcript[1]);
    assert!(c.transcript[2].contains("YmFy"), "{}", c.transcript[2]);
}
