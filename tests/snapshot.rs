//! Maintenance.Snapshot in etcd's backend format: a history (puts, deletes,
//! a lease with keys, a user and a role, a compaction) written to oxcd and
//! saved with `etcdctl snapshot save`; `etcdctl snapshot status` reads it
//! and reports the revision etcd reports for the same history; `etcdctl
//! snapshot restore` turns it into an etcd data dir, and a real etcd 3.4.23
//! started on it serves the same keys, values, revisions, versions, leases,
//! users and roles as oxcd did.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::snapshot_history::{save, served, status_revision, write_history};
use common::{etcd_bin, etcdctl, free_port, require_etcd, Cluster, ServerKind, CTL_TIMEOUT};

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
