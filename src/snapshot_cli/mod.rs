//! `oxcd snapshot restore FILE` and `oxcd snapshot status FILE`: etcdctl's
//! snapshot commands for etcd backend files (what `etcdctl snapshot save`
//! writes, from etcd or from oxcd), with etcdctl's flags and output.

mod restore;
mod status;
mod trailer;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "oxcd snapshot",
    about = "Restores or inspects an etcd snapshot file (etcdctl snapshot save)"
)]
struct SnapshotArgs {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Builds a new member's data dir from a snapshot (etcd's or oxcd's).
    Restore(restore::RestoreArgs),
    /// Prints a snapshot's hash, revision, total keys and size.
    Status(status::StatusArgs),
}

/// Whether `args` (program name first) ask for a snapshot command.
pub fn is_snapshot_command(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|a| a == "snapshot")
}

/// Runs `oxcd snapshot ...`; `args` start with the program name.
pub fn run(args: Vec<OsString>) -> ExitCode {
    let parsed = match SnapshotArgs::try_parse_from(args.into_iter().skip(1)) {
        Ok(parsed) => parsed,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let outcome = match parsed.command {
        Command::Restore(args) => restore::run(args),
        Command::Status(args) => status::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err}");
            ExitCode::FAILURE
        }
    }
}
