//! Running `etcdctl` (and other short-lived processes) with a deadline.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Default deadline for one etcdctl invocation.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(20);

/// Path of the etcdctl binary: `$ETCDCTL_BIN`, else `/usr/bin/etcdctl`, else `etcdctl` on `$PATH`.
pub fn etcdctl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ETCDCTL_BIN") {
        return PathBuf::from(p);
    }
    let default = Path::new("/usr/bin/etcdctl");
    if default.exists() {
        return default.to_path_buf();
    }
    find_in_path("etcdctl").unwrap_or_else(|| PathBuf::from("etcdctl"))
}

pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The result of running a process.
#[derive(Debug, Clone, Default)]
pub struct CtlOutput {
    /// Exit code; `None` when killed by a signal (including our timeout / stop).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// True when the deadline passed and the process was killed.
    pub timed_out: bool,
}

impl CtlOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Panics (with both streams) unless the command exited 0; returns stdout.
    pub fn expect_ok(&self, what: &str) -> String {
        if !self.success() {
            panic!(
                "{what} failed (exit {:?}, timed out {}):\nstdout:\n{}\nstderr:\n{}",
                self.code,
                self.timed_out,
                self.stdout_str(),
                self.stderr_str()
            );
        }
        self.stdout_str()
    }
}

/// Build an etcdctl command: `ETCDCTL_API=3`, no inherited `ETCDCTL_*` settings,
/// `--endpoints=<endpoints>` first, then `args`.
pub fn etcdctl_command<S: AsRef<OsStr>>(endpoints: &str, args: &[S]) -> Command {
    let mut cmd = Command::new(etcdctl_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ETCDCTL_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("ETCDCTL_API", "3");
    let mut ep = OsString::from("--endpoints=");
    ep.push(endpoints);
    cmd.arg(ep);
    cmd.args(args);
    cmd
}

/// Run etcdctl against `endpoints` (comma separated `host:port` list) with optional stdin
/// and a deadline.
pub fn etcdctl<S: AsRef<OsStr>>(
    endpoints: &str,
    args: &[S],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> CtlOutput {
    run_with_timeout(etcdctl_command(endpoints, args), stdin, timeout)
}

/// Runs etcdctl until it succeeds (a member change refused by
/// --strict-reconfig-check, an election in progress), for up to 20 s; its
/// stdout. Panics with the last error after that.
pub fn etcdctl_until_ok(endpoints: &str, args: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = etcdctl(endpoints, args, None, CTL_TIMEOUT);
        if out.success() {
            return out.stdout_str();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "etcdctl {args:?}: {}",
            out.stderr_str()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

fn reader<R: Read + Send + 'static>(mut r: R, buf: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

fn writer(child: &mut Child, stdin: Option<&[u8]>) -> Option<JoinHandle<()>> {
    let data = stdin?.to_vec();
    let mut pipe = child.stdin.take()?;
    Some(thread::spawn(move || {
        let _ = pipe.write_all(&data);
        // dropping `pipe` closes stdin
    }))
}

/// Run `cmd` to completion, feeding `stdin` (or /dev/null), killing it after `timeout`.
pub fn run_with_timeout(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> CtlOutput {
    let bg = match BgProcess::spawn(&mut cmd, stdin) {
        Ok(b) => b,
        Err(e) => {
            return CtlOutput {
                code: Some(127),
                stderr: format!("failed to spawn {cmd:?}: {e}").into_bytes(),
                ..Default::default()
            }
        }
    };
    bg.finish(timeout)
}

/// A process running in the background whose stdout/stderr are collected.
pub struct BgProcess {
    child: Child,
    /// Kept open for `send` when the process was spawned without fixed stdin.
    input: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    threads: Vec<JoinHandle<()>>,
}

impl BgProcess {
    pub fn spawn(cmd: &mut Command, stdin: Option<&[u8]>) -> std::io::Result<BgProcess> {
        Self::spawn_with(cmd, stdin, false)
    }

    /// Like `spawn` with no stdin data, but stdin stays open: write to it
    /// with `send` (interactive commands such as `watch -i` end at EOF).
    pub fn spawn_interactive(cmd: &mut Command) -> std::io::Result<BgProcess> {
        Self::spawn_with(cmd, None, true)
    }

    fn spawn_with(
        cmd: &mut Command,
        stdin: Option<&[u8]>,
        interactive: bool,
    ) -> std::io::Result<BgProcess> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() || interactive {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn()?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut threads = vec![
            reader(child.stdout.take().unwrap(), stdout.clone()),
            reader(child.stderr.take().unwrap(), stderr.clone()),
        ];
        threads.extend(writer(&mut child, stdin));
        let input = if interactive {
            child.stdin.take()
        } else {
            None
        };
        Ok(BgProcess {
            child,
            input,
            stdout,
            stderr,
            threads,
        })
    }

    /// Writes to the process's stdin (only for `spawn_interactive`).
    pub fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self.input.as_mut() {
            Some(pipe) => pipe.write_all(data).and_then(|()| pipe.flush()),
            None => Err(std::io::Error::other("stdin is not open")),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stdout collected so far.
    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    fn collected_len(&self) -> usize {
        self.stdout.lock().unwrap().len() + self.stderr.lock().unwrap().len()
    }

    /// True once the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait until stdout contains `needle` (true) or `max` passes (false).
    pub fn wait_for(&mut self, needle: &[u8], max: Duration) -> bool {
        let deadline = Instant::now() + max;
        loop {
            let out = self.stdout_so_far();
            if needle.is_empty() || out.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            if Instant::now() >= deadline || self.exited() {
                // one last look after exit
                let out = self.stdout_so_far();
                return out.windows(needle.len()).any(|w| w == needle);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until no new output arrived for `quiet` (or the process exited, or `max` passed).
    pub fn wait_quiet(&mut self, quiet: Duration, max: Duration) {
        let deadline = Instant::now() + max;
        let mut last_len = self.collected_len();
        let mut last_change = Instant::now();
        while Instant::now() < deadline && !self.exited() {
            thread::sleep(Duration::from_millis(20));
            let len = self.collected_len();
            if len != last_len {
                last_len = len;
                last_change = Instant::now();
            } else if last_change.elapsed() >= quiet {
                break;
            }
        }
    }

    /// Wait for exit up to `timeout`, killing (SIGKILL) the process when it is still running.
    pub fn finish(mut self, timeout: Duration) -> CtlOutput {
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        self.join_and_collect(status.and_then(|s| s.code()), timed_out)
    }

    /// Kill the process (SIGKILL) now and return what it printed. `code` is `None` if it was
    /// still running.
    pub fn stop(mut self) -> CtlOutput {
        // stdin closes only after the kill: an interactive command would
        // otherwise exit on EOF first, racing the kill.
        let code = match self.child.try_wait() {
            Ok(Some(st)) => st.code(),
            _ => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                None
            }
        };
        self.join_and_collect(code, false)
    }

    fn join_and_collect(mut self, code: Option<i32>, timed_out: bool) -> CtlOutput {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let stdout = std::mem::take(&mut *self.stdout.lock().unwrap());
        let stderr = std::mem::take(&mut *self.stderr.lock().unwrap());
        CtlOutput {
            code,
            stdout,
            stderr,
            timed_out,
        }
    }
}

impl Drop for BgProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
