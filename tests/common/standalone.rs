//! One oxcd member started by hand (any client URLs, TLS flags, config
//! file), for tests the cluster harness cannot express: https beside http,
//! client certificates. Killed when dropped; its log is shown if the test
//! failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{etcdctl, free_port, oxcd_bin, CtlOutput};

/// One oxcd member started with the given client URLs and extra flags.
pub struct Member {
    pub child: Child,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- member log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

pub fn spawn(dir: &Path, listen: &str, advertise: &str, extra: &[String]) -> Member {
    let peer = format!("http://127.0.0.1:{}", free_port());
    let data_dir = dir.join("data");
    let log = dir.join(format!("oxcd-{}.log", free_port()));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(oxcd_bin())
        .arg("--name=t")
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--listen-client-urls={listen}"))
        .arg(format!("--advertise-client-urls={advertise}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=t={peer}"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("spawn oxcd");
    Member {
        child,
        data_dir,
        log,
    }
}

pub fn ctl(endpoint: &str, tls: &[&str], args: &[&str]) -> CtlOutput {
    let mut all: Vec<&str> = tls.to_vec();
    all.extend(["--dial-timeout=2s", "--command-timeout=3s"]);
    all.extend(args);
    etcdctl(endpoint, &all, None, Duration::from_secs(15))
}

/// Waits until `etcdctl get` with these TLS flags works.
pub fn wait_serving(member: &mut Member, endpoint: &str, tls: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = member.child.try_wait() {
            panic!(
                "oxcd exited ({status}):\n{}",
                std::fs::read_to_string(&member.log).unwrap_or_default()
            );
        }
        if ctl(endpoint, tls, &["get", "probe"]).success() {
            return;
        }
        assert!(Instant::now() < deadline, "{endpoint} never served");
        std::thread::sleep(Duration::from_millis(100));
    }
}
