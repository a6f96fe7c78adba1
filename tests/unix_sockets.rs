//! `unix://` and `unixs://` URLs, as etcd serves them: the URL's `host:port`
//! names a socket file (relative to the working directory). A single member
//! with a unix peer URL (etcd's TestEtcdUnixPeers), a 3-member cluster whose
//! members talk to each other only over unix sockets, with TLS over them
//! too, and etcdctl reaching a member over a unix client URL.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ctl::{etcdctl_command, run_with_timeout};
use common::pki::Pki;
use common::{free_port, oxcd_bin, require_etcd, CtlOutput};

/// Member processes, killed when the test ends.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(dir: &Path, name: &str, args: &[String]) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    Command::new(oxcd_bin())
        .current_dir(dir)
        .arg(format!("--name={name}"))
        .arg(format!("--data-dir={name}.data"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn oxcd")
}

/// Retries `args` against `endpoint` until it succeeds. etcdctl runs in
/// `dir`, where a unix endpoint's path is resolved.
fn ctl_until_ok(dir: &Path, endpoint: &str, args: &[&str]) -> CtlOutput {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut cmd = etcdctl_command(endpoint, args);
        cmd.arg("--command-timeout=3s").current_dir(dir);
        let out = run_with_timeout(cmd, None, Duration::from_secs(10));
        if out.success() || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_member_with_a_unix_peer_url_serves() {
    if !require_etcd("a_member_with_a_unix_peer_url_serves") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let client = format!("http://127.0.0.1:{}", free_port());
    let _procs = Procs(vec![spawn(
        dir.path(),
        "e1",
        &[
            "--listen-peer-urls=unix://etcd.unix:1".into(),
            "--initial-advertise-peer-urls=unix://etcd.unix:1".into(),
            "--initial-cluster=e1=unix://etcd.unix:1".into(),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
        ],
    )]);
    let put = ctl_until_ok(dir.path(), &client, &["put", "k", "v"]);
    assert!(put.success(), "{put:?}\n{}", log(dir.path(), "e1"));
    assert!(dir.path().join("etcd.unix:1").exists());
    let list = ctl_until_ok(dir.path(), &client, &["member", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("unix://etcd.unix:1"),
        "{list:?}"
    );
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// Three members, peers over unix sockets (`unixs` with certificates when
/// `tls`); member 1 also serves clients on a unix socket.
fn three_members_over_unix_sockets(tls: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let scheme = if tls { "unixs" } else { "unix" };
    let names = ["m1", "m2", "m3"];
    let peer = |name: &str| format!("{scheme}://{name}.peer:1");
    let cluster = names
        .iter()
        .map(|n| format!("{n}={}", peer(n)))
        .collect::<Vec<_>>()
        .join(",");
    let mut tls_args = Vec::new();
    if tls {
        // The certificate names the URL's host, as for https.
        let pki = Pki::new(dir.path(), "peer-ca");
        let (cert, key) = pki.issue("peer", "peer", &["m1.peer", "m2.peer", "m3.peer"], false);
        tls_args = vec![
            format!("--peer-cert-file={cert}"),
            format!("--peer-key-file={key}"),
            format!("--peer-trusted-ca-file={}", pki.ca_file()),
            "--peer-client-cert-auth".to_string(),
        ];
    }
    let http_clients: Vec<String> = names
        .iter()
        .map(|_| format!("http://127.0.0.1:{}", free_port()))
        .collect();
    let mut procs = Procs(Vec::new());
    for (i, name) in names.iter().enumerate() {
        let mut clients = http_clients[i].clone();
        if i == 0 {
            clients = format!("{clients},unix://client.sock:1");
        }
        let mut args = vec![
            format!("--listen-peer-urls={}", peer(name)),
            format!("--initial-advertise-peer-urls={}", peer(name)),
            format!("--initial-cluster={cluster}"),
            format!("--listen-client-urls={clients}"),
            format!("--advertise-client-urls={clients}"),
        ];
        args.extend(tls_args.iter().cloned());
        procs.0.push(spawn(dir.path(), name, &args));
    }
    let logs = || {
        names
            .iter()
            .map(|n| log(dir.path(), n))
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    // Written through member 1's unix client socket, read on member 3.
    let put = ctl_until_ok(dir.path(), "unix://client.sock:1", &["put", "over", "unix"]);
    assert!(put.success(), "{put:?}\n{}", logs());
    let get = ctl_until_ok(dir.path(), &http_clients[2], &["get", "over"]);
    assert_eq!(
        String::from_utf8_lossy(&get.stdout),
        "over\nunix\n",
        "{get:?}\n{}",
        logs()
    );
    let health = ctl_until_ok(
        dir.path(),
        &http_clients.join(","),
        &["endpoint", "health", "--cluster"],
    );
    assert!(health.success(), "{health:?}\n{}", logs());
}

#[test]
fn three_members_talk_over_unix_peer_sockets() {
    if require_etcd("three_members_talk_over_unix_peer_sockets") {
        three_members_over_unix_sockets(false);
    }
}

#[test]
fn three_members_talk_tls_over_unix_peer_sockets() {
    if require_etcd("three_members_talk_tls_over_unix_peer_sockets") {
        three_members_over_unix_sockets(true);
    }
}
