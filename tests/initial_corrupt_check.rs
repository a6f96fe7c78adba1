//! `--experimental-initial-corrupt-check` as etcd's own e2e test uses it: a
//! healthy cluster passes the check at every start; a member whose stored
//! value was changed on disk (same revisions, different bytes) refuses to
//! start with etcd's "found data inconsistency with peers", and starts
//! again once the flag is off (the check is opt-in, as in etcd).
//! `--experimental-corrupt-check-time`: the same tampering on a running
//! cluster raises the CORRUPT alarm (member 0, as etcd 3.5), after which
//! writes are refused with "etcdserver: corrupt cluster", reads still work
//! and /health says why.

use crate::common;

use std::time::Duration;

use common::{Cluster, ServerKind};
use oxcd::proto::mvccpb::KeyValue;
use oxcd::storage::backend::Backend;
use prost::Message;

/// Rewrites the value of every stored revision of `key` in the stopped
/// member's LMDB file, keeping revisions, versions and everything else.
fn corrupt_value(data_dir: &std::path::Path, key: &[u8]) {
    let db_dir = data_dir.join("member").join("db");
    let backend = Backend::open(&db_dir, 1 << 30).expect("open the member's LMDB");
    let mut txn = backend.write_txn().expect("write txn");
    let kv = backend.kv();
    let mut changed = Vec::new();
    for entry in kv.iter(&txn).expect("iterate") {
        let (rev, bytes) = entry.expect("entry");
        let mut stored = KeyValue::decode(bytes).expect("a KeyValue");
        if stored.key == key {
            stored.value = b"tampered".to_vec();
            changed.push((rev.to_vec(), stored.encode_to_vec()));
        }
    }
    assert!(!changed.is_empty(), "no revision of the key found");
    for (rev, bytes) in changed {
        kv.put(&mut txn, &rev, &bytes).expect("put");
    }
    txn.commit().expect("commit");
    backend.sync().expect("sync");
}

/// Five writes of `k`, waited for until every member has applied them.
fn write_everywhere(cluster: &Cluster) {
    for i in 0..5 {
        let put = cluster.ctl(&["put", "k", &format!("v{i}")]);
        assert!(put.success(), "{put:?}");
    }
    for i in 0..3 {
        let got = common::etcdctl(
            &cluster.member(i).endpoint(),
            &["get", "k", "--print-value-only", "--consistency=s"],
            None,
            common::CTL_TIMEOUT,
        );
        assert_eq!(got.stdout_str().trim(), "v4", "member {i}");
    }
}

/// Stops member `i` and changes `k`'s stored values in its LMDB file.
fn stop_and_tamper(cluster: &mut Cluster, i: usize) {
    cluster.signal(i, "TERM");
    cluster
        .wait_exit(i, Duration::from_secs(10))
        .expect("the member stops");
    corrupt_value(&cluster.member(i).data_dir, b"k");
}

#[test]
fn a_member_whose_data_differs_from_its_peers_refuses_to_start() {
    let check = "--experimental-initial-corrupt-check";
    let mut cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .args(&[check])
        .start();
    write_everywhere(&cluster);
    for i in 0..3 {
        assert!(
            cluster
                .member(i)
                .log_tail(400)
                .contains("initial corruption checking passed; no corruption"),
            "member {i}:\n{}",
            cluster.member(i).log_tail(40)
        );
    }
    stop_and_tamper(&mut cluster, 2);

    cluster.spawn(2).expect("spawn");
    let status = cluster
        .wait_exit(2, Duration::from_secs(30))
        .expect("the corrupt member exits");
    assert_eq!(status.code(), Some(1));
    let log = cluster.member(2).log_tail(60);
    assert!(log.contains("found data inconsistency with peers"), "{log}");
    assert!(
        log.contains("found different hash values from remote peer"),
        "{log}"
    );
}

#[test]
fn the_periodic_check_raises_corrupt_and_writes_stop() {
    let mut cluster = Cluster::builder(ServerKind::Oxcd)
        .members(3)
        .args(&["--experimental-corrupt-check-time=1s"])
        .start();
    write_everywhere(&cluster);
    assert!(cluster.ctl(&["alarm", "list"]).stdout_str().is_empty());
    stop_and_tamper(&mut cluster, 2);
    cluster.spawn(2).expect("spawn");

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = cluster.ctl(&["alarm", "list"]).stdout_str().to_string();
        if !listed.is_empty() || std::time::Instant::now() > deadline {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    // gogo protobuf's text form leaves out the zero member id.
    assert_eq!(listed.trim(), "alarm:CORRUPT");
    let put = cluster.ctl(&["put", "k", "after"]);
    assert!(!put.success());
    assert!(
        put.stderr_str().contains("etcdserver: corrupt cluster"),
        "{put:?}"
    );
    let get = cluster.ctl(&["get", "k", "--print-value-only"]);
    assert!(get.success(), "{get:?}");
    let logs = cluster.log_tails(400);
    assert!(
        logs.contains("same compact revision then hashes must match"),
        "{logs}"
    );
}
