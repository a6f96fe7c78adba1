//! Small value types that make up [`super::Config`].

use std::time::Duration;

/// `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Bootstrap a new cluster from `--initial-cluster`.
    New,
    /// Join a cluster that already runs.
    Existing,
}

/// `--auto-compaction-mode` with its `--auto-compaction-retention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep this much history (time based).
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(u64),
}

/// `--log-level` (or `--debug`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Panic,
    Fatal,
}

impl LogLevel {
    /// Parses one of etcd's level names.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "panic" => LogLevel::Panic,
            "fatal" => LogLevel::Fatal,
            _ => return None,
        })
    }

    /// The etcd name of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Panic => "panic",
            LogLevel::Fatal => "fatal",
        }
    }

    /// The level as a `tracing` filter directive ("debug", "info", "warn"
    /// or "error"; panic and fatal keep only errors).
    pub fn filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error | LogLevel::Panic | LogLevel::Fatal => "error",
        }
    }

    /// The most verbose `tracing` level to emit (panic and fatal keep only
    /// errors: tracing has no higher level).
    pub fn tracing_level(self) -> tracing::Level {
        match self {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error | LogLevel::Panic | LogLevel::Fatal => tracing::Level::ERROR,
        }
    }
}

/// `--log-format` (oxcd's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// One of `--log-outputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutput {
    /// `stderr`, and etcd's `default`.
    Stderr,
    Stdout,
    /// Any other value: a file, appended to (created if missing).
    File(std::path::PathBuf),
}

impl LogOutput {
    /// One `--log-outputs` value as etcd reads it.
    pub fn parse(value: &str) -> LogOutput {
        match value {
            "default" | "stderr" => LogOutput::Stderr,
            "stdout" => LogOutput::Stdout,
            path => LogOutput::File(path.into()),
        }
    }
}

/// The `--grpc-keepalive-*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcKeepalive {
    /// Clients pinging more often than this are told off.
    pub min_time: Duration,
    /// Ping an idle client after this long (zero: never).
    pub interval: Duration,
    /// Close the connection if a ping is not answered within this (zero: never).
    pub timeout: Duration,
}

impl Default for GrpcKeepalive {
    fn default() -> Self {
        GrpcKeepalive {
            min_time: Duration::from_secs(5),
            interval: Duration::from_secs(2 * 60 * 60),
            timeout: Duration::from_secs(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_round_trip() {
        for name in ["debug", "info", "warn", "error", "panic", "fatal"] {
            assert_eq!(LogLevel::parse(name).map(LogLevel::as_str), Some(name));
        }
        assert_eq!(LogLevel::parse("trace"), None);
        assert_eq!(LogLevel::Fatal.tracing_level(), tracing::Level::ERROR);
        assert_eq!(LogLevel::Debug.tracing_level(), tracing::Level::DEBUG);
        assert_eq!(LogLevel::Panic.filter(), "error");
        assert_eq!(LogLevel::Warn.filter(), "warn");
        assert_eq!(LogOutput::parse("default"), LogOutput::Stderr);
        assert_eq!(LogOutput::parse("stdout"), LogOutput::Stdout);
        assert_eq!(
            LogOutput::parse("/var/log/oxcd.log"),
            LogOutput::File("/var/log/oxcd.log".into())
        );
    }
}

/// `--auth-token`: the kind of token Authenticate hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthToken {
    /// etcd's opaque tokens, valid `ttl` after their last use.
    Simple { ttl: Duration },
    /// Signed JWTs (`jwt,pub-key=..,priv-key=..,sign-method=..,ttl=..`).
    Jwt(JwtOptions),
}

/// `--auth-token jwt,...`'s options, as etcd names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtOptions {
    /// `sign-method`: RS256, PS384, ES256, HS512, ...
    pub sign_method: String,
    /// `pub-key`: PEM file that verifies tokens.
    pub pub_key: Option<std::path::PathBuf>,
    /// `priv-key`: PEM file that signs them (the secret for HS*); without
    /// it the member only verifies.
    pub priv_key: Option<std::path::PathBuf>,
    /// `ttl`: how long a token is valid (etcd's default 5m).
    pub ttl: Duration,
}

/// A custom auth provider's own settings: its `[auth-providers.NAME]`
/// table of the TOML config file, as TOML text, and the directory relative
/// paths in it are read from (the config file's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderSettings {
    pub toml: String,
    pub base_dir: std::path::PathBuf,
}
