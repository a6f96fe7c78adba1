//! What an operator sees on day one: `oxcd --help | head` ends quietly,
//! and logs written to a file (or pipe) carry no terminal colour codes.

use crate::common;

use std::process::{Command, Stdio};

use common::{oxcd_bin, Cluster, ServerKind};

#[test]
fn help_into_a_closed_pipe_exits_quietly() {
    // The reader is gone before oxcd writes: the write fails with EPIPE.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(oxcd_bin())
        .arg("--help")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run oxcd --help");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn logs_to_a_file_have_no_colour_codes() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    cluster.ctl(&["put", "k", "v"]).expect_ok("put");
    let log = std::fs::read_to_string(&cluster.member(0).log_path).expect("log");
    assert!(log.contains("ready to serve client requests"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in the log:\n{log}");
}
