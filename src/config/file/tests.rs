use super::*;

fn pairs(text: &str) -> Result<Vec<(&'static str, String)>, ConfigError> {
    parse(text, "c.toml").map(|v| v.into_iter().map(|(s, val)| (s.name, val)).collect())
}

#[test]
fn values_of_every_shape() {
    let got = pairs(
        r#"
name = "m1"
heartbeat-interval = 100
pre-vote = true
listen-client-urls = ["http://127.0.0.1:2379", "http://127.0.0.1:22379"]
log-format = "json"
"#,
    );
    let mut got = got.unwrap_or_default();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("heartbeat-interval", "100".to_string()),
            (
                "listen-client-urls",
                "http://127.0.0.1:2379,http://127.0.0.1:22379".to_string()
            ),
            ("log-format", "json".to_string()),
            ("name", "m1".to_string()),
            ("pre-vote", "true".to_string()),
        ]
    );
}

#[test]
fn unknown_key_is_named() {
    let err = pairs("name = \"a\"\nbogus-key = 1\n")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("oxcd: unknown key \"bogus-key\" in config file c.toml")
    );
}

#[test]
fn loader_keys_are_not_allowed() {
    assert!(matches!(
        pairs("config-file = \"x\""),
        Err(ConfigError::UnknownFileKey { .. })
    ));
    assert!(matches!(
        pairs("version = true"),
        Err(ConfigError::UnknownFileKey { .. })
    ));
}

#[test]
fn bad_values_and_syntax() {
    let err = pairs("[member]\nname = \"a\"\n")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("oxcd: unknown key \"member\" in config file c.toml")
    );
    let err = pairs("max-wals = 1.5")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("\"max-wals\" must be a string"), "{err}");
    let err = pairs("name = ")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("oxcd: cannot load config file c.toml: "),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let mut s = Settings::default();
    let err = apply(&mut s, Path::new("/nonexistent/oxcd.toml"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("oxcd: cannot load config file /nonexistent/oxcd.toml: "),
        "{err}"
    );
}

fn pairs_from(path: &str, text: &str) -> Result<Vec<(&'static str, String)>, String> {
    parse(text, path)
        .map(|v| v.into_iter().map(|(s, val)| (s.name, val)).collect())
        .map_err(|e| e.to_string())
}

/// The shapes etcd's own etcd.conf.yml uses: empty values, quoted and bare
/// strings, flow and block lists, the two TLS sections.
#[test]
fn etcd_yaml_config() {
    let got = pairs_from(
        "etcd.conf.yml",
        r#"
# comment
name: 'm1'
data-dir:
snapshot-count: 10000
listen-peer-urls: http://localhost:2380
cors:
initial-cluster-state: 'new'
strict-reconfig-check: false
client-transport-security:
  cert-file:
  client-cert-auth: true
  trusted-ca-file: /etc/ca.pem
peer-transport-security:
  auto-tls: true
log-outputs: [stderr]
cipher-suites: [
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
]
auto-compaction-retention: "1"
grpc-keepalive-timeout: 20000000000
enable-v2: off
"#,
    );
    assert_eq!(
        got,
        Ok(vec![
            ("name", "m1".to_string()),
            ("snapshot-count", "10000".to_string()),
            ("listen-peer-urls", "http://localhost:2380".to_string()),
            ("initial-cluster-state", "new".to_string()),
            ("strict-reconfig-check", "false".to_string()),
            ("client-cert-auth", "true".to_string()),
            ("trusted-ca-file", "/etc/ca.pem".to_string()),
            ("peer-auto-tls", "true".to_string()),
            ("log-outputs", "stderr".to_string()),
            (
                "cipher-suites",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
                    .to_string()
            ),
            ("auto-compaction-retention", "1".to_string()),
            ("grpc-keepalive-timeout", "20000000000ns".to_string()),
            ("enable-v2", "false".to_string()),
        ])
    );
}

#[test]
fn toml_takes_the_tls_sections_too() {
    let got = pairs_from(
        "c.toml",
        "name = \"a\"\n[peer-transport-security]\ncert-file = \"/p.pem\"\n",
    );
    assert_eq!(
        got,
        Ok(vec![
            ("name", "a".to_string()),
            ("peer-cert-file", "/p.pem".to_string())
        ])
    );
}

#[test]
fn unknown_keys_in_sections_are_named() {
    for (path, text) in [
        ("c.yaml", "peer-transport-security:\n  bogus: 1\n"),
        ("c.toml", "[peer-transport-security]\nbogus = 1\n"),
    ] {
        assert_eq!(
            pairs_from(path, text),
            Err(format!(
                "oxcd: unknown key \"peer-transport-security.bogus\" in config file {path}"
            ))
        );
    }
}

#[test]
fn other_names_are_read_as_toml_then_yaml() {
    assert_eq!(
        pairs_from("etcd.conf", "name = \"t\"\n"),
        Ok(vec![("name", "t".to_string())])
    );
    assert_eq!(
        pairs_from("etcd.conf", "name: y\nmax-txn-ops: 7\n"),
        Ok(vec![
            ("name", "y".to_string()),
            ("max-txn-ops", "7".to_string())
        ])
    );
    // Neither: the TOML error is the one shown.
    let err = pairs_from("etcd.conf", "name: [\n").unwrap_err();
    assert!(
        err.starts_with("oxcd: cannot load config file etcd.conf: "),
        "{err}"
    );
}

#[test]
fn yaml_that_is_not_a_mapping_or_holds_bad_values() {
    let err = pairs_from("c.yml", "just words\n").unwrap_err();
    assert!(err.contains("must be a mapping"), "{err}");
    let err = pairs_from("c.yml", "max-wals: 1.5\n").unwrap_err();
    assert!(err.contains("\"max-wals\" must be a string"), "{err}");
    let err = pairs_from("c.yml", "name: {a: 1}\n").unwrap_err();
    assert!(err.contains("not a mapping"), "{err}");
    assert_eq!(pairs_from("c.yml", ""), Ok(vec![]));
    assert_eq!(
        pairs_from("c.yml", "bogus: 1\n"),
        Err("oxcd: unknown key \"bogus\" in config file c.yml".to_string())
    );
}
