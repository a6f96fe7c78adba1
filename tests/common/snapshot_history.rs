//! The history the snapshot tests write to etcd and to oxcd (puts,
//! deletes, a lease with keys, users and a role, a compaction), and what a
//! client sees of it.

use serde_json::Value;

use super::{etcdctl, Cluster, CTL_TIMEOUT};

/// The same history on either server; returns the lease id granted.
pub fn write_history(cluster: &Cluster) -> String {
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
pub fn served(endpoint: &str) -> (Value, String, String, String) {
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

pub fn status_revision(file: &std::path::Path) -> i64 {
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

pub fn save(cluster: &Cluster, file: &std::path::Path) {
    let out = cluster.ctl(&["snapshot", "save", file.to_str().unwrap()]);
    assert!(out.success(), "{out:?}");
}
