//! Logging: tracing-subscriber for oxcd itself, and a slog drain that forwards
//! raft-rs's log records into the same tracing output.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

mod etcd_json;
mod sinks;

/// Installs the global subscriber, writing every line to each of `outputs`.
/// `level` is a tracing filter directive (e.g. "info", or
/// "oxcd=debug,raft=info"); RUST_LOG overrides it. Text is coloured only
/// when every output is a terminal. Fails if a log file cannot be opened.
pub fn init(
    level: &str,
    format: Format,
    outputs: &[crate::config::LogOutput],
) -> std::io::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let sinks = sinks::Sinks::open(outputs)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(sinks.all_terminals())
        .with_target(true)
        .with_writer(sinks);
    // A second init (tests start several servers in one process) is harmless.
    let _ = match format {
        Format::Json => builder.event_format(etcd_json::EtcdJson).try_init(),
        Format::Text => builder.try_init(),
    };
    Ok(())
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
