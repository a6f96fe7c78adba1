//! `--discovery-srv` / `--discovery-srv-name`: three members bootstrap from
//! DNS SRV records served by dnsmasq, each resolving through the system
//! resolver inside a network namespace of its own
//! (`tests/tools/discovery_srv.sh`). The https records (with a service-name
//! suffix) run on oxcd and on etcd 3.4.23 and must give the same cluster;
//! the http records run on oxcd only (etcd 3.4 ignores them, a bug 3.5
//! fixed: oxcd follows 3.5).

use crate::common;

use std::path::Path;
use std::process::Command;

use common::ServerKind;

/// Whether this machine can run the scenario (root for namespaces, and
/// dnsmasq); says why not. CI has both (scripts/test.sh installs dnsmasq).
fn runnable(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let dnsmasq = Path::new("/usr/sbin/dnsmasq").exists();
    let usable = root && dnsmasq;
    if !usable {
        assert!(
            std::env::var_os("OXCD_REQUIRE_ETCD").is_none(),
            "{test}: needs root and dnsmasq (dnsmasq-base), required here"
        );
        eprintln!("{test}: skipped: needs root and dnsmasq (dnsmasq-base)");
    }
    usable
}

/// Runs the scenario with `kind`'s binary; its normalised output.
fn bootstrap_from_srv(kind: ServerKind, scheme: &str, suffix: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let mut command = Command::new("unshare");
    command
        .args(["--net", "--mount", "--", "bash"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tools/discovery_srv.sh"
        ))
        .env("SERVER", kind.binary())
        .env("ETCDCTL", common::ctl::etcdctl_bin())
        .env("WORK", work.path())
        .env("SCHEME", scheme)
        .env("SUFFIX", suffix);
    let _pki;
    if scheme == "https" {
        let pki = common::pki::Pki::new(work.path(), "peer-ca");
        let hosts = [
            "m1.example.test",
            "m2.example.test",
            "m3.example.test",
            "127.0.0.1",
        ];
        let (cert, key) = pki.issue("peer", "peer", &hosts, false);
        command
            .env("CA", pki.ca_file())
            .env("CERT", cert)
            .env("KEY", key);
        _pki = Some(pki);
    }
    let out = command.output().expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let logs: String = ["n1", "n2", "n3", "n4", "dnsmasq"]
        .iter()
        .map(|n| {
            let log = std::fs::read_to_string(work.path().join(format!("{n}.log")));
            format!("--- {n}\n{}", log.unwrap_or_default())
        })
        .collect();
    assert!(
        out.status.success(),
        "{}: scenario failed\n{stdout}\n{}\n{logs}",
        kind.label(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn expected(scheme: &str) -> String {
    format!(
        "member n1 {scheme}://m1.example.test:12380\n\
         member n2 {scheme}://m2.example.test:22380\n\
         member n3 {scheme}://m3.example.test:32380\n\
         put ok\n\
         get from-srv\n\
         stray: refused: cannot find local etcd member \"n4\" in SRV records\n"
    )
}

#[test]
fn members_bootstrap_from_http_srv_records() {
    if !runnable("members_bootstrap_from_http_srv_records") {
        return;
    }
    assert_eq!(
        bootstrap_from_srv(ServerKind::Oxcd, "http", ""),
        expected("http")
    );
}

#[test]
fn members_bootstrap_from_https_srv_records_with_a_name_as_etcd_does() {
    if !runnable("members_bootstrap_from_https_srv_records_with_a_name_as_etcd_does") {
        return;
    }
    let oxcd = bootstrap_from_srv(ServerKind::Oxcd, "https", "blue");
    assert_eq!(oxcd, expected("https"));
    if common::require_etcd("members_bootstrap_from_https_srv_records_with_a_name_as_etcd_does") {
        assert_eq!(bootstrap_from_srv(ServerKind::Etcd, "https", "blue"), oxcd);
    }
}
