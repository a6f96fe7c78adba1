//! Maintenance.Snapshot in etcd's backend format: a history (puts, deletes,
//! a lease with keys, a user and a role, a compaction) written to oxcd and
//! saved with `etcdctl snapshot save`; `etcdctl snapshot status` reads it
//! and reports the revision etcd reports for the same history; `etcdctl
//! snapshot restore` turns it into an etcd data dir, and a real etcd 3.4.23
//! started on it serves the same keys, values, revisions, versions, leases,
//! users and roles as oxcd did.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{etcd_bin, etcdctl, free_port, require_etcd, Cluster, ServerKind, CTL_TIMEOUT};
use serde_json::Value;

/// The same history on either server; returns the lease id granted.
fn write_history(cluster: &Cluster) -> String {
    let ok = |args: &[&str]| {
        let out = cluster.ctl(args);
        assert!(out.success(), "{args:?}: {out:?}");
        out.stdout_str()
    };
    ok(&["put", "a", "1"]);
    ok(&["put", "b", "2"]);
    ok(&["put", "a", "3"]);
    ok(&["del", "b"]);
    let granted = ok(&["lease", "grant", "600"]);
    let lease = granted.split_whitespace().nth(1).unwrap().to_string();
    ok(&["put", "c", "4", &format!("--lease={lease}")]);
    ok(&["put", "d", "5", &format!("--lease={lease}")]);
    for i in 0..50 {
        ok(&["put", &format!("k{i:02}"), &"v".repeat(3000)]);
    }
    ok(&["put", "a", "6"]);
    ok(&["user", "add", "root:rootpw", "--interactive=false"]);
    ok(&["user", "add", "u:upw", "--interactive=false"]);
    ok(&["role", "add", "r"]);
    ok(&["role", "grant-permission", "r", "readwrite", "k", "l"]);
    ok(&["user", "grant-role", "u", "r"]);
    ok(&["compact", "5"]);
    lease
}

/// What a client sees: every key with its revisions, version, value and
/// lease (JSON kvs), the leases, users and roles.
fn served(endpoint: &str) -> (Value, String, String, String) {
    let ctl = |args: &[&str]| {
        let out = etcdctl(endpoint, args, None, CTL_TIMEOUT);
        assert!(out.success(), "{args:?}: {out:?}");
        out.stdout_str()
    };
    let all: Value = serde_json::from_str(&ctl(&["get", "", "--from-key", "-w", "json"])).unwrap();
    (
        all["kvs"].clone(),
        ctl(&["lease", "list"]),
        ctl(&["user", "list"]),
        ctl(&["role", "get", "r"]),
    )
}

fn status_revision(file: &std::path::Path) -> i64 {
    let out = etcdctl(
        "127.0.0.1:1",
        &["snapshot", "status", file.to_str().unwrap(), "-w", "json"],
        None,
        CTL_TIMEOUT,
    );
    assert!(out.success(), "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout_str()).unwrap();
    v["revision"].as_i64().unwrap()
}

fn save(cluster: &Cluster, file: &std::path::Path) {
    let out = cluster.ctl(&["snapshot", "save", file.to_str().unwrap()]);
    assert!(out.success(), "{out:?}");
}

#[test]
fn an_oxcd_snapshot_is_restored_and_served_by_etcd() {
    if !require_etcd("an_oxcd_snapshot_is_restored_and_served_by_etcd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let oxcd = Cluster::start(ServerKind::Oxcd);
    let lease = write_history(&oxcd);
    let before = served(&oxcd.endpoint());
    let oxcd_file = dir.path().join("oxcd.db");
    save(&oxcd, &oxcd_file);

    // The same history on etcd: its snapshot reports the same revision.
    let etcd = Cluster::start(ServerKind::Etcd);
    write_history(&etcd);
    let etcd_file = dir.path().join("etcd.db");
    save(&etcd, &etcd_file);
    assert_eq!(status_revision(&oxcd_file), status_revision(&etcd_file));

    // etcd restores oxcd's snapshot and serves what oxcd served.
    let data = dir.path().join("restored.etcd");
    let (client, peer) = (free_port(), free_port());
    let peer_url = format!("http://127.0.0.1:{peer}");
    let restore = etcdctl(
        "127.0.0.1:1",
        &[
            "snapshot",
            "restore",
            oxcd_file.to_str().unwrap(),
            &format!("--data-dir={}", data.display()),
            "--name=restored",
            &format!("--initial-cluster=restored={peer_url}"),
            &format!("--initial-advertise-peer-urls={peer_url}"),
        ],
        None,
        CTL_TIMEOUT,
    );
    assert!(restore.success(), "{restore:?}");
    let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
    let mut restored = Command::new(etcd_bin())
        .arg("--name=restored")
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=restored={peer_url}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start etcd");
    let endpoint = format!("127.0.0.1:{client}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !etcdctl(&endpoint, &["get", "a"], None, CTL_TIMEOUT).success() {
        assert!(Instant::now() < deadline, "the restored etcd never served");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = served(&endpoint);
    let old = etcdctl(&endpoint, &["get", "a", "--rev=4"], None, CTL_TIMEOUT);
    let _ = restored.kill();
    let _ = restored.wait();
    assert_eq!(
        after.0, before.0,
        "keys, revisions, versions, values, leases"
    );
    assert_eq!(after.1, before.1, "leases");
    assert!(after
        .1
        .contains(&format!("{:x}", u64::from_str_radix(&lease, 16).unwrap())));
    assert_eq!(after.2, before.2, "users");
    assert_eq!(after.3, before.3, "role r");
    // The compaction came along: revision 4 is gone on etcd too.
    assert!(
        old.stderr_str()
            .contains("required revision has been compacted"),
        "{old:?}"
    );
}
