//! The data dir on a small tmpfs that fills up: oxcd neither exits nor
//! corrupts anything. Writes that find no disk space (the WAL's next
//! segment, LMDB's pages) wait and are retried; new writes are refused with
//! etcd's space error while reads and Status still answer; the log says
//! "no space left on device". Once space returns (the tmpfs grows) writes
//! go on by themselves, every acknowledged write is there, and so it is
//! after a kill -9 and restart.
//!
//! Needs root (it mounts a tmpfs); as another user it says so and passes.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{etcdctl, free_port, oxcd_bin, CtlOutput};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- oxcd log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

fn start(data: &Path, log: &Path, client: u16, peer: u16) -> Server {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(oxcd_bin())
        .arg("--name=t")
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
        ))
        .arg(format!("--initial-cluster=t=http://127.0.0.1:{peer}"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("spawn oxcd");
    Server {
        child,
        log: log.to_path_buf(),
    }
}

fn ctl(endpoint: &str, args: &[&str]) -> CtlOutput {
    let mut all = vec!["--dial-timeout=2s", "--command-timeout=10s"];
    all.extend(args);
    etcdctl(endpoint, &all, None, Duration::from_secs(30))
}

fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_full_disk_stops_writes_not_the_member_and_space_brings_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(tmpfs) = Tmpfs::mount(&data, "80m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    };
    let log = dir.path().join("oxcd.log");
    let (client, peer) = (free_port(), free_port());
    let endpoint = format!("127.0.0.1:{client}");
    let mut server = start(&data, &log, client, peer);
    wait_until(Duration::from_secs(20), "oxcd serves", || {
        ctl(&endpoint, &["put", "probe", "1"]).success()
    });

    // 64 KiB values until the disk is full: each acknowledged key recorded.
    let value = "v".repeat(64 * 1024);
    let mut acked = Vec::new();
    let refusal = loop {
        let key = format!("k{:05}", acked.len());
        let put = ctl(&endpoint, &["put", &key, &value]);
        if !put.success() {
            break put.stderr_str();
        }
        acked.push(key);
        assert!(acked.len() < 5000, "the 80 MiB tmpfs never filled");
    };
    assert!(acked.len() > 50, "only {} writes fit", acked.len());
    assert!(
        refusal.contains("database space exceeded") || refusal.contains("request timed out"),
        "{refusal}"
    );
    assert!(server.child.try_wait().unwrap().is_none(), "oxcd exited");
    // Later writes are refused at once with etcd's space error.
    wait_until(
        Duration::from_secs(15),
        "writes refused with NOSPACE",
        || {
            ctl(&endpoint, &["put", "more", "x"])
                .stderr_str()
                .contains("database space exceeded")
        },
    );
    // Reads of what is applied, and Status, still answer.
    let last_applied = ctl(
        &endpoint,
        &["get", "k00000", "--consistency=s", "--keys-only"],
    );
    assert_eq!(last_applied.stdout_str().trim(), "k00000");
    assert!(ctl(&endpoint, &["endpoint", "status"]).success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("no space left on device"), "nothing logged");
    for line in logged.lines().filter(|l| l.contains("no space left")) {
        eprintln!("{} writes fit; then: {line}", acked.len());
    }

    // Space returns: the waiting writes finish and new ones are taken.
    tmpfs.resize("512m");
    wait_until(Duration::from_secs(20), "writes accepted again", || {
        ctl(&endpoint, &["put", "after", "x"]).success()
    });
    let count = |endpoint: &str| {
        ctl(endpoint, &["get", "k", "k~", "--keys-only"])
            .stdout_str()
            .lines()
            .filter(|l| l.starts_with('k'))
            .count()
    };
    let present = count(&endpoint);
    assert!(
        present >= acked.len(),
        "{} acknowledged, {present} present",
        acked.len()
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("disk space is back"));

    // And after a kill -9 and restart on the same data.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = start(&data, &log, client, peer);
    wait_until(Duration::from_secs(30), "oxcd serves after restart", || {
        ctl(&endpoint, &["get", "after"]).success()
    });
    assert!(
        count(&endpoint) >= acked.len(),
        "acknowledged writes lost after restart"
    );
    let last = acked.last().unwrap();
    let got = ctl(&endpoint, &["get", last, "--print-value-only"]);
    assert_eq!(got.stdout_str().trim().len(), value.len());
    drop(server);
}
