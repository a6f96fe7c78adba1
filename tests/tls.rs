//! Client TLS as operators deploy it, driven with etcdctl's `--cacert
//! --cert --key`: https client URLs beside http ones, `--client-cert-auth`
//! refusing a client without a certificate and one whose certificate another
//! CA signed, `--auto-tls`, and start-up errors that name the flag. The
//! certificates are made here with rcgen.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::standalone::{ctl, spawn, wait_serving, Member};
use common::{free_port, oxcd_bin};

/// Runs oxcd expecting it to exit at start-up; returns its stderr.
fn boot_error(dir: &Path, listen: &str, extra: &[String]) -> String {
    let mut member = spawn(dir, listen, listen, extra);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = member.child.try_wait() {
            assert_eq!(status.code(), Some(1), "exit status");
            return std::fs::read_to_string(&member.log).unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "oxcd did not refuse to start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn client_cert_auth_admits_only_certificates_of_the_trusted_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let other = Pki::new(dir.path(), "other-ca");
    let (server_cert, server_key) = pki.issue("server", "server", &["127.0.0.1"], false);
    let (client_cert, client_key) = pki.issue("client", "root", &["client.local"], false);
    let (stranger_cert, stranger_key) = other.issue("stranger", "root", &["client.local"], false);

    let https = format!("https://127.0.0.1:{}", free_port());
    let http = format!("http://127.0.0.1:{}", free_port());
    let mut member = spawn(
        dir.path(),
        &format!("{https},{http}"),
        &https,
        &[
            format!("--cert-file={server_cert}"),
            format!("--key-file={server_key}"),
            format!("--trusted-ca-file={}", pki.ca_file()),
            "--client-cert-auth".to_string(),
        ],
    );
    let ca = format!("--cacert={}", pki.ca_file());
    let cert = format!("--cert={client_cert}");
    let key = format!("--key={client_key}");
    let trusted = [ca.as_str(), cert.as_str(), key.as_str()];
    wait_serving(&mut member, &https, &trusted);

    let put = ctl(&https, &trusted, &["put", "secure", "yes"]);
    assert!(put.success(), "{put:?}");
    let got = ctl(&https, &trusted, &["get", "secure", "--print-value-only"]);
    assert_eq!(got.stdout_str().trim(), "yes", "{got:?}");

    // No client certificate: the handshake is refused.
    let bare = ctl(&https, &[ca.as_str()], &["get", "secure"]);
    assert!(!bare.success(), "{bare:?}");
    // A certificate from another CA: refused too.
    let stranger = [
        ca.clone(),
        format!("--cert={stranger_cert}"),
        format!("--key={stranger_key}"),
    ];
    let stranger: Vec<&str> = stranger.iter().map(String::as_str).collect();
    let refused = ctl(&https, &stranger, &["get", "secure"]);
    assert!(!refused.success(), "{refused:?}");
    // Without the CA the client does not trust the server.
    let untrusting = ctl(&https, &[cert.as_str(), key.as_str()], &["get", "secure"]);
    assert!(!untrusting.success(), "{untrusting:?}");

    // The http URL of the same member serves without certificates, as
    // etcd's does (client-cert-auth applies to https URLs).
    let plain = ctl(&http, &[], &["get", "secure", "--print-value-only"]);
    assert_eq!(plain.stdout_str().trim(), "yes", "{plain:?}");

    // The HTTP endpoints answer over TLS on the same port.
    let health = Command::new("curl")
        .args(["-sS", "--cacert", &pki.ca_file()])
        .args(["--cert", &client_cert, "--key", &client_key])
        .arg(format!("{https}/health"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&health.stdout),
        r#"{"health":"true","reason":""}"#,
        "{health:?}"
    );
    let log = std::fs::read_to_string(&member.log).unwrap();
    assert!(log.contains("TLS handshake failed"), "{log}");
}

#[test]
fn auto_tls_makes_a_certificate_once_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let https = format!("https://127.0.0.1:{}", free_port());
    let insecure = ["--insecure-transport=false", "--insecure-skip-tls-verify"];
    let mut member = spawn(dir.path(), &https, &https, &["--auto-tls".to_string()]);
    wait_serving(&mut member, &https, &insecure);
    let put = ctl(&https, &insecure, &["put", "auto", "tls"]);
    assert!(put.success(), "{put:?}");
    // Verifying clients refuse a self-signed certificate they do not know.
    let verifying = ctl(&https, &[], &["get", "auto"]);
    assert!(!verifying.success(), "{verifying:?}");

    let cert_path = member.data_dir.join("fixtures/client/cert.pem");
    let first = std::fs::read(&cert_path).expect("auto-tls certificate");
    let key_mode = std::fs::metadata(member.data_dir.join("fixtures/client/key.pem"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap();
    assert_eq!(key_mode, 0o600);
    drop(member);

    let mut again = spawn(dir.path(), &https, &https, &["--auto-tls".to_string()]);
    wait_serving(&mut again, &https, &insecure);
    assert_eq!(
        std::fs::read(&cert_path).unwrap(),
        first,
        "certificate remade"
    );
    let got = ctl(&https, &insecure, &["get", "auto", "--print-value-only"]);
    assert_eq!(got.stdout_str().trim(), "tls");
}

#[test]
fn an_expired_server_certificate_is_refused_by_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue("old", "server", &["127.0.0.1"], true);
    let https = format!("https://127.0.0.1:{}", free_port());
    let http = format!("http://127.0.0.1:{}", free_port());
    let mut member = spawn(
        dir.path(),
        &format!("{https},{http}"),
        &https,
        &[format!("--cert-file={cert}"), format!("--key-file={key}")],
    );
    wait_serving(&mut member, &http, &[]);
    let ca = format!("--cacert={}", pki.ca_file());
    let out = ctl(&https, &[ca.as_str()], &["get", "x"]);
    assert!(!out.success(), "{out:?}");
}

#[test]
fn bad_tls_settings_stop_the_boot_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue("server", "server", &["127.0.0.1"], false);
    let (_, other_key) = pki.issue("other", "other", &["127.0.0.1"], false);
    let https = format!("https://127.0.0.1:{}", free_port());
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![],
            format!("TLS key/cert (--cert-file, --key-file) must be provided for client url {https} with HTTPS scheme"),
        ),
        (
            vec![
                "--cert-file=/nonexistent/cert.pem".to_string(),
                format!("--key-file={key}"),
            ],
            "--cert-file: cannot read /nonexistent/cert.pem".to_string(),
        ),
        (
            vec![format!("--cert-file={cert}"), format!("--key-file={other_key}")],
            "--cert-file / --key-file: the private key does not belong to the certificate"
                .to_string(),
        ),
        (
            vec![format!("--cert-file={key}"), format!("--key-file={key}")],
            "--cert-file:".to_string(),
        ),
        (
            vec![
                format!("--cert-file={cert}"),
                format!("--key-file={key}"),
                "--client-cert-auth".to_string(),
            ],
            "TLS needs --trusted-ca-file (needed by --client-cert-auth)".to_string(),
        ),
        (
            vec![
                format!("--cert-file={cert}"),
                format!("--key-file={key}"),
                "--cipher-suites=TLS_RSA_WITH_RC4_128_SHA".to_string(),
            ],
            "--cipher-suites: TLS_RSA_WITH_RC4_128_SHA is not supported".to_string(),
        ),
    ];
    for (i, (flags, expected)) in cases.iter().enumerate() {
        let case_dir = dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(&case_dir).unwrap();
        let log = boot_error(&case_dir, &https, flags);
        assert!(
            log.contains(expected),
            "{flags:?}: expected {expected:?} in\n{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[test]
fn the_example_config_serves_tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "certs");
    pki.issue("server", "server", &["127.0.0.1"], false);
    let (client_cert, client_key) = pki.issue("client", "root", &["client.local"], false);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/tls-client.toml");
    let (https, http) = (free_port(), free_port());
    let peer = format!("http://127.0.0.1:{}", free_port());
    // The file's ports are overridden; its TLS settings and relative
    // certificate paths (certs/...) are used as written.
    let mut member = start_from_config(
        dir.path(),
        config,
        "tls-demo.oxcd",
        &[
            format!("--listen-client-urls=https://127.0.0.1:{https},http://127.0.0.1:{http}"),
            format!("--advertise-client-urls=https://127.0.0.1:{https}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=tls-demo={peer}"),
        ],
    );
    let ca = format!("--cacert={}", pki.ca_file());
    let cert = format!("--cert={client_cert}");
    let key = format!("--key={client_key}");
    let endpoint = format!("https://127.0.0.1:{https}");
    wait_serving(&mut member, &endpoint, &[&ca, &cert, &key]);
    let put = ctl(&endpoint, &[&ca, &cert, &key], &["put", "from-config", "1"]);
    assert!(put.success(), "{put:?}");
    let bare = ctl(&endpoint, &[&ca], &["get", "from-config"]);
    assert!(!bare.success(), "{bare:?}");
    assert!(member.data_dir.is_dir());
}

/// config/production.yml, an etcd 3.4 production config with every
/// setting such a deployment uses, starts oxcd as it is (only its ports
/// are moved to free ones) and serves with client certificates.
#[test]
fn an_etcd_production_yaml_config_starts_oxcd() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "pki");
    pki.issue("server", "server", &["127.0.0.1"], false);
    pki.issue("peer", "peer", &["127.0.0.1"], false);
    let (client_cert, client_key) = pki.issue("client", "root", &["client.local"], false);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/production.yml");
    let (client, peer, metrics) = (free_port(), free_port(), free_port());
    let mut member = start_from_config(
        dir.path(),
        config,
        "infra0.oxcd",
        &[
            format!("--listen-client-urls=https://127.0.0.1:{client}"),
            format!("--advertise-client-urls=https://127.0.0.1:{client}"),
            format!("--listen-peer-urls=https://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=https://127.0.0.1:{peer}"),
            format!("--initial-cluster=infra0=https://127.0.0.1:{peer}"),
            format!("--listen-metrics-urls=http://127.0.0.1:{metrics}"),
        ],
    );
    let ca = format!("--cacert={}", pki.ca_file());
    let cert = format!("--cert={client_cert}");
    let key = format!("--key={client_key}");
    let endpoint = format!("https://127.0.0.1:{client}");
    wait_serving(&mut member, &endpoint, &[&ca, &cert, &key]);
    let put = ctl(&endpoint, &[&ca, &cert, &key], &["put", "from-yaml", "1"]);
    assert!(put.success(), "{put:?}");
    assert!(
        member.data_dir.join("wal-dedicated").is_dir(),
        "the file's wal-dir is used"
    );
    let page = common::http::get(&format!("127.0.0.1:{metrics}"), "/metrics").body;
    assert!(
        page.contains("grpc_server_handling_seconds"),
        "metrics: extensive from the file"
    );
}

/// oxcd started in `dir` from `config` (relative paths in it are relative
/// to `dir`) with `flags` after it; its data dir is `dir/data_dir`.
fn start_from_config(dir: &Path, config: &str, data_dir: &str, flags: &[String]) -> Member {
    let log = dir.join("oxcd.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(oxcd_bin())
        .current_dir(dir)
        .arg(format!("--config-file={config}"))
        .args(flags)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Member {
        child,
        data_dir: dir.join(data_dir),
        log,
    }
}
