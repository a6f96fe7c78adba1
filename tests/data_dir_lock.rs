//! One process per data dir: a second oxcd started on a data dir (or WAL
//! dir) in use exits at once naming the dir and the holder's pid, while the
//! first keeps serving and loses nothing; a holder killed -9 leaves a lock
//! file that does not block the next start.

use crate::common;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::grpc::{keys_in, kv, put};
use common::{free_port, oxcd_bin, Cluster, ServerKind};

/// How long a refused second process may take to exit.
const REFUSAL_LIMIT: Duration = Duration::from_secs(10);

/// Starts another oxcd with `dirs` (its --data-dir and maybe --wal-dir) on
/// fresh ports and waits for it to exit; its status and stderr. Fails the
/// test if it is still running after `REFUSAL_LIMIT` (it would be serving).
fn second_process(dirs: &[String]) -> (ExitStatus, String) {
    let (client, peer) = (free_port(), free_port());
    let mut child = Command::new(oxcd_bin())
        .args(dirs)
        .arg("--name=second")
        .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
        ))
        .arg(format!("--initial-cluster=second=http://127.0.0.1:{peer}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the second oxcd");
    let deadline = Instant::now() + REFUSAL_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("a second oxcd on a dir in use was still running after {REFUSAL_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read as _;
    let _ = child
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    (status, stderr)
}

/// The second process failed naming `dir` and `holder`, and the lock file
/// still names the holder.
fn assert_refused(outcome: (ExitStatus, String), dir: &Path, holder: u32) {
    let (status, stderr) = outcome;
    assert!(!status.success(), "the second process exited {status}");
    let shown = dir.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{shown} is in use by another process (pid {holder})"
        )),
        "stderr should name {shown} and pid {holder}:\n{stderr}"
    );
    let lock = std::fs::read_to_string(dir.join("oxcd.lock")).unwrap();
    assert_eq!(lock.trim(), holder.to_string(), "the lock names the first");
}

/// Puts `count` keys `k/<n>` through member 0.
fn put_keys(runtime: &tokio::runtime::Runtime, cluster: &Cluster, from: u32, count: u32) {
    runtime.block_on(async {
        let mut client = kv(cluster).await;
        for n in from..from + count {
            put(&mut client, &format!("k/{n:04}"), "v").await;
        }
    });
}

fn key_count(runtime: &tokio::runtime::Runtime, cluster: &Cluster) -> usize {
    let url = cluster.member(0).client_url();
    runtime.block_on(keys_in(&url, "k/", "k0")).len()
}

/// The first process still takes writes (5 keys after the `had` ones) and,
/// restarted (kill -9, same dirs), holds every key.
fn assert_first_serves_and_survives(
    runtime: &tokio::runtime::Runtime,
    cluster: &mut Cluster,
    had: u32,
) {
    put_keys(runtime, cluster, had, 5);
    let all = had as usize + 5;
    assert_eq!(key_count(runtime, cluster), all);
    cluster.restart(0).expect("restart the first process");
    assert_eq!(key_count(runtime, cluster), all);
}

#[test]
fn a_second_process_on_the_data_dir_exits_and_the_first_loses_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut cluster = Cluster::start(ServerKind::Oxcd);
    put_keys(&runtime, &cluster, 0, 50);
    let data_dir = cluster.member(0).data_dir.clone();
    let holder = cluster.member(0).pid().unwrap();

    let refused = second_process(&[format!("--data-dir={}", data_dir.display())]);
    assert_refused(refused, &data_dir, holder);
    assert_first_serves_and_survives(&runtime, &mut cluster, 50);
}

#[test]
fn a_separate_wal_dir_is_locked_too() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let wal_dir = scratch.path().join("wal");
    let mut cluster = Cluster::builder(ServerKind::Oxcd)
        .args(&[format!("--wal-dir={}", wal_dir.display())])
        .start();
    put_keys(&runtime, &cluster, 0, 20);
    let data_dir = cluster.member(0).data_dir.clone();
    let holder = cluster.member(0).pid().unwrap();
    assert!(
        wal_dir.join("oxcd.lock").exists(),
        "the WAL dir has its own lock"
    );

    // Its own data dir, the first one's WAL dir.
    let other_data = scratch.path().join("other-data");
    let refused = second_process(&[
        format!("--data-dir={}", other_data.display()),
        format!("--wal-dir={}", wal_dir.display()),
    ]);
    assert_refused(refused, &wal_dir, holder);
    // The first one's data dir, a WAL dir of its own.
    let other_wal = scratch.path().join("other-wal");
    let refused = second_process(&[
        format!("--data-dir={}", data_dir.display()),
        format!("--wal-dir={}", other_wal.display()),
    ]);
    assert_refused(refused, &data_dir, holder);
    assert!(
        !other_wal.join("oxcd.lock").exists(),
        "nothing is created in the second WAL dir once the data dir is refused"
    );

    assert_first_serves_and_survives(&runtime, &mut cluster, 20);
}

#[test]
fn after_kill9_of_the_holder_a_new_process_starts_at_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut cluster = Cluster::start(ServerKind::Oxcd);
    put_keys(&runtime, &cluster, 0, 30);
    let data_dir = cluster.member(0).data_dir.clone();
    let old = cluster.member(0).pid().unwrap();

    cluster.kill9(0);
    assert!(
        data_dir.join("oxcd.lock").exists(),
        "kill -9 leaves the lock file"
    );
    cluster
        .start_member(0)
        .expect("start on the stale lock file");
    let new = cluster.member(0).pid().unwrap();
    assert_ne!(new, old);
    let lock = std::fs::read_to_string(data_dir.join("oxcd.lock")).unwrap();
    assert_eq!(lock.trim(), new.to_string());
    assert_eq!(key_count(&runtime, &cluster), 30);
    assert!(!cluster.member(0).log_tail(100).contains("in use"));
}
