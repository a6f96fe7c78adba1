//! Errors (and the help/version "errors") of configuration loading.

use thiserror::Error;

/// Why loading the configuration stopped. `Display` is the message to print;
/// [`ConfigError::exit_code`] is the status to exit with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// `--help` was asked for: print this text to stdout and exit 0.
    #[error("{0}")]
    Help(String),
    /// `--version` was asked for: print this text to stdout and exit 0.
    #[error("{0}")]
    Version(String),
    /// The command line could not be parsed (unknown flag, missing value...).
    #[error("oxcd: {0} (see 'oxcd --help')")]
    Usage(String),
    /// A flag has a value that is not valid for it. `flag` names the flag
    /// (and where the value came from, if not the command line).
    #[error("oxcd: invalid value {value:?} for {flag}: {reason}")]
    InvalidValue {
        flag: String,
        value: String,
        reason: String,
    },
    /// A flag (or one of its values) names an etcd feature oxcd has not built.
    #[error("oxcd: {flag} is not supported yet{detail}")]
    NotSupported { flag: String, detail: String },
    /// A flag names an etcd feature oxcd does not have by design.
    #[error("oxcd: {flag} does not apply to oxcd: {why} ({detail})")]
    NotApplicable {
        flag: String,
        why: &'static str,
        detail: String,
    },
    /// The settings are individually valid but inconsistent.
    #[error("oxcd: {0}")]
    Invalid(String),
    /// The configuration file could not be read or parsed.
    #[error("oxcd: cannot load config file {path}: {reason}")]
    File { path: String, reason: String },
    /// The configuration file has a key that is not a flag name.
    #[error("oxcd: unknown key {key:?} in config file {path}")]
    UnknownFileKey { path: String, key: String },
}

impl ConfigError {
    /// True for `--help` and `--version`, whose text goes to stdout.
    pub fn is_info(&self) -> bool {
        matches!(self, ConfigError::Help(_) | ConfigError::Version(_))
    }

    /// Exit status: 0 for help/version, 2 for command-line syntax errors
    /// (as etcd), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Help(_) | ConfigError::Version(_) => 0,
            ConfigError::Usage(_) => 2,
            _ => 1,
        }
    }

    pub(crate) fn invalid_value(
        flag: impl Into<String>,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::InvalidValue {
            flag: flag.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn not_supported(flag: impl Into<String>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ConfigError::NotSupported {
            flag: flag.into(),
            detail: if detail.is_empty() {
                detail
            } else {
                format!(" ({detail})")
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_exit_codes() {
        let e = ConfigError::not_supported("--enable-v2", "");
        assert_eq!(e.to_string(), "oxcd: --enable-v2 is not supported yet");
        assert_eq!(e.exit_code(), 1);
        let e = ConfigError::not_supported("--cert-file", "got \"a.pem\"");
        assert_eq!(
            e.to_string(),
            "oxcd: --cert-file is not supported yet (got \"a.pem\")"
        );
        let e = ConfigError::invalid_value("--max-wals", "x", "expected a number");
        assert_eq!(
            e.to_string(),
            "oxcd: invalid value \"x\" for --max-wals: expected a number"
        );
        assert!(ConfigError::Help("h".into()).is_info());
        assert_eq!(ConfigError::Version("v".into()).exit_code(), 0);
        assert_eq!(ConfigError::Usage("x".into()).exit_code(), 2);
    }
}
