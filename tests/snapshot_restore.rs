//! From etcd to oxcd: a history written to a real etcd 3.4.23, saved with
//! `etcdctl snapshot save`, read by `oxcd snapshot status` (what etcdctl
//! prints), restored with `oxcd snapshot restore` (one member, and the
//! three members of a cluster) or taken over from the dir `etcdctl
//! snapshot restore` wrote; oxcd then serves the keys, values, revisions,
//! versions, leases, users and roles etcd served, with etcd's HashKV, also
//! to a member added later and after kill -9 of every member. Bad files are
//! refused and leave the target dir alone.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::ctl::run_with_timeout;
use common::snapshot_history::{save, served, write_history};
use common::{
    etcdctl, etcdctl_until_ok, oxcd_bin, require_etcd, Cluster, CtlOutput, ServerKind, CTL_TIMEOUT,
};
use serde_json::Value;

fn oxcd_snapshot(args: &[&str]) -> CtlOutput {
    let mut cmd = Command::new(oxcd_bin());
    cmd.arg("snapshot").args(args);
    run_with_timeout(cmd, None, Duration::from_secs(60))
}

fn offline_ctl(args: &[&str]) -> CtlOutput {
    etcdctl("127.0.0.1:1", args, None, CTL_TIMEOUT)
}

/// etcd's HashKV of `endpoint` (at its current revision).
fn hashkv(endpoint: &str) -> u64 {
    let out = etcdctl(
        endpoint,
        &["endpoint", "hashkv", "-w", "json"],
        None,
        CTL_TIMEOUT,
    );
    assert!(out.success(), "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout_str()).unwrap();
    v[0]["HashKV"]["hash"].as_u64().unwrap()
}

/// A history on a real etcd, its snapshot file, what etcd serves and its
/// HashKV. The etcd is stopped when this returns.
fn etcd_snapshot(dir: &Path) -> (PathBuf, (Value, String, String, String), u64) {
    let etcd = Cluster::start(ServerKind::Etcd);
    write_history(&etcd);
    let file = dir.join("etcd.db");
    save(&etcd, &file);
    (file, served(&etcd.endpoint()), hashkv(&etcd.endpoint()))
}

/// etcdctl's restore flags for member `i` of `cluster`.
fn restore_flags(cluster: &Cluster, i: usize) -> Vec<String> {
    let m = cluster.member(i);
    vec![
        format!("--data-dir={}", m.data_dir.display()),
        format!("--name={}", m.name),
        format!("--initial-cluster={}", cluster.initial_cluster()),
        format!(
            "--initial-advertise-peer-urls={}",
            cluster.advertised_peer_url(i)
        ),
    ]
}

fn restore_member(cluster: &Cluster, i: usize, file: &Path) {
    let _ = std::fs::remove_dir_all(&cluster.member(i).data_dir);
    let mut args = vec!["restore".to_string(), file.display().to_string()];
    args.extend(restore_flags(cluster, i));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = oxcd_snapshot(&args);
    assert!(out.success(), "{out:?}");
    assert!(out.stdout_str().contains("restored snapshot"), "{out:?}");
}

/// Waits until member `i` serves linearizable reads (a leader exists).
fn until_served(cluster: &Cluster, i: usize) -> (Value, String, String, String) {
    let endpoint = cluster.member(i).endpoint();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !etcdctl(&endpoint, &["get", "a"], None, CTL_TIMEOUT).success() {
        assert!(Instant::now() < deadline, "member {i} never served");
        std::thread::sleep(Duration::from_millis(100));
    }
    served(&endpoint)
}

#[test]
fn oxcd_reads_an_etcd_snapshot_as_etcdctl_does_and_serves_it_after_restore() {
    if !require_etcd("oxcd_reads_an_etcd_snapshot_as_etcdctl_does") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (file, expected, expected_hash) = etcd_snapshot(dir.path());
    for format in ["simple", "table", "json", "fields"] {
        let path = file.to_str().unwrap();
        let theirs = offline_ctl(&["snapshot", "status", path, "-w", format]);
        let ours = oxcd_snapshot(&["status", path, "-w", format]);
        assert!(ours.success(), "{ours:?}");
        assert_eq!(ours.stdout_str(), theirs.stdout_str(), "-w {format}");
    }

    let mut oxcd = Cluster::builder(ServerKind::Oxcd).start();
    oxcd.kill_all();
    restore_member(&oxcd, 0, &file);
    oxcd.restart_all().expect("oxcd starts on the restored dir");
    assert_eq!(until_served(&oxcd, 0), expected);
    assert_eq!(hashkv(&oxcd.endpoint()), expected_hash, "HashKV as etcd's");
    let old = oxcd.ctl(&["get", "a", "--rev=4"]);
    assert!(
        old.stderr_str()
            .contains("required revision has been compacted"),
        "the compaction came along: {old:?}"
    );
    // It is a working member: writes go on after the restored revision.
    let put = oxcd.ctl(&["put", "after", "1", "-w", "json"]);
    assert!(put.success(), "{put:?}");
    let header: Value = serde_json::from_str(&put.stdout_str()).unwrap();
    let status = offline_ctl(&["snapshot", "status", file.to_str().unwrap(), "-w", "json"]);
    let snap: Value = serde_json::from_str(&status.stdout_str()).unwrap();
    assert_eq!(
        header["header"]["revision"].as_i64().unwrap(),
        snap["revision"].as_i64().unwrap() + 1
    );
}

#[test]
fn three_members_restored_from_one_etcd_snapshot_serve_it_and_grow() {
    if !require_etcd("three_members_restored_from_one_etcd_snapshot") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (file, expected, expected_hash) = etcd_snapshot(dir.path());
    let mut cluster = Cluster::builder(ServerKind::Oxcd).members(3).start();
    cluster.kill_all();
    for i in 0..3 {
        restore_member(&cluster, i, &file);
    }
    cluster.restart_all().expect("the restored members start");
    for i in 0..3 {
        assert_eq!(until_served(&cluster, i), expected, "member {i}");
        assert_eq!(hashkv(&cluster.member(i).endpoint()), expected_hash);
    }

    // A member added later gets the restored data (a snapshot from the
    // leader: the restored log starts after it).
    let d = cluster.add_joiner("d");
    let peer = format!("--peer-urls={}", cluster.member(d).peer_url());
    // (Refused as "unhealthy cluster" until the members have talked a while.)
    etcdctl_until_ok(&cluster.endpoint(), &["member", "add", "d", &peer]);
    cluster.start_member(d).expect("the added member starts");
    assert_eq!(until_served(&cluster, d), expected, "the added member");

    let put = etcdctl(
        &cluster.member(1).endpoint(),
        &["put", "after", "1"],
        None,
        CTL_TIMEOUT,
    );
    assert!(put.success(), "{put:?}");
    cluster
        .restart_all()
        .expect("restart after kill -9 of every member");
    for i in [0, 1, 2, d] {
        let got = until_served(&cluster, i);
        assert!(
            got.0.to_string().contains("YWZ0ZXI="),
            "member {i} lost a write"
        );
    }
    let hashes: Vec<u64> = [0, 1, 2, d]
        .iter()
        .map(|&i| hashkv(&cluster.member(i).endpoint()))
        .collect();
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
}

#[test]
fn oxcd_takes_over_a_dir_etcdctl_restored() {
    if !require_etcd("oxcd_takes_over_a_dir_etcdctl_restored") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (file, expected, expected_hash) = etcd_snapshot(dir.path());
    let mut cluster = Cluster::builder(ServerKind::Oxcd).start();
    cluster.kill_all();
    let data_dir = cluster.member(0).data_dir.clone();
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut args = vec![
        "snapshot".to_string(),
        "restore".into(),
        file.display().to_string(),
    ];
    args.extend(restore_flags(&cluster, 0));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = offline_ctl(&args);
    assert!(out.success(), "{out:?}");
    cluster
        .restart_all()
        .expect("oxcd starts on etcd's restored dir");
    assert_eq!(until_served(&cluster, 0), expected);
    assert_eq!(hashkv(&cluster.endpoint()), expected_hash);
    assert!(
        data_dir.join("member/etcd-restored/snap/db").is_file(),
        "etcd's files are kept"
    );
    // Restarted, it is an oxcd dir now; a second member joins it.
    let d = cluster.add_joiner("d");
    let peer = format!("--peer-urls={}", cluster.member(d).peer_url());
    etcdctl_until_ok(&cluster.endpoint(), &["member", "add", "d", &peer]);
    cluster.start_member(d).expect("the added member starts");
    assert_eq!(until_served(&cluster, d), expected, "the added member");
    cluster.restart(0).expect("restart");
    assert_eq!(until_served(&cluster, 0), expected);
}

#[test]
fn bad_snapshots_are_refused_and_leave_the_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    // A snapshot of oxcd's own (etcd's format), to damage in several ways.
    let oxcd = Cluster::start(ServerKind::Oxcd);
    assert!(oxcd.ctl(&["put", "k", "v"]).success());
    let good = dir.path().join("good.db");
    save(&oxcd, &good);
    let bytes = std::fs::read(&good).unwrap();
    let target = dir.path().join("target");
    let restore = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "restore".to_string(),
            file.display().to_string(),
            format!("--data-dir={}", target.display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        oxcd_snapshot(&args)
    };
    let refused = |name: &str, content: &[u8], extra: &[&str], expect: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let out = restore(&file, extra);
        assert!(!out.success(), "{name}: {out:?}");
        assert!(out.stderr_str().contains(expect), "{name}: {out:?}");
        assert!(!target.exists(), "{name}: the target dir was created");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .collect();
        assert!(leftovers.is_empty(), "{name}: {leftovers:?}");
    };

    let cut = &bytes[..bytes.len() / 2];
    refused("truncated.db", cut, &[], "missing hash");
    refused(
        "truncated-skip.db",
        cut,
        &["--skip-hash-check"],
        "truncated",
    );
    let mut wrong = bytes.clone();
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    refused("wrong-trailer.db", &wrong, &[], "expected sha256");
    let mut text = b"not a database at all\n".repeat(400);
    text.truncate(8192 + 32);
    refused("text.db", &text, &[], "expected sha256");
    refused(
        "text-skip.db",
        &text,
        &["--skip-hash-check"],
        "not a bbolt database",
    );
    refused(
        "unknown-bucket.db",
        &with_renamed_bucket(&bytes, b"members_removed", b"members_removez"),
        &[],
        "members_removez",
    );

    // The good file restores; a second restore into the same dir is refused
    // and changes nothing there.
    let out = restore(&good, &[]);
    assert!(out.success(), "{out:?}");
    let before = tree(&target);
    let again = restore(&good, &[]);
    assert!(!again.success(), "{again:?}");
    assert!(again.stderr_str().contains("not empty"), "{again:?}");
    assert_eq!(tree(&target), before);
    // A file without its trailer restores with --skip-hash-check only.
    let bare = dir.path().join("bare.db");
    std::fs::write(&bare, &bytes[..bytes.len() - 32]).unwrap();
    std::fs::remove_dir_all(&target).unwrap();
    assert!(!restore(&bare, &[]).success());
    assert!(restore(&bare, &["--skip-hash-check"]).success());
}

/// The snapshot with one bucket renamed in its root page and the trailer
/// made right again: a well-formed file with a bucket oxcd does not know.
fn with_renamed_bucket(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let data_len = bytes.len() - 32;
    let mut data = bytes[..data_len].to_vec();
    let at = data
        .windows(from.len())
        .rposition(|w| w == from)
        .expect("bucket name in the file");
    data[at..at + to.len()].copy_from_slice(to);
    let digest = ring::digest::digest(&ring::digest::SHA256, &data);
    data.extend_from_slice(digest.as_ref());
    data
}

/// Every file under `dir` with its size and modification time.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.push((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}
