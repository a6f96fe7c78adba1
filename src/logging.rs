//! Logging: tracing-subscriber for oxcd itself, and a slog drain that forwards
//! raft-rs's log records into the same tracing output.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Installs the global subscriber. `level` is a tracing filter directive
/// (e.g. "info", or "oxcd=debug,raft=info"); RUST_LOG overrides it. Text is
/// coloured only on a terminal: a log file or pipe gets plain text.
pub fn init(level: &str, format: Format, to_stdout: bool) {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let on_terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(on_terminal)
        .with_target(true);
    // A second init (tests start several servers in one process) is harmless.
    let result = match (format, to_stdout) {
        (Format::Json, true) => builder.json().with_writer(std::io::stdout).try_init(),
        (Format::Json, false) => builder.json().with_writer(std::io::stderr).try_init(),
        (Format::Text, true) => builder.with_writer(std::io::stdout).try_init(),
        (Format::Text, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    let _ = result;
}

/// raft-rs logs through slog; this drain re-emits each record as a tracing event.
struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let msg = record.msg().to_string();
        match record.level() {
            slog::Level::Critical | slog::Level::Error => tracing::error!(target: "raft", "{msg}"),
            slog::Level::Warning => tracing::warn!(target: "raft", "{msg}"),
            slog::Level::Info => tracing::info!(target: "raft", "{msg}"),
            slog::Level::Debug => tracing::debug!(target: "raft", "{msg}"),
            slog::Level::Trace => tracing::trace!(target: "raft", "{msg}"),
        }
        Ok(())
    }
}

pub fn raft_logger() -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!())
}

impl From<crate::config::LogFormat> for Format {
    fn from(format: crate::config::LogFormat) -> Self {
        match format {
            crate::config::LogFormat::Text => Format::Text,
            crate::config::LogFormat::Json => Format::Json,
        }
    }
}
